"""Pure views of traces, programs and training runs.

Every view is two functions: one from a workbench object to a plain-data *spec* (dicts, lists and
floats, JSON-ready) and one from the spec to a matplotlib figure or a graphviz DOT/SVG graph.
Widgets (:mod:`workbench.widgets`) and rich notebook displays (:mod:`workbench.viz.reprs`) only
wire these together. matplotlib is imported when a figure is drawn, not on import.

- :mod:`~workbench.viz.trace_view`: a soft execution trace as heatmaps, step by step
- :mod:`~workbench.viz.graph`: program graphs (soft structure, read-out program)
- :mod:`~workbench.viz.training`: loss/accuracy curves, hole entropy, lifelong matrices
- :mod:`~workbench.viz.naming`: how steps are read from site names
"""

from ..core import display as _display
from .graph import (
    GraphImage,
    graph_spec,
    program_graph_spec,
    soft_graph_spec,
    structure_graph_spec,
    to_dot,
    to_svg,
)
from .naming import split_name
from .reprs import bundle as _bundle
from .trace_view import fit_trace, step_view, trace_figure, trace_spec
from .training import (
    entropy_figure,
    entropy_spec,
    lifelong_figure,
    lifelong_spec,
    progress_spec,
    training_figure,
    training_spec,
)

_display.register(_bundle)  # core objects (and Program, FitResult) now show as pictures

__all__ = [
    "GraphImage", "graph_spec", "program_graph_spec", "soft_graph_spec", "structure_graph_spec", "to_dot", "to_svg", "split_name",
    "fit_trace", "step_view", "trace_figure", "trace_spec", "entropy_figure", "entropy_spec", "lifelong_figure",
    "lifelong_spec", "progress_spec", "training_figure", "training_spec",
]
