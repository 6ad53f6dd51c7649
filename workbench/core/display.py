"""Rich display hook: objects show as pictures in notebooks without core importing any UI library.

``_repr_mimebundle_`` imports :mod:`workbench.viz.reprs` only when a notebook asks to display an
object; that module renders the object (custom MIME type + SVG/HTML + text). Without it (or if it
fails) the object shows as plain text.
"""

from __future__ import annotations

import importlib
from typing import Any


class Displayable:
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            reprs = importlib.import_module("workbench.viz.reprs")
            return reprs.bundle(self, include=include, exclude=exclude)
        except Exception as e:  # never break display: fall back to text, say why
            return {"text/plain": f"{self!r}\n(rich display unavailable: {type(e).__name__}: {e})"}
