"""Every notebook in notebooks/ runs top to bottom in a real kernel at a small size.

The kernel is the ``python3`` kernel of this interpreter (installed into its prefix with
``python -m ipykernel install --sys-prefix`` when missing); it gets ``WORKBENCH_SMALL=1`` (each
notebook's small-size switch), one thread per library, and this checkout on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _ensure_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True,
                       capture_output=True)


@pytest.fixture
def kernel_env(monkeypatch):
    _ensure_kernel()
    monkeypatch.setenv("WORKBENCH_SMALL", "1")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + (os.pathsep + path if path else ""))
    monkeypatch.delenv("MPLBACKEND", raising=False)


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"00_quickstart.ipynb", "03_your_own_sketch.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"
    switch = [c for c in nb.cells if c.cell_type == "code" and "WORKBENCH_SMALL" in c.source]
    assert switch, f"{path.name} has no small-size switch cell reading WORKBENCH_SMALL"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:  # the message names the cell and the traceback
        pytest.fail(f"{path.name}: a cell failed\n{e}")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    mimes = {m for o in outputs for m in o.get("data", {})}
    assert any(m.startswith("application/vnd.ntpt.") for m in mimes), "no workbench object was displayed"
    for o in outputs:  # the workbench's JSON outputs are plain JSON
        for m, data in o.get("data", {}).items():
            if m.startswith("application/vnd.ntpt."):
                json.dumps(data, allow_nan=False)
