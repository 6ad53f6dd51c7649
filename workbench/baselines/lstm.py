"""The MATH neural baseline of Gaunt et al. (2017): an LSTM over per-symbol image embeddings.

A tape of handwritten symbols ``d op d op d ...`` (each a 28x28 image) goes in; each symbol is
embedded by the same small network (an MLP or a CNN over its pixels), a 2-layer 256-unit LSTM reads
the embeddings left to right, and a linear layer on its last output gives a softmax over the 19
values (arithmetic modulo 19). It is trained from ``(tape, value)`` pairs only, on one tape length
(the paper: 2-digit expressions, tapes of length 3), and evaluated on expressions of 1..16 digits.
The paper reports that it fits length 2 but does not generalise to longer tapes.

Everything is sized by :class:`LSTMConfig`, so tests can run it tiny. Data helpers:
:func:`make_tapes` turns symbol sequences into image tapes, :func:`math_tapes` draws random
expressions as tapes, :func:`accuracy_by_length` evaluates any tape predictor (this LSTM or a
read-out MATH program) over expression lengths.

>>> model = LSTMBaseline(LSTMConfig(embed_dim=8, embed_hidden=16, hidden=12, layers=1))
>>> model(torch.zeros(5, 3, 28, 28)).shape
torch.Size([5, 19])
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn

from ..core.errors import ConfigError, DataError
from ..tasks.math_tape import random_expressions

__all__ = [
    "VALUES", "LSTMConfig", "SymbolEncoder", "LibraryEncoder", "LSTMBaseline", "MathTapes", "LSTMFit", "make_tapes", "math_tapes",
    "train_lstm", "accuracy_by_length",
]

VALUES = 19  # expression values live in 0..18 (arithmetic modulo 19)


@dataclass(frozen=True, kw_only=True)
class LSTMConfig:
    """Sizes and training settings of the baseline (keyword-only, frozen). Paper sizes are the defaults."""

    embed: Literal["mlp", "cnn"] = "mlp"  # per-symbol embedding network over the 28x28 pixels
    embed_hidden: int = 256               # MLP hidden width / CNN channels of the second conv
    embed_dim: int = 64                   # size of a symbol's embedding (the LSTM's input)
    hidden: int = 256                     # LSTM units per layer (paper: 256)
    layers: int = 2                       # LSTM layers (paper: 2)
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3                      # Adam
    clip_norm: float | None = 1.0
    validate_every: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "embed": self.embed in ("mlp", "cnn"), "embed_hidden": self.embed_hidden >= 1,
            "embed_dim": self.embed_dim >= 1, "hidden": self.hidden >= 1, "layers": self.layers >= 1,
            "steps": self.steps >= 0, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
            "clip_norm": self.clip_norm is None or self.clip_norm > 0, "validate_every": self.validate_every >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid LSTMConfig value(s): {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}",
                              hint="see the field comments of workbench.baselines.lstm.LSTMConfig")

    def replace(self, **changes: Any) -> LSTMConfig:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"LSTMConfig has no field(s) {sorted(unknown)}")
        return LSTMConfig(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})


class SymbolEncoder(nn.Module):
    """One symbol image ``(N, 28, 28)`` -> its embedding ``(N, embed_dim)``; shared by every tape position."""

    def __init__(self, config: LSTMConfig):
        super().__init__()
        c = config
        if c.embed == "mlp":
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, c.embed_hidden), nn.ReLU(),
                                     nn.Linear(c.embed_hidden, c.embed_dim), nn.ReLU())
        else:  # two 5x5 convs of embed_hidden // 16 and twice that many channels (16, 32 at 256)
            w = max(1, c.embed_hidden // 16)
            self.net = nn.Sequential(nn.Unflatten(1, (1, 28)), nn.Conv2d(1, w, 5), nn.MaxPool2d(2), nn.ReLU(),
                                     nn.Conv2d(w, 2 * w, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(2 * w * 16, c.embed_dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LibraryEncoder(nn.Module):
    """Embeddings built on pretrained classifiers (e.g. the library's digit and operator nets): the
    concatenated class probabilities of every net, through one linear layer to ``embed_dim``.

    With ``trainable=False`` the nets are frozen, so the baseline starts from the same perception as
    a program that loads them from the library, and only learns how to combine the symbols.
    """

    def __init__(self, nets: Iterable[nn.Module], embed_dim: int, *, trainable: bool = False):
        super().__init__()
        self.nets = nn.ModuleList(copy.deepcopy(list(nets)))
        self.nets.requires_grad_(trainable)
        self.trainable = trainable
        with torch.no_grad():
            width = sum(int(m.eval()(torch.zeros(1, 28, 28)).shape[-1]) for m in self.nets)
        self.proj = nn.Sequential(nn.Linear(width, embed_dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.trainable:
            self.nets.eval()
        return self.proj(torch.cat([torch.softmax(m(x), -1) for m in self.nets], -1))


class LSTMBaseline(nn.Module):
    """``tapes (B, L, 28, 28)`` -> logits ``(B, 19)``: symbol embeddings -> LSTM -> linear on the last output.

    ``encoder``: any module mapping ``(N, 28, 28)`` images to ``(N, embed_dim)`` embeddings (default
    a fresh :class:`SymbolEncoder`), e.g. one built on pretrained library nets.
    """

    def __init__(self, config: LSTMConfig | None = None, *, encoder: nn.Module | None = None):
        super().__init__()
        self.config = config or LSTMConfig()
        c = self.config
        with torch.random.fork_rng(devices=[]):  # seeded weights, without touching the caller's RNG
            torch.manual_seed(c.seed)
            self.encoder = encoder if encoder is not None else SymbolEncoder(c)
            self.lstm = nn.LSTM(c.embed_dim, c.hidden, num_layers=c.layers, batch_first=True)
            self.head = nn.Linear(c.hidden, VALUES)

    def forward(self, tapes: torch.Tensor) -> torch.Tensor:
        if tapes.dim() != 4 or tuple(tapes.shape[2:]) != (28, 28) or tapes.shape[1] == 0:
            raise DataError(f"LSTMBaseline expects tapes of shape (batch, length >= 1, 28, 28), got {tuple(tapes.shape)}")
        b, n = tapes.shape[:2]
        emb = self.encoder(tapes.reshape(b * n, 28, 28)).reshape(b, n, -1)
        out, _ = self.lstm(emb)
        return self.head(out[:, -1])

    @torch.no_grad()
    def predict(self, tapes: torch.Tensor, *, chunk: int = 512) -> torch.Tensor:
        """Most likely value of each tape, ``(B,)`` (evaluated in chunks, in eval mode)."""
        was = self.training
        self.eval()
        try:
            return torch.cat([self(tapes[i:i + chunk]).argmax(-1) for i in range(0, len(tapes), chunk)])
        finally:
            self.train(was)


# -- data ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MathTapes:
    """``tapes`` float ``(n, 2 * digits - 1, 28, 28)`` (normalised), their ``values`` ``(n,)`` and the
    ``symbols`` drawn ``(n, 2 * digits - 1)`` (digits 0..9 and operators 0..3 alternating; for
    evaluation only: training uses tapes and values)."""

    tapes: torch.Tensor
    values: torch.Tensor
    symbols: torch.Tensor

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        """The MATH sketch's inputs, ``{"tape": tapes}`` (with ``targets``, what ``fit`` takes)."""
        return {"tape": self.tapes}

    @property
    def targets(self) -> torch.Tensor:
        return self.values


def make_tapes(symbols: torch.Tensor, digits: tuple[torch.Tensor, torch.Tensor],
               operators: tuple[torch.Tensor, torch.Tensor], *, seed: int = 0) -> torch.Tensor:
    """Image tapes for ``symbols`` ``(n, L)``: each digit (even positions) and operator (odd positions)
    becomes a random image of that class from ``digits`` / ``operators`` (uint8 images, labels),
    normalised with MNIST's statistics. Returns float32 ``(n, L, 28, 28)``."""
    from ..data.embedded import normalize

    symbols = torch.as_tensor(symbols)
    if symbols.dim() != 2 or symbols.shape[1] % 2 != 1:
        raise DataError(f"symbols must be (n, odd length): digit, op, digit, ...; got {tuple(symbols.shape)}")
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(*symbols.shape, 28, 28, dtype=torch.uint8)
    for parity, (images, labels), classes in ((0, digits, 10), (1, operators, 4)):
        sym = symbols[:, parity::2]
        picked = torch.empty(*sym.shape, 28, 28, dtype=torch.uint8)
        for c in range(classes):
            pool = torch.nonzero(labels == c).flatten()
            where = sym == c
            if not bool(where.any()):
                continue
            if len(pool) == 0:
                raise DataError(f"no image of class {c} among the {'digit' if parity == 0 else 'operator'} images")
            picked[where] = images[pool[torch.randint(0, len(pool), (int(where.sum()),), generator=g)]]
        out[:, parity::2] = picked
    return normalize(out)


def math_tapes(n: int, digits: int, *, digit_pool: tuple[torch.Tensor, torch.Tensor],
               op_pool: tuple[torch.Tensor, torch.Tensor], seed: int = 0) -> MathTapes:
    """``n`` random expressions of ``digits`` digits as image tapes (see :func:`make_tapes`)."""
    symbols, values = random_expressions(n, digits, seed=seed)
    return MathTapes(make_tapes(symbols, digit_pool, op_pool, seed=seed + 1), values, symbols)


# -- training --------------------------------------------------------------------------------------------
@dataclass
class LSTMFit:
    """A training run: the model (restored to its best validation accuracy), curves, time."""

    model: LSTMBaseline
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best_accuracy(self) -> float:
        return max(self.val_accuracy, default=float("nan"))


def train_lstm(train: MathTapes | tuple[torch.Tensor, torch.Tensor], *, val: Any = None, config: LSTMConfig | None = None,
               model: LSTMBaseline | None = None,
               progress: Callable[[dict], None] | None = None) -> LSTMFit:
    """Train the baseline on ``(tapes, values)`` with Adam and cross-entropy; keep the best validation state."""
    cfg = config or (model.config if model is not None else LSTMConfig())
    model = model if model is not None else LSTMBaseline(cfg)
    tapes, values = _pair(train, "training data")
    if val is not None:
        val_tapes, val_values = _pair(val, "validation data")
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    fit = LSTMFit(model)
    best_state, best = None, -1.0
    t0 = time.perf_counter()
    model.train()
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(values), (cfg.batch_size,), generator=g)
        loss = nn.functional.cross_entropy(model(tapes[idx]), values[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
        opt.step()
        fit.losses.append(float(loss.detach()))
        if val is not None and (step % cfg.validate_every == 0 or step == cfg.steps):
            acc = float((model.predict(val_tapes) == val_values).float().mean())
            fit.val_steps.append(step)
            fit.val_accuracy.append(acc)
            if acc > best:
                best, best_state = acc, copy.deepcopy(model.state_dict())
            if progress is not None:
                progress({"step": step, "loss": fit.losses[-1], "val_accuracy": acc,
                          "seconds": time.perf_counter() - t0})
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    fit.seconds = time.perf_counter() - t0
    return fit


def _pair(data: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, MathTapes):
        return data.tapes, data.values
    if isinstance(data, tuple) and len(data) == 2:
        tapes, values = (torch.as_tensor(d) for d in data)
        if tapes.dim() == 4 and values.shape == (tapes.shape[0],) and not values.is_floating_point():
            return tapes, values
    raise DataError(f"{what}: expected MathTapes or (tapes (n, L, 28, 28), values (n,) ints)")


# -- evaluation over lengths -----------------------------------------------------------------------------
def accuracy_by_length(predict: Callable[[torch.Tensor], torch.Tensor], lengths: Iterable[int], *,
                       data: Callable[[int], MathTapes], chunk: int = 250) -> dict[int, float]:
    """Accuracy of ``predict(tapes) -> values`` on ``data(digits)`` for each number of digits in ``lengths``.

    ``predict`` can be this LSTM's :meth:`LSTMBaseline.predict` or a read-out MATH program, e.g.
    ``lambda t: program.hard({"tape": t})["output"]``. Returns ``{digits: accuracy}`` in the given order.
    """
    out = {}
    for d in lengths:
        ds = data(int(d))
        right = 0
        for i in range(0, len(ds), chunk):
            pred = torch.as_tensor(predict(ds.tapes[i:i + chunk]))
            right += int((pred.reshape(-1) == ds.values[i:i + chunk]).sum())
        out[int(d)] = right / len(ds)
    return out
