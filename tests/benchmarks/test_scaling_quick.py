"""benchmarks/scaling.py --quick runs end to end and writes the documented JSON keys (values are timings: not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_scaling_quick_writes_all_sections(tmp_path):
    out = tmp_path / "scaling.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "scaling.py"), "--quick", "--json", str(out),
                           "--plots", str(tmp_path / "plots")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert {"machine", "quick", "command", "tape", "domain", "restarts", "batch", "plots", "seconds"} <= set(res)
    assert res["quick"] is True
    assert {"lengths", "batch", "step_ms", "bare_lenet_ms", "ratio", "fit", "fit_program_part"} <= set(res["tape"])
    assert {"slope_ms_per_symbol", "intercept_ms", "r2"} <= set(res["tape"]["fit"])
    assert len(res["tape"]["step_ms"]) == len(res["tape"]["lengths"])
    assert {"sizes", "batch", "fast_ms", "fast_kernel", "table_ms", "table_memory_mb", "table_refused", "table_cap_entries",
            "table_largest_possible_m"} <= set(res["domain"])
    assert {"restarts", "batch", "n", "shared_net_ms", "per_restart_restarts", "per_restart_ms"} <= set(res["restarts"])
    assert {"sizes", "n", "step_ms", "bare_lenet_ms", "examples_per_s", "images_per_s", "ratio"} <= set(res["batch"])
    names = sorted(Path(p).name for p in res["plots"])
    assert names == ["bench_batch.png", "bench_domain.png", "bench_restarts.png", "bench_tape.png"]
    assert all(Path(p).stat().st_size > 0 for p in res["plots"])
