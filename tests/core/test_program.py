"""The program IR and the read-out problems a user ran into, written as the user wrote the mistake.

1. ``==`` / ``!=`` / ``<`` on sketch values (Python identity, or a loop that never ends);
2. two different finite functions with one name (the source called the wrong one);
3. two different neural functions with one name (silently merged by ``fit``);
4. a program read out at one tape length and called at another (answered as if the tape were short);
5. long unrolled read-outs, unfolded trivial selections, cells printed as ``_cell(grid, 1, 2)``.
"""

from __future__ import annotations

import ast

import pytest
import torch
from _registry import StubNet, stub
from torch import nn

import workbench as wb
from workbench.core import (
    KINDS,
    Bool,
    Domain,
    Grid,
    Halting,
    Seq,
    SketchError,
    SoftControlFlowError,
    TensorType,
)
from workbench.core.hard import HardInterpreter
from workbench.core.program import OPS, Graph, Loop, Node, Read
from workbench.core.soft import SoftInterpreter
from workbench.core.symbolic import SymbolicInterpreter
from workbench.core.trace import TraceRecorder
from workbench.readout import Program, predictions

D = Domain("D", 10)
D19 = Domain("D19", 19)
Token = TensorType("Token", (1,))


# -- the closed set of kinds -----------------------------------------------------------------------------
@pytest.mark.parametrize("interp", [SoftInterpreter, HardInterpreter, SymbolicInterpreter])
def test_every_interpreter_handles_every_kind(interp):
    missing = [k for k in KINDS if not callable(getattr(interp, "_" + k, None))]
    assert not missing, f"{interp.__name__} lacks {missing}"


def test_ir_ops_are_a_closed_set():
    assert set(OPS) <= set(KINDS)
    with pytest.raises(ValueError, match="unknown IR op"):
        Node("x", "jump", D)
    assert TraceRecorder().kinds == KINDS


# -- 1. comparisons on values ------------------------------------------------------------------------------
def test_equality_on_a_value_is_an_error_naming_the_site():
    @wb.sketch(inputs={"x": D}, output=D)
    def pick(x):
        h = wb.hole("h", Domain("Two", 2))
        if h == wb.const(Domain("Two", 2), 1):  # the mistake: Python compares objects
            return x
        return wb.const(D, 0)

    with pytest.raises(SoftControlFlowError, match="comparison") as err:
        pick.discover({"x": torch.tensor([1, 2])})
    assert err.value.site == "h" and "wb.is_" in str(err.value)


@pytest.mark.parametrize("op", ["!=", "<", "<=", ">", ">="])
def test_every_comparison_is_refused(op):
    @wb.sketch(inputs={"x": D, "y": D}, output=D)
    def loop(x, y):
        acc = x
        while eval(f"acc {op} y"):  # e.g. `while acc != y:` would never end
            acc = y
        return acc

    with pytest.raises(SoftControlFlowError, match="comparison"):
        loop.discover({"x": torch.tensor([1]), "y": torch.tensor([2])})


def test_arithmetic_on_values_points_to_the_functions():
    @wb.sketch(inputs={"x": D}, output=D)
    def plus(x):
        return x + wb.hole("h", D)

    with pytest.raises(SoftControlFlowError, match="wb.add") as err:
        plus.discover({"x": torch.tensor([1])})
    assert err.value.site == "x"


# -- 2. two finite functions with one name ----------------------------------------------------------------------
def test_same_named_functions_get_distinct_names_in_the_source():
    shifted = wb.sub(D, D, D19, offset=9)  # both are called "sub"
    plain = wb.sub(D, D, D19)

    @wb.sketch(inputs={"x": D, "y": D}, output=D19)
    def both(x, y):
        op = wb.hole("op", Domain.enum("Which", ["SHIFTED", "PLAIN"]))
        return wb.choose(op, [shifted(x, y), plain(x, y)])

    inputs = {"x": torch.tensor([7, 2]), "y": torch.tensor([3, 5])}
    for which, want in ((0, [13, 6]), (1, [4, None])):
        prog = Program(both, {"op": which})
        assert prog.hard(inputs)["output"].tolist() == [w if w is not None else -1 for w in want]
        assert [prog(7, 3), prog(2, 5)] == want
    prog = Program(both, {"op": 1})
    assert prog.functions["sub"] is plain  # the name a reader sees is the function it runs
    g = both.graph({"op": 0})
    mixed = wb.sketch(inputs={"x": D, "y": D}, output=Domain("D38", 38), name="mixed")(
        lambda x, y: wb.add(D19, D19, Domain("D38", 38))(shifted(x, y), plain(x, y)))
    src = Program(mixed, {}).source
    assert "sub(x, y)" in src and "sub_2(x, y)" in src
    assert Program(mixed, {})(7, 3) == 13 + 4
    assert g.targets("fn") == {"sub": shifted}


