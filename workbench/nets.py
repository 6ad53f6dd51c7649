"""Neural network architectures, in an allow-listed registry of constructors.

The library stores a network as ``(architecture name, keyword arguments, weights)``; loading
rebuilds the module by calling the registered constructor, so no code is ever unpickled. Register
your own constructors with :func:`register_architecture`.

>>> m = build("mlp", in_shape=(28, 28), out=10)
>>> sum(p.numel() for p in m.parameters())
269322
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .core.errors import SignatureError

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def register_architecture(name: str, ctor: Callable[..., nn.Module] | None = None):
    """Register ``ctor`` under ``name`` (usable as a decorator). Keyword arguments must be JSON data."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ARCHITECTURES[name] = fn
        return fn

    return deco(ctor) if ctor is not None else deco


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture."""
    if name not in ARCHITECTURES:
        raise SignatureError(
            f"architecture '{name}' is not registered in this process",
            hint=f"known: {sorted(ARCHITECTURES)}; call workbench.nets.register_architecture('{name}', ctor) first",
        )
    return ARCHITECTURES[name](**kwargs)


@register_architecture("mlp")
def mlp(*, in_shape: tuple[int, ...] | list[int] = (28, 28), out: int = 10,
        hidden: tuple[int, ...] | list[int] = (256, 256)) -> nn.Module:
    """The paper's ``net_0``/``net_1``: flatten -> FC 256 ReLU -> FC 256 ReLU -> logits."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(in_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


@register_architecture("lenet")
def lenet(*, out: int = 10, in_channels: int = 1) -> nn.Module:
    """The digit net used by DeepProbLog and peers: conv 6-16 + FC 120-84 -> logits (28x28 input)."""
    return nn.Sequential(
        _AddChannel(),
        nn.Conv2d(in_channels, 6, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, out),
    )


@register_architecture("small_cnn")
def small_cnn(*, out: int = 10, width: int = 16) -> nn.Module:
    """A small, fast CNN for 28x28 inputs: two 5x5 convs (width, 2*width) + one linear layer."""
    return nn.Sequential(
        _AddChannel(),
        nn.Conv2d(1, width, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * 16, out),
    )


@register_architecture("sign_cnn")
def sign_cnn(*, out: int = 6, width: int = 8) -> nn.Module:
    """PATH_LEN's LOOK. A small, fast CNN for 28x28 signs: 2x2 average pooling to 14x14, two 3x3 convs (width, 2*width)
    with max pooling, one linear layer (about 1.6k parameters at width 8). An arrow's direction survives
    the pooling; the point is a cheap LOOK, since it runs on every cell of every grid at every step."""
    return nn.Sequential(
        _AddChannel(), nn.AvgPool2d(2),
        nn.Conv2d(1, width, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width * 4, out),
    )


class _AddChannel(nn.Module):
    """(B, H, W) -> (B, 1, H, W); leaves (B, C, H, W) alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if x.dim() == 3 else x
