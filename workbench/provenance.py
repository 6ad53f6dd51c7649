"""Provenance of trained neural functions: what run trained them, on what, for how long, with what result.

:func:`link` is called by :func:`workbench.train.fit` on its result: every neural function a restart
trained gets a ``provenance`` attribute (plain JSON data: source, task, dataset, training config,
steps, seconds, restart, its held-out metrics). :meth:`workbench.library.Library.publish` and the
panel's drag-time staging read it, so an entry published from a ``FitResult`` carries where it came
from without the caller repeating it. :func:`training_state` tells a never-trained net from a trained one.

This module imports nothing of the workbench above core (it is used by ``train`` and ``library``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import weakref
from typing import Any

_STORED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> sha256 it was loaded/published with


def note_stored(module: Any, sha256: str) -> None:
    """Remember that ``module`` holds the weights of a library version with this sha256 (load, publish)."""
    try:
        _STORED[module] = sha256
    except TypeError:
        pass


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def config_dict(config: Any) -> dict[str, Any]:
    """A training config as JSON data (dataclass fields; anything else as its string)."""
    out = _jsonable(config)
    return out if isinstance(out, dict) else {"config": out}


def _count(data: Any) -> int | None:
    try:
        return int(len(data))
    except Exception:
        return None


def dataset_text(result: Any) -> str | None:
    ex = getattr(result, "examples", None) or {}
    n_train, n_val = _count(ex.get("train")), _count(ex.get("val"))
    if n_train is None:
        return None
    return f"{n_train} training examples" + (f", {n_val} validation examples" if n_val is not None else "")


def restart_metrics(result: Any, restart: Any) -> dict[str, float]:
    """A restart's held-out figures: its discrete program's validation accuracy, final loss, and the
    fraction of restarts judged correct (when judged)."""
    out: dict[str, float] = {}
    if restart.best_accuracy is not None and restart.best_accuracy >= 0:
        out["program_val_accuracy"] = float(restart.best_accuracy)
    if restart.losses and math.isfinite(restart.final_loss):
        out["final_loss"] = float(restart.final_loss)
    correct = getattr(result, "restarts_correct", None)
    if correct is not None and result.restarts:
        out["restarts_correct"] = correct / len(result.restarts)
    return out


def run_provenance(result: Any, restart: Any = None, *, source: str = "fit") -> dict[str, Any]:
    """The provenance of a fit's restart (default: the best): JSON data for a manifest's ``run``."""
    restart = result.best if restart is None else restart
    return {
        "source": source,
        "task": getattr(result.sketch, "name", None),
        "dataset": dataset_text(result),
        "config": config_dict(result.config),
        "steps": int(result.steps),
        "seconds": round(float(result.seconds), 3),
        "restart": int(restart.index),
        "restarts": len(result.restarts),
        "program": restart.program.source if getattr(restart, "program", None) is not None else None,
        "metrics": restart_metrics(result, restart),
        "trained": "trained",
    }


def link(result: Any) -> Any:
    """Give every neural function the fit trained (one per restart; not the frozen ones, which are the
    sketch's own objects) a ``provenance`` attribute describing this run. Returns ``result``."""
    frozen = {id(nf) for nf in getattr(getattr(result, "info", None), "neural", {}).values()}
    for restart in result.restarts:
        for nf in restart.neural.values():
            if id(nf) in frozen:
                continue
            try:
                nf.provenance = run_provenance(result, restart)
            except Exception:  # provenance must never break training's result
                continue
    return result


def provenance_of(fn: Any) -> dict[str, Any]:
    """The ``provenance`` attached to a neural function (by :func:`link`), or ``{}``."""
    prov = getattr(fn, "provenance", None)
    if not isinstance(prov, dict):
        return {}
    try:
        return json.loads(json.dumps(prov, allow_nan=False, default=str))
    except (TypeError, ValueError):
        return {}


def training_state(fn: Any, sha256: str | None = None) -> str:
    """Whether ``fn`` was trained: ``"trained"`` (by a run, or its weights moved since it was built or
    loaded), ``"untrained"`` (the weights it was built with), ``"unchanged"`` (as loaded from the
    library) or ``"unknown"``. ``sha256``: the weights' fingerprint when already computed."""
    from .nets import built_fingerprint, weights_fingerprint

    prov = provenance_of(fn)
    if prov.get("trained"):
        return str(prov["trained"])
    current = sha256 or weights_fingerprint(fn.module)
    stored = _STORED.get(fn.module)
    if stored is not None:
        return "unchanged" if stored == current else "trained"
    built = built_fingerprint(fn.module)
    if built is not None:
        return "untrained" if built == current else "trained"
    return "unknown"
