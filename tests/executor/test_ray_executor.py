"""Ray: a real 2-node cluster on 127.0.0.1 (see conftest.py): shards on both nodes, the same per-restart
results as inline, a worker killed mid-shard retried with every restart returned once, GPU requests placed."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from executor_toys import net_job, program_job, same_restarts

from workbench.executor import RayExecutor, fit_sharded, shard_configs
from workbench.train import TrainConfig, fit

pytestmark = pytest.mark.slow

CFG = TrainConfig(restarts=4, steps=200, batch_size=32, hole_lr=0.05, net_lr=0.05, validate_every=50, seed=1,
                  net_init="reinit")


def test_the_cluster_has_two_nodes_on_loopback(ray_cluster):
    import ray

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}


def test_sharded_fit_on_two_nodes_equals_inline(ray_cluster):
    sk, data = net_job()
    ex = RayExecutor()  # joins the session the fixture connected to
    assert ex.workers == 2 and not ex._owns
    ray_res = fit_sharded(sk, data, config=CFG, executor=ex, shards=2)
    full = fit(sk, data, config=CFG)
    same_restarts(full, ray_res)
    assert ray_res.program.assignment == full.program.assignment
    x = torch.eye(5)
    for a, b in zip(full.restarts, ray_res.restarts):  # nets came back as state dicts, rebuilt by the driver
        torch.testing.assert_close(a.neural["value"].module(x), b.neural["value"].module(x))
    assert len({s["node"] for s in ray_res.shard_info}) == 2  # one shard per node (one CPU each)
    assert {s["pid"] for s in ray_res.shard_info}.isdisjoint({os.getpid()})


def test_a_worker_killed_mid_shard_is_retried_and_every_restart_comes_back_once(ray_cluster, tmp_path):
    sk, data = program_job()
    cfg = TrainConfig(restarts=6, steps=120, batch_size=16, hole_lr=0.1, validate_every=20, seed=3)
    marker = str(tmp_path / "killed")

    def kill_once(d: dict) -> None:  # runs inside the worker at each validation of its shard
        if d["step"] == 20 and len(d["val_accuracy"]) == 2 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-shard

    shards = [c.restarts for c in shard_configs(cfg, 3)]
    assert shards == [2, 2, 2]
    res = fit_sharded(sk, data, config=cfg, executor=RayExecutor(max_retries=2), shards=3, on_validation=kill_once)
    assert os.path.exists(marker)  # a worker really died
    assert [r.index for r in res.restarts] == list(range(6))  # every restart exactly once, in global order
    same_restarts(fit(sk, data, config=cfg), res)


def test_a_shard_asking_for_a_gpu_is_placed_on_a_gpu_node(ray_cluster):
    def _gpu_ids(_: int):  # defined here: shipped by value (the workers cannot import test modules)
        import ray

        return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

    ex = RayExecutor()
    assert ex.remote_options({"num_gpus": 1}) == {"num_cpus": 1, "max_retries": 3, "num_gpus": 1}
    out = ex.map(_gpu_ids, [0], resources={"num_gpus": 1}).ordered()
    assert out[0][0] == [0] and out[0][1] == "0"  # Ray reserved the (logical) GPU of the second node
    # and fit_sharded turns a GPU request into shards that switch to cuda on their worker
    sk, data = program_job()
    from workbench.executor import _FitShard

    job = _FitShard(sk, data, None, None, device="cuda")
    assert job.device == "cuda" and all(c.device == "cpu" for c in shard_configs(CFG, 2))


def test_every_ray_process_listens_on_loopback_only(ray_cluster):
    psutil = pytest.importorskip("psutil")  # a dependency of ray

    pids = {p.pid for p in psutil.Process().children(recursive=True)}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listening) >= 4  # two raylets, the GCS, ... (the cluster's processes are this test's children)
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening
