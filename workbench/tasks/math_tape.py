"""MATH (Gaunt et al. 2017): a tape of handwritten symbols ``d op d op d ...`` evaluated left to right.

Arithmetic is modulo 19 with APPLY2x2's operators (division by zero gives 18). Digits are MNIST; the
operators are SYNTHETIC (see :mod:`workbench.data.operators`).

Sketch (a small register machine with a loop): ``BLOCKS`` blocks, each executing one instruction
chosen by a hole -- MOVE_DIGIT / MOVE_OP (advance the head, classify the new symbol with the digit or
the operator net) or APPLY(a, b, op) over registers -- writing a register chosen by a hole, followed by
GOTO_IF: if the head is past the end of the tape, halt; else jump to the block chosen by a hole. The
loop is unrolled for ``2 * len(tape)`` steps with soft halting; a final hole picks the returned register.
The intended program::

    block0: R0 = MOVE_DIGIT; goto block1
    block1: R1 = MOVE_OP;    goto block2     (a MOVE past the end halts: return R0)
    block2: R2 = MOVE_DIGIT; goto block3
    block3: R0 = APPLY(R0, R2, R1); goto block1
"""

from __future__ import annotations

import torch

from ..core import (
    Bool,
    Domain,
    FiniteFunction,
    Halting,
    Image28,
    NeuralFunction,
    Seq,
    and_,
    cast,
    choose,
    const,
    hole,
    is_,
    let,
    not_,
    sketch,
    where,
)
from ..core.errors import ConfigError, DataError
from .apply2x2 import APPLY, Int19, Op, apply_op
from .perception import LabelPerception

BLOCKS = 4
REGISTERS = 4
INSTRUCTIONS = ("MOVE_DIGIT", "MOVE_OP", "APPLY")
Instr = Domain.enum("MathInstr", INSTRUCTIONS)
Block = Domain("Block", BLOCKS)
Reg = Domain("Reg", REGISTERS)
Digit = Domain("Digit", 10)


#: the returned value if the program has halted, else no value (the mass leaves Int19: TerpreT's error bin)
IF_HALTED = FiniteFunction("if_halted", lambda halted, v: v if halted else Int19.size, inputs=(Bool, Int19),
                           output=Int19, overflow="drop")


