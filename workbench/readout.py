"""Read-out: the discrete program of a trained sketch, as IR and as runnable Python source.

``Program`` holds the hole assignment and the program IR (:class:`~workbench.core.program.Graph`)
the read-out interpretation derived for one set of tape lengths (the training lengths); printing it
shows the Python source (loops over a tape rolled into ``for`` loops), ``program.ir`` the IR listing.
Calling the program runs that source on one example; on a tape of another length it derives the
program for that length first (cached), so it is right at every length, or raises a typed error
where the sketch does not support a length. :meth:`Program.hard` runs the same program batched
through the hard interpreter; both agree (a tested law).

Names in the source are unique by identity: two different functions that share a name become
``sub`` and ``sub_2``. Two different neural functions with one name are refused when the sketch
runs (training, the library and perception overrides key nets by name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .core.display import Displayable
from .core.domains import Seq
from .core.errors import DataError, SketchError
from .core.neural import NeuralFunction
from .core.program import Graph
from .core.sketch import Sketch


def _at(cells: Any, k: Any, cols: int | None = None) -> Any:
    """Cell ``k`` (a flat index; ``cols`` columns for a grid) of one example's grid or tape."""
    if k is None:
        return None
    return cells[divmod(int(k), cols)] if cols else cells[int(k)]


def _pick(sel: Any, options: tuple) -> Any:
    return None if sel is None else options[sel]


def _cast(v: Any, n: int) -> Any:
    return v if v is None or v < n else None


def _is(v: Any, c: int) -> Any:
    return None if v is None else int(v == c)


def _length(tape: Any, n: int) -> None:
    if len(tape) != n:
        raise DataError(f"this source was derived for tapes of length {n}, got a tape of length {len(tape)}",
                        hint="call the Program object (it derives the program for each length), or program.at(...)")


def _lift(f: Any) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return None if any(a is None for a in args) else f.apply_int(*(int(a) for a in args))

    call.__name__ = f.name
    return call


def _classifier(nf: NeuralFunction) -> Callable[[Any], Any]:
    def call(x: Any) -> Any:
        return None if x is None else nf.predict(x)

    call.__name__ = nf.name
    return call


class Program(Displayable):
    """A discrete program read out of a sketch: prints as Python source, runs on one example."""

    def __init__(self, sketch: Sketch, assignment: Mapping[str, int], neural: Mapping[str, NeuralFunction] | None = None,
                 *, lengths: Mapping[str, int] | None = None):
        self.sketch = sketch
        self.assignment = {k: int(v) for k, v in assignment.items()}
        self.tapes = [k for k, t in sketch.inputs.items() if isinstance(t, Seq) and t.length is None]
        self.lengths = {k: int(v) for k, v in (lengths or {}).items() if k in self.tapes}
        self.overrides = dict(neural or {})
        self._at: dict[tuple, Graph] = {}
        self._compiled: dict[tuple, Callable[..., Any]] = {}
        self.ir = self.graph(self.lengths)
        self.functions = self.ir.targets("fn")
        self.neural = {k: self.overrides.get(k, nf) for k, nf in self.ir.targets("neural").items()}

    # -- the program at each length ------------------------------------------------------------------
    def graph(self, lengths: Mapping[str, int] | None = None) -> Graph:
        """The IR for the given tape lengths (default: the lengths this program was read out at)."""
        lengths = dict(self.lengths if lengths is None else lengths)
        key = tuple(sorted(lengths.items()))
        if key not in self._at:
            self._at[key] = self.sketch.graph(self.assignment, lengths=lengths)
        return self._at[key]

    @property
    def source(self) -> str:
        return self.ir.python()

    def at(self, **lengths: int) -> Program:
        """The same program read out for other tape lengths, e.g. ``program.at(tape=50)``."""
        return Program(self.sketch, self.assignment, self.overrides, lengths={**self.lengths, **lengths})

    def namespace(self, perception: Mapping[str, Callable[[Any], Any]] | None = None,
                  graph: Graph | None = None) -> dict[str, Any]:
        g = graph or self.ir
        ns: dict[str, Any] = {"_at": _at, "_pick": _pick, "_cast": _cast, "_is": _is, "_length": _length}
        ns.update({k: _lift(f) for k, f in g.targets("fn").items()})
        nets = {k: self.overrides.get(k, nf) for k, nf in g.targets("neural").items()}
        ns.update({k: _classifier(nf) for k, nf in nets.items()})
        if perception:
            unknown = set(perception) - set(nets)
            if unknown:
                raise SketchError(f"perception overrides {sorted(unknown)} name no neural function of this program",
                                  hint=f"it calls {sorted(nets)}")
            ns.update(perception)
        return ns

    def _function(self, lengths: Mapping[str, int], perception: Mapping[str, Callable] | None) -> Callable[..., Any]:
        g = self.graph(lengths)
        ns = self.namespace(perception, g)
        exec(compile(g.python(), f"<program {self.sketch.name}>", "exec"), ns)  # noqa: S102 - our own source
        return ns[self.sketch.name]

    def compile(self, perception: Mapping[str, Callable[[Any], Any]] | None = None) -> Callable[..., Any]:
        """The program as a Python function (``perception`` replaces neural functions, e.g. by labels).

        Called on tapes of another length than the read-out's, it derives and compiles the program for
        that length first."""
        cache: dict[tuple, Callable[..., Any]] = {}
        params = list(self.sketch.inputs)

        def run(*args: Any, **kwargs: Any) -> Any:
            bound = dict(zip(params, args)) | kwargs
            lengths = {}
            for k in self.tapes:
                if k in bound:
                    try:
                        lengths[k] = len(bound[k])
                    except TypeError as e:
                        raise DataError(f"input '{k}' is a tape: give a sequence of cells, got "
                                        f"{type(bound[k]).__name__}", site=k) from e
            key = tuple(sorted(lengths.items()))
            if key not in cache:
                cache[key] = self._function({**self.lengths, **lengths}, perception)
            return cache[key](*args, **kwargs)

        run.__name__ = self.sketch.name
        return run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if None not in self._compiled:
            self._compiled[None] = self.compile()
        return self._compiled[None](*args, **kwargs)

    def hard(self, inputs: Mapping[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        """Batched hard execution of this program: predicted ints per output (-1 where no value)."""
        outs = self.sketch.hard(self.assignment, inputs, net_forward=kwargs.pop("net_forward", self._net_forward), **kwargs)
        return {k: predictions(v.probs)[0] for k, v in outs.items()}

    def _net_forward(self, nf: NeuralFunction, x: torch.Tensor) -> torch.Tensor:
        """This program's own (trained) neural functions, argmax'd by the hard interpreter."""
        return self.overrides.get(nf.name, nf).module(x).unsqueeze(0)

    def __repr__(self) -> str:
        return self.source

    def _repr_markdown_(self) -> str:
        return f"```python\n{self.source}```"


def predictions(probs: torch.Tensor) -> torch.Tensor:
    """Argmax of output vectors, -1 where a vector has no mass (a value that left its domain)."""
    best = probs.argmax(-1)
    return torch.where(probs.sum(-1) > 0.5, best, torch.full_like(best, -1))
