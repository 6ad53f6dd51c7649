"""Fixtures of the library tests: a tiny neural function factory, a library, a subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench import nets
from workbench.core.domains import Domain, TensorType
from workbench.core.neural import NeuralFunction
from workbench.library import Library

REPO = Path(__file__).resolve().parents[2]


def _tiny(name: str = "digit", seed: int = 0, hidden: int = 6) -> NeuralFunction:
    torch.manual_seed(seed)
    kwargs = {"in_shape": [8, 8], "out": 3, "hidden": [hidden]}
    return NeuralFunction(name, nets.build("mlp", **kwargs), input=TensorType("Vec8x8", (8, 8)),
                          output=Domain("Three", 3, ("a", "b", "c")), arch=("mlp", kwargs))


def _python(*args: str, **kw) -> subprocess.Popen:
    """Start ``python *args`` in a fresh process that imports this checkout of the workbench."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("WORKBENCH_LIBRARY", None)
    return subprocess.Popen([sys.executable, *args], env=env, cwd=REPO, **kw)


@pytest.fixture
def tiny():
    """``tiny(name="digit", seed=0, hidden=6)``: an 8x8 -> 3 MLP neural function with an arch spec."""
    return _tiny


@pytest.fixture
def python():
    return _python


@pytest.fixture
def publisher() -> str:
    return str(Path(__file__).with_name("_publisher.py"))


@pytest.fixture
def lib(tmp_path) -> Library:
    return Library(tmp_path / "lib")
