"""The trace view's spec holds the trace's numbers, and its figure draws exactly that spec."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from workbench.core.errors import ConfigError, DataError
from workbench.tasks.add2x2 import INSTRUCTIONS
from workbench.viz.naming import pattern_name, split_name
from workbench.viz.trace_view import default_variables, step_view, trace_figure, trace_spec


@pytest.mark.parametrize("name, pattern, step", [
    ("pos@3", "pos@{t}", "3"), ("halted@init", "halted@{t}", "init"), ("line12.read_e", "line{t}.read_e", "12"),
    ("R0", "R{t}", "0"), ("return", "return", ""), ("add#3", "add#3", ""), ("x{1}", "x{{1}}", ""),
])
def test_naming_convention_and_its_inverse(name, pattern, step):
    assert split_name(name) == (pattern, step)
    assert pattern_name(pattern, step) == name


def test_default_variables_are_choices_state_and_outputs(soft_trace):
    chosen = default_variables(soft_trace)
    for p in ("pos@{t}", "line{t}.instr", "R{t}", "line{t}.a", "return", "result"):
        assert p in chosen
    for internal in ("line{t}.move_east", "line{t}.read_e", "line{t}.val_e", "line{t}.out"):
        assert internal not in chosen


def test_each_column_is_the_recorded_marginal(soft_trace):
    spec = trace_spec(soft_trace, ["pos@{t}", "line{t}.instr", "R{t}", "line{t}.a", "result"], restart=1, example=2)
    assert spec["steps"] == ["0", "1", "2", "3", "4", ""]
    checked = 0
    for var in spec["variables"]:
        for c, site in enumerate(var["sites"]):
            if site is None:
                assert all(row[c] is None for row in var["matrix"])
                continue
            expected = soft_trace[site].marginal(1, 2)
            column = [row[c] for row in var["matrix"]]
            assert column[: len(expected)] == pytest.approx(expected.tolist(), abs=1e-7)
            assert all(v is None for v in column[len(expected):])  # smaller domain at this step
            checked += 1
    assert checked == 5 + 4 + 4 + 3 + 1
    instr = spec["variables"][1]
    assert instr["values"] == list(INSTRUCTIONS) and instr["sites"][:4] == [f"line{i}.instr" for i in range(4)]
    a = spec["variables"][3]
    assert a["domains"][1:4] == ["Reg1", "Reg2", "Reg3"] and a["matrix"][2][1] is None
    json.dumps(spec, allow_nan=False)  # JSON-ready, no NaN


def test_variables_by_loose_name_or_site(soft_trace):
    spec = trace_spec(soft_trace, ["pos", "R2", "line{t}.instr"])
    assert [v["pattern"] for v in spec["variables"]] == ["pos@{t}", "R{t}", "line{t}.instr"]
    with pytest.raises(ConfigError, match="no variable 'nope'"):
        trace_spec(soft_trace, ["nope"])
    with pytest.raises(DataError, match="example 3"):
        trace_spec(soft_trace, example=3)
    with pytest.raises(DataError, match="restart 2"):
        trace_spec(soft_trace, restart=2)


def test_reads_are_cells_weighted_by_position_and_use(soft_trace):
    """Step t reads cell c with weight sum_m P(instr_t = MOVE_m) P(pos after MOVE_m = c)."""
    r, b = 1, 0
    spec = trace_spec(soft_trace, ["line{t}.instr"], restart=r, example=b)
    for t in range(4):
        instr = soft_trace[f"line{t}.instr"].marginal(r, b)
        expected = torch.zeros(4)
        for k, d in enumerate(("north", "east", "south", "west")):
            expected += instr[1 + k] * soft_trace[f"line{t}.move_{d}"].marginal(r, b)
        reads = spec["reads"][t]
        assert reads["attention"]["grid"] == pytest.approx(expected.tolist(), abs=1e-6)
        assert [s["site"] for s in reads["sites"]] == [f"line{t}.read_{d}" for d in "nesw"]
        assert sum(s["weight"] for s in reads["sites"]) == pytest.approx(float(instr[1:5].sum()), abs=1e-6)
    cells = spec["inputs"]["grid"]
    assert (cells["rows"], cells["cols"]) == (2, 2) and len(cells["cells"]) == 4
    assert np.asarray(cells["cells"]).shape == (4, 28, 28)
    assert 0.0 <= np.min(cells["cells"]) and np.max(cells["cells"]) <= 1.0


def test_decided_program_reads_the_top_row(decided_trace):
    spec = trace_spec(decided_trace, ["line{t}.instr", "pos@{t}"])
    att = [spec["reads"][t]["attention"]["grid"] for t in range(4)]
    assert att[0] == pytest.approx([0, 0, 0, 0], abs=1e-6)  # NOOP reads nothing
    assert att[1] == pytest.approx([0, 1, 0, 0], abs=1e-6)  # MOVE_EAST reads top-right
    assert att[2] == pytest.approx([1, 0, 0, 0], abs=1e-6)  # MOVE_WEST reads top-left
    assert att[3] == pytest.approx([0, 0, 0, 0], abs=1e-6)  # ADD reads nothing
    pos = spec["variables"][1]["matrix"]
    assert [max(range(4), key=lambda v, c=c: pos[v][c]) for c in range(5)] == [0, 0, 1, 0, 0]


def test_step_view_is_one_column(soft_trace):
    spec = trace_spec(soft_trace, ["pos@{t}", "line{t}.a"], example=1)
    view = step_view(spec, 2)
    assert view["step"] == "2" and view["index"] == 2 and view["example"] == 1
    pos, a = view["variables"]
    assert pos["site"] == "pos@2" and pos["probs"] == pytest.approx(soft_trace["pos@2"].marginal(0, 1).tolist())
    assert a["site"] == "line2.a" and len(a["probs"]) == 2 and a["values"] == ["R0", "R1"]  # what it selects
    assert view["reads"] == spec["reads"][2]
    assert step_view(spec, "0")["variables"][0]["site"] == "pos@0"  # line0.a does not exist
    assert len(step_view(spec, "0")["variables"]) == 1
    with pytest.raises(ConfigError):
        step_view(spec, 7)


def test_value_labels_name_what_values_mean(soft_trace):
    spec = trace_spec(soft_trace, ["pos@{t}", "return", "line{t}.b", "R{t}"])
    pos, ret, b, regs = spec["variables"]
    assert pos["values"] == ["(0,0)", "(0,1)", "(1,0)", "(1,1)"]  # it indexes the 2x2 grid
    assert ret["values"] == ["R0", "R1", "R2", "R3"]  # the registers it returns
    assert b["values"] == ["R0", "R1", "R2"]
    assert regs["values"] == [str(v) for v in range(19)]


@pytest.mark.parametrize("compact", [False, True])
def test_figure_draws_the_spec(soft_trace, compact):
    spec = trace_spec(soft_trace, ["line{t}.instr", "R{t}", "line{t}.b"], restart=1, example=1)
    fig = trace_figure(spec, highlight=2, compact=compact)
    heatmaps = [ax for ax in fig.axes if ax.images and ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split()[0] for ax in heatmaps] == ["line{t}.instr", "R{t}", "line{t}.b"]
    for ax, var in zip(heatmaps, spec["variables"]):
        drawn = np.ma.filled(ax.images[0].get_array().astype(float), math.nan)
        want = np.array([[math.nan if v is None else v for v in row] for row in var["matrix"]])
        rows = list(range(len(want)))
        if compact and len(rows) > 12:  # big domains: rows below 0.01 at every step are hidden
            rows = [i for i in rows if np.nanmax(want[i]) >= 0.01]
            assert len(rows) < len(want) and "hidden" in ax.get_title(loc="left")
        np.testing.assert_allclose(drawn, want[rows], atol=1e-7)
        assert [t.get_text() for t in ax.get_yticklabels()] == [var["values"][i] for i in rows]
    read_axes = [ax for ax in fig.axes if ax.images and not ax.get_title(loc="left")]
    assert len(read_axes) == 4  # steps 0..3 read cells; pos@{t} is not shown so there is no step 4
    assert any("colorbar" in str(type(ax)).lower() or ax.get_ylabel() == "probability" for ax in fig.axes)


def test_fit_trace_uses_the_restarts_holes_and_nets(tiny_fit, add2x2):
    from workbench.viz.trace_view import fit_trace

    _, _, data = add2x2
    for r in (0, 1):
        trace = fit_trace(tiny_fit, {"grid": data.grids[:2]}, restart=r)
        for name, probs in tiny_fit.hole_probs.items():
            assert trace[name].marginal(0, 0).tolist() == pytest.approx(probs[r].tolist(), abs=1e-6)
        net = tiny_fit.restarts[r].neural["digit"].module.eval()
        with torch.no_grad():
            want = torch.softmax(net(data.grids[:2, 0, 0]), -1)  # line0 reads cell (0,0) when it stays
        assert trace["line0.read_n"].marginal(0, 1).tolist() == pytest.approx(want[1].tolist(), abs=1e-5)
