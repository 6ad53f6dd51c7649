"""APPLY2x2 (Gaunt et al. 2017): a 2x2 grid of handwritten operators and three given integers.

Output ``((d1 op1 d2) op2 d3)`` where ``(op1, op2)`` are read along the top row, left column, bottom
row or right column; arithmetic is modulo 19 and division by zero gives 18. The operator images are
SYNTHETIC (see :mod:`workbench.data.operators`).

Sketch: the read head starts on the top-left cell; four straight-line lines, each executing NOOP,
MOVE_NORTH/EAST/SOUTH/WEST (move if possible, then classify the operator under the head) or
APPLY(a, b, op) with ``a``, ``b`` chosen among d1, d2, d3 and earlier registers and ``op`` among earlier
registers; a final hole picks the returned register.
"""

from __future__ import annotations

import itertools

import torch

from ..core import Domain, Grid, Image28, NeuralFunction, cast, choose, const, hole, let, sketch
from ..core.errors import DataError
from ..core.functions import FiniteFunction
from .add2x2 import MOVES, Pos
from .perception import LabelPerception

Op = Domain.enum("Op", ["+", "-", "x", "/"])
Int19 = Domain("Int19", 19)
Given = Domain("Int10", 10)  # d1, d2, d3 in 0..9
INSTRUCTIONS = ("NOOP", "MOVE_NORTH", "MOVE_EAST", "MOVE_SOUTH", "MOVE_WEST", "APPLY")
Instr = Domain.enum("ApplyInstr", INSTRUCTIONS)
LINES = 4
GRID = Grid(Image28, 2, 2)
TASK_CELLS = {"top": (0, 1), "left": (0, 2), "bottom": (2, 3), "right": (1, 3)}


def apply_op(a: int, b: int, op: int) -> int:
    """``a op b`` modulo 19; division is multiplication by the inverse, division by zero gives 18."""
    if op == 0:
        return (a + b) % 19
    if op == 1:
        return (a - b) % 19
    if op == 2:
        return (a * b) % 19
    return 18 if b % 19 == 0 else (a * pow(b, -1, 19)) % 19


APPLY = FiniteFunction("apply", apply_op, inputs=(Int19, Int19, Op), output=Int19)


def make_sketch(opnet: NeuralFunction, *, lines: int = LINES):
    """The APPLY2x2 sketch over an operator net (``Image28x28 -> Op[4]``)."""

    @sketch(inputs={"grid": GRID, "d1": Given, "d2": Given, "d3": Given}, output=Int19, name="apply2x2")
    def apply2x2(grid, d1, d2, d3):
        given = [cast(d, Int19, name=f"given{i + 1}") for i, d in enumerate((d1, d2, d3))]
        pos = const(Pos, 0, name="pos@0")
        regs: list = []
        for i in range(lines):
            instr = hole(f"line{i}.instr", Instr)
            moved = [m(pos, name=f"line{i}.{m.name}") for m in MOVES]
            reads = [cast(opnet(grid[p], name=f"line{i}.read_{m.name[5]}"), Int19, name=f"line{i}.val_{m.name[5]}")
                     for p, m in zip(moved, MOVES)]
            pool = given + regs
            arg = Domain(f"Arg{len(pool)}", len(pool))
            a = choose(hole(f"line{i}.a", arg), pool, name=f"line{i}.arg_a")
            b = choose(hole(f"line{i}.b", arg), pool, name=f"line{i}.arg_b")
            if regs:
                op = cast(choose(hole(f"line{i}.op", Domain(f"Reg{len(regs)}", len(regs))), regs, name=f"line{i}.arg_op"),
                          Op, name=f"line{i}.op_val")  # registers holding operators hold 0..3
                applied = APPLY(a, b, op, name=f"line{i}.apply")
            else:
                applied = const(Int19, 0, name=f"line{i}.apply")  # no operator register yet
            zero = const(Int19, 0, name=f"line{i}.zero")
            regs.append(let(f"R{i}", choose(instr, [zero, *reads, applied], name=f"line{i}.out")))
            pos = let(f"pos@{i + 1}", choose(instr, [pos, *moved, pos], name=f"line{i}.pos"))
        return choose(hole("return", Domain(f"Reg{lines}", lines)), regs, name="result")

    return apply2x2


