"""Widget outputs also carry a static rendering (text/html) of their state, for reopened/exported notebooks."""

from __future__ import annotations

import base64
import re

from workbench.widgets.live import LiveFit
from workbench.widgets.trace_explorer import TraceExplorer


def _png_in(html: str) -> bytes:
    m = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert m, html[:300]
    return base64.b64decode(m.group(1))


def test_the_trace_explorer_bundle_has_the_widget_and_a_static_picture(soft_trace):
    ex = TraceExplorer(soft_trace)
    ex.step_slider.value = min(1, ex.step_slider.max)
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert _png_in(html) == bytes(ex.heatmap.value)  # the picture of the current step
    assert _png_in(html)[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"example {ex.example_picker.value}, restart {ex.restart_picker.value}" in html


def test_the_live_view_bundle_has_the_final_state(tiny_fit):
    live = LiveFit(total=tiny_fit.steps, show=False)
    live.finish(tiny_fit)
    bundle = live.bundle()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert f"{tiny_fit.steps} steps" in bundle["text/html"]
    assert _png_in(bundle["text/html"]) == bytes(live.chart.value)
