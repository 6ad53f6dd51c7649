"""The hard interpretation: holes fixed to given values, neural functions take their argmax.

It reuses the soft interpreter's batched kernels on one-hot vectors, so one pass evaluates many
discrete programs at once (one per restart: ``assignment[name]`` is an int or an ``(R,)`` tensor)
on inputs of any size the sketch accepts, e.g. longer tapes than it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .errors import DomainError, SketchError
from .neural import NeuralFunction
from .runtime import Message
from .soft import NetForward, SoftInterpreter, shared_forward
from .values import Value


class HardInterpreter(SoftInterpreter):
    """Evaluate the discrete program(s) given by ``assignment`` (hole name -> value or ``(R,)`` values)."""

    def __init__(self, assignment: Mapping[str, int | torch.Tensor], *, net_forward: NetForward = shared_forward,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        super().__init__({}, net_forward=net_forward, dtype=dtype, device=device)
        self.assignment = assignment

    def _hole(self, msg: Message) -> None:
        (domain,) = msg.args
        self.holes_seen[msg.name] = domain
        if msg.name not in self.assignment:
            raise SketchError(f"hole '{msg.name}' has no value in the assignment", site=msg.name,
                              hint=f"give every hole a value; this one ranges over {domain!r}")
        v = torch.as_tensor(self.assignment[msg.name], device=self.device).long().reshape(-1)
        if (v < 0).any() or (v >= domain.size).any():
            raise DomainError(f"hole '{msg.name}' is set to {v.tolist()}, outside {domain!r}", site=msg.name)
        msg.value = Value(torch.nn.functional.one_hot(v, domain.size).to(self.dtype).unsqueeze(1), domain, msg.name)

    def net_probs(self, nf: NeuralFunction, x: torch.Tensor, *, site: str) -> torch.Tensor:
        with torch.no_grad():
            p = super().net_probs(nf, x, site=site)
        return torch.nn.functional.one_hot(p.argmax(-1), nf.output.size).to(self.dtype)
