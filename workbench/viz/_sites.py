"""What the views read off a trace's sites: who consumes what, which values index a grid, labels."""

from __future__ import annotations

from functools import cached_property
from typing import Any


def read_parts(reads: Any) -> tuple[str | None, str | None, int | None]:
    """``(input name, position site, fixed flat cell)`` of a neural site's structured
    :class:`~workbench.core.program.Read` (``None``: not a neural site). Nothing is parsed from text.

    >>> from workbench.core import Read
    >>> read_parts(Read("grid", "grid", 2, position="line0.move_east")), read_parts(Read("grid", "grid", 2, 3))
    (('grid', 'line0.move_east', None), ('grid', None, 3))
    >>> read_parts(Read("x"))
    ('x', None, 0)
    """
    if reads is None:
        return None, None, None
    if reads.kind == "tensor":
        return reads.input, None, 0
    return reads.input, reads.position, reads.cell


class Sites:
    """Indexes over one trace's records (built once per view)."""

    def __init__(self, trace: Any):
        self.trace = trace
        self.by_name = {r.name: r for r in trace.records}

    @cached_property
    def consumers(self) -> dict[str, list[tuple[Any, int]]]:
        """site name -> [(consuming record, argument position)]."""
        out: dict[str, list[tuple[Any, int]]] = {}
        for r in self.trace.records:
            for i, a in enumerate(r.args):
                out.setdefault(a, []).append((r, i))
        return out

    @cached_property
    def positions(self) -> dict[str, str]:
        """Sites used as a soft index into a grid or tape -> the input they index."""
        out = {}
        for r in self.trace.records:
            if r.kind == "neural":
                inp, pos, _ = read_parts(r.reads)
                if pos is not None:
                    out[pos] = inp
        return out

    def grid_shape(self, name: str) -> tuple[int, int] | None:
        t = self.trace.inputs.get(name)
        if t is None or not hasattr(t, "dim") or t.dim() != 5:  # (B, rows, cols, H, W)
            return None
        return int(t.shape[1]), int(t.shape[2])

    def indexed_input(self, name: str, depth: int = 0) -> str | None:
        """The input this site indexes, directly or through one function (``pos@t`` -> ``move(pos@t)``)."""
        if name in self.positions:
            return self.positions[name]
        domain = self.by_name[name].domain if name in self.by_name else None
        for rec, _ in self.consumers.get(name, []):
            if rec.domain != domain:
                continue
            if rec.kind == "fn" and rec.name in self.positions:
                return self.positions[rec.name]
            if rec.kind in ("let", "cast") and depth < 8:  # the same value under another name
                found = self.indexed_input(rec.name, depth + 1)
                if found:
                    return found
        return None

    def labels(self, rec: Any) -> list[str]:
        """Names of a site's values: the domain's labels; for an unlabelled selector, the names of
        the alternatives it picks (``line2.a``: ``R0``, ``R1``); for a grid position, ``(row,col)``."""
        d = rec.domain
        if d.labels is not None:
            return list(d.labels)
        for c, i in self.consumers.get(rec.name, []):
            if c.kind == "choose" and i == 0 and len(c.args) - 1 == d.size:
                return list(c.args[1:])
        inp = self.indexed_input(rec.name)
        shape = self.grid_shape(inp) if inp else None
        if shape and shape[0] * shape[1] == d.size:
            return [f"({v // shape[1]},{v % shape[1]})" for v in range(d.size)]
        return [str(v) for v in range(d.size)]
