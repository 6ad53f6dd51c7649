"""Laws of the interpreters, checked on every sketch of the registry (tests/core/_registry.py).

(a) soft execution with one-hot holes (and sharp stub nets) equals hard execution;
(b) output marginals equal brute-force enumeration over all hole assignments and neural outcomes
    (float64, 1e-6) wherever the relaxation is exact;
(c) gradients of output marginals w.r.t. hole logits match finite differences;
(d) the read-out source, executed as plain Python, gives the hard execution's outputs.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from _registry import CASES, Case

import workbench as wb
from workbench.core.hard import HardInterpreter
from workbench.core.runtime import Message
from workbench.core.values import TensorRef, Value
from workbench.readout import Program, predictions

F64 = torch.float64
LENGTHS = (2, 3, 5)  # every sketch that takes a tape is checked at three lengths


def _takes_tape(case: Case) -> bool:
    return "tape" in case.inputs(1, torch.Generator().manual_seed(0))


def _expand(cases: list[Case]) -> list:
    return [pytest.param(c, L, id=f"{c.name}-len{L}") for c in cases for L in (LENGTHS if _takes_tape(c) else (None,))]


ALL = _expand(CASES)
EXACT = _expand([c for c in CASES if c.exact])


def _data(case: Case, n: int = 5, seed: int = 0, length: int | None = None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    data = case.inputs(n, g)
    if length is not None:
        data["tape"] = torch.randint(0, 6, (n, length, 1), generator=g).double()
    return data


def _random_logits(info, seed: int, restarts: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(restarts, d.size, generator=g, dtype=F64) for k, d in info.holes.items()}


class OracleInterpreter(HardInterpreter):
    """Hard execution where every neural site takes a given outcome, weighted by its probability."""

    def __init__(self, assignment, outcomes: dict[str, torch.Tensor]):
        super().__init__(assignment, dtype=F64)
        self.outcomes = outcomes
        self.weight: torch.Tensor | float = 1.0

    def _neural(self, msg: Message) -> None:
        nf, x = msg.args
        v = self.outcomes[msg.name]  # (E,) outcome per enumerated combination
        with torch.no_grad():
            if isinstance(x, TensorRef):
                dist = torch.softmax(nf.module(x.tensor.double()), -1).unsqueeze(0)  # (1, B, K)
            else:
                cells = x.cells.tensor
                b, n = cells.shape[:2]
                per = torch.softmax(nf.module(cells.reshape(b * n, *cells.shape[2:]).double()), -1).reshape(1, b, n, -1)
                dist = torch.einsum("rbn,rbnk->rbk", x.pos.probs, per.expand(x.pos.probs.shape[0], -1, -1, -1))
        w = dist.expand(v.shape[0], -1, -1).gather(-1, v.view(-1, 1, 1).expand(-1, dist.shape[1], 1)).squeeze(-1)
        self.weight = self.weight * w  # (E, B)
        msg.value = Value(torch.nn.functional.one_hot(v, nf.output.size).to(F64).unsqueeze(1), nf.output, msg.name)


def brute_force(sk, logits: dict[str, torch.Tensor], data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    info = sk.discover(data)
    trace = sk.trace(None, {k: v[:1] for k, v in data.items()}, assignment={k: 0 for k in info.holes})
    neural_sites = trace.names("neural")
    site_dom = {r.name: r.domain for r in trace if r.kind == "neural"}
    hole_names = list(info.holes)
    axes = [range(info.holes[h].size) for h in hole_names] + [range(site_dom[s].size) for s in neural_sites]
    combos = torch.tensor(list(itertools.product(*axes)), dtype=torch.long)  # (E, holes + sites)
    assignment = {h: combos[:, i] for i, h in enumerate(hole_names)}
    outcomes = {s: combos[:, len(hole_names) + j] for j, s in enumerate(neural_sites)}
    oracle = OracleInterpreter(assignment, outcomes)
    outs = wb.run(sk, data, oracle)
    prior = torch.ones(combos.shape[0], dtype=F64)
    for i, h in enumerate(hole_names):
        prior = prior * torch.softmax(logits[h][0], -1)[combos[:, i]]
    w = prior.view(-1, 1) * (oracle.weight if torch.is_tensor(oracle.weight) else torch.ones(1, 1, dtype=F64))
    e, b = combos.shape[0], next(iter(data.values())).shape[0]
    return {k: torch.einsum("eb,ebk->bk", w.expand(e, b), v.probs.expand(e, b, -1)) for k, v in outs.items()}


def test_registry_is_large_enough():
    assert len(CASES) >= 8
    assert sum(c.exact for c in CASES) >= 8


@pytest.mark.parametrize("case, length", ALL)
def test_a_soft_with_one_hot_holes_equals_hard(case: Case, length):
    sk = case.build(True)  # sharp (one-hot) stub tables
    data = _data(case, length=length)
    info = sk.discover(data)
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        assignment = {k: int(torch.randint(0, d.size, (1,), generator=g)) for k, d in info.holes.items()}
        one_hot = {k: torch.where(torch.arange(d.size) == assignment[k], 0.0, -1e9).to(F64).unsqueeze(0)
                   for k, d in info.holes.items()}
        soft = sk.soft(one_hot, data, dtype=F64)
        hard = sk.hard(assignment, data, dtype=F64)
        for k in soft:
            torch.testing.assert_close(soft[k].probs, hard[k].probs, atol=1e-9, rtol=0)


@pytest.mark.parametrize("case, length", EXACT)
def test_b_marginals_equal_brute_force_enumeration(case: Case, length):
    sk = case.build(False)  # soft stub tables
    data = _data(case, n=4, length=length)
    info = sk.discover(data)
    for seed in range(2):
        logits = _random_logits(info, seed)
        soft = sk.soft(logits, data, dtype=F64)
        oracle = brute_force(sk, logits, data)
        for k in soft:
            torch.testing.assert_close(soft[k].probs[0], oracle[k], atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", [c for c in CASES if not c.exact], ids=[c.name for c in CASES if not c.exact])
def test_b_mean_field_gap_is_real_on_reconvergent_sketches(case: Case):
    """Where one random variable reaches an operation along two paths, FMGD is an approximation:
    the soft marginals are still distributions (mass <= 1) but differ from the enumeration."""
    sk = case.build(False)
    data = _data(case, n=4)
    info = sk.discover(data)
    logits = _random_logits(info, 0)
    soft = sk.soft(logits, data, dtype=F64)
    oracle = brute_force(sk, logits, data)
    for k in soft:
        assert (soft[k].probs.sum(-1) <= 1 + 1e-9).all()
        assert (soft[k].probs[0] - oracle[k]).abs().max() > 1e-4


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_c_gradients_match_finite_differences(case: Case):
    sk = case.build(False)
    data = _data(case, n=3)
    info = sk.discover(data)
    names = list(info.holes)
    base = _random_logits(info, 3)
    weights = {k: torch.randn(3, d.size, generator=torch.Generator().manual_seed(9), dtype=F64)
               for k, d in sk.outputs.items()}

    def f(*flat):
        outs = sk.soft(dict(zip(names, flat)), data, dtype=F64)
        return sum((outs[k].probs[0] * weights[k]).sum() for k in outs)

    inputs = tuple(base[k].clone().requires_grad_(True) for k in names)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("case, length", ALL)
def test_d_readout_source_round_trips(case: Case, length):
    sk = case.build(False)
    data = _data(case, n=6, seed=4, length=length)
    info = sk.discover(data)
    lengths = {k: v.shape[1] for k, v in data.items() if k == "tape"}
    g = torch.Generator().manual_seed(2)
    for _ in range(5):
        assignment = {k: int(torch.randint(0, d.size, (1,), generator=g)) for k, d in info.holes.items()}
        prog = Program(sk, assignment, lengths=lengths)
        compile(prog.source, "<test>", "exec")
        assert prog.source.startswith(f"def {sk.name}(")
        hard = {k: predictions(v.probs)[0] for k, v in sk.hard(assignment, data, dtype=F64).items()}
        fn = prog.compile()
        # read out at another length, then called on these tapes: re-derived, never a wrong answer
        elsewhere = Program(sk, assignment, lengths={"tape": 4}).compile() if lengths else fn
        for b in range(6):
            args = {k: v[b] if v.is_floating_point() else int(v[b]) for k, v in data.items()}
            other = elsewhere(**args)
            other = {"output": other} if sk.single else other
            for k, v in other.items():
                assert (-1 if v is None else v) == int(hard[k][b]), (k, b)
            out = fn(**{k: v[b] if v.is_floating_point() else int(v[b]) for k, v in data.items()})
            outs = {"output": out} if sk.single else out
            for k, v in outs.items():
                assert (-1 if v is None else v) == int(hard[k][b]), (prog.source, k, b)
