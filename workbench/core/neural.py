"""Neural functions: a torch module with a declared signature ``input type -> output domain``.

The module returns logits; the softmax of its output *is* the marginal of the value it produces.
One set of weights is shared by every call site of the function (and, through the library, by
every task that uses it). The module's output size is checked against the domain at declaration;
a caller's argument is checked at every call.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import runtime
from .display import Displayable
from .domains import Domain, TensorType
from .errors import SignatureError
from .values import IndexedRef, TensorRef


class NeuralFunction(Displayable):
    """``NeuralFunction(name, module, input=Image28, output=Digit)``.

    ``arch`` (``(constructor name, kwargs)``) records how to rebuild the module from the
    architecture registry (the library needs it); ``origin`` records the library entry it came from.
    """

    def __init__(self, name: str, module: nn.Module, *, input: TensorType, output: Domain,
                 arch: tuple[str, dict[str, Any]] | None = None, origin: dict[str, Any] | None = None,
                 check: bool = True):
        if not isinstance(name, str) or not name.isidentifier():
            raise SignatureError(f"neural function name {name!r} must be a Python identifier", hint="e.g. 'digit'")
        if not isinstance(module, nn.Module):
            raise SignatureError(f"neural function '{name}' needs a torch.nn.Module, got {type(module).__name__}")
        if not isinstance(input, TensorType) or not isinstance(output, Domain):
            raise SignatureError(f"neural function '{name}': input must be a TensorType and output a Domain",
                                 hint="e.g. input=TensorType('Image28x28', (28, 28)), output=Domain('Digit', 10)")
        self.name = name
        self.module = module
        self.input = input
        self.output = output
        self.arch = arch
        self.origin = dict(origin) if origin else None
        if check:
            self._check_module()

    @property
    def signature(self) -> str:
        return f"{self.input!r} -> {self.output!r}"

    def _check_module(self) -> None:
        p = next(self.module.parameters(), None)
        dtype = p.dtype if p is not None else torch.float32
        device = p.device if p is not None else "cpu"
        was = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                out = self.module(torch.zeros(2, *self.input.shape, dtype=dtype, device=device))
        except Exception as e:
            raise SignatureError(
                f"neural function '{self.name}': the module fails on a batch of {self.input!r} "
                f"(shape (B, {', '.join(map(str, self.input.shape))})): {type(e).__name__}: {e}",
                hint="make the module accept (batch, *input.shape) tensors",
            ) from e
        finally:
            self.module.train(was)
        self.check_logits(out, site=self.name)

    def check_logits(self, out: torch.Tensor, *, site: str) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[-1] != self.output.size:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise SignatureError(
                f"neural function '{self.name}' returns {shape} but its output domain {self.output!r} "
                f"needs (batch, {self.output.size}) logits",
                site=site,
                hint=f"end the module with a layer of {self.output.size} outputs, or declare the domain to match",
            )

    def check_input(self, x: Any, *, site: str) -> None:
        typ = getattr(x, "type", None)
        if not isinstance(x, (TensorRef, IndexedRef)) or typ != self.input:
            got = repr(typ) if typ is not None else type(x).__name__
            raise SignatureError(
                f"neural function '{self.name}' expects {self.input!r} but got {got}",
                site=site,
                hint=f"pass a {self.input!r} input (e.g. grid[pos] of a Grid of {self.input!r})",
            )

    # -- inside a sketch: a site; outside: a standalone classifier ---------------------------------
    def __call__(self, x: Any, *, name: str | None = None):
        if runtime.active():
            site = runtime.site_name(self.name, name)
            self.check_input(x, site=site)
            return runtime.dispatch("neural", site, self, x)
        return self.predict(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor | int:
        """Argmax class of a batch ``(B, *shape)`` (a LongTensor) or of one input (an int)."""
        x = torch.as_tensor(x)
        single = x.dim() == len(self.input.shape)
        p = next(self.module.parameters(), None)
        if p is not None:
            x = x.to(dtype=p.dtype, device=p.device)
        was = self.module.training
        self.module.eval()
        try:
            out = self.module(x[None] if single else x).argmax(-1)
        finally:
            self.module.train(was)
        return int(out[0]) if single else out

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.module.parameters())
        src = f", from {self.origin.get('name')}@{self.origin.get('version')}" if self.origin else ""
        return f"NeuralFunction {self.name}: {self.signature} ({n:,} parameters{src})"
