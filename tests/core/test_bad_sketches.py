"""Bad sketches a clumsy user writes: each gets a typed WorkbenchError naming the site, with a hint."""

from __future__ import annotations

import time

import pytest
import torch

import workbench as wb
from workbench.core import DataError, Domain, DomainError, Image28, SketchError, TrainingError

D = Domain("D", 4)


def _typed(exc: type, fn, site: str | None = "any"):
    with pytest.raises(exc) as err:
        fn()
    assert err.value.hint, str(err.value)
    if site != "any":
        assert err.value.site == site
    return err.value


def test_reading_a_register_before_writing_it():
    @wb.sketch(inputs={"x": D}, output=D)
    def regs(x):
        r = [None, x]  # R0 never written
        return wb.choose(wb.hole("h", Domain("Two", 2)), r, name="pick")

    e = _typed(SketchError, lambda: regs.discover({"x": torch.tensor([1])}), site="pick")
    assert "alternative 0" in str(e) and "wb.const" in e.hint


def test_recursion_in_a_sketch():
    @wb.sketch(inputs={"x": D}, output=D)
    def again(x):
        return again.fn(x)

    e = _typed(SketchError, lambda: again.discover({"x": torch.tensor([1])}))
    assert "recursed" in str(e) and "for" in e.hint


def test_an_integer_image():
    net = wb.NeuralFunction("n", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4)), input=Image28,
                            output=D)

    @wb.sketch(inputs={"img": Image28}, output=D)
    def read(img):
        return net(img)

    e = _typed(DataError, lambda: read.discover({"img": torch.zeros(2, 28, 28, dtype=torch.long)}), site="img")
    assert ".float()" in e.hint


@pytest.mark.parametrize("body, what", [(lambda a: None, "NoneType"), (lambda a: a / 2, "float"),
                                        (lambda a: "x", "str")])
def test_a_finite_function_that_returns_no_int(body, what):
    e = _typed(DomainError, lambda: wb.FiniteFunction("f", body, inputs=(D,), output=D), site="f")
    assert what in str(e)


def test_a_comparison_returning_a_bool_is_fine():
    f = wb.FiniteFunction("lt", lambda a, b: a < b, inputs=(D, D), output=wb.Bool)
    assert f.apply_int(1, 2) == 1 and f.apply_int(3, 2) == 0


def test_large_tables_are_vectorised_or_refused_quickly():
    big = Domain("Big", 2000)
    t = time.perf_counter()
    f = wb.FiniteFunction("parity", lambda a, b: (a + b) % 2, inputs=(big, big), output=wb.Bool)
    assert time.perf_counter() - t < 60  # one tensor call, not 4 million Python calls
    assert f.table.shape == (4_000_000, 2) and f.apply_int(3, 4) == 1
    assert torch.equal(f.table[3 * 2000 + 4], torch.tensor([0.0, 1.0], dtype=torch.float64))
    huge = Domain("Huge", 7000)
    _typed(DomainError, lambda: wb.FiniteFunction("big", lambda a, b: a * b % 7000, inputs=(huge, huge), output=huge),
           site="big")
    opaque = Domain("Opaque", 2100)
    e = _typed(DomainError, lambda: wb.FiniteFunction("slow", lambda a, b: min(a, b) % 2, inputs=(opaque, opaque),
                                                      output=wb.Bool), site="slow")
    assert "minutes" in str(e)


def test_vectorised_tabulation_keeps_the_overflow_policy():
    big = Domain("B", 100)
    small = Domain("S", 150)
    f = wb.FiniteFunction("sum", lambda a, b: a + b, inputs=(big, big), output=small, overflow="drop")
    assert f.table.sum() == sum(1 for a in range(100) for b in range(100) if a + b < 150)
    g = wb.FiniteFunction("sumc", lambda a, b: a + b, inputs=(big, big), output=small, overflow="clamp")
    assert g.table[99 * 100 + 99].argmax() == 149 and g.table.sum() == 10_000
    with pytest.raises(DomainError, match="outside its output domain"):
        wb.FiniteFunction("sume", lambda a, b: a + b, inputs=(big, big), output=small)


def test_a_hole_that_reaches_no_output():
    @wb.sketch(inputs={"x": D}, output=D)
    def unused(x):
        wb.hole("lost", D)
        return wb.mod_add(4, domain=D)(x, x)

    data = ({"x": torch.randint(0, 4, (40,))}, torch.zeros(40, dtype=torch.long))
    e = _typed(TrainingError, lambda: wb.fit(unused, data, config=wb.TrainConfig(restarts=1, steps=2)), site="lost")
    assert "nothing trainable reaches the outputs" in str(e)
