"""The trace explorer builds headless, and its controls change the data it renders."""

from __future__ import annotations

import pytest

from workbench.viz.trace_view import step_view, trace_spec
from workbench.widgets import StepView, TraceExplorer
from workbench.widgets.trace_explorer import STATIC


def test_explorer_builds_headless_and_shows_step_zero(soft_trace):
    ex = TraceExplorer(soft_trace)
    assert ex.step_slider.value == 0 and ex.step_slider.max == len(ex.spec["steps"]) - 1
    assert ex.view == step_view(trace_spec(soft_trace), 0)
    assert ex.heatmap.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert ex.step_panel.inputs["grid"]["rows"] == 2


def test_moving_the_slider_changes_the_rendered_data(soft_trace):
    ex = TraceExplorer(soft_trace, ["pos@{t}", "R{t}", "line{t}.instr"])
    before_view, before_png = ex.view, ex.heatmap.value
    ex.step_slider.value = 2
    assert ex.view != before_view and ex.view["step"] == "2"
    assert ex.view == step_view(ex.spec, 2)
    pos = next(v for v in ex.view["variables"] if v["site"] == "pos@2")
    assert pos["probs"] == pytest.approx(soft_trace["pos@2"].marginal(0, 0).tolist())
    assert ex.heatmap.value != before_png  # the outlined column moved
    assert "step '2'" in ex.step_label.value


def test_pickers_change_example_restart_and_variables(soft_trace):
    ex = TraceExplorer(soft_trace, ["pos@{t}", "R{t}"], step=1)
    ex.example_picker.value = 2
    assert ex.spec["example"] == 2
    r1 = next(v for v in ex.view["variables"] if v["site"] == "R1")
    assert r1["probs"] == pytest.approx(soft_trace["R1"].marginal(0, 2).tolist())
    ex.restart_picker.value = 1
    r1 = next(v for v in ex.view["variables"] if v["site"] == "R1")
    assert r1["probs"] == pytest.approx(soft_trace["R1"].marginal(1, 2).tolist())
    ex.variable_picker.value = ("return",)
    assert [v["pattern"] for v in ex.spec["variables"]] == ["return"]
    assert ex.step_slider.max == 0 and ex.view["variables"][0]["site"] == "return"
    ex.variable_picker.value = ()
    assert "pick at least one" in ex.message.value


def test_step_view_widget_syncs_json_and_ships_its_files():
    assert (STATIC / "step_view.js").read_text().count("export default") == 1
    assert (STATIC / "step_view.css").exists()
    w = StepView(data={"step": "0", "variables": []})
    state = w.get_state()
    assert state["data"] == {"step": "0", "variables": []} and "_esm" in state


def test_explorer_with_a_trace_without_steps(add2x2):
    import torch

    import workbench as wb

    @wb.sketch(inputs={"x": wb.Bool}, output=wb.Bool, name="flip")
    def flip(x):
        return wb.choose(wb.hole("op", wb.Domain.enum("Op", ["ID", "NOT"])), [x, wb.not_(x)], name="out")

    trace = flip.trace({"op": torch.tensor([[0.0, 2.0]])}, {"x": torch.tensor([0, 1])})
    ex = TraceExplorer(trace)
    assert ex.spec["steps"] == [""]  # variables without a step share one column
    op = next(v for v in ex.view["variables"] if v["site"] == "op")
    assert op["values"] == ["ID", "NOT"] and op["probs"][1] == pytest.approx(float(torch.softmax(
        torch.tensor([0.0, 2.0]), 0)[1]))
    ex.variable_picker.value = ()
    assert "pick at least one" in ex.message.value
    empty = TraceExplorer(trace, ["x"], figure=False)  # an input variable only
    assert empty.view["variables"][0]["site"] == "x"
