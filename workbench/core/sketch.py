"""Sketches: plain Python functions over the primitives, run under different interpretations.

>>> from workbench.core import Domain, hole, choose, const, sketch
>>> Bit = Domain("Bit", 2)
>>> @sketch(inputs={"x": Bit}, output=Bit)
... def ident_or_not(x):
...     return choose(hole("op", Domain.enum("Op", ["ID", "ZERO"])), [x, const(Bit, 0)])
>>> print(ident_or_not.source({"op": 0}), end="")
def ident_or_not(x):
    return x
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch

from . import runtime
from .display import Displayable
from .domains import Domain, Grid, Seq, TensorType
from .errors import DataError, DomainError, SketchError
from .hard import HardInterpreter
from .neural import NeuralFunction
from .program import Graph, Read
from .soft import NetForward, SoftInterpreter, shared_forward
from .symbolic import SymbolicInterpreter
from .trace import Trace, TraceRecorder
from .values import CellsRef, Sym, TensorRef, Value

InputType = Domain | TensorType | Grid | Seq


@dataclass(frozen=True)
class SketchInfo:
    """What one execution reveals: the holes (name -> domain) and neural functions used."""

    holes: dict[str, Domain]
    neural: dict[str, NeuralFunction]

    @property
    def program_space(self) -> int:
        n = 1
        for d in self.holes.values():
            n *= d.size
        return n


class Sketch(Displayable):
    """A sketch function with declared input types and output domain(s)."""

    def __init__(self, fn: Callable[..., Any], *, inputs: Mapping[str, InputType],
                 output: Domain | Mapping[str, Domain], name: str | None = None):
        self.fn = fn
        self.name = name or fn.__name__
        if not self.name.isidentifier():
            raise SketchError(f"sketch name {self.name!r} must be a Python identifier (it names the read-out function)",
                              hint="e.g. name='add2x2_top'")
        self.inputs = dict(inputs)
        params = list(inspect.signature(fn).parameters)
        if params != list(self.inputs):
            raise SketchError(f"sketch '{self.name}' takes parameters {params} but declares inputs {list(self.inputs)}",
                              hint="declare one input type per parameter, in the same order")
        self.single = isinstance(output, Domain)
        self.outputs: dict[str, Domain] = {"output": output} if isinstance(output, Domain) else dict(output)
        self.__doc__ = fn.__doc__

    # -- binding data ------------------------------------------------------------------------------
    def check_data(self, inputs: Mapping[str, torch.Tensor]) -> int:
        """Validate a batch of inputs against the declared types; return the batch size."""
        missing = [k for k in self.inputs if k not in inputs]
        if missing:
            raise DataError(f"sketch '{self.name}' needs inputs {missing}", hint=f"give a dict with keys {list(self.inputs)}")
        sizes = set()
        for k, typ in self.inputs.items():
            t = inputs[k]
            if not isinstance(t, torch.Tensor):
                raise DataError(f"input '{k}' must be a torch.Tensor, got {type(t).__name__}")
            if isinstance(typ, Domain):
                ok = t.dim() == 1 and not t.is_floating_point()
                if ok and t.numel() and (int(t.min()) < 0 or int(t.max()) >= typ.size):
                    raise DomainError(f"input '{k}' has values outside {typ!r}", site=k,
                                      hint=f"values must lie in 0..{typ.size - 1}")
                want = "(batch,) integers"
            elif not t.is_floating_point():
                raise DataError(f"input '{k}' of sketch '{self.name}' holds {t.dtype} values; {typ!r} inputs are "
                                "images or other real-valued tensors", site=k,
                                hint=f"convert it, e.g. inputs['{k}'].float() (or workbench.data.normalize(images))")
            elif isinstance(typ, TensorType):
                ok, want = tuple(t.shape[1:]) == typ.shape, f"(batch, {', '.join(map(str, typ.shape))})"
            elif isinstance(typ, Grid):
                ok, want = tuple(t.shape[1:]) == typ.shape, f"(batch, {', '.join(map(str, typ.shape))})"
            else:
                ok = t.dim() == 2 + len(typ.cell.shape) and tuple(t.shape[2:]) == typ.cell.shape and (
                    typ.length is None or t.shape[1] == typ.length)
                want = f"(batch, length, {', '.join(map(str, typ.cell.shape))})"
            if not ok:
                raise DataError(f"input '{k}' of sketch '{self.name}' has shape {tuple(t.shape)}; {typ!r} needs {want}",
                                site=k)
            sizes.add(t.shape[0])
        if len(sizes) > 1:
            raise DataError(f"inputs of sketch '{self.name}' have different batch sizes {sorted(sizes)}")
        n = sizes.pop() if sizes else 0
        if n == 0:
            raise DataError(f"empty data set for sketch '{self.name}'", hint="give at least one example")
        return n

    def _bind(self, inputs: Mapping[str, torch.Tensor] | None, symbolic: bool) -> dict[str, Any]:
        refs: dict[str, Any] = {}
        for k, typ in self.inputs.items():
            t = None if symbolic else inputs[k]
            if isinstance(typ, Domain):
                refs[k] = runtime.dispatch("input", runtime.site_name("input", k), typ, k if symbolic else t)
            elif isinstance(typ, TensorType):
                refs[k] = TensorRef(typ, t, Read(k))
            elif isinstance(typ, Grid):
                flat = None if t is None else t.reshape(t.shape[0], typ.cells, *typ.cell.shape)
                refs[k] = CellsRef(typ, flat, k, typ.cells)
            else:
                n = (typ.length or 0) if t is None else t.shape[1]
                refs[k] = CellsRef(typ, t, k, n)
        return refs

    def run(self, inputs: Mapping[str, torch.Tensor] | None, interpreter: runtime.Handler,
            *observers: runtime.Handler) -> dict[str, Any]:
        """Run the sketch once under ``interpreter`` (soft, hard, symbolic or your own ``Handler``),
        with ``observers`` (e.g. a :class:`~workbench.core.trace.TraceRecorder`) seeing every site.
        ``inputs=None`` runs it symbolically (read-out). Returns the outputs by name."""
        if runtime.active():
            raise SketchError(f"sketch '{self.name}' was run inside another sketch execution",
                              hint="call sub-sketches as plain Python functions instead")
        if inputs is not None:
            self.check_data(inputs)
        return self._run(inputs, interpreter, *observers)

    def _run(self, inputs: Mapping[str, torch.Tensor] | None, interpreter: runtime.Handler,
             *observers: runtime.Handler) -> dict[str, Any]:
        for h in (interpreter, *observers):
            if not isinstance(h, runtime.Handler):
                raise SketchError(f"run() needs Handler objects, got {type(h).__name__}",
                                  hint="e.g. run(sketch, inputs, SoftInterpreter(logits), TraceRecorder())")
        with ExitStack() as stack:
            for h in (interpreter, *observers):
                stack.enter_context(h)
            refs = self._bind(inputs, inputs is None)
            out = runtime.call_user(self.fn, *refs.values(), where=f"sketch '{self.name}'")
        return self._outputs(out)

    def _outputs(self, out: Any) -> dict[str, Any]:
        outs = {"output": out} if self.single else out
        if not isinstance(outs, Mapping) or set(outs) != set(self.outputs):
            raise SketchError(f"sketch '{self.name}' must return {'one value' if self.single else 'a dict with keys ' + str(list(self.outputs))}")
        for k, v in outs.items():
            if not isinstance(v, (Value, Sym)):
                raise SketchError(f"output '{k}' of sketch '{self.name}' is {type(v).__name__}, not a sketch value",
                                  hint="return values made by the primitives (hole, const, functions, neural calls)")
            if v.domain != self.outputs[k]:
                raise DomainError(f"output '{k}' has domain {v.domain!r} but the sketch declares {self.outputs[k]!r}",
                                  site=v.name, hint=f"wrap it in wb.cast(value, {self.outputs[k].name})")
        return dict(outs)

    # -- interpretations -----------------------------------------------------------------------------
    def soft(self, holes: Mapping[str, torch.Tensor], inputs: Mapping[str, torch.Tensor], *,
             net_forward: NetForward = shared_forward, temperature: float = 1.0,
             dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> dict[str, Value]:
        """Output marginals ``(R, B, K)`` given hole logits ``(R, K)``."""
        n = self.check_data(inputs)
        return _full_batch(self._run(inputs, SoftInterpreter(holes, net_forward=net_forward, temperature=temperature,
                                                            dtype=dtype, device=device)), n)

    def hard(self, assignment: Mapping[str, int | torch.Tensor], inputs: Mapping[str, torch.Tensor], *,
             net_forward: NetForward = shared_forward, dtype: torch.dtype = torch.float32,
             device: str | torch.device = "cpu") -> dict[str, Value]:
        """One-hot outputs of the discrete program(s); ``assignment`` values may be ``(R,)`` tensors."""
        n = self.check_data(inputs)
        return _full_batch(self._run(inputs, HardInterpreter(assignment, net_forward=net_forward, dtype=dtype,
                                                            device=device)), n)

    def trace(self, holes: Mapping[str, torch.Tensor] | None, inputs: Mapping[str, torch.Tensor], *,
              assignment: Mapping[str, int | torch.Tensor] | None = None, net_forward: NetForward = shared_forward,
              temperature: float = 1.0, device: str | torch.device = "cpu") -> Trace:
        """A soft run (or a hard one, given ``assignment``) recording every site by name."""
        interp = (HardInterpreter(assignment, net_forward=net_forward, device=device) if assignment is not None
                  else SoftInterpreter(holes or {}, net_forward=net_forward, temperature=temperature, device=device))
        rec = TraceRecorder()
        with torch.no_grad():
            outs = self._run(inputs, interp, rec)
        return Trace(rec.records, outs, dict(inputs))

    def discover(self, inputs: Mapping[str, torch.Tensor]) -> SketchInfo:
        """Run once (uniform holes, one example) to find the holes and neural functions."""
        self.check_data(inputs)
        one = {k: v[:1] for k, v in inputs.items()}
        interp = SoftInterpreter({}, strict=False)
        with torch.no_grad():
            self._run(one, interp)
        if not interp.holes_seen and not interp.neural_used:
            raise SketchError(f"sketch '{self.name}' has no holes and no neural functions: there is nothing to learn")
        return SketchInfo(dict(interp.holes_seen), dict(interp.neural_used))

    def source(self, assignment: Mapping[str, int], *, lengths: Mapping[str, int] | None = None) -> str:
        """Runnable Python source of the discrete program (holes fixed). ``lengths`` sizes variable tapes."""
        return self.graph(assignment, lengths=lengths).python()

    def graph(self, assignment: Mapping[str, int], *, lengths: Mapping[str, int] | None = None) -> Graph:
        """The discrete program (holes fixed) as IR: :class:`~workbench.core.program.Graph`."""
        interp = SymbolicInterpreter(assignment)
        saved, used = {}, {}
        for k, typ in self.inputs.items():
            if isinstance(typ, Seq) and typ.length is None:
                n = (lengths or {}).get(k)
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    raise SketchError(f"input '{k}' is a tape of any length: give lengths={{'{k}': n}} with n >= 1",
                                      site=k, hint="the read-out program is derived for one tape length")
                saved[k], used[k] = typ, n
                self.inputs[k] = Seq(typ.cell, n)
        try:
            outs = self._run(None, interp)
        finally:
            self.inputs.update(saved)
        return interp.graph(self.name, list(self.inputs), outs, self.single, used)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the body directly (inside another sketch's execution)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}: {t!r}" for k, t in self.inputs.items())
        outs = ", ".join(f"{k}: {d!r}" for k, d in self.outputs.items())
        return f"<sketch {self.name}({ins}) -> {outs}>"


def _full_batch(outs: dict[str, Value], n: int) -> dict[str, Value]:
    """Outputs that do not depend on the inputs broadcast over the batch: give them its size."""
    return {k: Value(v.probs.expand(v.probs.shape[0], n, v.probs.shape[-1]), v.domain, v.name) for k, v in outs.items()}


def run(sketch: Sketch, inputs: Mapping[str, torch.Tensor] | None, interpreter: runtime.Handler,
        *observers: runtime.Handler) -> dict[str, Any]:
    """Run ``sketch`` once under ``interpreter`` with ``observers``: see :meth:`Sketch.run`."""
    if not isinstance(sketch, Sketch):
        raise SketchError(f"run() needs a Sketch (a function decorated with @wb.sketch), got {type(sketch).__name__}")
    return sketch.run(inputs, interpreter, *observers)


def sketch(*, inputs: Mapping[str, InputType], output: Domain | Mapping[str, Domain], name: str | None = None):
    """Decorator declaring a sketch's input types and output domain(s)."""

    def deco(fn: Callable[..., Any]) -> Sketch:
        return Sketch(fn, inputs=inputs, output=output, name=name)

    return deco
