"""The parts every training loop is built from (fit, lifelong's joint stages): the loss, the optimiser,
per-restart clipping and the learning-rate schedule of ``TrainConfig``."""

from __future__ import annotations

import pytest
import torch

from workbench.core import ConfigError, Domain, Value
from workbench.train import TrainConfig, apply_lr, clip_per_restart, lr_factor, make_optimizer, output_nll


def test_lr_schedule_is_piecewise_constant_and_checked():
    cfg = TrainConfig(lr_schedule=((10, 0.1), (20, 0.01)))
    assert [lr_factor(cfg, s) for s in (1, 9, 10, 19, 20, 500)] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    p = torch.nn.Parameter(torch.zeros(3))
    opt = make_optimizer(cfg.replace(optimizer="adam"), [{"params": [p], "lr": 0.5}])
    apply_lr(opt, cfg, 15)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    apply_lr(opt, cfg, 1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    for bad in (((10, 0.1), (5, 0.2)), ((0, 1.0),), ((3, -1.0),), [(3, 0.5)], ((3,),), ((True, 0.5),)):
        with pytest.raises(ConfigError, match="lr_schedule"):
            TrainConfig(lr_schedule=bad)


def test_output_nll_is_per_restart_and_sums_outputs():
    d = Domain("D", 3)
    probs = torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], [[1.0, 0.0, 0.0], [0.2, 0.2, 0.6]]])  # (R=2, B=2, K)
    outs = {"a": Value(probs, d, "a"), "b": Value(probs[:1], d, "b")}  # b broadcasts over restarts
    t = {"a": torch.tensor([0, 1]), "b": torch.tensor([1, 2])}
    got = output_nll(outs, t, 2)
    a = -(torch.log(probs[:, [0, 1], [0, 1]])).mean(-1)
    b = -(torch.log(torch.tensor([0.25, 0.1]))).mean()
    torch.testing.assert_close(got, a + b)


def test_clip_per_restart_clips_each_restart_alone():
    g = torch.nn.Parameter(torch.zeros(2, 2))
    g.grad = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    clip_per_restart([g], 2, 1.0)
    torch.testing.assert_close(g.grad.norm(dim=-1), torch.tensor([1.0, 0.5]), atol=1e-5, rtol=0)
