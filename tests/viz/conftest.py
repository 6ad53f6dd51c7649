"""Fixtures of the view tests: a small ADD2x2 (tiny digit net, a few real grids), a soft trace of it
with random holes for two restarts, a hand-set "correct program" trace and a tiny training run."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from workbench.core import Image28, NeuralFunction  # noqa: E402
from workbench.data import embedded_split, make_grid_dataset  # noqa: E402
from workbench.nets import build  # noqa: E402
from workbench.tasks.add2x2 import INSTRUCTIONS, Digit, make_sketch  # noqa: E402
from workbench.train import TrainConfig, fit  # noqa: E402

torch.set_num_threads(1)  # two shared cores: threads only contend


@pytest.fixture(scope="session")
def add2x2():
    split = embedded_split(seed=0)
    data = make_grid_dataset(split.train_images, split.train_labels, n=96, task="top", seed=1)
    torch.manual_seed(0)
    digit = NeuralFunction("digit", build("mlp", out=10, hidden=[16]), input=Image28, output=Digit,
                           arch=("mlp", {"out": 10, "hidden": [16]}))
    return make_sketch(digit), digit, data


@pytest.fixture(scope="session")
def holes(add2x2):
    sketch, _, data = add2x2
    info = sketch.discover(data.inputs)
    g = torch.Generator().manual_seed(3)
    return {k: torch.randn(2, d.size, generator=g) * 1.5 for k, d in info.holes.items()}


@pytest.fixture(scope="session")
def soft_trace(add2x2, holes):
    sketch, _, data = add2x2
    return sketch.trace(holes, {"grid": data.grids[:3]})


CORRECT = {"line0.instr": "NOOP", "line1.instr": "MOVE_EAST", "line2.instr": "MOVE_WEST", "line3.instr": "ADD",
           "line1.a": 0, "line1.b": 0, "line2.a": 1, "line2.b": 0, "line3.a": 1, "line3.b": 2, "return": 3}


@pytest.fixture(scope="session")
def correct():
    """The CORRECT program as a hole assignment (ints)."""
    return {k: INSTRUCTIONS.index(v) if isinstance(v, str) else v for k, v in CORRECT.items()}


@pytest.fixture(scope="session")
def decided_trace(add2x2, holes):
    """Holes almost one-hot on a correct top-row program: R1 = top-right, R2 = top-left, R3 = R1 + R2."""
    sketch, _, data = add2x2
    logits = {}
    for k, v in holes.items():
        want = CORRECT[k]
        idx = INSTRUCTIONS.index(want) if isinstance(want, str) else want
        row = torch.full((1, v.shape[1]), -30.0)
        row[0, idx] = 30.0
        logits[k] = row
    return sketch.trace(logits, {"grid": data.grids[:2]})


@pytest.fixture(scope="session")
def tiny_fit(add2x2):
    sketch, _, data = add2x2
    cfg = TrainConfig(restarts=2, steps=30, batch_size=8, validate_every=10, val_size=32, seed=0)
    return fit(sketch, data, config=cfg, judge=lambda p: "add(" in p.source)
