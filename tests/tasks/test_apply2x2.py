"""APPLY2x2: the intended program is correct with perfect perception, for all four tasks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import workbench as wb
from workbench.readout import Program
from workbench.tasks.apply2x2 import (
    Op,
    apply_op,
    intended_assignment,
    make_sketch,
    perfect_perception_accuracy,
)


def test_modular_arithmetic():
    assert apply_op(5, 7, 0) == 12 and apply_op(5, 7, 1) == 17 and apply_op(5, 7, 2) == 16
    assert apply_op(6, 3, 3) == 2 and apply_op(7, 0, 3) == 18
    assert all((apply_op(a, b, 3) * b) % 19 == a for a in range(19) for b in range(1, 19))


@pytest.mark.parametrize("task", ["top", "left", "bottom", "right"])
def test_intended_program_is_correct_with_perfect_perception(task):
    net = wb.NeuralFunction("op", nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), input=wb.Image28, output=Op)
    prog = Program(make_sketch(net), intended_assignment(task))
    assert perfect_perception_accuracy(prog, task) == 1.0
    assert "apply(" in prog.source


def test_a_wrong_program_is_judged_wrong():
    net = wb.NeuralFunction("op", nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), input=wb.Image28, output=Op)
    wrong = intended_assignment("top") | {"line3.op": 0}
    assert perfect_perception_accuracy(Program(make_sketch(net), wrong), "top") < 0.9


def test_dataset_targets_follow_the_cells():
    from workbench.tasks.apply2x2 import make_dataset

    labels = torch.arange(4).repeat(10)
    images = torch.zeros(40, 28, 28, dtype=torch.uint8)
    ds = make_dataset(images, labels, n=50, task="left", seed=0)
    lab = ds["cell_labels"].view(50, 4)
    d = ds["inputs"]
    expect = [apply_op(apply_op(int(a), int(b), int(x[0])), int(c), int(x[2]))
              for a, b, c, x in zip(d["d1"], d["d2"], d["d3"], lab)]
    assert ds["targets"].tolist() == expect
