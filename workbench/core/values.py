"""Values a sketch body sees.

* :class:`Value`: a batch of probability vectors over a finite domain, shaped ``(R, B, K)`` where
  ``R`` is the restart dimension and ``B`` the example dimension (either may be 1 and broadcast).
  Hard execution uses the same class with one-hot vectors.
* :class:`Sym`: the symbolic value of the read-out interpreter (a constant or a Python expression).
* :class:`TensorRef` / :class:`CellsRef` / :class:`IndexedRef`: tensor inputs (one tensor, a grid or
  tape of tensors, and a grid indexed by a soft position).

Every value refuses Python control flow loudly: a distribution has no truth value, index or length.
"""

from __future__ import annotations

from typing import Any

import torch

from .domains import Domain, Grid, Seq, TensorType
from .errors import SoftControlFlowError


class _NoControlFlow:
    """Mixin: ``if v``, ``range(v)``, ``xs[v]``, ``for _ in v``, ``int(v)`` raise an error naming the site."""

    name: str

    def _refuse(self, what: str, fix: str) -> None:
        raise SoftControlFlowError(
            f"value '{self.name}' is a distribution over a finite domain, not a Python value: "
            f"it cannot be used in {what}",
            site=self.name,
            hint=fix,
        )

    def __bool__(self) -> bool:
        self._refuse("a Python `if`/`while`/`and`/`or`", "branch with wb.where(cond, then, else_) or wb.choose(sel, [...])")
        return False

    def __index__(self) -> int:
        self._refuse("a Python index or range()", "index a list of values with wb.choose(pos, values), or a grid with grid[pos]")
        return 0

    def __int__(self) -> int:
        self._refuse("int()", "keep it a value; read concrete numbers from the hard execution or the read-out program")
        return 0

    def __iter__(self):
        self._refuse("a Python `for` loop", "loop over a constant range and use wb.Halting for data-dependent stops")

    def __len__(self) -> int:
        self._refuse("len()", "the domain's size is value.domain.size")
        return 0


class Value(_NoControlFlow):
    """A distribution (or a one-hot vector in hard mode) over ``domain``; ``probs`` is ``(R, B, K)``."""

    __slots__ = ("probs", "domain", "name", "mix")

    def __init__(self, probs: torch.Tensor, domain: Domain, name: str,
                 mix: tuple[torch.Tensor, list[Value]] | None = None):
        self.probs = probs
        self.domain = domain
        self.name = name
        self.mix = mix  # set by choose(): (selector probs (R, B, n), the n alternatives)

    def __repr__(self) -> str:
        r, b, k = self.probs.shape
        return f"<Value {self.name}: {self.domain!r}, restarts={r}, batch={b}>"


class Sym(_NoControlFlow):
    """A symbolic value of the read-out interpreter: a known constant or a Python expression."""

    __slots__ = ("domain", "name", "const", "expr")

    def __init__(self, domain: Domain, name: str, *, const: int | None = None, expr: str | None = None):
        self.domain = domain
        self.name = name
        self.const = const
        self.expr = expr

    @property
    def text(self) -> str:
        return repr(self.const) if self.const is not None else str(self.expr)

    def __repr__(self) -> str:
        return f"<Sym {self.name}: {self.text}>"


class TensorRef:
    """One tensor input (a batch ``(B, *shape)``), or in read-out a Python expression for it."""

    def __init__(self, type_: TensorType, tensor: torch.Tensor | None, expr: str):
        self.type = type_
        self.tensor = tensor
        self.expr = expr

    def __repr__(self) -> str:
        return f"<{self.type!r} {self.expr}>"


class CellsRef:
    """A grid or tape of tensors ``(B, N, *cell)``: index with ints, ``(row, col)`` or a soft position."""

    def __init__(self, type_: Grid | Seq, tensor: torch.Tensor | None, expr: str, cells: int):
        self.type = type_
        self.tensor = tensor
        self.expr = expr
        self.cells = cells

    def __len__(self) -> int:
        return self.cells

    def _flat(self, key: Any) -> int:
        if isinstance(key, tuple):
            if not isinstance(self.type, Grid) or len(key) != 2:
                raise SoftControlFlowError(f"{self.expr} takes a flat index or, for a grid, (row, col)")
            r, c = (int(k) for k in key)
            if not (0 <= r < self.type.rows and 0 <= c < self.type.cols):
                raise IndexError(f"cell ({r}, {c}) is outside {self.type!r}")
            return r * self.type.cols + c
        k = int(key)
        if not 0 <= k < self.cells:
            raise IndexError(f"cell {k} is outside {self.expr} with {self.cells} cells")
        return k

    def __getitem__(self, key: Any) -> TensorRef | IndexedRef:
        if isinstance(key, (Value, Sym)):
            if key.domain.size != self.cells:
                from .errors import DomainError

                raise DomainError(
                    f"position '{key.name}' has domain {key.domain!r} but {self.expr} has {self.cells} cells",
                    site=key.name,
                    hint=f"declare the position over a domain of size {self.cells}",
                )
            return IndexedRef(self, key)
        k = self._flat(key)
        t = None if self.tensor is None else self.tensor[:, k]
        return TensorRef(self.type.cell, t, f"_cell({self.expr}, {k}, {len(self.type.cell.shape)})")

    def __repr__(self) -> str:
        return f"<{self.type!r} {self.expr}>"


class IndexedRef:
    """``cells[pos]`` with a soft (or symbolic) position: a neural call on it runs on every cell."""

    def __init__(self, cells: CellsRef, pos: Value | Sym):
        self.cells = cells
        self.pos = pos
        self.type = cells.type.cell

    def __repr__(self) -> str:
        return f"<{self.cells.expr}[{self.pos.name}]>"
