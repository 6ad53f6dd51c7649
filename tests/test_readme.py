"""The README's example runs (at a smaller size) and prints a program."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    code = re.search(r"## Ten lines\n\n```python\n(.*?)```", text, re.S).group(1)
    small = code.replace("n=20_000", "n=300").replace("restarts=8, steps=600", "restarts=2, steps=20")
    assert small != code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(small, "README.md", "exec"), {})
    printed = out.getvalue()
    assert printed.startswith("def two_cells(grid):") and "digit(grid[" in printed