# -- 3. two neural functions with one name --------------------------------------------------------------------
def test_two_different_nets_with_one_name_are_refused_naming_both_sites():
    a = stub("digit", Domain("D5", 5), 6, seed=1)
    b = stub("digit", Domain("D5", 5), 6, seed=2)  # another net, the same name

    @wb.sketch(inputs={"s": Token, "t": Token}, output=Domain("D5", 5))
    def two(s, t):
        first = a(s, name="first")
        return wb.choose(wb.hole("h", Bool), [first, b(t, name="second")])

    data = {"s": torch.zeros(4, 1), "t": torch.ones(4, 1)}
    with pytest.raises(SketchError, match="two different neural functions are named 'digit'") as err:
        wb.fit(two, (data, torch.zeros(4, dtype=torch.long)), config=wb.TrainConfig(restarts=1, steps=1))
    assert "'first'" in str(err.value) and "'second'" in str(err.value)
    with pytest.raises(SketchError, match="two different neural functions"):
        two.source({"h": 0})


def test_one_net_called_at_two_sites_is_fine():
    a = stub("digit", Domain("D5", 5), 6, seed=1)

    @wb.sketch(inputs={"s": Token, "t": Token}, output=Domain("D5", 5))
    def two(s, t):
        return wb.choose(wb.hole("h", Bool), [a(s), a(t)])

    assert two.discover({"s": torch.zeros(2, 1), "t": torch.ones(2, 1)}).neural == {"digit": a}


# -- 4. every length ---------------------------------------------------------------------------------------------
def _fold_sketch():
    """A fold over a tape: acc = f(acc, digit(cell)) with f chosen by a hole."""
    net = wb.NeuralFunction("digit", StubNet(torch.eye(10, dtype=torch.float64)).double(), input=Token, output=D)
    add = wb.mod_add(10, domain=D, name="plus")
    sub = wb.mod_sub(10, domain=D, name="minus")

    @wb.sketch(inputs={"tape": Seq(Token)}, output=D)
    def fold(tape):
        op = wb.hole("op", Domain.enum("FoldOp", ["PLUS", "MINUS", "KEEP"]))
        acc = wb.const(D, 0, name="acc@0")
        for t in range(len(tape)):
            x = net(tape[t], name=f"read@{t}")
            acc = wb.let(f"acc@{t + 1}", wb.choose(op, [add(acc, x), sub(acc, x), acc]))
        return acc

    return fold


def _tapes(n: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 10, (n, length, 1), generator=torch.Generator().manual_seed(seed)).double()


@pytest.mark.parametrize("length", [1, 3, 6, 50])
def test_a_program_read_out_at_one_length_is_right_at_every_length(length):
    sk = _fold_sketch()
    prog = Program(sk, {"op": 0}, lengths={"tape": 3})  # read out at the training length
    tapes = _tapes(8, length)
    want = (tapes[..., 0].long().sum(-1) % 10).tolist()
    assert prog.hard({"tape": tapes})["output"].tolist() == want
    assert [prog(tapes[b]) for b in range(8)] == want  # was: the answer for the first 3 symbols
    assert [prog.compile()(tapes[b]) for b in range(8)] == want


def test_the_source_guards_its_length_so_it_never_answers_wrong():
    sk = _fold_sketch()
    prog = Program(sk, {"op": 0}, lengths={"tape": 3})
    fn = prog.namespace()
    exec(compile(prog.source, "<fold>", "exec"), fn)  # the printed source, run by hand
    with pytest.raises(wb.DataError, match="length 3"):
        fn["fold"](_tapes(1, 6)[0])


