"""Small sketches and data for the executor tests (imported by them as ``executor_toys``)."""

from __future__ import annotations

import torch
from torch import nn

import workbench as wb
from workbench.core import Domain, TensorType

D5, D9 = Domain("Int5", 5), Domain("Int9", 9)
Op = Domain.enum("Op", ["ADD", "FIRST", "ZERO"])
add59 = wb.add(D5, D5, D9)
OneHot5 = TensorType("OneHot5", (5,))


def program_job(n: int = 300, *, noise: float = 0.0):
    """A pure program search (no nets): which register, which op; x + y is the answer (a fraction ``noise``
    of the labels replaced by random values, so that no program reaches accuracy 1)."""

    @wb.sketch(inputs={"x": D5, "y": D5}, output=D9)
    def prog(x, y):
        a = wb.choose(wb.hole("a", Domain("Reg2", 2)), [x, y], name="a_val")
        op = wb.hole("op", Op)
        return wb.choose(op, [add59(a, y), wb.cast(a, D9), wb.const(D9, 0)], name="out")

    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 5, (n,), generator=g), torch.randint(0, 5, (n,), generator=g)
    y_out = x + y
    if noise:
        flip = torch.rand(n, generator=g) < noise
        y_out = torch.where(flip, torch.randint(0, 9, (n,), generator=g), y_out)
    return prog, ({"x": x, "y": y}, y_out)


def net_job(n: int = 400):
    """A program over a per-restart 'perception' net learning a hidden code from sums only."""
    code = torch.tensor([3, 0, 4, 1, 2])
    g = torch.Generator().manual_seed(0)
    sa, sb = torch.randint(0, 5, (n,), generator=g), torch.randint(0, 5, (n,), generator=g)
    eye = torch.eye(5)
    torch.manual_seed(0)
    net = wb.NeuralFunction("value", nn.Linear(5, 5), input=OneHot5, output=D5)

    @wb.sketch(inputs={"a": OneHot5, "b": OneHot5}, output=D9)
    def sums(a, b):
        op = wb.hole("op", Op)
        va, vb = net(a, name="va"), net(b, name="vb")
        return wb.choose(op, [add59(va, vb), wb.cast(va, D9), wb.const(D9, 0)], name="out")

    return sums, ({"a": eye[sa], "b": eye[sb]}, code[sa] + code[sb])


def same_restarts(a, b, *, rel: float = 1e-5) -> None:
    """Per-restart records equal: indices, assignments, accuracies and best steps exactly, losses to ``rel``."""
    assert [r.index for r in a.restarts] == [r.index for r in b.restarts]
    for ra, rb in zip(a.restarts, b.restarts):
        assert ra.assignment == rb.assignment, ra.index
        assert ra.val_steps == rb.val_steps and ra.val_accuracy == rb.val_accuracy, ra.index
        assert (ra.best_accuracy, ra.best_step) == (rb.best_accuracy, rb.best_step), ra.index
        assert len(ra.losses) == len(rb.losses), ra.index
        torch.testing.assert_close(torch.tensor(ra.losses), torch.tensor(rb.losses), rtol=rel, atol=1e-7)


