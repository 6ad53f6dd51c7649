"""Executors without Ray: inline and local processes, sharded fits merged in global order, seeding by global
restart index, frozen records of stopped restarts, Ctrl-C, and the install hint when Ray is missing."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from executor_toys import net_job, program_job, same_restarts

from workbench.core.errors import ConfigError, MissingDependencyError
from workbench.executor import (
    InlineExecutor,
    ProcessExecutor,
    current,
    fit_sharded,
    make_executor,
    shard_configs,
    use,
)
from workbench.train import TrainConfig, fit

PROGRAM_CFG = TrainConfig(restarts=6, steps=120, batch_size=16, hole_lr=0.1, validate_every=20, seed=3)
NET_CFG = TrainConfig(restarts=4, steps=200, batch_size=32, hole_lr=0.05, net_lr=0.05, validate_every=50, seed=1,
                      net_init="reinit")


def _square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_inline_and_process_map_return_every_item_once():
    items = list(range(7))
    inline = InlineExecutor().map(_square, items)
    procs = ProcessExecutor(2).map(_square, items)
    assert [v for v, _ in inline.ordered()] == [i * i for i in items]
    assert [v for v, _ in procs.ordered()] == [i * i for i in items]
    assert {pid for _, pid in inline.ordered()} == {os.getpid()}
    worker_pids = {pid for _, pid in procs.ordered()}
    assert os.getpid() not in worker_pids and 1 <= len(worker_pids) <= 2


def _threads(_: int) -> int:
    return torch.get_num_threads()


def test_processes_run_one_torch_thread_each():
    assert ProcessExecutor(2).map(_threads, range(2)).ordered() == [1, 1]


def test_shard_configs_split_global_indices_contiguously():
    cfgs = shard_configs(TrainConfig(restarts=10, restart_offset=5), 3)
    assert [(c.restarts, c.restart_offset) for c in cfgs] == [(4, 5), (3, 9), (3, 12)]
    assert all(c.device == "cpu" for c in cfgs)
    assert [c.restarts for c in shard_configs(TrainConfig(restarts=2), 8)] == [1, 1]  # never an empty shard


def test_a_restart_is_seeded_by_its_global_index():
    sk, data = program_job()
    full = fit(sk, data, config=PROGRAM_CFG.replace(restarts=4))
    alone = fit(sk, data, config=PROGRAM_CFG.replace(restarts=1, restart_offset=2))
    assert alone.restarts[0].index == 2
    same_restarts(type(full)(**{**full.__dict__, "restarts": full.restarts[2:3]}), alone)
    torch.testing.assert_close(alone.hole_probs["op"][0], full.hole_probs["op"][2])


def test_a_restart_that_reached_the_target_stops_recording():
    sk, data = net_job()
    res = fit(sk, data, config=NET_CFG)
    stops = sorted({len(r.losses) for r in res.restarts})
    assert len(stops) > 1  # some restarts stopped earlier than others, yet each record is its own
    for r in res.restarts:
        assert len(r.losses) == r.val_steps[-1]
        assert r.val_accuracy[-1] >= NET_CFG.target_accuracy or r.val_steps[-1] == res.steps
        assert r.best_step == next(s for s, a in zip(r.val_steps, r.val_accuracy) if a == r.best_accuracy)


def test_patience_is_per_restart():
    sk, data = program_job(noise=0.3)
    cfg = PROGRAM_CFG.replace(restarts=4, patience=2, steps=400)
    res = fit(sk, data, config=cfg)
    for r in res.restarts:  # none reaches accuracy 1: each stopped 2 validations after its own best
        assert r.best_accuracy < 1
        assert r.val_steps[-1] == r.best_step + 2 * cfg.validate_every
    assert res.steps == max(r.val_steps[-1] for r in res.restarts) < cfg.steps


@pytest.mark.parametrize("job,cfg", [(program_job, PROGRAM_CFG), (net_job, NET_CFG)], ids=["program", "nets"])
def test_sharded_fit_equals_one_fit_inline_and_on_two_processes(job, cfg):
    sk, data = job()
    full = fit(sk, data, config=cfg)
    inline = fit_sharded(sk, data, config=cfg, executor=InlineExecutor(), shards=3)
    procs = fit_sharded(sk, data, config=cfg, executor=ProcessExecutor(2), shards=2)
    for merged in (inline, procs):
        same_restarts(full, merged)
        assert merged.program.assignment == full.program.assignment
        for k in full.hole_probs:
            torch.testing.assert_close(merged.hole_probs[k], full.hole_probs[k])
        assert [t for t, _ in merged.hole_history] == [t for t, _ in full.hole_history]
    assert [s["restarts"] for s in procs.shard_info] == [cfg.restarts // 2] * 2
    assert {s["pid"] for s in procs.shard_info}.isdisjoint({os.getpid()})
    if job is net_job:  # weights came back as tensors and were rebuilt into each restart's net by the driver
        x = torch.eye(5)
        for a, b in zip(full.restarts, procs.restarts):
            torch.testing.assert_close(a.neural["value"].module(x), b.neural["value"].module(x))


def test_judge_runs_in_the_driver_on_merged_programs():
    sk, data = program_job()
    seen = []

    def judge(p):
        seen.append(os.getpid())
        return p(1, 3) == 4 and p(4, 4) == 8

    res = fit_sharded(sk, data, config=PROGRAM_CFG, judge=judge, executor=ProcessExecutor(2), shards=2)
    assert seen == [os.getpid()] * PROGRAM_CFG.restarts
    assert res.restarts_correct == sum(r.assignment == res.best.assignment for r in res.restarts)


def test_shared_nets_cannot_be_split():
    sk, data = net_job()
    with pytest.raises(ConfigError, match="shared"):
        fit_sharded(sk, data, config=NET_CFG.replace(nets="shared"), executor=InlineExecutor(), shards=2)


def test_ctrl_c_keeps_the_shards_that_came_back():
    calls = []

    def job(i):
        calls.append(i)
        if i == 2:
            raise KeyboardInterrupt
        return i

    out = InlineExecutor().map(job, range(5))
    assert out.interrupted and out.results == {0: 0, 1: 1} and calls == [0, 1, 2]


def test_executor_context_and_factory():
    assert isinstance(current(), InlineExecutor)
    ex = make_executor("processes", workers=2)
    assert isinstance(ex, ProcessExecutor) and ex.workers == 2
    with use(ex):
        assert current() is ex
    assert isinstance(current(), InlineExecutor)
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("threads")
    with pytest.raises(Exception, match="GPU"):
        ProcessExecutor(1).map(_square, [1], resources={"num_gpus": 1})


def test_missing_ray_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "ntpt-workbench\[ray\]"'):
        make_executor(ray="local")


def test_reproduce_runs_the_experiment_under_the_chosen_executor(monkeypatch, tmp_path):
    import types

    from workbench import cli
    from workbench.reproduce import EXPERIMENTS, ExperimentResult

    seen = []

    def run(*, quick, seed, progress):
        ex = current()
        seen.append((ex.kind, ex.workers))
        return ExperimentResult(experiment="fake", ours={"t": 1.0}, paper={"t": None}, baselines={}, restarts=1,
                                restarts_correct=1, seeds=[seed], quick=quick)

    module = types.ModuleType("fake_exec_experiment")
    module.run = run
    monkeypatch.setitem(sys.modules, "fake_exec_experiment", module)
    monkeypatch.setitem(EXPERIMENTS, "fake", ("fake_exec_experiment", "a fake experiment"))
    assert cli.main(["reproduce", "fake", "--quick", "--out", str(tmp_path), "--executor", "processes",
                     "--workers", "2"]) == 0
    assert cli.main(["reproduce", "fake", "--quick", "--out", str(tmp_path)]) == 0
    assert seen == [("processes", 2), ("inline", 1)]
    assert "--executor=processes --workers=2" not in (tmp_path / "fake.json").read_text()  # the last run: inline


def test_lifelong_stages_shard_their_restarts_with_the_same_results(tmp_path):
    import workbench as wb
    from workbench import nets
    from workbench.core import Domain, NeuralFunction, TensorType
    from workbench.library import Library
    from workbench.lifelong import Schedule, Task, run_lifelong

    Vec4, Bit, Which = TensorType("Vec4", (4,)), Domain("Bit", 2), Domain("Which", 2)

    def make(neural):
        kw = {"in_shape": [4], "out": 2, "hidden": [8]}
        a = neural.get("a") or NeuralFunction("a", nets.build("mlp", **kw), input=Vec4, output=Bit, arch=("mlp", kw))

        @wb.sketch(inputs={"x": Vec4}, output=Bit, name="sign")
        def sign(x):
            return wb.choose(wb.hole("flip", Which), [a(x), a(x, name="again")])

        return sign

    def data(n, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 4, generator=g)
        return {"x": x}, (x[:, 0] > 0).long()

    tasks = [Task("sign", make, data(64, 0), data(32, 1), data(32, 2)),
             Task("sign2", make, data(64, 3), data(32, 4), data(32, 5), uses=("a",))]
    cfg = TrainConfig(restarts=4, steps=30, batch_size=16, validate_every=10, net_lr=1e-2)
    runs = {}
    for name, ex in (("inline", InlineExecutor()), ("processes", ProcessExecutor(2))):
        torch.manual_seed(0)
        with use(ex):
            runs[name] = run_lifelong(tasks, library=str(tmp_path / name), config=cfg, schedule=Schedule(steps=5))
    a, b = runs["inline"], runs["processes"]
    assert a.accuracy == b.accuracy
    assert [p.ref for p in a.published] == [p.ref for p in b.published] == ["a@1", "a@2"]
    assert [e.version for e in Library(str(tmp_path / "processes")).history("a")] == [1, 2]  # written by the driver
