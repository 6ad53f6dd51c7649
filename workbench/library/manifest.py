"""The manifest of one entry version (``manifest.json``) as a frozen dataclass.

The manifest is plain JSON (never pickle): schema version, name, version, signature, architecture,
metrics, provenance (task, dataset, parent version, creation time, sha256 of the weights),
description and tags. :meth:`EntryVersion.from_manifest` checks a manifest read from storage and
raises :class:`IntegrityError` naming the entry when it is malformed.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..core.domains import Domain, TensorType
from .errors import IntegrityError, PublishError

SCHEMA = 1


@dataclass(frozen=True)
class EntryVersion:
    """One immutable version of a library entry (its manifest)."""

    name: str
    version: int
    input: TensorType
    output: Domain
    constructor: str
    kwargs: Mapping[str, Any]
    metrics: Mapping[str, float]
    task: str | None
    dataset: str | None
    parent: int | None
    created: str
    weights_sha256: str
    description: str = ""
    tags: tuple[str, ...] = ()
    location: str = ""
    run: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # how it was trained: source, config, steps, seconds, trained

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def signature(self) -> str:
        return f"{self.input!r} -> {self.output!r}"

    @property
    def architecture(self) -> str:
        args = ", ".join(f"{k}={_thaw(v)!r}" for k, v in self.kwargs.items())
        return f"{self.constructor}({args})"

    def to_manifest(self) -> dict[str, Any]:
        out = self.output
        return {
            "schema": SCHEMA,
            "name": self.name,
            "version": self.version,
            "signature": {
                "input": {"name": self.input.name, "shape": list(self.input.shape)},
                "output": {"name": out.name, "size": out.size,
                           "labels": list(out.labels) if out.labels is not None else None},
            },
            "architecture": {"constructor": self.constructor, "kwargs": _thaw(self.kwargs)},
            "metrics": dict(self.metrics),
            "provenance": {"task": self.task, "dataset": self.dataset, "parent": self.parent,
                           "created": self.created, "weights_sha256": self.weights_sha256,
                           **({"run": _thaw(self.run)} if self.run else {})},
            "description": self.description,
            "tags": list(self.tags),
        }

    def to_json(self) -> bytes:
        try:
            return json.dumps(self.to_manifest(), indent=2, allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise PublishError(f"the manifest of '{self.ref}' is not JSON data: {e}", entry=self.name,
                               hint="architecture kwargs must be JSON data (numbers, strings, lists, dicts)") from e

    @classmethod
    def from_manifest(cls, data: bytes, *, name: str, version: int, location: str = "") -> EntryVersion:
        """Parse and check a stored manifest that should describe ``name@version``."""
        try:
            m = json.loads(data)
            if m.get("schema") != SCHEMA:
                raise ValueError(f"unsupported schema {m.get('schema')!r} (this workbench reads {SCHEMA})")
            if m["name"] != name or m["version"] != version:
                raise ValueError(f"it describes {m['name']}@{m['version']}")
            sig, arch, prov = m["signature"], m["architecture"], m["provenance"]
            out = sig["output"]
            ev = cls(
                name=name, version=version,
                input=TensorType(str(sig["input"]["name"]), tuple(sig["input"]["shape"])),
                output=Domain(str(out["name"]), int(out["size"]), out.get("labels")),
                constructor=_str(arch["constructor"]), kwargs=_freeze(dict(arch["kwargs"])),
                metrics=_finite_metrics(m.get("metrics", {})),
                task=_opt_str(prov.get("task")), dataset=_opt_str(prov.get("dataset")),
                parent=_opt_int(prov.get("parent")), created=_str(prov["created"]),
                weights_sha256=_str(prov["weights_sha256"]),
                description=_str(m.get("description", "")),
                tags=tuple(_str(t) for t in m.get("tags", [])), location=location,
                run=_freeze(_run(prov.get("run"))),
            )
        except Exception as e:  # any malformation: JSON, missing keys, wrong types, bad domain
            raise IntegrityError(f"the manifest of library entry '{name}@{version}' is malformed: "
                                 f"{type(e).__name__}: {e}", entry=name, version=version,
                                 hint="the file was edited or corrupted; remove this version and publish again") from e
        return ev

    def __repr__(self) -> str:
        rows = [f"EntryVersion {self.ref}: {self.signature}"]
        rows += [f"  {k + ':':<14}{v}" for k, v in self._rows() if v]
        return "\n".join(rows)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("architecture", self.architecture),
            ("metrics", format_metrics(self.metrics)),
            ("task", self.task or ""), ("dataset", self.dataset or ""),
            ("parent", f"{self.name}@{self.parent}" if self.parent else "none"),
            ("created", self.created), ("sha256", self.weights_sha256[:16] + "..."),
            ("trained by", run_line(self.run)),
            ("description", self.description), ("tags", ", ".join(self.tags)),
            ("library", self.location),
        ]

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self._rows() if v)
        return (f"<table><caption style='text-align:left'><b>{html.escape(self.ref)}</b>: "
                f"{html.escape(self.signature)}</caption>{rows}</table>")


@dataclass(frozen=True)
class BrokenEntry:
    """An entry (or one version of it) that :meth:`Library.scan` could not read, and why."""

    name: str
    version: int | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "problem": self.problem}


@dataclass(frozen=True)
class EntrySummary:
    """One line of :meth:`Library.list`: an entry's latest version and its version count."""

    name: str
    latest: int
    versions: int
    signature: str
    metrics: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "latest": self.latest, "versions": self.versions,
                "signature": self.signature, "metrics": dict(self.metrics)}

    def __repr__(self) -> str:
        return (f"EntrySummary({self.name}@{self.latest}, {self.versions} version(s), {self.signature}"
                + (f", {format_metrics(self.metrics)})" if self.metrics else ")"))


def format_metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def check_metrics(metrics: Mapping[str, Any] | None, *, entry: str) -> Mapping[str, float]:
    """Metrics to publish: a dict of str -> finite float."""
    out = {}
    for k, v in (metrics or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        if not isinstance(k, str) or isinstance(v, bool) or not math.isfinite(f):
            raise PublishError(f"metric {k!r}={v!r} of '{entry}' is not a finite number with a string name",
                               entry=entry, hint="e.g. metrics={'accuracy': 0.98}")
        out[k] = f
    return MappingProxyType(out)


def _finite_metrics(metrics: Any) -> Mapping[str, float]:
    """Stored metrics: a JSON object of finite numbers (a NaN would make the listing invalid JSON)."""
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be an object, got {type(metrics).__name__}")
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ValueError(f"metric {k!r} is {v!r}, not a finite number")
        out[str(k)] = float(v)
    return MappingProxyType(out)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {v!r}")
    return v


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _opt_int(v: Any) -> int | None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
        raise TypeError(f"expected an int or null, got {v!r}")
    return v


def _run(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"provenance.run must be an object, got {type(value).__name__}")
    return value


def run_line(run: Mapping[str, Any]) -> str:
    """One line about how a version was trained: ``fit, 600 steps, 92.0 s, trained``."""
    if not run:
        return ""
    bits = [str(run.get("source") or "")]
    if isinstance(run.get("steps"), int):
        bits.append(f"{run['steps']} steps")
    if isinstance(run.get("seconds"), (int, float)):
        bits.append(f"{run['seconds']:.1f} s")
    if run.get("trained") is not None:
        bits.append({"untrained": "NEVER TRAINED"}.get(str(run["trained"]), str(run["trained"])))
    return ", ".join(b for b in bits if b)
