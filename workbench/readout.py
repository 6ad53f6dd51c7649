"""Read-out: the discrete program of a trained sketch as runnable Python source.

``Program`` holds the hole assignment, the source the symbolic interpreter produced and the
namespace it runs in: finite functions on ints (``None`` when a value left its domain, as a
dropped mass does in hard execution) and neural functions as argmax classifiers. Calling the
program runs that source on one example; :meth:`Program.hard` runs the same program batched
through the hard interpreter. Both agree (a tested law).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .core.display import Displayable
from .core.errors import SketchError
from .core.neural import NeuralFunction
from .core.sketch import Sketch


def _cell(cells: Any, k: Any, rank: int) -> Any:
    """Cell ``k`` (flat index) of one example's grid or tape whose cells have ``rank`` dimensions."""
    if k is None:
        return None
    t = torch.as_tensor(cells)
    return t.reshape(-1, *t.shape[t.dim() - rank:])[k]


def _pick(sel: Any, options: tuple) -> Any:
    return None if sel is None else options[sel]


def _cast(v: Any, n: int) -> Any:
    return v if v is None or v < n else None


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
        self.source, interp = sketch.symbolic(self.assignment, lengths=lengths)
        self.functions = dict(interp.functions)
        self.neural = dict(interp.neural)
        if neural:
            self.neural.update({k: v for k, v in neural.items() if k in self.neural})
        self._compiled: Callable[..., Any] | None = None

    def namespace(self, perception: Mapping[str, Callable[[Any], Any]] | None = None) -> dict[str, Any]:
        ns: dict[str, Any] = {"_cell": _cell, "_pick": _pick, "_cast": _cast}
        ns.update({k: _lift(f) for k, f in self.functions.items()})
        ns.update({k: _classifier(nf) for k, nf in self.neural.items()})
        if perception:
            unknown = set(perception) - set(self.neural)
            if unknown:
                raise SketchError(f"perception overrides {sorted(unknown)} name no neural function of this program",
                                  hint=f"it calls {sorted(self.neural)}")
            ns.update(perception)
        return ns

    def compile(self, perception: Mapping[str, Callable[[Any], Any]] | None = None) -> Callable[..., Any]:
        """The program as a Python function (``perception`` replaces neural functions, e.g. by labels)."""
        ns = self.namespace(perception)
        exec(compile(self.source, f"<program {self.sketch.name}>", "exec"), ns)  # noqa: S102 - our own source
        return ns[self.sketch.name]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is None:
            self._compiled = self.compile()
        return self._compiled(*args, **kwargs)

    def hard(self, inputs: Mapping[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        """Batched hard execution of this program: predicted ints per output (-1 where no value)."""
        outs = self.sketch.hard(self.assignment, inputs, net_forward=kwargs.pop("net_forward", self._net_forward), **kwargs)
        return {k: predictions(v.probs)[0] for k, v in outs.items()}

    def _net_forward(self, nf: NeuralFunction, x: torch.Tensor) -> torch.Tensor:
        """This program's own (trained) neural functions, argmax'd by the hard interpreter."""
        return self.neural.get(nf.name, nf).module(x).unsqueeze(0)

    def __repr__(self) -> str:
        return self.source

    def _repr_markdown_(self) -> str:
        return f"```python\n{self.source}```"


def predictions(probs: torch.Tensor) -> torch.Tensor:
    """Argmax of output vectors, -1 where a vector has no mass (a value that left its domain)."""
    best = probs.argmax(-1)
    return torch.where(probs.sum(-1) > 0.5, best, torch.full_like(best, -1))
