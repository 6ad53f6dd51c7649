"""Notebook widgets: they wire controls to the pure views of :mod:`workbench.viz`.

- :class:`TraceExplorer`: browse a soft execution trace (step slider, example/restart/variable
  pickers, the input cells read), with :class:`StepView`, an anywidget (ES module + CSS shipped in
  ``workbench/widgets/static``);
- :func:`fit_live`: training with a live progress bar and loss/accuracy chart, interruptible with
  the kernel's stop button (returns each restart's best program so far).
"""

from .live import LiveFit, fit_live
from .trace_explorer import StepView, TraceExplorer

__all__ = ["LiveFit", "StepView", "TraceExplorer", "fit_live"]
