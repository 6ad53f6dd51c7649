"""Every task module implements the one task protocol, and perfect perception is one reader."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workbench.core import ConfigError, Domain, Image28, NeuralFunction
from workbench.readout import Program
from workbench.tasks import add2x2, apply2x2, math_tape, mnist_addition, path_len
from workbench.tasks.perception import LabelPerception
from workbench.tasks.protocol import PROTOCOL, TASK_MODULES, task_module


def _net(name: str, k: int) -> NeuralFunction:
    return NeuralFunction(name, nn.Sequential(nn.Flatten(), nn.Linear(784, k)), input=Image28, output=Domain(name, k))


@pytest.mark.parametrize("name", TASK_MODULES)
def test_every_task_module_has_the_four_names(name):
    mod = task_module(name)
    assert all(callable(getattr(mod, k)) for k in PROTOCOL if k != "perception")
    assert isinstance(mod.perception, LabelPerception)
    with pytest.raises(ConfigError, match="unknown task"):
        task_module("add3x3")


def _programs():
    digit = _net("digit", 10)
    yield add2x2, Program(add2x2.make_sketch(digit), add2x2.intended_assignment("top")), \
        Program(add2x2.make_sketch(digit), add2x2.intended_assignment("top") | {"line2.b": 0})
    op = _net("op", 4)
    yield apply2x2, Program(apply2x2.make_sketch(op), apply2x2.intended_assignment("top")), \
        Program(apply2x2.make_sketch(op), apply2x2.intended_assignment("top") | {"line0.instr": 0})
    msk = math_tape.make_sketch(_net("digit", 10), _net("op", 4))
    yield math_tape, Program(msk, math_tape.intended_assignment(), lengths={"tape": 3}), \
        Program(msk, math_tape.intended_assignment() | {"block3.op": 0}, lengths={"tape": 3})
    look = path_len.oracle_look()
    yield path_len, Program(path_len.make_sketch(look, 3, 3), path_len.intended_assignment()), \
        Program(path_len.make_sketch(look, 3, 3), path_len.intended_assignment() | {"block0.instr": 0})
    d = mnist_addition.oracle_digit()
    sk = mnist_addition.make_learned_sketch(2, d, shared=True)
    good = mnist_addition.intended_assignment(2, shared=True)
    yield mnist_addition, Program(sk, good), Program(sk, good | {"carry.fn": mnist_addition.CarryFn.index("zero")})


@pytest.mark.parametrize("mod, good, bad", list(_programs()), ids=lambda v: getattr(v, "__name__", "")[10:] or "p")
def test_judges_read_meaning_with_perfect_perception(mod, good, bad):
    assert mod.judge(good) is True
    assert mod.judge(bad) is False


def test_perception_through_compile_agrees_with_batched_hard_execution():
    msk = math_tape.make_sketch(_net("digit", 10), _net("op", 4))
    prog = Program(msk, math_tape.intended_assignment(), lengths={"tape": 3})
    inputs, values = math_tape.make_data(12, 4, seed=3)  # 4-digit tapes: the program derives itself
    run = prog.compile(perception=math_tape.perception.for_program(prog))
    assert [run(inputs["tape"][b]) for b in range(12)] == values.tolist()
    assert prog.hard(inputs, net_forward=math_tape.perception)["output"].tolist() == values.tolist()


def test_label_images_and_offsets():
    p = LabelPerception(by_size={4: 10})
    digit, op = _net("digit", 10), _net("op", 4)
    imgs = p.images(torch.tensor([3, 9]))
    assert p.label(digit, imgs).tolist() == [3, 9]
    ops = p.images(torch.tensor([2]), offset=10)
    assert p.label(op, ops).tolist() == [2] and p.label(digit, ops).tolist() == [9]  # clamped
    assert p.label(op, imgs).tolist() == [0, 0]
    logits = p.net_forward(digit, imgs)
    assert logits.shape == (1, 2, 10) and logits.argmax(-1).tolist() == [[3, 9]]
    reader = p.function("digit", Domain("Digit", 10))
    assert reader.predict(imgs).tolist() == [3, 9]
