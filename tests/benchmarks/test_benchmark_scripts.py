"""The benchmark scripts run end to end in their quick mode and write the JSON they promise.

Only the shape of the results is checked: timing ratios depend on the machine and its load, so
their values are never asserted here (docs/benchmarks.md holds the measured figures).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACHINE_KEYS = {"cpu_model", "cores", "torch", "threads"}


def run_quick(script: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{Path(script).stem}.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, str(ROOT / script), "--quick", "--json", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "ratio" in proc.stdout  # the readable table is printed
    return json.loads(out.read_text())


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow
def test_restarts_quick(tmp_path):
    res = run_quick("benchmarks/restarts.py", tmp_path)
    assert positive(res["ratio"]) and positive(res["ratio_peaked"]) and positive(res["ratio_wall"])
    assert res["ratio_restarts"] == 64 and res["goal"] == 4.0 and res["quick"] is True
    assert res["batch_size"] == 128
    assert set(res["per_restarts"]) == {"1", "64"}
    for r, row in res["per_restarts"].items():
        for init in ("normal", "peaked"):
            assert positive(row[f"ms_per_step_{init}"]) and positive(row[f"ratio_{init}"])
            assert len(row[f"ratios_{init}"]) == res["repeats"]
        if r == "1":
            assert row["ratio_normal"] == 1.0 and row["ratio_peaked"] == 1.0
    assert res["ratio"] == res["per_restarts"]["64"]["ratio_normal"]
    assert MACHINE_KEYS <= set(res["machine"]) and res["machine"]["threads"] >= 1


@pytest.mark.slow
def test_overhead_quick(tmp_path):
    res = run_quick("benchmarks/overhead.py", tmp_path)
    assert positive(res["ratio"]) and positive(res["ratio_wall"])
    assert res["ratio_arch"] == "lenet" and res["ratio_mode"] == "shared" and res["goal"] == 1.5
    assert res["images_per_step"] == 4 * res["batch_grids"]
    (row,) = res["rows"]
    assert row["arch"] == "lenet" and row["batch_grids"] == res["batch_grids"]
    for key in ("ms_per_step_supervised", "ms_per_step_shared", "ms_per_step_per_restart", "ratio_shared",
                "ratio_per_restart"):
        assert positive(row[key]), key
    assert res["ratio"] == row["ratio_shared"] == res["ratio_lenet"]
    assert res["ratio_lenet_per_restart"] == row["ratio_per_restart"]
    assert MACHINE_KEYS <= set(res["machine"])
