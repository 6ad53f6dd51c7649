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


# -- the DFT-as-GEMM fast path (small convolutions as three matrix products) -----------------------
@pytest.mark.parametrize("overflow", ["drop", "clamp"])
@pytest.mark.parametrize("kind,offset", [("add", 0), ("sub", 0), ("sub", 9)])
@pytest.mark.parametrize("sizes", [(19, 19, 19), (10, 10, 19), (7, 4, 25), (3, 9, 5), (1, 1, 1)])
def test_dft_gemm_path_equals_table_to_float64_precision(sizes, kind, offset, overflow):
    a, b, o = sizes
    f = (wb.add(Int(a), Int(b), Int(o), overflow=overflow) if kind == "add"
         else wb.sub(Int(a), Int(b), Int(o), overflow=overflow, offset=offset))
    x, y = _dist(3, 1, a, seed=1), _dist(1, 2, b, seed=2)  # leading dims broadcast, as (R, B) against (1, B)
    gemm, table = f._soft_dft_gemm(x, y), f.soft(x, y, path="table")
    assert gemm.shape == table.shape == (3, 2, o)
    torch.testing.assert_close(gemm, table, atol=1e-13, rtol=0)


@pytest.mark.parametrize("m", [2, 5, 19, 64, 256])
@pytest.mark.parametrize("kind", ["add", "sub"])
def test_dft_gemm_modular_equals_table_and_fft(m, kind):
    f = wb.mod_add(m) if kind == "add" else wb.mod_sub(m)
    x, y = _dist(4, 3, m, seed=5), _dist(4, 3, m, seed=6)
    gemm = f._soft_dft_gemm(x, y)
    torch.testing.assert_close(gemm, f.soft(x, y, path="table"), atol=1e-13, rtol=0)
    torch.testing.assert_close(gemm, f._soft_fft(x, y), atol=1e-13, rtol=0)


def test_dft_gemm_gradients_equal_table_gradients():
    f = wb.add(Int(19), Int(19), Int(19), overflow="drop")
    x = _dist(2, 3, 19, seed=1).requires_grad_()
    y = _dist(2, 3, 19, seed=2).requires_grad_()
    w = torch.randn(2, 3, 19, generator=torch.Generator().manual_seed(3), dtype=F64)
    g_gemm = torch.autograd.grad((f._soft_dft_gemm(x, y) * w).sum(), (x, y))
    g_table = torch.autograd.grad((f.soft(x, y, path="table") * w).sum(), (x, y))
    for p, q in zip(g_gemm, g_table):
        torch.testing.assert_close(p, q, atol=1e-13, rtol=0)


def test_auto_path_picks_the_dft_gemm_for_large_tables_only(monkeypatch):
    from workbench.core import functions

    calls = []
    monkeypatch.setattr(functions.FiniteFunction, "_soft_dft_gemm",
                        lambda self, a, b: calls.append(self.name) or self._soft_table(a, b))
    big = wb.add(Int(19), Int(19), Int(19), name="big")  # 361 table rows, DFT length 37
    small = wb.add(Int(3), Int(3), Int(5), name="small")  # 9 rows: the table is cheaper
    big.soft(_dist(2, 19), _dist(2, 19))
    small.soft(_dist(2, 3), _dist(2, 3))
    assert calls == ["big"]


def test_one_hot_inputs_stay_one_hot_through_the_dft_gemm():
    f = wb.add(Int(10), Int(10), Int(19))
    x = torch.nn.functional.one_hot(torch.tensor([7, 0]), 10).to(F64)
    y = torch.nn.functional.one_hot(torch.tensor([5, 9]), 10).to(F64)
    out = f.soft(x, y)
    assert out.argmax(-1).tolist() == [12, 9]
    assert float(out.min()) >= 0 and float((out - torch.nn.functional.one_hot(torch.tensor([12, 9]), 19)).abs().max()) < 1e-14


@pytest.mark.parametrize("make", [lambda: wb.add(Int(19), Int(19), Int(19)), lambda: wb.sub(Int(12), Int(12), Int(23), offset=11),
                                  lambda: wb.mod_add(16), lambda: wb.add(Int(3), Int(3), Int(5))],
                         ids=["add19_gemm", "sub_gemm", "mod_add_gemm", "add3_table"])
def test_soft_on_same_values_equals_the_mixture_over_all_pairs(make):
    """``sum_ij wa_i wb_j f(v_i, v_j)`` with the diagonal pairs exact, against the n^2 pairs one by one."""
    f = make()
    k, n = f.inputs[0].size, 4
    stack = _dist(n, 2, 3, k, seed=11)  # n values, each (R=2, B=3, K)
    wa, wb_ = _dist(2, 1, n, seed=12), _dist(2, 1, n, seed=13)  # per-restart choice weights
    a = (wa.movedim(-1, 0).unsqueeze(-1) * stack).sum(0)
    b = (wb_.movedim(-1, 0).unsqueeze(-1) * stack).sum(0)
    w = (wa * wb_).movedim(-1, 0).unsqueeze(-1)
    got = f.soft_on_same_values(a, b, stack, w)
    want = torch.zeros_like(got)
    for i in range(n):
        for j in range(n):
            term = stack[i] @ f.diagonal_table(stack) if i == j else f.soft(stack[i], stack[j], path="table")
            want = want + wa[..., i:i + 1] * wb_[..., j:j + 1] * term
    torch.testing.assert_close(got, want, atol=1e-13, rtol=0)
