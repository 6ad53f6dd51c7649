"""``TraceExplorer(trace)``: browse a soft execution trace step by step in a notebook.

Controls (ipywidgets): a step slider, an example picker, a restart picker and a variable picker.
Views: the trace heatmaps of the chosen example with the current step outlined (matplotlib, as a
PNG in an ``Image`` widget, so it also works where custom widgets cannot run), and
:class:`StepView`, an anywidget that draws the current step's distributions and the input cells
the neural functions read (its synced traitlets hold JSON from :mod:`workbench.viz.trace_view`,
never tensors). The widgets only wire controls to the pure view functions.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ..viz._common import figure_png
from ..viz.naming import ONCE
from ..viz.trace_view import default_variables, step_view, trace_figure, trace_spec, variable_table

STATIC = Path(__file__).parent / "static"


class StepView(anywidget.AnyWidget):
    """One step of a trace: a bar chart per variable and the cells read (ES module + CSS files)."""

    _esm = STATIC / "step_view.js"
    _css = STATIC / "step_view.css"
    data = traitlets.Dict().tag(sync=True)  # workbench.viz.trace_view.step_view(...)
    inputs = traitlets.Dict().tag(sync=True)  # trace_spec(...)["inputs"]: cells as 0..1 grey levels


class TraceExplorer(widgets.VBox):
    """A trace browser: ``TraceExplorer(trace)`` (display it as the last expression of a cell).

    ``view`` is the current step's plain data (what :class:`StepView` shows), ``spec`` the current
    example's trace spec; both change as the controls move.
    """

    def __init__(self, trace: Any, variables: list[str] | None = None, *, example: int = 0, restart: int = 0,
                 step: int = 0, figure: bool = True, **kwargs: Any):
        self.trace = trace
        table = variable_table(trace)
        chosen = variables or default_variables(trace)
        spec = trace_spec(trace, chosen, restart=restart, example=example)
        self._figure_cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._show_figure = figure
        self._spec = spec
        n = len(spec["steps"])
        self.step_slider = widgets.IntSlider(value=min(step, max(n - 1, 0)), min=0, max=max(n - 1, 0),
                                             description="step", continuous_update=False)
        self.step_label = widgets.Label(self._step_text(self.step_slider.value))
        self.example_picker = widgets.BoundedIntText(value=example, min=0, max=spec["examples"] - 1,
                                                     description="example", layout=widgets.Layout(width="160px"))
        self.restart_picker = widgets.Dropdown(options=list(range(spec["restarts"])), value=restart,
                                               description="restart", layout=widgets.Layout(width="160px"))
        self.variable_picker = widgets.SelectMultiple(options=list(table), value=tuple(_resolved(spec)),
                                                      description="variables", rows=min(8, max(3, len(table))))
        self.step_panel = StepView(data=_view(spec, self.step_slider.value), inputs=spec["inputs"])
        self.heatmap = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.message = widgets.HTML()
        controls = widgets.HBox([widgets.VBox([self.step_slider, self.step_label, self.example_picker,
                                               self.restart_picker]), self.variable_picker])
        views = [self.step_panel] + ([self.heatmap] if figure else [])
        super().__init__([controls, self.message, *views], **kwargs)
        self._draw_figure()
        self.step_slider.observe(self._on_step, names="value")
        for w in (self.example_picker, self.restart_picker, self.variable_picker):
            w.observe(self._on_spec, names="value")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget view plus a static rendering of its state (``text/html``: the current step's
        heatmaps as a PNG), so a reopened or exported notebook still shows the trace."""
        data = dict(super()._repr_mimebundle_(**kwargs) or {})
        data["text/html"] = self.static_html()
        return data

    def static_html(self) -> str:
        import base64
        import html

        png = bytes(self.heatmap.value or b"") if self._show_figure else b""
        img = (f"<img alt='trace heatmaps' style='max-width:100%' src='data:image/png;base64,"
               f"{base64.b64encode(png).decode()}'/>") if png else ""
        return (f"<div class='ntpt-trace-static'><div>{html.escape(self._step_text(self.step_slider.value))}, "
                f"example {self.example_picker.value}, restart {self.restart_picker.value}</div>{img}</div>")

    # -- state ------------------------------------------------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        return self._spec

    @property
    def view(self) -> dict[str, Any]:
        return self.step_panel.data

    def _step_text(self, i: int) -> str:
        steps = self._spec["steps"]
        if not steps:
            return "no steps"
        label = steps[i] if steps[i] != ONCE else "·"
        return f"step '{label}' ({i + 1} of {len(steps)})"

    # -- events -----------------------------------------------------------------------------------
    def _on_step(self, change: dict[str, Any] | None = None) -> None:
        i = self.step_slider.value
        self.step_label.value = self._step_text(i)
        self.step_panel.data = _view(self._spec, i)
        self._draw_figure()

    def _on_spec(self, change: dict[str, Any] | None = None) -> None:
        chosen = list(self.variable_picker.value)
        if not chosen:
            self.message.value = "<em>pick at least one variable</em>"
            return
        self.message.value = ""
        self._spec = trace_spec(self.trace, chosen, restart=self.restart_picker.value,
                                example=self.example_picker.value)
        n = len(self._spec["steps"])
        with self.step_slider.hold_trait_notifications():
            self.step_slider.max = max(n - 1, 0)
            self.step_slider.value = min(self.step_slider.value, max(n - 1, 0))
        self.step_panel.inputs = self._spec["inputs"]
        self._on_step()

    def _draw_figure(self) -> None:
        if not self._show_figure:
            return
        key = (self.restart_picker.value, self.example_picker.value, tuple(self.variable_picker.value),
               self.step_slider.value)
        png = self._figure_cache.get(key)
        if png is None:
            png = figure_png(trace_figure(self._spec, highlight=self.step_slider.value), dpi=80)
            self._figure_cache[key] = png
            while len(self._figure_cache) > 32:
                self._figure_cache.popitem(last=False)
        self.heatmap.value = png


def _view(spec: dict[str, Any], i: int) -> dict[str, Any]:
    if not spec["steps"]:
        return {"index": 0, "step": "", "steps": 0, "restart": spec["restart"], "example": spec["example"],
                "variables": [], "reads": {"sites": [], "attention": {}}}
    return step_view(spec, i)


def _resolved(spec: dict[str, Any]) -> list[str]:
    return [v["pattern"] for v in spec["variables"]]
