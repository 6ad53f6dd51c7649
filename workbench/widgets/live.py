"""``fit_live``: :func:`workbench.train.fit` with live progress in a notebook.

A ``tqdm.auto`` bar counts steps and shows the best discrete accuracy so far; a loss / accuracy
chart (one line per restart) is redrawn at every validation. Stop it with the kernel's stop
button (an interrupt): ``fit`` catches the ``KeyboardInterrupt``, and ``fit_live`` returns the
result so far with each restart's best program (``result.interrupted`` is ``True``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..train import FitResult, TrainConfig, fit
from ..viz._common import figure_png
from ..viz.training import progress_spec, training_figure, training_spec


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveFit:
    """The live view of one training run: a progress bar, a status line and a chart."""

    def __init__(self, *, total: int, name: str = "training", show: bool = True, redraw_seconds: float = 0.0):
        from tqdm.auto import tqdm

        self.name = name
        self.history: list[dict[str, Any]] = []
        self.redraw_seconds = redraw_seconds
        self._last_draw = 0.0
        self.show = show and _in_kernel()
        self.bar = tqdm(total=total, desc=name, unit="step", disable=not show, leave=True)
        self.status = widgets.HTML(value=_status_html("starting ...", hint=True))
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.widget = widgets.VBox([self.status, self.chart])
        self.draws = 0
        self.step = 0
        self._handle = None
        if self.show:
            from IPython.display import display

            # the widget view plus a static rendering (text/html), so a reopened or exported notebook,
            # where the widget's model is gone, still shows the run's final state
            self._handle = display(self.bundle(), raw=True, display_id=True)

    def update(self, report: dict[str, Any]) -> None:
        """``fit``'s progress callback: advance the bar, redraw the chart (never swallows an interrupt)."""
        self.history.append(dict(report))
        step = int(report["step"])
        self.bar.update(max(0, step - self.step))
        self.step = step
        accs = report.get("val_accuracy") or [0.0]
        best = max(max(h["val_accuracy"]) for h in self.history if h.get("val_accuracy"))
        self.bar.set_postfix(acc=f"{max(accs):.3f}", best=f"{best:.3f}", refresh=False)
        self.status.value = _status_html(
            f"step {step}: discrete validation accuracy per restart " + " ".join(f"{a:.2f}" for a in accs)
            + f" (best so far {best:.3f}), {report.get('seconds', 0.0):.0f} s", hint=True)
        now = time.perf_counter()
        if now - self._last_draw >= self.redraw_seconds:
            self.draw(progress_spec(self.history, name=self.name))
            self._last_draw = now

    def draw(self, spec: dict[str, Any]) -> None:
        self.chart.value = figure_png(training_figure(spec, width=9.0, height=3.0), dpi=80)
        self.draws += 1

    def finish(self, result: FitResult) -> None:
        """Final state: the full curves (every step's loss) and what was kept."""
        self.bar.close()
        kept = "interrupted: kept each restart's best program so far" if result.interrupted else "done"
        correct = result.restarts_correct
        extra = "" if correct is None else f"; {correct} of {len(result.restarts)} restarts correct"
        self.status.value = _status_html(
            f"{kept}; {result.steps} steps in {result.seconds:.0f} s; best discrete accuracy "
            f"{result.best.best_accuracy:.3f} (restart {result.best.index}){extra}", hint=False)
        self.draw(training_spec(result))
        if self._handle is not None:
            self._handle.update(self.bundle(), raw=True)

    def static_html(self) -> str:
        """The current state as inert HTML: the status line and the chart as an embedded PNG."""
        import base64

        img = ""
        if self.chart.value:
            img = (f"<img alt='training curves' style='max-width:100%' "
                   f"src='data:image/png;base64,{base64.b64encode(self.chart.value).decode()}'/>")
        return f"<div class='ntpt-live-static'>{self.status.value}{img}</div>"

    def bundle(self) -> dict[str, Any]:
        """The widget's MIME bundle with the static rendering added (``text/html``)."""
        data = dict(self.widget._repr_mimebundle_() or {})
        data["text/html"] = self.static_html()
        return data

    def close(self) -> None:
        self.bar.close()


def _status_html(text: str, *, hint: bool) -> str:
    import html

    tip = (" <span style='color:#888'>(press the kernel's stop button to end early and keep the best programs)"
           "</span>" if hint else "")
    return f"<span style='font-family:var(--jp-ui-font-family,sans-serif)'>{html.escape(text)}</span>{tip}"


def fit_live(sketch: Any, train: Any, *, val: Any = None, config: TrainConfig | None = None,
             judge: Callable[[Any], bool] | None = None, progress: Callable[[dict], None] | None = None,
             show: bool = True, redraw_seconds: float = 0.0, view: LiveFit | None = None) -> FitResult:
    """Train like :func:`workbench.train.fit`, showing live progress; interruptible (returns the best so far).

    ``progress`` is called after the view updates at each validation (it may raise
    ``KeyboardInterrupt`` to stop, as the kernel's stop button does); ``show=False`` keeps it quiet;
    ``redraw_seconds`` limits how often the chart is redrawn; ``view`` passes a :class:`LiveFit` to use.
    """
    cfg = config or TrainConfig()
    live = view or LiveFit(total=cfg.steps, name=getattr(sketch, "name", "training"), show=show,
                           redraw_seconds=redraw_seconds)

    def report(d: dict) -> None:
        live.update(d)
        if progress is not None:
            progress(d)

    try:
        result = fit(sketch, train, val=val, config=cfg, judge=judge, progress=report)
    finally:
        live.close()
    try:
        live.finish(result)
    except KeyboardInterrupt:  # a second stop press while drawing the final chart: keep the result
        result.interrupted = True
    return result
