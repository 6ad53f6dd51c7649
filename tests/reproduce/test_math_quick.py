"""`workbench reproduce math --quick`: the results contract, sane values and the plot (a smoke run, < 60 s)."""

from __future__ import annotations

import json
import math

import pytest

from workbench.reproduce import common, reproduce
from workbench.reproduce.math import LENGTHS


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("math-quick")
    try:
        result = reproduce("math", quick=True, out_dir=out, progress=None)
    finally:
        torch.set_num_threads(threads)
    return result, out


def test_results_files_carry_the_contract(quick_result):
    result, out = quick_result
    data = json.loads((out / "math.json").read_text())
    for key in common.REQUIRED_KEYS:
        assert key in data
    assert data["experiment"] == "math" and data["quick"] is True
    assert "QUICK" in (out / "math.md").read_text()
    assert "SYNTHETIC" in (out / "math.md").read_text()


def test_values(quick_result):
    result, _ = quick_result
    for n in LENGTHS:
        for table in (result.ours, result.baselines["lstm"]):
            assert 0.0 <= table[f"len{n}"] <= 1.0
        assert math.isclose(result.paper[f"len{n}"], 0.95 ** n)  # derived from "about 0.95^N", labelled so
    assert 0.0 <= result.ours["digit_accuracy"] <= 1.0 and 0.0 <= result.ours["operator_accuracy"] <= 1.0
    assert isinstance(result.restarts, int) and result.restarts >= 1
    assert 0 <= result.restarts_correct <= result.restarts
    assert result.details["perception"]["source"] in ("library", "pretrained here")
    assert result.details["best_program"]["listing"].startswith("block0:")
    assert "def math(tape)" in result.details["best_program"]["source"]
    records = result.details["search"]["restarts"]
    assert len(records) == result.restarts
    assert sum(r["correct"] for r in records) == result.restarts_correct
    assert all(r["fits_2_digits"] or not r["correct"] for r in records)


def test_plot_is_written(quick_result):
    result, out = quick_result
    assert result.plots == ["math_lengths.png"]
    png = out / "math_lengths.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
