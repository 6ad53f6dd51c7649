"""ADD2x2 (Gaunt et al. 2017): a 2x2 grid of digit images, output the sum of one row or column.

The paper's straight-line sketch: a read head starts on the top-left cell; up to four lines, each
executing one instruction chosen by a hole (NOOP; MOVE_NORTH/EAST/SOUTH/WEST: move if possible,
then classify the cell under the head with the digit net; ADD(reg, reg)), each writing its own
immutable register; a final hole picks the register to return.
"""

from __future__ import annotations

from ..core import Domain, Grid, Image28, NeuralFunction, add, cast, choose, const, hole, let
from ..core.functions import FiniteFunction
from .perception import LabelPerception

Digit = Domain("Digit", 10)
Value19 = Domain("Int19", 19)  # registers hold 0..18 (sums of two digits)
Pos = Domain("Pos2x2", 4)  # flat head position r*2+c
INSTRUCTIONS = ("NOOP", "MOVE_NORTH", "MOVE_EAST", "MOVE_SOUTH", "MOVE_WEST", "ADD")
Instr = Domain.enum("Instr", INSTRUCTIONS)
LINES = 4
GRID = Grid(Image28, 2, 2)


def _move(dr: int, dc: int, name: str) -> FiniteFunction:
    def step(p: int) -> int:
        r, c = divmod(p, 2)
        r2, c2 = r + dr, c + dc
        return r2 * 2 + c2 if 0 <= r2 < 2 and 0 <= c2 < 2 else p  # move if possible

    return FiniteFunction(name, step, inputs=(Pos,), output=Pos)


MOVES = (_move(-1, 0, "move_north"), _move(0, 1, "move_east"), _move(1, 0, "move_south"), _move(0, -1, "move_west"))
ADD = add(Value19, Value19, Value19, name="add", overflow="drop")
Reg = [Domain(f"Reg{i}", i) for i in range(1, LINES + 1)]  # line i may read registers 0..i-1


def make_sketch(digit: NeuralFunction, *, lines: int = LINES, args: str = "previous"):
    """The ADD2x2 sketch over a given digit net (any ``Image28x28 -> Digit[10]`` function).

    ``args="previous"``: ADD on line i reads two of registers 0..i-1; ``"all"``: any register, an
    unwritten one reading 0.
    """
    from ..core import sketch

    @sketch(inputs={"grid": GRID}, output=Value19, name="add2x2")
    def add2x2(grid):
        pos = const(Pos, 0, name="pos@0")
        regs = []
        for i in range(lines):
            instr = hole(f"line{i}.instr", Instr)
            moved = [m(pos, name=f"line{i}.{m.name}") for m in MOVES]
            reads = [cast(digit(grid[p], name=f"line{i}.read_{m.name[5]}"), Value19, name=f"line{i}.val_{m.name[5]}")
                     for p, m in zip(moved, MOVES)]
            if args == "all":
                pool = regs + [const(Value19, 0, name=f"line{i}.unwritten{j}") for j in range(len(regs), lines)]
                a = choose(hole(f"line{i}.a", Reg[lines - 1]), pool, name=f"line{i}.arg_a")
                b = choose(hole(f"line{i}.b", Reg[lines - 1]), pool, name=f"line{i}.arg_b")
                summed = ADD(a, b, name=f"line{i}.sum")
            elif regs:
                a = choose(hole(f"line{i}.a", Reg[i - 1]), regs, name=f"line{i}.arg_a")
                b = choose(hole(f"line{i}.b", Reg[i - 1]), regs, name=f"line{i}.arg_b")
                summed = ADD(a, b, name=f"line{i}.sum")
            else:
                summed = const(Value19, 0, name=f"line{i}.sum")  # ADD with no registers yet: 0
            zero = const(Value19, 0, name=f"line{i}.zero")
            regs.append(let(f"R{i}", choose(instr, [zero, *reads, summed], name=f"line{i}.out")))
            pos = let(f"pos@{i + 1}", choose(instr, [pos, *moved, pos], name=f"line{i}.pos"))
        return choose(hole("return", Reg[lines - 1]), regs, name="result")

    return add2x2


# -- judging a read-out program by its meaning ------------------------------------------------------
def label_grids(rows: int = 2, cols: int = 2):
    """Every assignment of digits to the grid's cells, as (label-filled images, labels)."""
    import itertools

    import torch

    labels = torch.tensor(list(itertools.product(range(10), repeat=rows * cols)), dtype=torch.long)
    images = labels.view(-1, rows, cols, 1, 1).float().expand(-1, rows, cols, 28, 28)
    return images, labels.view(-1, rows, cols)


#: Perfect perception (the one reader of label images every task shares: workbench.tasks.perception)
PERCEPTION = LabelPerception()


def perfect_perception_accuracy(program, task: str = "top") -> float:
    """Accuracy of a read-out program over all 10^4 digit grids when perception is perfect.

    1.0 means the program is correct whatever its form (instruction order, argument order, a MOVE
    that re-reads a cell...); this is how a restart is judged, never by matching one canonical program.
    """
    from ..data.grids import cells_for

    images, labels = label_grids()
    target = labels.view(len(labels), -1)[:, list(cells_for(task))].sum(-1)
    pred = program.hard({"grid": images}, net_forward=PERCEPTION)["output"]
    return float((pred == target).float().mean())


# -- the intended solutions ---------------------------------------------------------------------------
#: The first two lines of an intended program for each task: the head starts on the top-left cell
#: (0); a MOVE that cannot move stays and reads the cell it is on.
_INTENDED_MOVES = {"top": ("MOVE_WEST", "MOVE_EAST"), "left": ("MOVE_NORTH", "MOVE_SOUTH"),
                   "bottom": ("MOVE_SOUTH", "MOVE_EAST"), "right": ("MOVE_EAST", "MOVE_SOUTH")}


def intended_assignment(task: str = "top") -> dict[str, int]:
    """A correct ADD2x2 program for ``task`` as a hole assignment (one of many correct ones):
    ``R0 = read(first cell); R1 = read(second cell); R2 = ADD(R0, R1); NOOP; return R2``."""
    from ..core.errors import DataError

    if task not in _INTENDED_MOVES:
        raise DataError(f"unknown ADD2x2 task {task!r}", hint=f"one of {', '.join(_INTENDED_MOVES)}")
    first, second = _INTENDED_MOVES[task]
    return {"line0.instr": INSTRUCTIONS.index(first), "line1.instr": INSTRUCTIONS.index(second),
            "line1.a": 0, "line1.b": 0, "line2.instr": INSTRUCTIONS.index("ADD"), "line2.a": 0, "line2.b": 1,
            "line3.instr": INSTRUCTIONS.index("NOOP"), "line3.a": 0, "line3.b": 0, "return": 2}


# -- the task protocol (workbench.tasks.protocol) -------------------------------------------------------
perception = PERCEPTION


def make_data(images, labels, *, n: int, task: str = "top", seed: int = 0, **kwargs):
    """ADD2x2 grids of MNIST images and the sum of ``task``'s two cells (workbench.data.make_grid_dataset)."""
    from ..data import make_grid_dataset

    return make_grid_dataset(images, labels, n=n, task=task, seed=seed, **kwargs)


def judge(program, task: str = "top") -> bool:
    """Correct on all 10^4 digit grids with perfect perception."""
    return perfect_perception_accuracy(program, task) == 1.0
