"""Neural network architectures, in an allow-listed registry of constructors.

The library stores a network as ``(architecture name, keyword arguments, weights)``; loading
rebuilds the module by calling the registered constructor, so no code is ever unpickled. Register
your own constructors with :func:`register_architecture`.

>>> m = build("mlp", in_shape=(28, 28), out=10)
>>> sum(p.numel() for p in m.parameters())
269322
"""

from __future__ import annotations

import contextlib
import math
import weakref
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
    module = ARCHITECTURES[name](**kwargs)
    _note_built(module)
    return module


_BUILT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> sha256 of its weights when built


def _note_built(module: nn.Module) -> None:
    with contextlib.suppress(Exception):  # a module that cannot be fingerprinted is simply not known
        _BUILT[module] = weights_fingerprint(module)


def weights_fingerprint(module: nn.Module) -> str:
    """sha256 of a module's state as safetensors bytes (the library's ``weights_sha256``)."""
    import hashlib

    from safetensors.torch import save as st_save

    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}
    return hashlib.sha256(st_save(state)).hexdigest()


def built_fingerprint(module: nn.Module) -> str | None:
    """The fingerprint ``module`` had when :func:`build` made it (None: not built by :func:`build`).

    Comparing it with the current one tells whether a net was ever trained."""
    return _BUILT.get(module)


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


# -- training-time wrappers (augmentation, weight averaging) ------------------------------------------
class RandomShift(torch.nn.Module):
    """Training-time augmentation (identity in eval mode): shift each image by up to ``shift`` pixels
    and, when ``rotate`` (degrees) or ``scale`` (relative) are non-zero, also rotate and rescale it
    (one random affine map per image, bilinear resampling, background outside)."""

    def __init__(self, shift: int, *, rotate: float = 0.0, scale: float = 0.0):
        super().__init__()
        self.shift = int(shift)
        self.rotate = float(rotate)
        self.scale = float(scale)
        from .data.embedded import normalize

        self.background = float(normalize(torch.zeros(1, dtype=torch.uint8)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.shift <= 0 and not self.rotate and not self.scale):
            return x
        if self.rotate or self.scale:
            return self._affine(x)
        s, b, h, w = self.shift, x.shape[0], x.shape[-2], x.shape[-1]
        xp = torch.nn.functional.pad(x, (s, s, s, s), value=self.background)
        dy = torch.randint(0, 2 * s + 1, (b, 1, 1), device=x.device)
        dx = torch.randint(0, 2 * s + 1, (b, 1, 1), device=x.device)
        rows = dy + torch.arange(h, device=x.device).view(1, h, 1)
        cols = dx + torch.arange(w, device=x.device).view(1, 1, w)
        return xp[torch.arange(b, device=x.device).view(b, 1, 1), rows, cols]

    def _affine(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        opts = {"device": x.device, "dtype": x.dtype}
        ang = (torch.rand(b, **opts) * 2 - 1) * math.radians(self.rotate)
        sc = 1 + (torch.rand(b, **opts) * 2 - 1) * self.scale
        tx = (torch.randint(-self.shift, self.shift + 1, (b,), device=x.device).to(x.dtype)) * 2 / w
        ty = (torch.randint(-self.shift, self.shift + 1, (b,), device=x.device).to(x.dtype)) * 2 / h
        cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
        theta = torch.stack([torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], -2)
        img = (x - self.background).unsqueeze(1)
        grid = torch.nn.functional.affine_grid(theta, list(img.shape), align_corners=False)
        out = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.squeeze(1) + self.background


class AveragedNet(torch.nn.Module):
    """Weight averaging (an exponential moving average, Polyak-style) of a net during training.

    In training mode it runs and trains ``net`` as usual and, on every forward pass with gradients
    enabled (i.e. every training step), folds the current weights into the average; in eval mode
    (discrete evaluation) it runs the averaged weights.
    """

    def __init__(self, net: torch.nn.Module, decay: float = 0.999):
        super().__init__()
        self.net = net
        self.decay = float(decay)
        self.updates = 0
        self._names = [k for k, _ in net.named_parameters()]
        for i, (_, p) in enumerate(net.named_parameters()):
            self.register_buffer(f"avg{i}", p.detach().clone())

    @torch.no_grad()
    def _update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for i, (_, p) in enumerate(self.net.named_parameters()):
            getattr(self, f"avg{i}").mul_(d).add_(p.detach(), alpha=1 - d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if torch.is_grad_enabled():
                self._update()
            return self.net(x)
        params = {k: getattr(self, f"avg{i}") for i, k in enumerate(self._names)}
        return torch.func.functional_call(self.net, params, (x,))
