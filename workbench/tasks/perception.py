"""Perfect perception, once for every task: images that carry their label, and a reader for them.

A task judges a read-out program by its *meaning*: run it with perception replaced by the truth and
compare with the task's own arithmetic. Every task does that the same way. Its symbols are drawn as
"label images" (every pixel holds ``offset + label``; a task with several kinds of symbol on one tape
gives each kind its own offset, e.g. MATH's operators are ``10 + op``), and :class:`LabelPerception`
reads them back:

* batched, as a ``net_forward`` for :meth:`Sketch.hard` / :meth:`Program.hard` (logits that put all
  mass on the label, so argmax is the label);
* per example, as ``perception=`` overrides for :meth:`Program.compile` (name -> image -> int);
* as a module (:meth:`LabelPerception.function`) where a sketch needs a net object.

A label below a net's range reads as 0 and one above it as its largest value (a digit net shown an
operator image reads 9, an operator net shown a digit reads 0), as the tasks' oracles always did.

>>> import torch
>>> p = LabelPerception(by_size={4: 10})  # MATH: operators (4 classes) are drawn as 10 + op
>>> p.images(torch.tensor([[3, 12]])).shape
torch.Size([1, 2, 28, 28])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..core.domains import Domain, Image28
from ..core.neural import NeuralFunction

SHARPNESS = 50.0  # logit of the label (all others 0): softmax puts 1 - 1e-20 on it


class LabelPerception:
    """Reads label images: ``offsets`` maps a neural function's name (or ``by_size`` the size of its
    output domain) to the offset of the symbols it reads; 0 otherwise."""

    def __init__(self, *, offsets: Mapping[str, int] | None = None, by_size: Mapping[int, int] | None = None):
        self.offsets = dict(offsets or {})
        self.by_size = dict(by_size or {})

    def offset(self, name: str, size: int) -> int:
        return self.offsets.get(name, self.by_size.get(size, 0))

    @staticmethod
    def images(labels: torch.Tensor, offset: int = 0, shape: tuple[int, int] = (28, 28)) -> torch.Tensor:
        """Label images ``(*labels.shape, 28, 28)`` whose every pixel is ``offset + label``."""
        lab = labels.float() + offset
        return lab.view(*labels.shape, 1, 1).expand(*labels.shape, *shape).contiguous()

    def label(self, nf: NeuralFunction, x: torch.Tensor) -> torch.Tensor:
        """The label a net ``nf`` reads in a batch of images ``(B, 28, 28)``."""
        v = x.reshape(x.shape[0], -1)[:, 0].round().long() - self.offset(nf.name, nf.output.size)
        return v.clamp(0, nf.output.size - 1)

    def net_forward(self, nf: NeuralFunction, x: torch.Tensor) -> torch.Tensor:
        """A ``net_forward`` for hard/soft execution: logits ``(1, B, K)`` with all mass on the label."""
        return (nn.functional.one_hot(self.label(nf, x), nf.output.size).float() * SHARPNESS).unsqueeze(0)

    __call__ = net_forward

    def for_program(self, program: Any) -> dict[str, Callable[[Any], int]]:
        """``perception=`` overrides for :meth:`workbench.readout.Program.compile`: name -> image -> int."""
        return {name: (lambda img, nf=nf: int(self.label(nf, torch.as_tensor(img)[None])[0]))
                for name, nf in program.neural.items()}

    def function(self, name: str, output: Domain) -> NeuralFunction:
        """A parameter-free neural function with this perception (for sketches that need a net)."""
        return NeuralFunction(name, _Reader(self, name, output.size), input=Image28, output=output)


class _Reader(nn.Module):
    def __init__(self, perception: LabelPerception, name: str, size: int):
        super().__init__()
        self.perception, self.name, self.size = perception, name, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.reshape(x.shape[0], -1)[:, 0].round().long() - self.perception.offset(self.name, self.size)
        return nn.functional.one_hot(v.clamp(0, self.size - 1), self.size).to(x.dtype) * 30.0
