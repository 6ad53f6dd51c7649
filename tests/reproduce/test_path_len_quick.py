"""`workbench reproduce path_len --quick`: the results files carry the contract's keys, accuracies are
fractions, the plot exists and the SYNTHETIC street signs are labelled as such."""

from __future__ import annotations

import json
import math

from workbench.reproduce.common import REQUIRED_KEYS, reproduce


def test_path_len_quick(tmp_path):
    result = reproduce("path_len", quick=True, out_dir=tmp_path, progress=None)
    assert result.quick is True  # (no wall-time assertion: speed is measured by benchmarks, not unit tests)
    data = json.loads((tmp_path / "path_len.json").read_text())
    for key in REQUIRED_KEYS:
        assert key in data
    assert data["experiment"] == "path_len" and data["command"].startswith("workbench reproduce path_len")
    ours = data["ours"]
    assert {"train_size_3x3", "larger_4x4", "look_accuracy", "look_accuracy_all_6_classes"} <= set(ours)
    for v in ours.values():
        assert 0.0 <= v <= 1.0
    assert set(data["paper"]) == set(ours) and all(v is None for v in data["paper"].values())
    for accs in data["baselines"].values():
        assert all(0.0 <= v <= 1.0 for v in accs.values())
    assert data["restarts"] == 2 and 0 <= data["restarts_correct"] <= 2
    assert data["seconds"] > 0 and math.isfinite(data["seconds"])
    assert data["synthetic"] == ["street signs"]
    assert (tmp_path / "path_len_generalisation.png").stat().st_size > 1000
    assert result.plots == ["path_len_generalisation.png"]
    md = (tmp_path / "path_len.md").read_text()
    assert "SYNTHETIC" in md and "def path_len(grid):" in md and "block0:" in md
    assert len(data["details"]["per_restart"]) == 2
