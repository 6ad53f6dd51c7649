"""benchmarks/scale_out.py runs end to end at a tiny size and writes the keys it promises (values not asserted
beyond determinism: timings depend on the machine and its load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_out_script_writes_its_keys(tmp_path):
    out = tmp_path / "scale_out.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/scale_out.py"), "--quick", "--restarts", "4",
                           "--steps", "10", "--no-ray", "--json", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ("seconds_1_worker", "seconds_2_workers", "ratio", "seconds_inline"):
        assert res[key] > 0
    assert res["ratio"] == res["seconds_2_workers"] / res["seconds_1_worker"]
    assert res["deterministic"] is True and res["ray_overhead"] is None  # --no-ray
    assert res["job"]["restarts"] == 4 and res["job"]["steps"] == 10
