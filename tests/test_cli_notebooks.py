"""`workbench notebooks DIR` copies the tutorials (from the wheel, or the checkout when editable)."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_are_copied_and_kept(tmp_path, capsys):
    assert main(["notebooks", str(tmp_path / "tut")]) == 0
    names = sorted(p.name for p in (tmp_path / "tut").iterdir())
    assert names == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert "00_quickstart.ipynb" in names
    nb = json.loads((tmp_path / "tut" / "00_quickstart.ipynb").read_text())
    assert nb["cells"][0]["cell_type"] == "markdown"
    (tmp_path / "tut" / "00_quickstart.ipynb").write_text("mine")
    assert main(["notebooks", str(tmp_path / "tut")]) == 0  # an existing file is kept...
    assert (tmp_path / "tut" / "00_quickstart.ipynb").read_text() == "mine"
    assert "kept" in capsys.readouterr().out
    assert main(["notebooks", str(tmp_path / "tut"), "--force"]) == 0  # ...unless --force
    assert (tmp_path / "tut" / "00_quickstart.ipynb").read_text() != "mine"
