"""A registry of small sketches for the law tests, with stub neural functions (fixed tables).

``exact=True`` marks sketches whose data flow never lets one random variable reach an operation
along two paths: for those, the forward-marginal relaxation is exact and law (b) (marginals equal
brute-force enumeration over hole assignments and neural outcomes) must hold to 1e-6. Sketches with
re-convergent flow (``exact=False``) are mean-field approximations by design (TerpreT's FMGD);
they are checked by laws (a), (c), (d) and by a test that the gap is real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

import workbench as wb
from workbench.core import Bool, Domain, Grid, Halting, Seq, TensorType

Token = TensorType("Token", (1,))
D5 = Domain("Int5", 5)
D9 = Domain("Int9", 9)
Pos4 = Domain("Pos4", 4)
Op = Domain.enum("Op", ["ADD", "SUB", "FIRST"])


class StubNet(nn.Module):
    """Maps a token id (input ``(B, 1)``) to the logits of a fixed probability table row."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("log_table", torch.log(table.clamp_min(1e-300)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_table[x[:, 0].long()]


def stub(name: str, out: Domain, n_tokens: int, *, seed: int, sharp: bool = False) -> wb.NeuralFunction:
    g = torch.Generator().manual_seed(seed)
    table = torch.rand(n_tokens, out.size, generator=g, dtype=torch.float64) + 0.05
    table = table / table.sum(-1, keepdim=True)
    if sharp:
        table = nn.functional.one_hot(table.argmax(-1), out.size).double()
    return wb.NeuralFunction(name, StubNet(table).double(), input=Token, output=out)


add5 = wb.add(D5, D5, D9, name="add5")
mod5 = wb.mod_add(5, domain=D5, name="mod5")
sub5 = wb.FiniteFunction("sub5", lambda a, b: (a - b) % 5, inputs=(D5, D5), output=D5)
to_bool = wb.FiniteFunction("odd", lambda a: a % 2, inputs=(D5,), output=Bool)
inc = wb.FiniteFunction("inc", lambda a: min(a + 1, 4), inputs=(D5,), output=D5)
step_pos = wb.FiniteFunction("step_pos", lambda p: min(p + 1, 3), inputs=(Pos4,), output=Pos4)


@dataclass
class Case:
    name: str
    build: Callable[[bool], wb.Sketch]  # sharp stubs?
    inputs: Callable[[int, torch.Generator], dict[str, torch.Tensor]]
    exact: bool = True


def _ints(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, size, (n,), generator=g)


def _tokens(n: int, shape: tuple[int, ...], g: torch.Generator, n_tokens: int = 6) -> torch.Tensor:
    return torch.randint(0, n_tokens, (n, *shape, 1), generator=g).double()


def straight_line(sharp: bool) -> wb.Sketch:
    @wb.sketch(inputs={"x": D5, "y": D5}, output=D5)
    def straight(x, y):
        op = wb.hole("op", Op)
        return wb.choose(op, [mod5(x, y), sub5(x, y), x], name="out")

    return straight


def hole_registers(sharp: bool) -> wb.Sketch:
    @wb.sketch(inputs={"x": D5, "y": D5, "z": D5}, output=D9)
    def registers(x, y, z):
        a = wb.choose(wb.hole("a", Domain("Reg3", 3)), [x, y, z], name="a_val")
        b = wb.choose(wb.hole("b", Domain("Reg3", 3)), [x, y, z], name="b_val")
        return add5(a, b, name="sum")

    return registers


def soft_branch(sharp: bool) -> wb.Sketch:
    net = stub("parity_net", Bool, 6, seed=1, sharp=sharp)

    @wb.sketch(inputs={"t": Token, "x": D5}, output=D5)
    def branch(t, x):
        cond = net(t, name="cond")
        k = wb.hole("k", D5)
        return wb.where(cond, mod5(x, k), x, name="out")

    return branch


def halting_loop(sharp: bool) -> wb.Sketch:
    net = stub("digit5", D5, 6, seed=2, sharp=sharp)

    @wb.sketch(inputs={"tape": Seq(Token), "n": D5}, output=D5)
    def loop(tape, n):
        acc = wb.choose(wb.hole("init", Domain("Init", 2)), [wb.const(D5, 0), wb.const(D5, 1)], name="acc@0")
        h = Halting("halted")
        for t in range(len(tape)):
            h.halt_if(wb.is_(n, t), step=t)  # halts when t == n (deterministic in the input)
            acc = wb.let(f"acc@{t + 1}", h.keep(acc, mod5(acc, net(tape[t], name=f"read@{t}"))))
        return acc

    return loop


def random_halting_loop(sharp: bool) -> wb.Sketch:
    net = stub("digit5b", D5, 6, seed=3, sharp=sharp)
    end = stub("is_end", Bool, 6, seed=4, sharp=sharp)

    @wb.sketch(inputs={"tape": Seq(Token)}, output=D5)
    def rloop(tape):
        acc = wb.const(D5, 0, name="acc@0")
        h = Halting("halted")
        op = wb.hole("op", Domain.enum("LoopOp", ["ADD", "INC"]))
        for t in range(len(tape)):
            h.halt_if(end(tape[t], name=f"end@{t}"), step=t)
            new = wb.choose(op, [mod5(acc, net(tape[t], name=f"read@{t}")), inc(acc)], name=f"new@{t}")
            acc = wb.let(f"acc@{t + 1}", h.keep(acc, new))
        return acc

    return rloop