def test_a_length_the_sketch_cannot_take_is_a_typed_error():
    from workbench.tasks import math_tape

    digit = wb.NeuralFunction("digit", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), input=wb.Image28,
                              output=math_tape.Digit)
    op = wb.NeuralFunction("op", nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), input=wb.Image28,
                           output=math_tape.Op)
    prog = Program(math_tape.make_sketch(digit, op), math_tape.intended_assignment(), lengths={"tape": 3})
    with pytest.raises(SketchError):
        prog.at(tape=0)


# -- 5. compact read-outs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [5, 50])
def test_a_loop_program_is_a_few_lines_at_any_length_and_runs(length):
    sk = _fold_sketch()
    tapes = _tapes(64, 4)
    targets = (tapes[..., 0].long().sum(-1) % 10)
    res = wb.fit(sk, ({"tape": tapes}, targets), config=wb.TrainConfig(restarts=2, steps=60, nets="frozen",
                                                                        validate_every=20, seed=0))
    assert res.program.assignment == {"op": 0}
    prog = res.program.at(tape=length)
    text = str(prog)
    assert len(text.splitlines()) <= 12, text
    assert "for i in range(" in text and "digit(tape[i])" in text
    long = _tapes(16, length, seed=3)
    want = (long[..., 0].long().sum(-1) % 10).tolist()
    assert [prog(long[b]) for b in range(16)] == want
    assert [res.program(long[b]) for b in range(16)] == want  # the trained program itself, at this length


def test_the_ir_listing_shows_one_node_a_line_and_the_loop():
    prog = Program(_fold_sketch(), {"op": 1}, lengths={"tape": 5})
    listing = prog.ir.tabular()
    lines = listing.splitlines()
    assert lines[0].split() == ["name", "op", "target", "args", "domain"]
    assert any(line.strip().startswith("for i in range(5)") for line in lines)
    assert any("neural" in line and "digit" in line and "tape[i]" in line for line in lines)
    assert any("fn" in line and "minus" in line for line in lines)
    (loop,) = prog.ir.loops
    assert isinstance(loop, Loop) and loop.count == 5
    assert all(isinstance(n, Node) for n in prog.ir.nodes)
    neural = [n for n in prog.ir.nodes if n.op == "neural"]
    assert neural[0].target is prog.neural["digit"] and neural[0].read == Read("tape", "tape")


def test_trivial_selections_fold():
    @wb.sketch(inputs={"x": D, "c": Bool}, output=D)
    def same(x, c):
        k = wb.hole("k", D)
        v = wb.mod_add(10, domain=D)(x, k)
        return wb.where(c, v, v)  # (v if c else v)

    assert Program(same, {"k": 3}).source == "def same(x, c):\n    return mod_add(x, 3)\n"


def test_same_text_of_different_domains_is_not_merged():
    small, big = Domain("Small", 3), Domain("Big", 9)

    @wb.sketch(inputs={"x": small}, output={"a": big, "b": Domain("Other", 9)})
    def two(x):
        return {"a": wb.cast(x, big), "b": wb.cast(wb.cast(x, Domain("Other", 9)), Domain("Other", 9))}

    g = two.graph({})
    assert g.outputs["a"] is g.outputs["b"]  # a widening cast is the same value: nothing to merge wrongly
    narrow = {"x": Domain("Wide", 9)}

    @wb.sketch(inputs=narrow, output={"p": Domain("P", 3), "q": Domain("Q", 3)})
    def casts(x):
        return {"p": wb.cast(x, Domain("P", 3)), "q": wb.cast(x, Domain("Q", 3))}

    g = casts.graph({})
    assert g.outputs["p"] is not g.outputs["q"] and {g.outputs["p"].domain.name, g.outputs["q"].domain.name} == {"P", "Q"}


def test_cells_print_as_coordinates():
    net = stub("cell", Domain("D5", 5), 6, seed=1)

    @wb.sketch(inputs={"grid": Grid(Token, 2, 3), "tape": Seq(Token, 4)}, output=Domain("D5", 5))
    def cells(grid, tape):
        first = net(grid[1, 2], name="first")
        return wb.choose(wb.hole("h", Bool), [first, net(tape[3], name="last")])

    src = Program(cells, {"h": 0}).source
    assert "cell(grid[1, 2])" in src and "_cell" not in src
    assert "cell(tape[3])" in Program(cells, {"h": 1}).source
    tr = cells.trace(None, {"grid": torch.zeros(1, 2, 3, 1), "tape": torch.zeros(1, 4, 1)}, assignment={"h": 0})
    assert tr["first"].reads == Read("grid", "grid", 3, cell=5) and str(tr["first"].reads) == "grid[1, 2]"
    assert tr["first"].reads.coords == (1, 2)


