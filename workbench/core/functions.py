"""Deterministic functions on finite domains, declared once.

The generic path tabulates any Python function into a 0/1 table ``T[i, j, ..., out]`` and
computes the output marginal ``mu_z[k] = sum_{i,j} [f(i,j)=k] mu_x[i] mu_y[j]`` as one matrix
product of the inputs' outer product with the table. Fast paths exist where the math allows:
sums and differences of two distributions are convolutions, modular sums and differences are
circular convolutions. Up to a DFT length of ``GEMM_DFT_MAX`` the convolution is a DFT written as
three small matrix products (``a @ U``, ``b @ V``, their element-wise product ``@ W``, with the
output shift, dropped or clamped overflow and the modular fold folded into ``W``): no ``(..., Ka*Kb)``
outer product and no prime-length FFT, both slow on CPU. Above it, ``torch.fft``. ``path="auto"``
takes the DFT-as-GEMM path whenever it applies and the table has at least ``GEMM_MIN_ROWS`` rows
(ADD on ``Int19`` x ``Int19``: 361 rows), else the table, else the FFT. All paths are tested
against each other.

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
import numbers
from collections.abc import Callable, Sequence
from typing import Literal

import torch

from . import runtime
from .domains import Domain
from .errors import DomainError, SketchError

Overflow = Literal["error", "drop", "clamp"]
FastKind = Literal["add", "sub", "mod_add", "mod_sub"]
GEMM_DFT_MAX = 256  # longest DFT computed as matrix products (above: torch.fft)
GEMM_MIN_ROWS = 64  # path="auto" prefers the DFT-as-GEMM to a table of at least this many rows
PYTHON_TABULATE_MAX = 4_000_000  # input combinations tabulated one Python call at a time, at most


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
            raise DomainError(f"function '{name}': a table of {size:,} entries is too large and no fast path is declared",
                              site=name, hint="declare it with wb.add / wb.sub / wb.mod_add (convolution fast paths), "
                                              "or use smaller domains")
        self._cache: dict[tuple, torch.Tensor] = {}

    # -- tabulation (the generic path) ------------------------------------------------------------
    def _tabulate(self) -> torch.Tensor:
        rows = math.prod(d.size for d in self.inputs)
        fast = self._tabulate_vectorised(rows)
        if fast is not None:
            return fast
        if rows > PYTHON_TABULATE_MAX:
            raise DomainError(
                f"function '{self.name}' has {rows:,} input combinations: tabulating it one call at a time would take "
                "minutes", site=self.name,
                hint="write it with operations that also work on integer tensors (+, -, *, //, %, min/max via torch), "
                     "declare a fast path (wb.add / wb.sub / wb.mod_add), or use smaller domains")
        table = torch.zeros(rows, self.output.size, dtype=torch.float64)
        for r, args in enumerate(itertools.product(*(range(d.size) for d in self.inputs))):
            out = self.apply_int(*args)
            if out is not None:
                table[r, out] = 1.0
        return table

    def _tabulate_vectorised(self, rows: int) -> torch.Tensor | None:
        """The table from one call of ``fn`` on broadcast integer tensors, when ``fn`` allows it and
        agrees with the scalar calls on a sample (else ``None``: the one-call-at-a-time path)."""
        if rows < 4096:
            return None
        grids = torch.meshgrid(*(torch.arange(d.size) for d in self.inputs), indexing="ij")
        try:
            out = self.fn(*(g.reshape(-1) for g in grids))
        except Exception:
            return None
        if not isinstance(out, torch.Tensor) or out.shape != (rows,) or out.is_floating_point():
            return None
        out = out.long()
        sample = torch.linspace(0, rows - 1, 64).long()
        flat = [g.reshape(-1) for g in grids]
        for r in sample.tolist():  # the tensor call must mean what the scalar calls mean
            if self.apply_int(*(int(f[r]) for f in flat)) != _policy(int(out[r]), self.output.size, self.overflow):
                return None
        k = self.output.size
        if self.overflow == "error" and ((out < 0) | (out >= k)).any():
            bad = int(((out < 0) | (out >= k)).nonzero()[0])
            self.apply_int(*(int(f[bad]) for f in flat))  # raises the usual error, naming the inputs
        if self.overflow == "clamp":
            out = out.clamp(0, k - 1)
        table = torch.zeros(rows, k, dtype=torch.float64)
        ok = (out >= 0) & (out < k)
        table[ok.nonzero().flatten(), out[ok]] = 1.0
        return table

    def apply_int(self, *args: int) -> int | None:
        """The function on plain ints, with the overflow policy applied (``None`` = dropped)."""
        try:
            out = self.fn(*args)
        except Exception as e:
            raise DomainError(f"function '{self.name}' failed on inputs {args}: {type(e).__name__}: {e}",
                              site=self.name, hint="a finite function must be defined on every input value") from e
        if not isinstance(out, numbers.Integral):  # an int (or a bool: a comparison is 0 or 1)
            if not (isinstance(out, torch.Tensor) and out.numel() == 1 and not out.is_floating_point()):
                raise DomainError(f"function '{self.name}' returned {type(out).__name__} {out!r} on inputs {args}, "
                                  "not an int", site=self.name,
                                  hint="return an int of the output domain (use // for integer division; "
                                       "declare overflow='drop' and return an out-of-range int for 'no value')")
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
        if path == "fast" and self.fast is None:
            raise DomainError(f"function '{self.name}' declares no fast path")
        if path == "fast" or (path == "auto" and self.fast is not None and self._auto_fast(probs)):
            return self._soft_fast(*probs)
        return self._soft_table(*probs)

    def _auto_fast(self, probs: Sequence[torch.Tensor]) -> bool:
        if self._table is None:
            return True
        ka, kb = probs[0].shape[-1], probs[1].shape[-1]
        return self._dft_length(ka, kb) <= GEMM_DFT_MAX and ka * kb >= GEMM_MIN_ROWS

    def _soft_table(self, *probs: torch.Tensor) -> torch.Tensor:
        if len(probs) == 1:  # one input: a plain product with the table
            return probs[0] @ self._table_as(probs[0])
        lead = torch.broadcast_shapes(*(p.shape[:-1] for p in probs))
        outer = probs[0].expand(*lead, probs[0].shape[-1])
        for p in probs[1:]:
            p = p.expand(*lead, p.shape[-1])
            outer = (outer.unsqueeze(-1) * p.unsqueeze(-2)).reshape(*lead, -1)
        return outer @ self._table_as(outer)

    def soft_on_same_values(self, a: torch.Tensor, b: torch.Tensor, stack: torch.Tensor,
                            w: torch.Tensor) -> torch.Tensor:
        """``sum_ij wa_i wb_j f(v_i, v_j)`` where ``a = sum_i wa_i v_i`` and ``b = sum_j wb_j v_j`` mix the
        same ``n`` values ``stack = (n, ..., K)`` and ``w = wa * wb`` is ``(n, ..., 1)``.

        By bilinearity this is ``f.soft(a, b)`` with each diagonal pair's independent-draw term
        ``w_i f.soft(v_i, v_i)`` replaced by the exact ``w_i f(v_i, v_i)``: ``n + 1`` evaluations. On
        the DFT-as-GEMM path the ``n`` diagonal terms are weighted and summed before the inverse DFT
        (one GEMM on ``(..., 4F)`` instead of ``n``). Clamped at 0 (rounding).
        """
        exact = (w * stack).sum(0) @ self.diagonal_table(stack)
        use_gemm = (self.fast is not None and self._auto_fast((a, b))
                    and self._dft_length(a.shape[-1], b.shape[-1]) <= GEMM_DFT_MAX)
        if not use_gemm:
            return (self.soft(a, b) - (w * self.soft(stack, stack)).sum(0) + exact).clamp_min(0)
        k = stack.shape[-1]
        u, v, inv = self._dft_mats(a.shape[-1], b.shape[-1], a)
        y = (stack @ v).unflatten(-1, (2, -1))  # (n, ..., 2, 2F)
        x = y[..., 0, :] if self.fast in ("add", "mod_add") and a.shape[-1] == k else stack @ u  # same DFT
        diag = ((x * w).unsqueeze(-2) * y).sum(0).flatten(-2)  # sum_i w_i (x_i * y_i)
        pair = (a @ u).unsqueeze(-2) * (b @ v).unflatten(-1, (2, -1))
        return ((pair.flatten(-2) - diag) @ inv + exact).clamp_min(0)

    def _dft_length(self, ka: int, kb: int) -> int:
        return self.modulus if self.fast in ("mod_add", "mod_sub") else ka + kb - 1

    def _soft_fast(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ka, kb = a.shape[-1], b.shape[-1]
        if self._dft_length(ka, kb) <= GEMM_DFT_MAX:
            return self._soft_dft_gemm(a, b)
        return self._soft_fft(a, b)

    def _soft_dft_gemm(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The convolution as a DFT in matrix products: ``x = a @ U``, ``y = b @ V``, ``(x * y) @ W``.

        ``x = [Re, Im]`` of ``a``'s DFT, ``y = [Re, Im, -Im, Re]`` of ``b``'s, so the complex product's
        four real products are one broadcast multiply; ``W`` is the inverse real DFT followed by the
        map from convolution index to output index (shift, drop or clamp, modular fold).
        """
        u, v, w = self._dft_mats(a.shape[-1], b.shape[-1], a)
        x = (a @ u).unsqueeze(-2)  # (..., 1, 2F)
        y = (b @ v).unflatten(-1, (2, -1))  # (..., 2, 2F)
        return ((x * y).flatten(-2) @ w).clamp_min(0)

    def _dft_mats(self, ka: int, kb: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = ("dft", ka, kb, like.dtype, like.device)
        if key not in self._cache:
            f64 = torch.float64
            n = self._dft_length(ka, kb)
            freqs = torch.arange(n // 2 + 1, dtype=f64)
            ja, jb = torch.arange(ka), torch.arange(kb)
            if self.fast == "sub":
                pb = kb - 1 - jb  # x - y = x + (kb-1-y) - (kb-1)
            elif self.fast == "mod_sub":
                pb = (-jb) % n
            else:
                pb = jb
            ang_a = 2 * math.pi * torch.outer(ja.to(f64), freqs) / n
            ang_b = 2 * math.pi * torch.outer(pb.to(f64), freqs) / n
            u = torch.cat([torch.cos(ang_a), -torch.sin(ang_a)], -1)  # [Re, Im] of the DFT
            v = torch.cat([torch.cos(ang_b), -torch.sin(ang_b), torch.sin(ang_b), torch.cos(ang_b)], -1)
            weight = torch.full((len(freqs),), 2.0, dtype=f64)
            weight[0] = 1.0
            if n % 2 == 0:
                weight[-1] = 1.0
            t = torch.arange(n, dtype=f64)
            ang_t = 2 * math.pi * torch.outer(freqs, t) / n
            cr = weight[:, None] * torch.cos(ang_t) / n  # inverse real DFT: c = Re @ cr + Im @ ci
            ci = -weight[:, None] * torch.sin(ang_t) / n
            inverse = torch.cat([cr, -cr, -ci, ci], 0)  # rows: Re*Re, Im*Im, Re*(-Im), Im*Re
            self._cache[key] = tuple(m.to(dtype=like.dtype, device=like.device)
                                     for m in (u, v, inverse @ self._conv_to_output(ka, kb, n)))
        return self._cache[key]

    def _conv_to_output(self, ka: int, kb: int, n: int) -> torch.Tensor:
        """0/1 matrix ``(n, Ko)``: convolution index -> output index, with the overflow policy."""
        ko = self.output.size
        s = torch.zeros(n, ko, dtype=torch.float64)
        for t in range(n):
            if self.fast in ("mod_add", "mod_sub"):
                k = t
            else:
                k = t + (self.offset if self.fast == "add" else self.offset - (kb - 1))
            if 0 <= k < ko:
                s[t, k] = 1.0
            elif self.overflow == "clamp":
                s[t, min(max(k, 0), ko - 1)] = 1.0
        return s

    def _soft_fft(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
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


def _policy(out: int, size: int, overflow: str) -> int | None:
    if 0 <= out < size:
        return out
    if overflow == "clamp":
        return min(max(out, 0), size - 1)
    return None
