"""Provenance by default, versions you can pick, duplicate weights refused (library API + server service)."""

from __future__ import annotations

import json

import pytest
import torch

import workbench as wb
from workbench import nets
from workbench.core.domains import Domain, TensorType
from workbench.core.neural import NeuralFunction
from workbench.library import DuplicateWeights, Library
from workbench.lifelong import Schedule, Task, run_lifelong
from workbench.provenance import training_state
from workbench.server import service
from workbench.train import TrainConfig, fit

Vec4, Bit, Which = TensorType("Vec4", (4,)), Domain("Bit", 2), Domain("Which", 2)


def _net(name: str = "a") -> NeuralFunction:
    kwargs = {"in_shape": [4], "out": 2, "hidden": [8]}
    return NeuralFunction(name, nets.build("mlp", **kwargs), input=Vec4, output=Bit, arch=("mlp", kwargs))


def _data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return {"x": x}, (x[:, 0] > 0).long()


def _sign(neural):
    a = neural.get("a") or _net("a")

    @wb.sketch(inputs={"x": Vec4}, output=Bit, name="sign")
    def sign(x):
        return wb.choose(wb.hole("flip", Which), [a(x), a(x, name="again")])

    return sign


CFG = TrainConfig(restarts=2, steps=30, batch_size=32, validate_every=15, val_size=32, net_lr=0.01, seed=0)


def _manifest(lib: Library, name: str, version: int) -> dict:
    with open(lib._store.path(name, f"{version:06d}", "manifest.json")) as f:
        return json.loads(f.read())


def test_an_entry_published_from_a_fit_result_carries_its_run(tmp_path):
    torch.manual_seed(0)
    sketch = _sign({})
    result = fit(sketch, _data(64, 0), val=_data(32, 1), config=CFG)
    lib = Library(tmp_path / "lib")
    trained = result.best.neural["a"]
    ev = lib.publish(trained)  # nothing else given: all of it comes from the run
    m = _manifest(lib, "a", ev.version)
    prov = m["provenance"]
    assert prov["task"] == "sign"
    assert prov["dataset"] == "64 training examples, 32 validation examples"
    run = prov["run"]
    assert run["source"] == "fit" and run["trained"] == "trained"
    assert run["config"]["restarts"] == 2 and run["config"]["steps"] == 30 and run["config"]["net_lr"] == 0.01
    assert run["steps"] == result.steps and run["restart"] == result.best.index
    assert m["metrics"]["program_val_accuracy"] == pytest.approx(result.best.best_accuracy)
    assert m["metrics"]["final_loss"] == pytest.approx(result.best.final_loss)
    assert prov["parent"] is None
    # trained further and published again: the parent is recorded, identical weights are refused
    again = lib.load("a")
    with pytest.raises(DuplicateWeights, match="already has these weights as a@1") as info:
        lib.publish(again, allow_duplicate=False)
    assert info.value.existing == "a@1" and "version=1" in info.value.hint
    with torch.no_grad():
        next(again.module.parameters()).add_(0.1)
    ev2 = lib.publish(again, allow_duplicate=False, run=result)
    m2 = _manifest(lib, "a", ev2.version)
    assert m2["provenance"]["parent"] == 1 and m2["provenance"]["run"]["source"] == "fit"
    assert lib.info("a", 2).run["trained"] == "trained"


def test_an_entry_published_by_lifelong_carries_task_data_config_parent_and_metrics(tmp_path):
    lib = Library(str(tmp_path))
    lib.publish(_net("a"), task="pretraining")
    task = Task("sign", _sign, _data(64, 0), _data(32, 1), _data(32, 2), uses=("a",))
    run_lifelong([task], library=lib, config=CFG, schedule=Schedule(steps=5))
    ev = lib.info("a", 2)
    assert ev.task == "sign" and ev.parent == 1
    assert "sign: 64 training examples" in (ev.dataset or "")
    assert set(ev.metrics) == {"sign.test_accuracy"} and 0 <= ev.metrics["sign.test_accuracy"] <= 1
    assert ev.run["source"] == "lifelong" and ev.run["config"]["restarts"] == 2 and ev.run["stage"] == 1
    assert ev.run["steps"] >= 30 and ev.run["seconds"] > 0