def make_sketch(digit: NeuralFunction, op: NeuralFunction, *, steps_per_symbol: int = 2, unhalted: str = "keep",
                past_end: str = "reread"):
    """The MATH sketch over a digit net and an operator net; tapes of any (odd) length.

    ``unhalted``: what a program returns when it has not halted after the unrolled steps.
    ``"keep"``: the chosen register as it is then (the original sketch). ``"drop"``: no value, as in
    the paper's GOTO_IF semantics, where a program returns only when it halts: in soft execution the
    output keeps only the halted mass, ``P(halted) x P(register)``, so a program that loops without
    reading the tape (e.g. an APPLY block jumping to itself) no longer scores as if it had answered.

    ``past_end``: what a MOVE that runs past the end of the tape (and so halts) writes to its register.
    ``"reread"``: the last symbol again, classified by the move's net (the head is clamped; the original
    sketch). ``"nowrite"``: nothing. ``"zero"``: the value 0, as if it read a blank. Only the block the loop
    jumps to after its last APPLY makes such a move on a correct loop, and 2-digit tapes cannot tell where
    that jump goes (see ``docs/results/math.md`` for how each option fared).
    """
    if unhalted not in ("keep", "drop"):
        raise ConfigError(f"unhalted must be 'keep' or 'drop', not {unhalted!r}")
    if past_end not in ("reread", "nowrite", "zero"):
        raise ConfigError(f"past_end must be 'reread', 'nowrite' or 'zero', not {past_end!r}")

    @sketch(inputs={"tape": Seq(Image28)}, output=Int19, name="math")
    def math(tape):
        n = len(tape)
        head = Domain(f"Head{n + 2}", n + 2)  # 0: before the tape, 1..n: on symbol i-1, n+1: past the end
        cell = Domain(f"Cell{n}", n)
        advance = FiniteFunction("advance", lambda h: min(h + 1, n + 1), inputs=(head,), output=head)
        under = FiniteFunction("under", lambda h: min(max(h - 1, 0), n - 1), inputs=(head,), output=cell)
        blocks = [{k: hole(f"block{b}.{k}", d) for k, d in
                   (("instr", Instr), ("dest", Reg), ("a", Reg), ("b", Reg), ("op", Reg), ("goto", Block))}
                  for b in range(BLOCKS)]
        regs = [const(Int19, 0, name=f"R{k}@0") for k in range(REGISTERS)]
        h = const(head, 0, name="head@0")
        pc = const(Block, 0, name="pc@0")
        halting = Halting("halted")
        writes = const(Bool, 1, name="always")
        for t in range(steps_per_symbol * n):
            moved = advance(h, name=f"t{t}.moved")
            on_tape = writes if past_end == "reread" else not_(is_(moved, n + 1, name=f"t{t}.off"), name=f"t{t}.on_tape")
            pos = under(moved, name=f"t{t}.pos")
            d = cast(digit(tape[pos], name=f"t{t}.digit"), Int19, name=f"t{t}.digit_val")
            o = cast(op(tape[pos], name=f"t{t}.op"), Int19, name=f"t{t}.op_val")
            if past_end == "zero":
                blank = const(Int19, 0, name=f"t{t}.blank")
                d = where(on_tape, d, blank, name=f"t{t}.digit_read")
                o = where(on_tape, o, blank, name=f"t{t}.op_read")
            values, heads, enables = [], [], []
            for b, hb in enumerate(blocks):
                a = choose(hb["a"], regs, name=f"t{t}.b{b}.a")
                y = choose(hb["b"], regs, name=f"t{t}.b{b}.b")
                f = cast(choose(hb["op"], regs, name=f"t{t}.b{b}.op"), Op, name=f"t{t}.b{b}.opv")
                values.append(choose(hb["instr"], [d, o, APPLY(a, y, f, name=f"t{t}.b{b}.apply")],
                                     name=f"t{t}.b{b}.value"))
                heads.append(choose(hb["instr"], [moved, moved, h], name=f"t{t}.b{b}.head"))
                if past_end == "nowrite":
                    enables.append(choose(hb["instr"], [on_tape, on_tape, writes], name=f"t{t}.b{b}.writes"))
            value = choose(pc, values, name=f"t{t}.value")
            dest = choose(pc, [hb["dest"] for hb in blocks], name=f"t{t}.dest")
            targets = [is_(dest, k, name=f"t{t}.is_R{k}") for k in range(REGISTERS)]
            if past_end == "nowrite":
                enable = choose(pc, enables, name=f"t{t}.writes")
                targets = [and_(tk, enable, name=f"t{t}.write_R{k}") for k, tk in enumerate(targets)]
            new_regs = [where(targets[k], value, regs[k], name=f"t{t}.R{k}") for k in range(REGISTERS)]
            new_h = choose(pc, heads, name=f"t{t}.head")
            goto = choose(pc, [hb["goto"] for hb in blocks], name=f"t{t}.goto")
            regs = [let(f"R{k}@{t + 1}", halting.keep(regs[k], new_regs[k])) for k in range(REGISTERS)]
            h = let(f"head@{t + 1}", halting.keep(h, new_h))
            pc = let(f"pc@{t + 1}", halting.keep(pc, goto))
            halting.halt_if(is_(h, n + 1, name=f"t{t}.past_end"), step=t + 1)
        result = choose(hole("return", Reg), regs, name="result")
        if unhalted == "drop":
            result = IF_HALTED(halting.flag, result, name="returned")
        return result

    return math


INTENDED = {
    "block0.instr": 0, "block0.dest": 0, "block0.goto": 1,
    "block1.instr": 1, "block1.dest": 1, "block1.goto": 2,
    "block2.instr": 0, "block2.dest": 2, "block2.goto": 3,
    "block3.instr": 2, "block3.dest": 0, "block3.a": 0, "block3.b": 2, "block3.op": 1, "block3.goto": 1,
    "return": 0,
}


def intended_assignment() -> dict[str, int]:
    """The intended program, with every unused hole set to 0."""
    full = {f"block{b}.{k}": 0 for b in range(BLOCKS) for k in ("instr", "dest", "a", "b", "op", "goto")}
    return full | INTENDED


def describe(assignment: dict[str, int]) -> str:
    """The learned blocks as a short listing (the loop the unrolled read-out source implements)."""
    lines = []
    for b in range(BLOCKS):
        g = {k: int(assignment[f"block{b}.{k}"]) for k in ("instr", "dest", "a", "b", "op", "goto")}
        ins = INSTRUCTIONS[g["instr"]]
        rhs = f"APPLY(R{g['a']}, R{g['b']}, R{g['op']})" if ins == "APPLY" else ins
        lines.append(f"block{b}: R{g['dest']} = {rhs}; if past end: return R{int(assignment['return'])} "
                     f"else goto block{g['goto']}")
    return "\n".join(lines)


