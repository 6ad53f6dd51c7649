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
from .errors import DomainError, SoftControlFlowError
from .program import Read


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


    def _compare(self, other: Any) -> bool:
        self._refuse("a Python comparison (==, !=, <, <=, >, >=), which would compare objects, not values",
                     "compare inside the sketch with wb.is_(value, c) (a Bool value) and branch with wb.where(...); "
                     "for a value against another value, declare a FiniteFunction, e.g. "
                     "wb.function(inputs=(D, D), output=wb.Bool)(lambda a, b: int(a == b))")
        return False

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _compare
    __hash__ = object.__hash__

    def _arith(self, other: Any = None) -> Any:
        self._refuse("Python arithmetic (+, -, *, ...)",
                     "declare the operation once, e.g. wb.add(D, D, Out) or wb.sub(...), or "
                     "wb.function(inputs=..., output=...) for any function on ints, and call it on the values")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __floordiv__ = __mod__ = _arith
    __neg__ = __pos__ = __abs__ = _arith


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
    """A value of the read-out interpreter: ``term`` is a literal int, ``None`` (no value) or an IR node."""

    __slots__ = ("domain", "name", "term")

    def __init__(self, domain: Domain, name: str, term: Any):
        self.domain = domain
        self.name = name
        self.term = term

    @property
    def const(self) -> int | None:
        return self.term if isinstance(self.term, int) else None

    @property
    def known(self) -> bool:
        """A literal or no value: nothing left to compute."""
        return self.term is None or isinstance(self.term, int)

    def __repr__(self) -> str:
        return f"<Sym {self.name}: {self.term!r}>"


class TensorRef:
    """One tensor input (a batch ``(B, *shape)``): a whole input, or one fixed cell of a grid or tape."""

    def __init__(self, type_: TensorType, tensor: torch.Tensor | None, read: Read):
        self.type = type_
        self.tensor = tensor
        self.read = read

    def __repr__(self) -> str:
        return f"<{self.type!r} {self.read}>"


class CellsRef:
    """A grid or tape of tensors ``(B, N, *cell)``: index with ints, ``(row, col)`` or a soft position."""

    def __init__(self, type_: Grid | Seq, tensor: torch.Tensor | None, input: str, cells: int):
        self.type = type_
        self.tensor = tensor
        self.input = input
        self.cells = cells

    def read(self, *, cell: int | None = None, position: str | None = None) -> Read:
        grid = isinstance(self.type, Grid)
        return Read(self.input, "grid" if grid else "tape", self.type.cols if grid else None, cell, position)

    def __len__(self) -> int:
        return self.cells

    def _flat(self, key: Any) -> int:
        if isinstance(key, tuple):
            if not isinstance(self.type, Grid) or len(key) != 2:
                raise SoftControlFlowError(f"{self.input} takes a flat index or, for a grid, (row, col)",
                                           site=self.input, hint="e.g. grid[0, 1] or grid[pos] with a value pos")
            r, c = (_int_index(k, self.input) for k in key)
            if not (0 <= r < self.type.rows and 0 <= c < self.type.cols):
                raise DomainError(f"cell ({r}, {c}) is outside {self.input}: {self.type!r}", site=self.input,
                                  hint=f"rows 0..{self.type.rows - 1}, columns 0..{self.type.cols - 1}")
            return r * self.type.cols + c
        k = _int_index(key, self.input)
        if not 0 <= k < self.cells:
            raise DomainError(f"cell {k} is outside {self.input} with {self.cells} cells", site=self.input,
                              hint=f"indices 0..{self.cells - 1}")
        return k

    def __getitem__(self, key: Any) -> TensorRef | IndexedRef:
        if isinstance(key, (Value, Sym)):
            if key.domain.size != self.cells:
                raise DomainError(
                    f"position '{key.name}' has domain {key.domain!r} but {self.input} has {self.cells} cells",
                    site=key.name,
                    hint=f"declare the position over a domain of size {self.cells}",
                )
            return IndexedRef(self, key)
        k = self._flat(key)
        t = None if self.tensor is None else self.tensor[:, k]
        return TensorRef(self.type.cell, t, self.read(cell=k))

    def __repr__(self) -> str:
        return f"<{self.type!r} {self.input}>"


def _int_index(key: Any, where: str) -> int:
    if isinstance(key, bool) or not isinstance(key, int):
        raise SoftControlFlowError(f"{where} is indexed with {type(key).__name__} {key!r}", site=where,
                                   hint="index with an int, (row, col) ints, or a finite-domain value")
    return key


class IndexedRef:
    """``cells[pos]`` with a soft (or symbolic) position: a neural call on it runs on every cell."""

    def __init__(self, cells: CellsRef, pos: Value | Sym):
        self.cells = cells
        self.pos = pos
        self.type = cells.type.cell

    @property
    def read(self) -> Read:
        return self.cells.read(position=self.pos.name)

    def __repr__(self) -> str:
        return f"<{self.cells.input}[{self.pos.name}]>"
