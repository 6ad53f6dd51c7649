"""ADD2x2: the intended program of each task is correct with perfect perception (hard mode, all 10^4 grids)."""

from __future__ import annotations

import pytest
from torch import nn

import workbench as wb
from workbench.core.errors import DataError
from workbench.readout import Program
from workbench.tasks.add2x2 import Digit, intended_assignment, make_sketch, perfect_perception_accuracy

TASKS = ["top", "left", "bottom", "right"]


def _sketch():
    net = wb.NeuralFunction("digit", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), input=wb.Image28, output=Digit)
    return make_sketch(net)


@pytest.mark.parametrize("task", TASKS)
def test_intended_program_is_correct_with_perfect_perception(task):
    prog = Program(_sketch(), intended_assignment(task))
    assert perfect_perception_accuracy(prog, task) == 1.0
    assert "add(" in prog.source
    # and it is specific to its task: every other task's sum is mostly wrong
    for other in TASKS:
        if other != task:
            assert perfect_perception_accuracy(prog, other) < 0.2


def test_wrong_programs_are_judged_wrong():
    sk = _sketch()
    no_add = intended_assignment("top") | {"return": 1}  # returns the second digit only
    same_cell_twice = intended_assignment("top") | {"line2.b": 0}  # R0 + R0
    for wrong in (no_add, same_cell_twice):
        assert perfect_perception_accuracy(Program(sk, wrong), "top") < 0.2


def test_unknown_task_is_a_typed_error():
    with pytest.raises(DataError, match="unknown ADD2x2 task 'diagonal'"):
        intended_assignment("diagonal")