def evaluate(symbols: list[int]) -> int:
    """Left-to-right value of ``d op d op d ...`` (ops encoded 0..3), modulo 19."""
    acc = symbols[0]
    for i in range(1, len(symbols) - 1, 2):
        acc = apply_op(acc, symbols[i + 1], symbols[i])
    return acc


def random_expressions(n: int, digits: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` expressions of ``digits`` digits: (symbols ``(n, 2*digits-1)``: digit, op, digit..., values)."""
    if n <= 0 or digits < 1:
        raise DataError("random_expressions needs n > 0 and digits >= 1")
    g = torch.Generator().manual_seed(seed)
    sym = torch.empty(n, 2 * digits - 1, dtype=torch.long)
    sym[:, 0::2] = torch.randint(0, 10, (n, digits), generator=g)
    sym[:, 1::2] = torch.randint(0, 4, (n, digits - 1), generator=g)
    return sym, torch.tensor([evaluate(s.tolist()) for s in sym])


#: Perfect perception on label-filled 'images': pixel value = digit (0..9) or 10 + operator
#: (the one reader of label images every task shares: workbench.tasks.perception)
PERCEPTION = LabelPerception(by_size={4: 10})
perception_oracle = PERCEPTION.net_forward


def oracle_tapes(symbols: torch.Tensor) -> torch.Tensor:
    """Label-filled images for :func:`perception_oracle`: digits as themselves, operators as 10 + op."""
    enc = symbols.clone()
    enc[:, 1::2] += 10
    return enc.view(*enc.shape, 1, 1).float().expand(*enc.shape, 28, 28)


# -- what 2-digit data leaves open (workbench.ambiguity) --------------------------------------------------
OP_SIGNS = ("+", "-", "*", "/")


def show(symbols) -> str:
    """An expression as text, e.g. ``3 + 4 * 2`` (evaluated left to right, modulo 19)."""
    s = [int(v) for v in symbols]
    return " ".join(str(v) if i % 2 == 0 else OP_SIGNS[v] for i, v in enumerate(s))


def every_expression(digits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every expression of ``digits`` digits (10^d * 4^(d-1) of them): symbols and values."""
    import itertools

    rows = [[v for pair in zip(ds, ops + (0,)) for v in pair][:2 * digits - 1]
            for ds in itertools.product(range(10), repeat=digits) for ops in itertools.product(range(4), repeat=digits - 1)]
    sym = torch.tensor(rows)
    return sym, torch.tensor([evaluate(s.tolist()) for s in sym])


def probe(digits: int = 3, *, n: int = 400, seed: int = 0, fit_digits: int | None = 2, realise=None):
    """A :class:`workbench.ambiguity.Probe` of ``n`` random ``digits``-digit expressions read by perfect
    perception, labelled by their value (the task's generator of distinguishing inputs); ``fit``: every
    ``fit_digits``-digit expression (what "fits the training data" is judged on). ``realise(symbols)``
    turns chosen expressions into labelled training tapes (e.g. images; default: label-filled tapes)."""
    from ..ambiguity import Probe

    sym, val = random_expressions(n, digits, seed=seed)
    fit = None
    if fit_digits is not None:
        s2, v2 = every_expression(fit_digits)
        fit = Probe({"tape": oracle_tapes(s2)}, net_forward=perception_oracle, labels=v2,
                    name=f"every {fit_digits}-digit expression, perfect perception")

    def make(idx: torch.Tensor):
        chosen = sym[idx]
        if realise is not None:
            return realise(chosen)
        return {"tape": oracle_tapes(chosen)}, torch.tensor([evaluate(s.tolist()) for s in chosen])

    return Probe({"tape": oracle_tapes(sym)}, net_forward=perception_oracle, labels=val,
                 describe=lambda i: show(sym[i]), realise=make, fit=fit, name=f"{n} random {digits}-digit expressions")


# -- the task protocol (workbench.tasks.protocol) -------------------------------------------------------
perception = PERCEPTION


def make_data(n: int, digits: int, *, seed: int = 0):
    """``n`` random ``digits``-digit expressions as perfect-perception (label) tapes, and their values."""
    sym, val = random_expressions(n, digits, seed=seed)
    return {"tape": oracle_tapes(sym)}, val


def judge(program, digits: tuple[int, ...] = (2, 3, 8), *, n: int = 200, seed: int = 0) -> bool:
    """Right on ``n`` random expressions of each length in ``digits`` with perfect perception (the
    read-out program derives itself for each tape length)."""
    for i, d in enumerate(digits):
        inputs, values = make_data(n, d, seed=seed + i)
        out = program.hard(inputs, net_forward=PERCEPTION)["output"]
        if not bool((out == values).all()):
            return False
    return True
