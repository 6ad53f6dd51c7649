"""The demo at a small size: it learns ADD2x2 from sums and writes the summary the README promises."""

from __future__ import annotations

import json

from workbench.demo import DEMO_CONFIG, run


def test_small_demo_learns_and_writes_summary(tmp_path):
    cfg = DEMO_CONFIG.replace(restarts=2, steps=300, validate_every=100, max_seconds=None, seed=1)
    summary = run(out_dir=tmp_path, config=cfg, train_grids=4000, test_grids=500, quiet=True)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert set(on_disk) >= {"task", "restarts", "restarts_correct", "test_accuracy", "digit_accuracy", "program", "seconds"}
    assert on_disk["task"] == "ADD2x2/top" and on_disk["restarts"] == 2
    assert summary["restarts_correct"] >= 1
    assert summary["test_accuracy"] > 0.8  # the digit net learned digits from sums alone
    assert summary["digit_accuracy"] > 0.85
    compile(summary["program"], "<program>", "exec")
    assert "add(" in summary["program"] and "digit(" in summary["program"]
