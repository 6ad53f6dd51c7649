"""Rich display without a screen: core objects show through renderers that higher layers register.

Core imports no UI code, statically or at run time. :mod:`workbench.viz` registers its renderer
(:func:`register`) when it is imported; ``import workbench`` inside an IPython kernel imports it, so
notebooks get pictures. Without a renderer (plain Python, or ``import workbench.core`` alone) an
object shows as its ``repr``. A failing renderer never breaks display: the text says why.
Displaying writes nothing: renderers must not create files (a test checks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Renderer = Callable[..., dict[str, Any]]  # renderer(obj, include=..., exclude=...) -> MIME bundle
_RENDERERS: list[Renderer] = []


def register(renderer: Renderer) -> None:
    """Add a renderer (the most recently registered one is tried first)."""
    if renderer not in _RENDERERS:
        _RENDERERS.insert(0, renderer)


def unregister(renderer: Renderer) -> None:
    if renderer in _RENDERERS:
        _RENDERERS.remove(renderer)


class Displayable:
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        errors = []
        for render in _RENDERERS:
            try:
                return render(self, include=include, exclude=exclude)
            except Exception as e:  # never break display: fall back to text, say why
                errors.append(f"{type(e).__name__}: {e}")
        note = f"\n(rich display unavailable: {'; '.join(errors)})" if errors else ""
        return {"text/plain": f"{self!r}{note}"}
