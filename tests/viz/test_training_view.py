"""Training views: the specs hold the run's numbers and the figures draw them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from workbench.core.errors import ConfigError
from workbench.viz.training import (
    entropy_figure,
    entropy_spec,
    lifelong_figure,
    lifelong_spec,
    progress_spec,
    training_figure,
    training_spec,
)


def test_training_spec_holds_each_restarts_curves(tiny_fit):
    spec = training_spec(tiny_fit)
    json.dumps(spec, allow_nan=False)
    assert spec["kind"] == "fit" and spec["steps"] == tiny_fit.steps == 30
    assert spec["best"] == tiny_fit.best.index
    for r, s in zip(tiny_fit.restarts, spec["restarts"]):
        assert s["losses"] == pytest.approx(r.losses) and len(s["losses"]) == 30
        assert s["loss_steps"] == list(range(1, 31))
        assert s["val_steps"] == [10, 20, 30] and s["val_accuracy"] == pytest.approx(r.val_accuracy)
        assert s["correct"] == r.correct and s["program"] == r.program.source
    assert spec["restarts_correct"] == tiny_fit.restarts_correct


def test_entropy_per_line_is_the_sum_over_its_holes(tiny_fit):
    ent = entropy_spec(tiny_fit)
    assert ent["groups"] == ["line0", "line1", "line2", "line3", "return"]
    assert ent["members"]["line2"] == ["line2.instr", "line2.a", "line2.b"]
    assert ent["steps"] == [s for s, _ in tiny_fit.hole_history] == [10, 20, 30]
    for i, (_, probs) in enumerate(tiny_fit.hole_history):
        for r in range(2):
            for g, members in ent["members"].items():
                want = sum(-sum(p * math.log2(p) for p in probs[h][r].tolist() if p > 0) for h in members)
                assert ent["values"][r][ent["groups"].index(g)][i] == pytest.approx(want, abs=1e-6)
    assert ent["max_bits"][0] == pytest.approx(math.log2(6))  # line0: one 6-way instruction hole


def test_training_figure_draws_each_restart(tiny_fit):
    spec = training_spec(tiny_fit)
    fig = training_figure(spec)
    ax_loss, ax_acc = fig.axes[:2]
    acc_lines = [ln for ln in ax_acc.get_lines() if len(ln.get_xdata()) > 1]
    assert len(acc_lines) == 2
    for ln, r in zip(acc_lines, spec["restarts"]):
        np.testing.assert_allclose(ln.get_ydata(), r["val_accuracy"])
        mark = "\u2713" if r["correct"] else "\u2717"
        assert mark in ln.get_label()
    assert ax_loss.get_yscale() == "log"
    assert "found a correct program" in fig._suptitle.get_text()


def test_entropy_figure_has_a_panel_per_restart(tiny_fit):
    spec = training_spec(tiny_fit)
    fig = entropy_figure(spec)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 2 and len(panels[0].get_lines()) == 5
    np.testing.assert_allclose(panels[1].get_lines()[3].get_ydata(), spec["entropy"]["values"][1][3])


def test_progress_spec_from_fit_reports():
    history = [{"step": 10, "seconds": 1.0, "val_accuracy": [0.1, 0.5], "loss": [2.0, 1.5]},
               {"step": 20, "seconds": 2.0, "val_accuracy": [0.4, 0.3], "loss": [1.0, 1.2]}]
    spec = progress_spec(history, name="demo")
    assert [r["val_accuracy"] for r in spec["restarts"]] == [[0.1, 0.4], [0.5, 0.3]]
    assert [r["losses"] for r in spec["restarts"]] == [[2.0, 1.0], [1.5, 1.2]]
    assert [r["best_step"] for r in spec["restarts"]] == [20, 10]
    assert spec["best"] == 1 and spec["steps"] == 20
    assert training_figure(spec) is not None
    assert progress_spec([])["restarts"] == []


def test_lifelong_matrix():
    spec = lifelong_spec([[0.9, None], [0.8, 0.7]], ["after A", "after B"], ["A", "B"])
    assert spec["matrix"] == [[0.9, None], [0.8, 0.7]]
    json.dumps(spec, allow_nan=False)
    fig = lifelong_figure(spec)
    drawn = np.ma.filled(fig.axes[0].images[0].get_array().astype(float), np.nan)
    np.testing.assert_allclose(drawn, [[0.9, np.nan], [0.8, 0.7]])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.70", "0.80", "0.90", "–"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["after A", "after B"]
    with pytest.raises(ConfigError, match="one row per stage"):
        lifelong_spec([[0.9]], ["a", "b"], ["A"])