def test_soft_positions_read_as_structured_data():
    net = stub("cell", Domain("D5", 5), 6, seed=1)

    @wb.sketch(inputs={"grid": Grid(Token, 2, 2)}, output=Domain("D5", 5))
    def soft(grid):
        return net(grid[wb.hole("pos", Domain("Pos", 4))], name="read")

    tr = soft.trace(None, {"grid": torch.zeros(1, 2, 2, 1)}, assignment={"pos": 3})
    assert tr["read"].reads == Read("grid", "grid", 2, position="pos")
    assert Program(soft, {"pos": 3}).source == "def soft(grid):\n    return cell(grid[1, 1])\n"


def test_the_python_rendering_is_valid_source_everywhere():
    from _registry import CASES

    for case in CASES:
        sk = case.build(True)
        data = case.inputs(2, torch.Generator().manual_seed(0))
        info = sk.discover(data)
        for length in ((2, 3, 5) if "tape" in data else (None,)):
            lengths = {"tape": length} if length else {}
            prog = Program(sk, {k: 0 for k in info.holes}, lengths=lengths)
            ast.parse(prog.source)
            assert isinstance(prog.ir, Graph)


def test_run_is_the_public_way_to_compose_interpretations():
    sk = _fold_sketch()
    tapes = _tapes(3, 4)
    rec = TraceRecorder()
    outs = wb.run(sk, {"tape": tapes}, HardInterpreter({"op": 0}), rec)
    assert predictions(outs["output"].probs)[0].tolist() == (tapes[..., 0].long().sum(-1) % 10).tolist()
    assert [r.name for r in rec.records if r.kind == "neural"] == [f"read@{t}" for t in range(4)]
    with pytest.raises(SketchError, match="Handler"):
        wb.run(sk, {"tape": tapes}, object())
    with pytest.raises(SketchError, match="needs a Sketch"):
        wb.run(lambda tape: tape, {"tape": tapes}, HardInterpreter({}))


def test_halting_loops_roll_with_step_dependent_constants():
    net = stub("digit5", Domain("D5", 5), 6, seed=2, sharp=True)
    mod5 = wb.mod_add(5, domain=Domain("D5", 5), name="mod5")

    @wb.sketch(inputs={"tape": Seq(Token), "n": Domain("D5", 5)}, output=Domain("D5", 5))
    def loop(tape, n):
        init = wb.hole("init", Domain("Init", 2))
        acc = wb.choose(init, [wb.const(Domain("D5", 5), 0), wb.const(Domain("D5", 5), 1)], name="acc@0")
        h = Halting("halted")
        for t in range(len(tape)):
            h.halt_if(wb.is_(n, t), step=t)
            acc = wb.let(f"acc@{t + 1}", h.keep(acc, mod5(acc, net(tape[t], name=f"read@{t}"))))
        return acc

    prog = Program(loop, {"init": 1}, lengths={"tape": 4})
    assert "_is(n, i)" in prog.source and len(prog.source.splitlines()) <= 9
    tapes = torch.randint(0, 6, (20, 4, 1), generator=torch.Generator().manual_seed(1)).double()
    ns = torch.randint(0, 5, (20,), generator=torch.Generator().manual_seed(2))
    hard = prog.hard({"tape": tapes, "n": ns})["output"].tolist()
    assert [prog(tapes[b], int(ns[b])) for b in range(20)] == hard


def test_function_names_never_shadow_helpers_parameters_or_the_program():
    f = wb.FiniteFunction("_at", lambda a: (a + 1) % 10, inputs=(D,), output=D)
    g = wb.FiniteFunction("prog", lambda a: (a + 2) % 10, inputs=(D,), output=D)
    h = wb.FiniteFunction("x", lambda a: (a + 3) % 10, inputs=(D,), output=D)

    @wb.sketch(inputs={"x": D}, output=D)
    def prog(x):
        return h(g(f(x)))

    p = Program(prog, {})
    assert p(1) == 7 and "_at(" not in p.source and "prog(" not in p.source.splitlines()[1]
