"""The reproduce framework: registry, typed errors, results files and the CLI (a fake experiment)."""

from __future__ import annotations

import json
import sys
import types

import pytest

from workbench import cli
from workbench.reproduce import EXPERIMENTS, ExperimentResult, ReproduceError, reproduce
from workbench.reproduce.common import REQUIRED_KEYS, plot_path


@pytest.fixture
def fake(monkeypatch):
    calls = []

    def run(*, quick, seed, progress):
        calls.append((quick, seed))
        progress("fake experiment running")
        path = plot_path("fake_plot.png")
        path.write_bytes(b"\x89PNG fake")
        return ExperimentResult(experiment="fake", ours={"t1": 0.5, "t2": 1.0}, paper={"t1": 0.87, "t3": None},
                                baselines={"mlp": {"t1": 0.25}}, restarts={"t1": 4}, restarts_correct={"t1": 3},
                                seeds=[seed], quick=quick, summary="Fake summary.", plots=["fake_plot.png"],
                                details={"nan": float("nan"), "tuple": (1, 2)}, synthetic=["operators"])

    module = types.ModuleType("fake_experiment_module")
    module.run = run
    monkeypatch.setitem(sys.modules, "fake_experiment_module", module)
    monkeypatch.setitem(EXPERIMENTS, "fake", ("fake_experiment_module", "a fake experiment"))
    return calls


def test_reproduce_writes_json_and_markdown(fake, tmp_path):
    lines = []
    result = reproduce("fake", quick=True, seed=3, out_dir=tmp_path, progress=lines.append)
    assert fake == [(True, 3)]
    assert result.seconds >= 0 and result.command == "workbench reproduce fake --quick --seed=3"
    data = json.loads((tmp_path / "fake.json").read_text())
    assert set(REQUIRED_KEYS) <= set(data)
    assert data["ours"] == {"t1": 0.5, "t2": 1.0} and data["paper"]["t3"] is None
    assert data["restarts_correct"] == {"t1": 3}
    assert data["details"] == {"nan": None, "tuple": [1, 2]}  # JSON-safe: NaN -> null, tuples -> lists
    md = (tmp_path / "fake.md").read_text()
    assert "QUICK size" in md and "SYNTHETIC data" in md and "operators" in md
    assert "| t1 | **50.0%** | 87.0% | 25.0% |" in md and "| t3 | **-** | - | - |" in md
    assert "t1: 3 of 4" in md and "![fake_plot.png](fake_plot.png)" in md
    assert (tmp_path / "fake_plot.png").exists()
    assert any("fake experiment running" in line for line in lines)
    assert not list(tmp_path.glob("*.tmp"))


def test_unknown_experiment_and_bad_options_are_typed(tmp_path):
    with pytest.raises(ReproduceError, match="unknown experiment 'nope'") as e:
        reproduce("nope", out_dir=tmp_path)
    assert "lifelong_1k" in str(e.value)
    with pytest.raises(ReproduceError, match="seed"):
        reproduce("math", seed=-1, out_dir=tmp_path)
    with pytest.raises(ReproduceError, match="threads"):
        reproduce("math", threads=0, out_dir=tmp_path)


def test_experiment_must_return_a_result(monkeypatch, tmp_path):
    module = types.ModuleType("bad_experiment_module")
    module.run = lambda **kw: {"ours": {}}
    monkeypatch.setitem(sys.modules, "bad_experiment_module", module)
    monkeypatch.setitem(EXPERIMENTS, "bad", ("bad_experiment_module", "returns a dict"))
    with pytest.raises(ReproduceError, match="not an ExperimentResult"):
        reproduce("bad", out_dir=tmp_path, progress=None)
    assert not (tmp_path / "bad.json").exists()


def test_cli_lists_runs_and_reports_errors(fake, tmp_path, capsys):
    assert cli.main(["reproduce"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("lifelong_1k", "lifelong_4k", "math", "path_len", "fake"))
    assert cli.main(["reproduce", "fake", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "fake.json").read_text())
    assert data["command"] == f"workbench reproduce fake --quick --out={tmp_path}"
    assert cli.main(["reproduce", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_render_rewrites_markdown_from_json(fake, tmp_path, capsys):
    reproduce("fake", quick=True, out_dir=tmp_path, progress=None)
    md = tmp_path / "fake.md"
    first = md.read_text()
    md.unlink()
    assert cli.main(["reproduce", "fake", "--render", "--out", str(tmp_path)]) == 0
    assert md.read_text() == first
    (tmp_path / "fake.json").write_text('{"experiment": "fake"}')
    assert cli.main(["reproduce", "fake", "--render", "--out", str(tmp_path)]) == 2
    assert "not a results file" in capsys.readouterr().err