def test_training_state_tells_untrained_trained_and_unchanged_apart(tmp_path):
    fn = _net()
    assert training_state(fn) == "untrained"
    lib = Library(tmp_path)
    assert lib.publish(fn).run["trained"] == "untrained"
    assert training_state(fn) == "unchanged"  # as just published
    loaded = lib.load("a")
    assert training_state(loaded) == "unchanged"
    with torch.no_grad():
        next(loaded.module.parameters()).mul_(2)
    assert training_state(loaded) == "trained"


def test_pin_and_deprecate_change_what_load_returns(tmp_path):
    lib = Library(tmp_path)
    fns = []
    for k in range(3):
        torch.manual_seed(k)
        fns.append(_net())
        lib.publish(fns[-1])
    first = [p.clone() for p in fns[0].module.parameters()]
    assert lib.current("a") == 3
    assert lib.pin("a", 1) == 1
    assert all(torch.equal(p, q) for p, q in zip(lib.load("a").module.parameters(), first))
    assert json.loads((tmp_path / "a" / "aliases.json").read_text())["pinned"] == 1
    assert lib.info("a").version == 1 and lib.load("a", version=3).origin["version"] == 3
    assert lib.pin("a", None) == 3
    lib.deprecate("a", 3, "never trained")
    assert lib.current("a") == 2 and lib.aliases("a")["deprecated"] == {3: "never trained"}
    lib.deprecate("a", 3, undo=True)
    assert lib.current("a") == 3
    with pytest.raises(Exception, match="no version 9"):
        lib.pin("a", 9)
    assert not list((tmp_path / "a").glob(".aliases-*"))  # the atomic write left no temp file
    # the server's view of it
    service.pin_version(str(tmp_path), "a", 2)
    detail = service.entry_detail(str(tmp_path), "a")
    assert detail["current"] == 2 and [v["pinned"] for v in detail["versions"]] == [False, True, False]
    row = service.list_entries(str(tmp_path))["entries"][0]
    assert row["current"] == 2 and row["pinned"] == 2 and row["parameters"] == 4 * 8 + 8 + 8 * 2 + 2


def test_the_publish_preview_warns_about_untrained_nets_architecture_changes_and_duplicates(tmp_path):
    from workbench.library import StagingArea

    loc = str(tmp_path)
    lib = Library(loc)
    torch.manual_seed(0)
    base = _net("a")
    with torch.no_grad():
        next(base.module.parameters()).add_(1.0)  # "trained"
    lib.publish(base, metrics={"accuracy": 0.9})
    fresh = NeuralFunction("a", nets.build("mlp", in_shape=[4], out=2, hidden=[16]), input=Vec4, output=Bit,
                           arch=("mlp", {"in_shape": [4], "out": 2, "hidden": [16]}))
    info = StagingArea(loc).stage(fresh)
    p = service.staged_info(loc, info["id"])["preview"]
    kinds = {w["kind"] for w in p["warnings"]}
    assert {"untrained", "architecture", "lineage"} <= kinds and "duplicate" not in kinds
    assert p["new"]["parameters"] == 4 * 16 + 16 + 16 * 2 + 2 and p["latest"]["parameters"] == 58
    assert p["latest"]["metrics"] == {"accuracy": 0.9} and p["version"] == 2 and p["latest"]["ref"] == "a@1"
    # the same weights as a@1: the preview says so and publishing is refused with a pointer
    again = lib.load("a")
    dup = StagingArea(loc).stage(again)
    p2 = service.staged_info(loc, dup["id"])["preview"]
    assert p2["duplicate"] == "a@1" and p2["parent"] == 1 and "unchanged" in {w["kind"] for w in p2["warnings"]}
    with pytest.raises(DuplicateWeights) as e:
        service.publish_staged(loc, dup["id"])
    assert e.value.existing == "a@1"
    assert [v.version for v in lib.history("a")] == [1]


def test_manifests_written_before_provenance_runs_still_load(tmp_path):
    lib = Library(tmp_path)
    lib.publish(_net())
    path = tmp_path / "a" / "000001" / "manifest.json"
    m = json.loads(path.read_text())
    m["provenance"].pop("run")
    path.write_text(json.dumps(m))
    assert dict(lib.info("a").run) == {} and lib.load("a").signature == "Vec4 -> Bit[2]"
