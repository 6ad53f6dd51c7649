"""Deterministic functions on finite domains, declared once.

The generic path tabulates any Python function into a 0/1 table ``T[i, j, ..., out]`` and
computes the output marginal ``mu_z[k] = sum_{i,j} [f(i,j)=k] mu_x[i] mu_y[j]`` as one matrix
product of the inputs' outer product with the table. Fast paths exist where the math allows:
sums and differences of two distributions are convolutions (FFT), modular sums and differences
are circular convolutions. Both paths are tested against each other.

Results outside the output domain: ``overflow="error"`` (default) refuses the declaration,
``"drop"`` drops that mass (TerpreT's error bin), ``"clamp"`` maps it to the nearest end.

>>> from workbench.core.domains import Int
>>> add = FiniteFunction("add", lambda a, b: a + b, inputs=(Int(10), Int(10)), output=Int(19))
>>> add.table.shape
torch.Size([100, 19])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch

from . import runtime
from .domains import Domain
from .errors import DomainError, SketchError

Overflow = Literal["error", "drop", "clamp"]
FastKind = Literal["add", "sub", "mod_add", "mod_sub"]


class FiniteFunction:
    """A deterministic function ``inputs -> output`` over finite domains, callable inside sketches."""

    def __init__(self, name: str, fn: Callable[..., int], *, inputs: Sequence[Domain], output: Domain,
                 overflow: Overflow = "error", fast: FastKind | None = None, modulus: int | None = None,
                 offset: int = 0, tabulate: bool = True):
        if not name.isidentifier():
            raise SketchError(f"function name {name!r} must be a Python identifier", hint="e.g. 'add' or 'move_east'")
        self.name = name
        self.fn = fn
        self.inputs = tuple(inputs)
        self.output = output
        self.overflow = overflow
        self.fast = fast
        self.modulus = modulus
        self.offset = offset  # fast add/sub: out index = (result) + offset (e.g. differences shifted to >= 0)
        if overflow not in ("error", "drop", "clamp"):
            raise DomainError(f"function '{name}': overflow must be 'error', 'drop' or 'clamp', not {overflow!r}")
        if fast is not None and len(self.inputs) != 2:
            raise DomainError(f"function '{name}': fast path '{fast}' needs exactly two inputs")
        if fast in ("mod_add", "mod_sub") and not (modulus == output.size and all(d.size <= modulus for d in self.inputs)):
            raise DomainError(f"function '{name}': modular fast path needs output size == modulus >= input sizes")
        size = math.prod(d.size for d in self.inputs) * output.size
        self._table: torch.Tensor | None = None
        if tabulate and size <= 50_000_000:
            self._table = self._tabulate()
        elif fast is None:
            raise DomainError(f"function '{name}': table of {size} entries is too large and no fast path is declared")
        self._cache: dict[tuple, torch.Tensor] = {}

    # -- tabulation (the generic path) ------------------------------------------------------------
    def _tabulate(self) -> torch.Tensor:
        rows = math.prod(d.size for d in self.inputs)
        table = torch.zeros(rows, self.output.size, dtype=torch.float64)
        for r, args in enumerate(itertools.product(*(range(d.size) for d in self.inputs))):
            out = self.apply_int(*args)
            if out is not None:
                table[r, out] = 1.0
        return table

    def apply_int(self, *args: int) -> int | None:
        """The function on plain ints, with the overflow policy applied (``None`` = dropped)."""
        try:
            out = self.fn(*args)
        except Exception as e:
            raise DomainError(f"function '{self.name}' failed on inputs {args}: {type(e).__name__}: {e}") from e
        out = int(out)
        if 0 <= out < self.output.size:
            return out
        if self.overflow == "drop":
            return None
        if self.overflow == "clamp":
            return min(max(out, 0), self.output.size - 1)
        raise DomainError(
            f"function '{self.name}' maps inputs {args} to {out}, outside its output domain {self.output!r}",
            hint="declare a larger output domain, or overflow='drop' (mass dropped) / 'clamp'",
        )

    @property
    def table(self) -> torch.Tensor:
        if self._table is None:
            raise DomainError(f"function '{self.name}' has no table (too large); use its fast path")
        return self._table

    def _table_as(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = self.table.to(dtype=like.dtype, device=like.device)
        return self._cache[key]

    def diagonal_table(self, like: torch.Tensor) -> torch.Tensor:
        """``D[v, k] = [f(v, v) = k]`` for a two-argument function on one domain (same-variable calls)."""
        key = ("diag", like.dtype, like.device)
        if key not in self._cache:
            k = min(d.size for d in self.inputs)
            d = torch.zeros(k, self.output.size, dtype=like.dtype, device=like.device)
            for v in range(k):
                out = self.apply_int(v, v)
                if out is not None:
                    d[v, out] = 1.0
            self._cache[key] = d
        return self._cache[key]

    # -- soft evaluation ------------------------------------------------------------------------
    def soft(self, *probs: torch.Tensor, path: Literal["auto", "table", "fast"] = "auto") -> torch.Tensor:
        """Output marginal from input marginals (each ``(..., K_i)``, broadcast over leading dims)."""
        use_fast = self.fast is not None and (path == "fast" or (path == "auto" and self._table is None))
        if path == "fast" and self.fast is None:
            raise DomainError(f"function '{self.name}' declares no fast path")
        if use_fast:
            return self._soft_fast(*probs)
        return self._soft_table(*probs)

    def _soft_table(self, *probs: torch.Tensor) -> torch.Tensor:
        lead = torch.broadcast_shapes(*(p.shape[:-1] for p in probs))
        outer = probs[0].expand(*lead, probs[0].shape[-1])
        for p in probs[1:]:
            p = p.expand(*lead, p.shape[-1])
            outer = (outer.unsqueeze(-1) * p.unsqueeze(-2)).reshape(*lead, -1)
        return outer @ self._table_as(outer)

    def _soft_fast(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ka, kb, ko = a.shape[-1], b.shape[-1], self.output.size
        lead = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        a, b = a.expand(*lead, ka), b.expand(*lead, kb)
        if self.fast in ("sub", "mod_sub"):
            b = b.flip(-1)  # x - y = x + (kb-1-y) - (kb-1)
        n = ka + kb - 1
        full = torch.fft.irfft(torch.fft.rfft(a, n=n) * torch.fft.rfft(b, n=n), n=n).clamp_min(0)
        shift = self.offset if self.fast == "add" else self.offset - (kb - 1)
        if self.fast in ("mod_add", "mod_sub"):
            m = self.modulus  # fold the linear convolution (length <= 2m-1) onto Z_m
            folded = torch.nn.functional.pad(full, (0, 2 * m - n)).reshape(*lead, 2, m).sum(-2)
            return torch.roll(folded, -(kb - 1), -1) if self.fast == "mod_sub" else folded
        # linear: out[k] = full[k - shift]
        out = torch.zeros(*lead, ko, dtype=full.dtype, device=full.device)
        lo, hi = max(0, shift), min(ko, n + shift)
        if hi > lo:
            out[..., lo:hi] = full[..., lo - shift:hi - shift]
        if self.overflow == "clamp":
            below = full[..., : max(0, -shift)].sum(-1) if shift < 0 else 0
            above = full[..., max(0, ko - shift):].sum(-1)
            out[..., 0] = out[..., 0] + below
            out[..., -1] = out[..., -1] + above
        return out

    # -- inside a sketch --------------------------------------------------------------------------
    def __call__(self, *args, name: str | None = None):
        if len(args) != len(self.inputs):
            raise SketchError(f"function '{self.name}' takes {len(self.inputs)} arguments, got {len(args)}")
        site = runtime.site_name(self.name, name)
        for i, (a, d) in enumerate(zip(args, self.inputs)):
            dom = getattr(a, "domain", None)
            if dom is None:
                raise DomainError(
                    f"argument {i} of '{self.name}' is {type(a).__name__}, not a finite-domain value",
                    site=site, hint=f"wrap constants as wb.const({d.name}, value)",
                )
            if dom != d:
                raise DomainError(
                    f"argument {i} of '{self.name}' has domain {dom!r} but the function expects {d!r}",
                    site=site, hint=f"convert it with wb.cast(value, {d.name}) or declare the function on {dom!r}",
                )
        return runtime.dispatch("fn", site, self, *args)

    def __repr__(self) -> str:
        ins = ", ".join(repr(d) for d in self.inputs)
        return f"FiniteFunction {self.name}({ins}) -> {self.output!r}" + (f" [fast: {self.fast}]" if self.fast else "")


def function(*, inputs: Sequence[Domain], output: Domain, name: str | None = None, overflow: Overflow = "error"):
    """Decorator: declare a Python function on ints as a finite-domain function (table path)."""

    def deco(fn: Callable[..., int]) -> FiniteFunction:
        return FiniteFunction(name or fn.__name__, fn, inputs=inputs, output=output, overflow=overflow)

    return deco


def _add(a: int, b: int) -> int:
    return a + b


def _sub(a: int, b: int) -> int:
    return a - b


def add(a: Domain, b: Domain, out: Domain, *, name: str = "add", overflow: Overflow = "drop",
        tabulate: bool = True) -> FiniteFunction:
    """``a + b`` with the convolution fast path."""
    return FiniteFunction(name, _add, inputs=(a, b), output=out, overflow=overflow, fast="add", tabulate=tabulate)


def sub(a: Domain, b: Domain, out: Domain, *, name: str = "sub", overflow: Overflow = "drop", offset: int = 0,
        tabulate: bool = True) -> FiniteFunction:
    """``a - b + offset`` with the convolution fast path."""
    fn = (lambda x, y: x - y + offset) if offset else _sub
    return FiniteFunction(name, fn, inputs=(a, b), output=out, overflow=overflow, fast="sub", offset=offset,
                          tabulate=tabulate)


def mod_add(m: int, *, domain: Domain | None = None, name: str = "mod_add", tabulate: bool = True) -> FiniteFunction:
    """``(a + b) % m`` on ``Int(m)`` with the circular-convolution fast path."""
    d = domain or Domain(f"Int{m}", m)
    return FiniteFunction(name, lambda x, y: (x + y) % m, inputs=(d, d), output=d, fast="mod_add", modulus=m,
                          tabulate=tabulate)


def mod_sub(m: int, *, domain: Domain | None = None, name: str = "mod_sub", tabulate: bool = True) -> FiniteFunction:
    """``(a - b) % m`` on ``Int(m)`` with the circular-convolution fast path."""
    d = domain or Domain(f"Int{m}", m)
    return FiniteFunction(name, lambda x, y: (x - y) % m, inputs=(d, d), output=d, fast="mod_sub", modulus=m,
                          tabulate=tabulate)
