"""MATH: the intended loop program, run in hard mode with perfect perception, is right on every length."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import workbench as wb
from workbench.core.errors import ConfigError
from workbench.readout import Program
from workbench.tasks.math_tape import (
    Digit,
    Op,
    describe,
    evaluate,
    intended_assignment,
    make_sketch,
    oracle_tapes,
    perception_oracle,
    random_expressions,
)


def _nets():
    digit = wb.NeuralFunction("digit", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), input=wb.Image28, output=Digit)
    op = wb.NeuralFunction("op", nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), input=wb.Image28, output=Op)
    return digit, op


def test_evaluate_left_to_right():
    assert evaluate([3, 0, 4, 2, 2]) == 14  # (3 + 4) x 2
    assert evaluate([5]) == 5
    assert evaluate([7, 3, 0]) == 18  # division by zero


@pytest.mark.parametrize("digits", [1, 2, 3, 8, 16])
def test_intended_program_generalises_to_long_tapes(digits):
    sk = make_sketch(*_nets())
    sym, values = random_expressions(40, digits, seed=digits)
    out = sk.hard(intended_assignment(), {"tape": oracle_tapes(sym)}, net_forward=perception_oracle)["output"]
    assert (out.probs[0].argmax(-1) == values).all()


def test_readout_of_the_intended_program():
    sk = make_sketch(*_nets())
    listing = describe(intended_assignment())
    assert "block3: R0 = APPLY(R0, R2, R1)" in listing
    prog = Program(sk, intended_assignment(), lengths={"tape": 5})
    sym, values = random_expressions(5, 3, seed=1)
    tapes = oracle_tapes(sym)
    fn = prog.compile(perception={"digit": lambda x: min(int(x[0, 0]), 9), "op": lambda x: int(x[0, 0]) - 10})
    assert [fn(t) for t in tapes] == values.tolist()


def test_soft_execution_is_a_distribution_and_differentiable():
    sk = make_sketch(*_nets())
    sym, _ = random_expressions(4, 2, seed=0)
    tapes = torch.randn(4, 3, 28, 28)
    info = sk.discover({"tape": tapes})
    holes = {k: torch.randn(2, d.size, requires_grad=True) for k, d in info.holes.items()}
    out = sk.soft(holes, {"tape": tapes})["output"].probs
    assert out.shape == (2, 4, 19)
    assert ((out.sum(-1) > 0.5) & (out.sum(-1) < 1 + 1e-5)).all()
    out[..., 3].sum().backward()
    assert holes["block0.instr"].grad.abs().sum() > 0


def test_unhalted_drop_gives_no_value_to_a_program_that_never_halts():
    digit, op = _nets()
    sym, values = random_expressions(20, 3, seed=3)
    tapes = {"tape": oracle_tapes(sym)}
    drop, keep = make_sketch(digit, op, unhalted="drop"), make_sketch(digit, op)
    out = drop.hard(intended_assignment(), tapes, net_forward=perception_oracle)["output"]
    assert (out.probs[0].argmax(-1) == values).all()  # the intended loop halts on every length
    looping = intended_assignment() | {"block3.goto": 3}  # APPLY jumps to itself: never halts
    assert keep.hard(looping, tapes, net_forward=perception_oracle)["output"].probs.sum(-1).min() > 0.99
    assert drop.hard(looping, tapes, net_forward=perception_oracle)["output"].probs.sum(-1).max() == 0
    info = drop.discover(tapes)
    holes = {k: torch.randn(2, d.size, requires_grad=True) for k, d in info.holes.items()}
    probs = drop.soft(holes, tapes)["output"].probs
    assert (probs.sum(-1) <= 1 + 1e-5).all()
    probs[..., 0].sum().backward()
    assert holes["block3.goto"].grad.abs().sum() > 0
    with pytest.raises(ConfigError):
        make_sketch(digit, op, unhalted="sometimes")


def test_past_end_moves_write_nothing_when_asked():
    digit, op = _nets()
    sym, values = random_expressions(20, 2, seed=4)
    tapes = {"tape": oracle_tapes(sym)}
    nowrite = make_sketch(digit, op, unhalted="drop", past_end="nowrite")
    for digits in (1, 2, 5):
        s, v = random_expressions(20, digits, seed=digits)
        out = nowrite.hard(intended_assignment(), {"tape": oracle_tapes(s)}, net_forward=perception_oracle)["output"]
        assert (out.probs[0].argmax(-1) == v).all()
    # returning the register that the halting MOVE_OP writes: re-read (clamped) vs untouched
    ret_op = intended_assignment() | {"return": 1}
    old = make_sketch(digit, op, unhalted="drop").hard(ret_op, tapes, net_forward=perception_oracle)["output"]
    new = nowrite.hard(ret_op, tapes, net_forward=perception_oracle)["output"]
    assert (old.probs[0].argmax(-1) == 0).all()  # the last digit re-read by the (oracle) operator net: 0
    assert (new.probs[0].argmax(-1) == sym[:, 1]).all()  # the operator read before, untouched


def test_past_end_zero_writes_a_blank_and_bad_options_are_refused():
    digit, op = _nets()
    sym, _ = random_expressions(10, 2, seed=5)
    zero = make_sketch(digit, op, unhalted="drop", past_end="zero")
    ret_op = intended_assignment() | {"return": 1}  # the register the halting MOVE_OP writes
    out = zero.hard(ret_op, {"tape": oracle_tapes(sym)}, net_forward=perception_oracle)["output"]
    assert (out.probs[0].argmax(-1) == 0).all()
    with pytest.raises(ConfigError):
        make_sketch(digit, op, past_end="clamp")
