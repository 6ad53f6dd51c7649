"""Live training: the chart is redrawn at each validation, and interrupting keeps the best programs."""

from __future__ import annotations

from workbench.train import TrainConfig
from workbench.widgets import LiveFit, fit_live

CFG = TrainConfig(restarts=2, steps=60, batch_size=8, validate_every=10, val_size=32, seed=1)


def test_fit_live_redraws_at_each_validation(add2x2):
    sketch, _, data = add2x2
    view = LiveFit(total=CFG.steps, name=sketch.name, show=False)
    charts = []
    result = fit_live(sketch, data, config=CFG.replace(steps=30), view=view,
                      progress=lambda d: charts.append(view.chart.value))
    assert not result.interrupted and result.steps == 30
    assert [h["step"] for h in view.history] == [10, 20, 30]
    assert view.draws == 3 + 1  # one chart per validation, then the final curves
    assert len(set(charts)) == 3  # each validation drew a new chart
    assert "done" in view.status.value and view.step == 30


def test_interrupt_from_the_progress_callback_keeps_each_restarts_best_program(add2x2):
    sketch, _, data = add2x2
    seen = []

    def stop_after_two(report):
        seen.append(report["step"])
        if len(seen) == 2:
            raise KeyboardInterrupt  # what the kernel's stop button raises

    result = fit_live(sketch, data, config=CFG, progress=stop_after_two, show=False)
    assert result.interrupted and result.steps == 20 < CFG.steps
    for r in result.restarts:
        assert r.val_steps == [10, 20]
        assert r.best_accuracy == max(r.val_accuracy) and r.best_step in (10, 20)
        assert r.program is not None and r.program.source.startswith("def add2x2(grid):")
    assert result.program is result.best.program


def test_interrupt_while_the_widget_draws(add2x2, monkeypatch):
    """The stop button may land inside the widget's own redraw: the result still comes back."""
    sketch, _, data = add2x2
    calls = {"n": 0}
    real = LiveFit.draw

    def flaky(self, spec):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(self, spec)

    monkeypatch.setattr(LiveFit, "draw", flaky)
    result = fit_live(sketch, data, config=CFG, show=False)
    assert result.interrupted and result.steps == 20
    assert all(r.program is not None for r in result.restarts)


def test_quiet_view_has_no_bar_output(capsys):
    view = LiveFit(total=5, show=False)
    view.update({"step": 5, "seconds": 0.1, "val_accuracy": [0.5], "loss": [1.0]})
    view.close()
    assert capsys.readouterr().err == ""
    assert "0.50" in view.status.value and view.draws == 1
