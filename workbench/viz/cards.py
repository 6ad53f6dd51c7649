"""Neural-function cards that publish what a function is *when it is dragged*, not when it was shown.

Displaying a :class:`~workbench.core.neural.NeuralFunction` writes nothing: its card carries a
``stage`` token that names the object in this kernel (a weak reference, so a displayed card keeps
nothing alive). When the user starts dragging the card onto the library panel, the JupyterLab
extension asks the notebook's kernel to run :func:`stage_for_drag` with that token; only then are
the function's *current* weights written to the staging area, and the drag carries that staging id.
So a card displayed before training publishes the trained weights.
"""

from __future__ import annotations

import json
import secrets
import weakref
from typing import Any

_LIVE: dict[str, weakref.ref] = {}
_MAX = 4096  # tokens kept per kernel (oldest dropped first)


def remember(fn: Any, **extra: Any) -> str:
    """A token for ``fn`` (the same object displayed twice gets the same token)."""
    for token, ref in _LIVE.items():
        if ref() is fn:
            return token
    token = secrets.token_hex(16)
    _LIVE[token] = weakref.ref(fn)
    while len(_LIVE) > _MAX:
        _LIVE.pop(next(iter(_LIVE)))
    return token


class _Reply:
    """What :func:`stage_for_drag` returns: shown to the frontend as ``application/json``."""

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def _repr_json_(self) -> dict[str, Any]:
        return self.data

    def __repr__(self) -> str:
        return json.dumps(self.data)


def stage_for_drag(token: str, **provenance: Any) -> _Reply:
    """Stage the function the token names, as it is now: ``{"staging": {...}}`` or ``{"error": ...}``."""
    ref = _LIVE.get(token) if isinstance(token, str) else None
    fn = ref() if ref is not None else None
    if fn is None:
        return _Reply({"staging": None, "error": "this card's function is gone from the kernel (restarted?)",
                       "hint": "re-run the cell that displays it"})
    try:
        from workbench.library.staging import stage

        return _Reply({"staging": stage(fn, **provenance), "error": None})
    except Exception as e:  # no architecture spec, read-only library, ...: the frontend shows why
        return _Reply({"staging": None, "error": str(e).splitlines()[0], "hint": getattr(e, "hint", None)})
