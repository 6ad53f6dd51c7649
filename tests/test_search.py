"""Discrete moves (workbench.search): exact neighbour scores, escaping a planted local optimum, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.core import ConfigError, Domain
from workbench.search import neighbours, program_scores
from workbench.train import Examples, TrainConfig, fit

X, Sel = Domain("X5", 5), Domain("Sel6", 6)


def _rule(a: int, b: int, x: int) -> int:
    if a == 5 and b == 5:
        return x                      # the intended program: the identity
    if a < 5 and b < 5:
        return x if x < 3 else 0      # the decoy: right on x in {0, 1, 2} (60 % of the data)
    return X.size                     # half-way programs give no value (the mass leaves the domain)


F = wb.FiniteFunction("f", _rule, inputs=(Sel, Sel, X), output=X, overflow="drop")


@wb.sketch(inputs={"x": X}, output=X)
def planted(x):
    return F(wb.hole("a", Sel), wb.hole("b", Sel), x)


def _data(n: int = 400, seed: int = 0):
    x = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(seed))
    return {"x": x}, x.clone()


VAL = ({"x": torch.arange(5).repeat(20)}, torch.arange(5).repeat(20))
CFG = TrainConfig(restarts=16, steps=100, batch_size=32, hole_lr=0.5, validate_every=20, seed=0,
                  hole_init="dirichlet", dirichlet_alpha=0.1)


def test_exact_scores_are_the_data_likelihood_of_each_program():
    inputs, y = _data(50)
    programs = {"a": torch.tensor([5, 0, 5]), "b": torch.tensor([5, 1, 0])}
    s = program_scores(planted, programs, [Examples(inputs, {"output": y})], sizes={"a": 6, "b": 6})
    right = (inputs["x"] < 3).float().mean()
    assert float(s[0]) == pytest.approx(0.0, abs=1e-9)                         # identity: every example right
    assert float(s[1]) == pytest.approx(float(right * 0 + (1 - right) * np.log(1e-12)), rel=1e-6)  # decoy
    assert float(s[2]) == pytest.approx(float(np.log(1e-12)), rel=1e-6)        # half-way: no value anywhere


def test_neighbours_are_every_one_hole_change_plus_sampled_pairs():
    rng = np.random.default_rng(0)
    c = neighbours(np.array([1, 2]), [3, 4], rng, pairs=5)
    assert c.shape == (1 + 2 + 3 + 5, 2)
    assert (c[0] == [1, 2]).all()
    assert ((c[1:6] != [1, 2]).sum(1) == 1).all()       # one-hole changes
    assert ((c[6:] != [1, 2]).sum(1) == 2).all()        # two-hole changes


def test_gradient_falls_into_the_planted_local_optimum_and_moves_escape_it():
    grad = fit(planted, _data(), val=VAL, config=CFG)
    stuck = [r for r in grad.restarts if r.best_accuracy < 1.0]
    assert len(stuck) >= 2                                  # measured: 3 of 16 stay in the decoy
    for r in stuck:                                         # ... and they sit in the decoy, at 60 %
        assert r.best_accuracy == pytest.approx(0.6) and r.assignment["a"] < 5 and r.assignment["b"] < 5
    moved = fit(planted, _data(), val=VAL, config=CFG.replace(search="moves"))
    assert all(r.best_accuracy == 1.0 for r in moved.restarts)
    assert all(r.assignment == {"a": 5, "b": 5} for r in moved.restarts)
    assert moved.search.moves >= len(stuck) and moved.search.programs_scored > 0
    assert "discrete moves:" in moved.summary()
    assert grad.search is None                              # plain gradient descent stays available, unchanged


def test_stuck_and_duplicate_restarts_are_recycled():
    # one-hole moves only (no pairs): the decoy cannot be left by a single move, so restarts stay stuck
    # until recycled as mutations of a top restart (or fresh inits)
    cfg = CFG.replace(search="moves", moves_pairs=0, stuck_after=1, steps=200, validate_every=10)
    res = fit(planted, _data(), val=VAL, config=cfg)
    assert res.search.recycled_fresh + res.search.recycled_mutation >= 1
    assert any("mutation of restart" in e[2] or "fresh init" in e[2] for e in res.search.events)
    assert sum(r.best_accuracy == 1.0 for r in res.restarts) >= 14


def test_identical_seeds_give_identical_results():
    cfg = CFG.replace(search="moves", stuck_after=1, steps=60)
    a = fit(planted, _data(), val=VAL, config=cfg)
    b = fit(planted, _data(), val=VAL, config=cfg)
    assert [r.losses for r in a.restarts] == [r.losses for r in b.restarts]
    assert [r.assignment for r in a.restarts] == [r.assignment for r in b.restarts]
    assert a.search.events == b.search.events and a.search.programs_scored == b.search.programs_scored
    c = fit(planted, _data(), val=VAL, config=cfg.replace(seed=1))
    assert [r.losses for r in c.restarts] != [r.losses for r in a.restarts]


@pytest.mark.parametrize("bad", [{"search": "anneal"}, {"moves_every": 0}, {"stuck_after": 0},
                                 {"recycle_fresh": 1.5}, {"moves_examples": 0}, {"moves_pairs": -1}])
def test_search_options_are_checked(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)
