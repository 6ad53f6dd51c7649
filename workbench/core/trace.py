"""The trace interpretation: a soft run that records every site's distribution under its name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .display import Displayable
from .domains import Domain
from .program import Read
from .runtime import KINDS, Handler, Message


@dataclass(frozen=True)
class SiteRecord:
    """One site of a traced execution: ``probs`` is ``(R, B, K)`` (detached)."""

    index: int
    name: str
    kind: str
    domain: Domain
    probs: torch.Tensor
    reads: Read | None = None  # for neural sites: what the net reads (input, fixed cell or soft position site)
    args: tuple[str, ...] = ()  # names of the sites this one reads (data flow), selector first for choose
    callee: str | None = None  # for fn / neural sites: the function's name (e.g. "add", "digit")

    def marginal(self, restart: int = 0, example: int = 0) -> torch.Tensor:
        r = min(restart, self.probs.shape[0] - 1)
        b = min(example, self.probs.shape[1] - 1)
        return self.probs[r, b]


class Trace(Displayable):
    """Every site of one execution, in execution order, keyed by its stable name."""

    def __init__(self, records: list[SiteRecord], outputs: dict[str, Any], inputs: dict[str, Any]):
        self.records = records
        self.outputs = outputs
        self.inputs = inputs
        self._by_name = {r.name: r for r in records}

    def __getitem__(self, name: str) -> SiteRecord:
        if name not in self._by_name:
            from .errors import SketchError

            raise SketchError(f"no site named '{name}' in this trace", hint=f"sites: {list(self._by_name)[:20]} ...")
        return self._by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def names(self, kind: str | None = None) -> list[str]:
        return [r.name for r in self.records if kind is None or r.kind == kind]

    def to_dict(self, restart: int = 0, example: int = 0) -> dict[str, Any]:
        """Plain data (JSON-ready) for one restart and example."""
        return {
            "sites": [
                {"name": r.name, "kind": r.kind, "domain": r.domain.name, "size": r.domain.size,
                 "labels": list(r.domain.labels) if r.domain.labels else None,
                 "probs": [float(x) for x in r.marginal(restart, example)],
                 "reads": None if r.reads is None else str(r.reads), "args": list(r.args),
                 "callee": r.callee}
                for r in self.records
            ]
        }

    def __repr__(self) -> str:
        return f"<Trace: {len(self.records)} sites>"


class TraceRecorder(Handler):
    """Wraps an interpreter and records the value of every site it evaluates."""

    def __init__(self, kinds: tuple[str, ...] = KINDS):
        self.kinds = kinds
        self.records: list[SiteRecord] = []

    def postprocess(self, msg: Message) -> None:
        v = msg.value
        if msg.kind not in self.kinds or not hasattr(v, "probs"):
            return
        reads = msg.args[1].read if msg.kind == "neural" else None
        callee = getattr(msg.args[0], "name", None) if msg.kind in ("fn", "neural") else (
            f"is_{msg.args[1]}" if msg.kind == "is" else None)
        self.records.append(SiteRecord(len(self.records), msg.name, msg.kind, v.domain, v.probs.detach(), reads,
                                       _arg_names(msg), callee))


def _arg_names(msg: Message) -> tuple[str, ...]:
    names: list[str] = []
    for a in msg.args:
        items = a if isinstance(a, list) else [a]
        for x in items:
            if hasattr(x, "probs") and hasattr(x, "name"):
                names.append(x.name)
            elif hasattr(x, "pos"):  # cells[pos]
                names.append(x.pos.name)
    return tuple(names)
