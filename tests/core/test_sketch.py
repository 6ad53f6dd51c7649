"""Sketch execution: naming, interpretations, read-out printing, tapes of any length."""

from __future__ import annotations

import pytest
import torch

import workbench as wb
from workbench.core import DataError, Domain, Seq, SketchError, TensorType
from workbench.readout import Program

D5 = Domain("Int5", 5)
mod5 = wb.mod_add(5, domain=D5)
Token = TensorType("Token", (1,))


def _counter():
    @wb.sketch(inputs={"tape": Seq(TensorType("Vec1", (1,)))}, output=D5)
    def count(tape):
        acc = wb.const(D5, 0, name="acc@0")
        step = wb.hole("step", D5)
        for t in range(len(tape)):
            acc = wb.let(f"acc@{t + 1}", mod5(acc, step))
        return acc

    return count


def test_auto_names_are_stable_and_user_names_are_kept():
    @wb.sketch(inputs={"x": D5}, output=D5)
    def sk(x):
        a = mod5(x, x)
        b = mod5(a, x)
        return wb.let("result", mod5(b, wb.hole("k", D5)))

    info = sk.discover({"x": torch.tensor([1, 2])})
    t1 = sk.trace({"k": torch.zeros(1, 5)}, {"x": torch.tensor([1, 2])})
    t2 = sk.trace({"k": torch.zeros(1, 5)}, {"x": torch.tensor([3])})
    assert t1.names() == t2.names()
    assert t1.names("fn") == ["mod_add#0", "mod_add#1", "mod_add#2"]
    assert "result" in t1 and list(info.holes) == ["k"]


def test_hard_runs_many_programs_at_once():
    @wb.sketch(inputs={"x": D5}, output=D5)
    def sk(x):
        return mod5(x, wb.hole("k", D5))

    out = sk.hard({"k": torch.arange(5)}, {"x": torch.tensor([1, 2, 3])})["output"]
    assert out.probs.shape == (5, 3, 5)
    assert out.probs.argmax(-1).tolist() == [[(x + k) % 5 for x in (1, 2, 3)] for k in range(5)]


def test_loops_unroll_over_the_tape_length_and_generalise():
    sk = _counter()
    short = {"tape": torch.zeros(4, 2, 1)}
    long = {"tape": torch.zeros(4, 7, 1)}
    assert sk.hard({"step": 3}, short)["output"].probs.argmax(-1).flatten().tolist() == [(2 * 3) % 5] * 4
    assert sk.hard({"step": 3}, long)["output"].probs.argmax(-1).flatten().tolist() == [(7 * 3) % 5] * 4
    prog = Program(sk, {"step": 3}, lengths={"tape": 7})
    # nothing depends on the tape's contents: folded; the source guards the length it was derived for
    assert prog.source == "def count(tape):\n    _length(tape, 7)\n    return 1\n"
    assert prog(torch.zeros(7, 1)) == (7 * 3) % 5
    assert prog(torch.zeros(4, 1)) == (4 * 3) % 5  # the Program re-derives itself at another length
    with pytest.raises(DataError, match="length 7"):
        Program(sk, {"step": 3}, lengths={"tape": 7}).namespace()["_length"](torch.zeros(4, 1), 7)
    with pytest.raises(SketchError):
        sk.source({"step": 3})  # a tape of any length needs a length for read-out


def test_readout_folds_constants_and_drops_dead_code():
    @wb.sketch(inputs={"x": D5, "y": D5}, output=D5)
    def sk(x, y):
        unused = mod5(x, y, name="unused")  # noqa: F841
        op = wb.hole("op", Domain.enum("Op", ["X", "Y", "CONST"]))
        return wb.choose(op, [x, y, mod5(wb.const(D5, 2), wb.const(D5, 4))], name="out")

    assert sk.source({"op": 0}) == "def sk(x, y):\n    return x\n"
    assert sk.source({"op": 2}) == "def sk(x, y):\n    return 1\n"


def test_soft_choice_with_data_dependent_selector_in_readout():
    @wb.sketch(inputs={"x": D5, "c": wb.Bool}, output=D5)
    def sk(x, c):
        return wb.where(c, mod5(x, wb.hole("k", D5)), x, name="out")

    prog = Program(sk, {"k": 2})
    assert "if c else x" in prog.source
    assert prog(3, 1) == 0 and prog(3, 0) == 3


def test_primitive_outside_sketch_is_an_error():
    with pytest.raises(SketchError) as e:
        wb.hole("k", D5)
    assert "outside a sketch" in str(e.value)


def test_sketch_parameters_must_match_inputs():
    with pytest.raises(SketchError):
        @wb.sketch(inputs={"x": D5}, output=D5)
        def sk(y):
            return y


def test_repr_and_listing():
    @wb.sketch(inputs={"x": D5}, output=D5)
    def sk(x):
        return mod5(x, wb.hole("k", D5))

    assert "sk(x: Int5[5]) -> output: Int5[5]" in repr(sk)
    info = sk.discover({"x": torch.tensor([0])})
    assert info.program_space == 5


def test_sketch_name_must_be_an_identifier():
    with pytest.raises(SketchError) as e:
        @wb.sketch(inputs={"x": D5}, output=D5, name="<script>")
        def sk(x):
            return x
    assert "identifier" in str(e.value)


def test_trace_records_callee_and_data_flow():
    @wb.sketch(inputs={"x": D5}, output=D5)
    def sk(x):
        return mod5(x, wb.hole("k", D5), name="sum")

    tr = sk.trace({"k": torch.zeros(1, 5)}, {"x": torch.tensor([1])})
    assert tr["sum"].callee == "mod_add" and tr["sum"].args == ("input#0", "k") or tr["sum"].args[1] == "k"
