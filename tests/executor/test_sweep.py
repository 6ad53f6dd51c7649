"""Sweeps: grid x seeds x sketches through an executor; the same rows inline and on processes; table, plot, CLI."""

from __future__ import annotations

import json

import pytest
from executor_toys import net_job, program_job

from workbench import cli
from workbench.core.errors import ConfigError
from workbench.executor import InlineExecutor, ProcessExecutor
from workbench.sweep import grid_points, parse_grid, sweep
from workbench.train import TrainConfig, fit

BASE = TrainConfig(restarts=3, steps=60, batch_size=16, hole_lr=0.1, validate_every=20)


def _program(seed):
    sk, data = program_job()
    return sk, data, None, lambda p: p(1, 3) == 4 and p(4, 4) == 8


def _nets(seed):
    sk, data = net_job()
    return sk, data, None, None


def test_grid_points_and_parsing():
    assert grid_points({}) == [{}]
    assert grid_points({"hole_lr": [0.1, 0.2], "restarts": [2]}) == [{"hole_lr": 0.1, "restarts": 2},
                                                                      {"hole_lr": 0.2, "restarts": 2}]
    assert parse_grid(["hole_lr=0.05,0.2", "optimizer=adam,rmsprop", "patience=none"]) == {
        "hole_lr": [0.05, 0.2], "optimizer": ["adam", "rmsprop"], "patience": [None]}
    with pytest.raises(ConfigError, match="unknown TrainConfig"):
        grid_points({"hole_rate": [1]})
    with pytest.raises(ConfigError, match="bad grid item"):
        parse_grid(["hole_lr"])


def test_sweep_rows_are_the_fits_of_each_cell_whatever_the_executor(tmp_path):
    grid = {"hole_lr": [0.02, 0.2]}
    tasks = {"program": _program, "nets": _nets}
    inline = sweep(tasks, grid=grid, seeds=[0, 1], base=BASE, executor=InlineExecutor())
    procs = sweep(tasks, grid=grid, seeds=[0, 1], base=BASE, executor=ProcessExecutor(2))
    assert len(inline.rows) == 2 * 2 * 2 and not inline.missing
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in inline.rows]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in procs.rows]
    # one cell equals the fit it stands for
    cell = next(r for r in inline.rows if r["task"] == "program" and r["params"] == {"hole_lr": 0.2} and r["seed"] == 1)
    sk, data, _, judge = _program(1)
    res = fit(sk, data, config=BASE.replace(hole_lr=0.2, seed=1), judge=judge)
    assert cell["restarts_correct"] == res.restarts_correct and cell["best_assignment"] == res.best.assignment
    table = inline.table()
    assert table.count("\n") == 2 + 4 - 1 and "| program | 0.2 | 2 |" in table
    png = inline.plot(tmp_path / "sweep.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    json.dumps(inline.to_dict())


def test_workbench_sweep_command(tmp_path, monkeypatch, capsys):
    from workbench import sweep as sweep_mod

    monkeypatch.setitem(sweep_mod.TASKS, "toy", ("a toy program search", lambda n: _program))
    code = cli.main(["sweep", "--task", "toy", "--grid", "hole_lr=0.05,0.2", "--grid", "restarts=2", "--seeds", "0",
                     "1", "--steps", "40", "--executor", "processes", "--workers", "2", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert len(data["rows"]) == 4 and data["executor"] == "processes"
    assert {r["params"]["hole_lr"] for r in data["rows"]} == {0.05, 0.2} and all(r["restarts"] == 2 for r in data["rows"])
    assert (tmp_path / "sweep.png").exists() and "| toy |" in (tmp_path / "sweep.md").read_text()
    assert "| toy |" in capsys.readouterr().out
