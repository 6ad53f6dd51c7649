"""FitResult save/load (JSON + safetensors, no pickle) round-trips in a fresh process; the runs view."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

import workbench as wb
from workbench import nets
from workbench.runs import Runs, load, save
from workbench.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
D5, D9, Op = wb.Domain("D5", 5), wb.Domain("D9", 9), wb.Domain("Op", 3)
OneHot5 = wb.TensorType("OneHot5", (5,))
add59 = wb.add(D5, D5, D9)

SKETCH = '''
import torch, workbench as wb
D5, D9, Op = wb.Domain("D5", 5), wb.Domain("D9", 9), wb.Domain("Op", 3)
OneHot5 = wb.TensorType("OneHot5", (5,))
add59 = wb.add(D5, D5, D9)
def make(net):
    @wb.sketch(inputs={"a": OneHot5, "b": OneHot5}, output=D9)
    def sums(a, b):
        va, vb = net(a, name="va"), net(b, name="vb")
        return wb.choose(wb.hole("op", Op), [add59(va, vb), wb.cast(va, D9), wb.const(D9, 0)], name="out")
    return sums
'''


def _result():
    ns: dict = {}
    exec(SKETCH, ns)
    code = torch.tensor([3, 0, 4, 1, 2])
    g = torch.Generator().manual_seed(0)
    sa, sb = torch.randint(0, 5, (300,), generator=g), torch.randint(0, 5, (300,), generator=g)
    eye = torch.eye(5)
    torch.manual_seed(0)
    net = wb.NeuralFunction("value", nets.build("mlp", in_shape=[5], out=5, hidden=[8]), input=OneHot5, output=D5,
                            arch=("mlp", {"in_shape": [5], "out": 5, "hidden": [8]}))
    cfg = TrainConfig(restarts=3, steps=60, batch_size=64, hole_lr=0.05, net_lr=0.05, validate_every=20, seed=1)
    return fit(ns["make"](net), ({"a": eye[sa], "b": eye[sb]}, code[sa] + code[sb]), config=cfg), ns


def test_a_saved_run_round_trips_in_a_fresh_process(tmp_path):
    result, _ = _result()
    path = save(result, tmp_path / "run1")
    assert sorted(p.name for p in path.iterdir()) == ["nets.safetensors", "run.json"]
    assert b"pickle" not in (path / "run.json").read_bytes()
    expected = {
        "steps": result.steps, "best": result.best.index,
        "restarts": [{"index": r.index, "assignment": r.assignment, "losses": r.losses, "val_steps": r.val_steps,
                      "val_accuracy": r.val_accuracy, "best_accuracy": r.best_accuracy, "best_step": r.best_step,
                      "correct": r.correct, "source": r.program.source,
                      "nets": {k: {n: t.tolist() for n, t in nf.module.state_dict().items()}
                               for k, nf in r.neural.items()}} for r in result.restarts],
        "hole_probs": {k: v.double().tolist() for k, v in result.hole_probs.items()},
    }
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    code = f'''
import json, sys, torch
sys.path.insert(0, {str(ROOT)!r})
from workbench.runs import load
ns = {{}}
exec({SKETCH!r}, ns)
run = load({str(path)!r})
exp = json.load(open({str(tmp_path / "expected.json")!r}))
assert run.steps == exp["steps"] and run.best_index == exp["best"]
for r, e in zip(run.restarts, exp["restarts"]):
    assert r.index == e["index"] and r.assignment == e["assignment"], (r.assignment, e["assignment"])
    assert r.losses == e["losses"] and r.val_steps == e["val_steps"] and r.val_accuracy == e["val_accuracy"]
    assert r.best_accuracy == e["best_accuracy"] and r.best_step == e["best_step"] and r.correct == e["correct"]
    assert r.source == e["source"]
    for name, state in e["nets"].items():
        got = r.neural[name].module.state_dict()
        for k, v in state.items():
            assert torch.equal(got[k], torch.tensor(v, dtype=got[k].dtype)), (name, k)  # bitwise
net = run.restarts[0].neural["value"]
prog = run.program(run.restarts[0].index, ns["make"](net))
assert prog.source == exp["restarts"][0]["source"]
for k, v in exp["hole_probs"].items():
    assert run.hole_probs[k].tolist() == v
print("ROUNDTRIP OK", len(run.restarts))
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ROUNDTRIP OK 3" in out.stdout


def test_the_runs_view_compares_runs_best_first(tmp_path):
    result, _ = _result()
    save(result, tmp_path / "runs" / "a")
    data = json.loads((tmp_path / "runs" / "a" / "run.json").read_text())
    data["restarts"][data["best"]]["best_accuracy"] = 0.123  # a worse copy of the run
    (tmp_path / "runs" / "b").mkdir()
    (tmp_path / "runs" / "b" / "run.json").write_text(json.dumps(data))
    (tmp_path / "runs" / "b" / "nets.safetensors").write_bytes((tmp_path / "runs" / "a" / "nets.safetensors").read_bytes())
    view = Runs.scan(tmp_path / "runs")
    rows = view.rows()
    assert [r["run"] for r in rows] == ["a", "b"]
    assert rows[1]["best_val_accuracy"] == 0.123 and rows[0]["restarts"] == 3
    html = view._repr_html_()
    assert html.count("<tr>") == 3 and "0.123" in html and "def " in html
    assert "best_val_accuracy" in repr(view).splitlines()[0]
    assert load(tmp_path / "runs" / "b").best.best_accuracy == 0.123
