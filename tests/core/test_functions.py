"""Finite-domain functions: the generic table path and the fast (convolution) paths agree."""

from __future__ import annotations

import pytest
import torch

import workbench as wb
from workbench.core import DomainError, Int

F64 = torch.float64


def _dist(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*shape, generator=g, dtype=F64) * 2, -1)


@pytest.mark.parametrize("overflow", ["drop", "clamp"])
@pytest.mark.parametrize("sizes", [(10, 10, 19), (10, 10, 12), (7, 4, 25), (3, 9, 5)])
def test_add_fast_path_equals_table(sizes, overflow):
    a, b, o = sizes
    f = wb.add(Int(a), Int(b), Int(o), overflow=overflow)
    x, y = _dist(3, 2, a, seed=1), _dist(3, 2, b, seed=2)
    torch.testing.assert_close(f.soft(x, y, path="fast"), f.soft(x, y, path="table"), atol=1e-12, rtol=0)


@pytest.mark.parametrize("offset", [0, 4, 9])
def test_sub_fast_path_equals_table(offset):
    f = wb.sub(Int(10), Int(10), Int(19), offset=offset, overflow="drop")
    x, y = _dist(5, 10, seed=3), _dist(1, 10, seed=4)
    torch.testing.assert_close(f.soft(x, y, path="fast"), f.soft(x, y, path="table"), atol=1e-12, rtol=0)


@pytest.mark.parametrize("m", [2, 5, 19, 64])
@pytest.mark.parametrize("kind", ["add", "sub"])
def test_modular_fast_path_equals_table(m, kind):
    f = wb.mod_add(m) if kind == "add" else wb.mod_sub(m)
    x, y = _dist(4, 3, m, seed=5), _dist(4, 3, m, seed=6)
    fast, table = f.soft(x, y, path="fast"), f.soft(x, y, path="table")
    torch.testing.assert_close(fast, table, atol=1e-12, rtol=0)
    torch.testing.assert_close(fast.sum(-1), torch.ones(4, 3, dtype=F64))


def test_large_modulus_uses_fast_path_without_a_table():
    f = wb.mod_add(1000, tabulate=False)
    x = torch.zeros(1, 1000, dtype=F64)
    y = torch.zeros(1, 1000, dtype=F64)
    x[0, 998], y[0, 5] = 1.0, 1.0
    out = f.soft(x, y)
    assert int(out.argmax()) == 3 and abs(float(out.sum()) - 1) < 1e-9
    with pytest.raises(DomainError):
        _ = f.table


def test_table_values_are_the_python_function():
    f = wb.FiniteFunction("maxf", max, inputs=(Int(4), Int(4)), output=Int(4))
    x = torch.nn.functional.one_hot(torch.tensor([3]), 4).double()
    y = torch.nn.functional.one_hot(torch.tensor([1]), 4).double()
    assert int(f.soft(x, y).argmax()) == 3


def test_overflow_error_at_declaration_names_function_and_inputs():
    with pytest.raises(DomainError) as e:
        wb.FiniteFunction("plus", lambda a, b: a + b, inputs=(Int(3), Int(3)), output=Int(3))
    assert "plus" in str(e.value) and "(1, 2)" in str(e.value) and "overflow" in str(e.value)


def test_drop_loses_mass_and_clamp_keeps_it():
    x = _dist(1, 5, seed=7)
    drop = wb.add(Int(5), Int(5), Int(5), overflow="drop").soft(x, x)
    clamp = wb.add(Int(5), Int(5), Int(5), overflow="clamp").soft(x, x)
    assert float(drop.sum()) < 1 - 1e-3
    assert abs(float(clamp.sum()) - 1) < 1e-9


def test_one_argument_and_three_argument_functions():
    f3 = wb.FiniteFunction("med", lambda a, b, c: sorted((a, b, c))[1], inputs=(Int(3),) * 3, output=Int(3))
    x, y, z = _dist(2, 3, seed=1), _dist(2, 3, seed=2), _dist(2, 3, seed=3)
    brute = torch.zeros(2, 3, dtype=F64)
    for i in range(3):
        for j in range(3):
            for k in range(3):
                brute[:, sorted((i, j, k))[1]] += x[:, i] * y[:, j] * z[:, k]
    torch.testing.assert_close(f3.soft(x, y, z), brute)