def soft_index(sharp: bool) -> wb.Sketch:
    net = stub("cellnet", D5, 6, seed=5, sharp=sharp)

    @wb.sketch(inputs={"grid": Grid(Token, 2, 2)}, output=D5)
    def index(grid):
        pos = wb.hole("pos", Pos4)
        return net(grid[pos], name="read")

    return index


def moved_index(sharp: bool) -> wb.Sketch:
    net = stub("cellnet2", D5, 6, seed=6, sharp=sharp)

    @wb.sketch(inputs={"grid": Grid(Token, 2, 2)}, output=D9)
    def moved(grid):
        start = wb.hole("start", Pos4)
        moved = wb.choose(wb.hole("move", Bool), [start, step_pos(start)], name="moved")
        other = wb.hole("other", Pos4)
        return add5(net(grid[moved], name="r1"), net(grid[other], name="r2"), name="sum")

    return moved


def stub_sum(sharp: bool) -> wb.Sketch:
    net = stub("tablenet", D5, 6, seed=7, sharp=sharp)

    @wb.sketch(inputs={"a": Token, "b": Token}, output=D9)
    def stub_add(a, b):
        first = net(a, name="na")
        second = wb.choose(wb.hole("second", Bool), [wb.const(D5, 0), net(b, name="nb")], name="second_val")
        return add5(first, second, name="sum")

    return stub_add


def multi_output(sharp: bool) -> wb.Sketch:
    net = stub("mnet", D5, 6, seed=8, sharp=sharp)

    @wb.sketch(inputs={"t": Token, "x": D5}, output={"sum": D9, "parity": Bool})
    def multi(t, x):
        v = net(t, name="v")
        w = wb.choose(wb.hole("w", Domain("Two", 2)), [x, wb.const(D5, 3)], name="w_val")
        return {"sum": add5(v, w, name="s"), "parity": to_bool(wb.choose(wb.hole("pick", Bool), [x, w]), name="p")}

    return multi


def mini_add2x2(sharp: bool) -> wb.Sketch:
    net = stub("mini_digit", D5, 6, seed=9, sharp=sharp)
    Instr = Domain.enum("MiniInstr", ["READ", "MOVE_READ"])

    @wb.sketch(inputs={"grid": Grid(Token, 1, 4)}, output=D9)
    def mini(grid):
        pos = wb.const(Pos4, 0, name="pos@0")
        regs = []
        for i in range(2):
            instr = wb.hole(f"line{i}.instr", Instr)
            moved = step_pos(pos, name=f"line{i}.moved")
            reads = [net(grid[pos], name=f"line{i}.here"), net(grid[moved], name=f"line{i}.there")]
            regs.append(wb.let(f"R{i}", wb.choose(instr, reads)))
            pos = wb.let(f"pos@{i + 1}", wb.choose(instr, [pos, moved]))
        return add5(regs[0], regs[1], name="sum")

    return mini


def shared_registers(sharp: bool) -> wb.Sketch:
    """Two arguments chosen from one register file: the pair (i, i) is one variable, not two draws."""
    net = stub("regnet", D5, 6, seed=10, sharp=sharp)

    @wb.sketch(inputs={"a": Token, "b": Token}, output=D9)
    def shared(a, b):
        regs = [net(a, name="r0"), net(b, name="r1"), wb.const(D5, 2, name="r2")]
        x = wb.choose(wb.hole("x", Domain("Reg3", 3)), regs, name="x_val")
        y = wb.choose(wb.hole("y", Domain("Reg3", 3)), regs, name="y_val")
        return add5(x, y, name="sum")

    return shared


CASES = [
    Case("straight_line", straight_line, lambda n, g: {"x": _ints(n, 5, g), "y": _ints(n, 5, g)}),
    Case("hole_registers", hole_registers, lambda n, g: {"x": _ints(n, 5, g), "y": _ints(n, 5, g), "z": _ints(n, 5, g)}),
    Case("soft_branch", soft_branch, lambda n, g: {"t": _tokens(n, (), g), "x": _ints(n, 5, g)}),
    Case("halting_loop", halting_loop, lambda n, g: {"tape": _tokens(n, (4,), g), "n": _ints(n, 5, g)}),
    Case("soft_index", soft_index, lambda n, g: {"grid": _tokens(n, (2, 2), g)}),
    Case("moved_index", moved_index, lambda n, g: {"grid": _tokens(n, (2, 2), g)}),
    Case("stub_sum", stub_sum, lambda n, g: {"a": _tokens(n, (), g), "b": _tokens(n, (), g)}),
    Case("multi_output", multi_output, lambda n, g: {"t": _tokens(n, (), g), "x": _ints(n, 5, g)}),
    Case("shared_registers", shared_registers, lambda n, g: {"a": _tokens(n, (), g), "b": _tokens(n, (), g)}),
    Case("random_halting_loop", random_halting_loop, lambda n, g: {"tape": _tokens(n, (3,), g)}, exact=False),
    Case("mini_add2x2", mini_add2x2, lambda n, g: {"grid": _tokens(n, (1, 4), g)}, exact=False),
]
