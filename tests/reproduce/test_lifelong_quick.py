"""`workbench reproduce lifelong_1k --quick`: the 8-task schedule end to end at a tiny size.

Checks the results contract, the shape and arithmetic of the accuracy matrix (forgetting, reverse
transfer), that the digit net learned something from sums alone, the library it leaves behind and the
plot. A smoke run (tiny data, MLP nets, few steps), so the thresholds are far below the full-size ones.
"""

from __future__ import annotations

import json
import math

import pytest

from workbench.library import Library
from workbench.reproduce import common, reproduce
from workbench.reproduce.lifelong import ADD_TASKS, APPLY_TASKS, SIZES, TASKS


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("lifelong-quick")
    lines: list[str] = []
    try:
        result = reproduce("lifelong_1k", quick=True, out_dir=out, progress=lines.append)
    finally:
        torch.set_num_threads(threads)
    return result, out, lines


def test_results_files_carry_the_contract(quick_result):
    result, out, lines = quick_result
    data = json.loads((out / "lifelong_1k.json").read_text())
    for key in common.REQUIRED_KEYS:
        assert key in data
    assert data["experiment"] == "lifelong_1k" and data["quick"] is True
    assert data["command"] == "workbench reproduce lifelong_1k --quick"
    assert data["seconds"] > 0 and data["seeds"] == [0]
    md = (out / "lifelong_1k.md").read_text()
    assert "QUICK" in md and "SYNTHETIC" in md and "## Learned programs" in md
    assert any("stage 8 (apply2x2_right) done" in line for line in lines)  # progress reached the last stage


def test_ours_has_every_task_as_a_fraction(quick_result):
    result, out, _ = quick_result
    data = json.loads((out / "lifelong_1k.json").read_text())
    tasks = [k for k in data["ours"] if k.startswith(("add2x2_", "apply2x2_"))]
    assert tasks == list(TASKS) and len(tasks) == 8
    for key in (*TASKS, "digit_accuracy", "operator_accuracy"):
        assert 0.0 <= data["ours"][key] <= 1.0
    # the paper's v1 figures for the 1k regime, as fractions
    assert data["paper"]["add2x2_top"] == 0.87 and data["paper"]["apply2x2_left"] == 1.0
    assert data["paper"]["digit_accuracy"] == 0.93


def test_accuracy_matrix_forgetting_and_reverse_transfer(quick_result):
    result, _, _ = quick_result
    m = result.details["accuracy_matrix"]
    assert len(m) == 8 and all(len(row) == 8 for row in m)
    for s, row in enumerate(m):  # task t arrives at stage t: a lower-triangular matrix
        assert all(isinstance(a, float) and 0.0 <= a <= 1.0 for a in row[: s + 1])
        assert all(a is None for a in row[s + 1:])
    assert [result.ours[t] for t in TASKS] == m[-1]  # ours = the last row
    assert list(result.details["forgetting"]) == list(TASKS[:-1])
    for t, task in enumerate(TASKS[:-1]):
        best = max(m[s][t] for s in range(t, 8))
        assert math.isclose(result.details["forgetting"][task], max(0.0, best - m[-1][t]), abs_tol=1e-9)
        assert math.isclose(result.details["reverse_transfer"][task], m[-1][t] - m[t][t], abs_tol=1e-9)
    assert result.details["max_forgetting"] == max(result.details["forgetting"].values())


def test_restarts_programs_and_learning(quick_result):
    result, _, _ = quick_result
    restarts = SIZES["quick"].search.restarts
    assert result.restarts == {t: restarts for t in TASKS}
    assert set(result.restarts_correct) == set(TASKS)
    assert all(0 <= result.restarts_correct[t] <= restarts for t in TASKS)
    programs = result.details["programs"]
    assert all("def add2x2(grid)" in programs[t] for t in ADD_TASKS)
    assert all("def apply2x2(grid, d1, d2, d3)" in programs[t] for t in APPLY_TASKS)
    assert all(isinstance(c, bool) for c in result.details["programs_correct"].values())
    # learned from sums only, the digit net is far above chance (10%) even at this size, and the ADD2x2
    # programs run on it beat the most frequent sum (about 10% of grids)
    assert result.ours["digit_accuracy"] > 0.4
    assert max(result.ours[t] for t in ADD_TASKS) > 0.25
    assert len(result.details["digit_accuracy_by_stage"]) == 8
    assert result.details["operator_accuracy_by_stage"][3] is None  # no operator net before APPLY2x2
    assert result.details["operator_accuracy_by_stage"][4] is not None
    assert set(result.details["stage_seconds"]) == set(TASKS)


def test_library_holds_digit_and_operator_nets(quick_result):
    result, out, _ = quick_result
    lib = Library(str(out / "library_quick_1k"))
    assert {"digit", "operator"} <= set(lib.names())
    assert len(lib.history("digit")) >= 4  # a new version after every ADD2x2 stage at least
    assert result.details["library"].endswith("library_quick_1k")


def test_baselines_are_per_task_fractions(quick_result):
    result, _, _ = quick_result
    assert set(result.baselines) >= {"multitask", "independent"}
    for table in result.baselines.values():
        assert set(table) == set(TASKS)
        assert all(v is None or 0.0 <= v <= 1.0 for v in table.values())
    assert "run_baselines" in result.details["baselines_note"]


def test_plot_is_written(quick_result):
    result, out, _ = quick_result
    assert result.plots == ["lifelong_1k_accuracy.png"]
    png = out / "lifelong_1k_accuracy.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