def intended_assignment(task: str = "top") -> dict[str, int]:
    """A correct program for ``task``: read op1 and op2, then APPLY twice."""
    first, second = TASK_CELLS[task]
    # instruction that moves the head from one cell to the next (MOVE_NORTH at the top row re-reads)
    moves = {(0, 0): 1, (0, 1): 2, (0, 2): 3, (1, 3): 3, (2, 3): 2}
    a = {f"line{i}.{k}": 0 for i in range(LINES) for k in ("a", "b")}
    a.update({f"line{i}.op": 0 for i in range(1, LINES)})
    a.update({"line0.instr": moves[(0, first)], "line1.instr": moves[(first, second)],
              "line2.instr": 5, "line2.a": 0, "line2.b": 1, "line2.op": 0,
              "line3.instr": 5, "line3.a": 5, "line3.b": 2, "line3.op": 1, "return": 3})
    # line2: APPLY(d1, d2, R0); line3: APPLY(R2, d3, R1) -- pool = (d1, d2, d3, R0, R1, R2)
    return a


def make_dataset(op_images: torch.Tensor, op_labels: torch.Tensor, *, n: int, task: str = "top", seed: int = 0,
                 distinct: int | None = None) -> dict:
    """``n`` instances: operator grids (normalised), d1..d3, target; ``cell_labels`` for evaluation only."""
    from ..data.embedded import normalize

    if task not in TASK_CELLS:
        raise DataError(f"unknown APPLY2x2 task {task!r}", hint=f"one of {sorted(TASK_CELLS)}")
    if n <= 0 or len(op_images) == 0:
        raise DataError("APPLY2x2 needs n > 0 and a non-empty set of operator images")
    g = torch.Generator().manual_seed(seed)
    pool = distinct or n
    idx = torch.randint(0, len(op_images), (pool, 4), generator=g)
    ds = torch.randint(0, 10, (pool, 3), generator=g)
    pick = torch.randint(0, pool, (n,), generator=g) if distinct else torch.arange(n)
    idx, ds = idx[pick], ds[pick]
    labels = op_labels[idx]  # (n, 4)
    c1, c2 = TASK_CELLS[task]
    target = torch.tensor([apply_op(apply_op(int(d[0]), int(d[1]), int(lab[c1])), int(d[2]), int(lab[c2]))
                           for d, lab in zip(ds, labels)])
    return {"inputs": {"grid": normalize(op_images[idx]).view(n, 2, 2, 28, 28), "d1": ds[:, 0], "d2": ds[:, 1],
                       "d3": ds[:, 2]}, "targets": target, "cell_labels": labels.view(n, 2, 2)}


#: Perfect perception (the one reader of label images every task shares: workbench.tasks.perception)
PERCEPTION = LabelPerception()


def perfect_perception_accuracy(program, task: str = "top", *, triples: int = 30, seed: int = 0) -> float:
    """Accuracy with perfect perception over every operator grid (4^4) crossed with ``triples`` seeded
    (d1, d2, d3), always including d2 = 0 and d3 = 0 (division by zero)."""
    g = torch.Generator().manual_seed(seed)
    ops = torch.tensor(list(itertools.product(range(4), repeat=4)))
    ds = torch.randint(0, 10, (triples, 3), generator=g)
    ds[0, 1], ds[1, 2] = 0, 0
    o, d = ops.repeat_interleave(len(ds), 0), ds.repeat(len(ops), 1)
    c1, c2 = TASK_CELLS[task]
    target = torch.tensor([apply_op(apply_op(int(x[0]), int(x[1]), int(y[c1])), int(x[2]), int(y[c2]))
                           for x, y in zip(d, o)])
    right = 0
    for lo in range(0, len(o), 4096):
        sl = slice(lo, lo + 4096)
        images = o[sl].view(-1, 2, 2, 1, 1).float().expand(-1, 2, 2, 28, 28)
        pred = program.hard({"grid": images, "d1": d[sl, 0], "d2": d[sl, 1], "d3": d[sl, 2]},
                            net_forward=PERCEPTION)["output"]
        right += int((pred == target[sl]).sum())
    return right / len(o)


# -- the task protocol (workbench.tasks.protocol) -------------------------------------------------------
perception = PERCEPTION
make_data = make_dataset


def judge(program, task: str = "top") -> bool:
    """Correct on every operator grid (with division by zero) with perfect perception."""
    return perfect_perception_accuracy(program, task) == 1.0
