"""The widget tests reuse the view tests' fixtures (tests/viz/conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[1] / "viz" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_workbench_viz_fixtures", _path)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

add2x2 = _fixtures.add2x2
holes = _fixtures.holes
soft_trace = _fixtures.soft_trace
tiny_fit = _fixtures.tiny_fit

