"""The wheel ships the JupyterLab extension prebuilt: installed without node, both parts are enabled.

Builds ``pip wheel . --no-deps`` with node hidden from PATH (so the build hook must reuse the
prebuilt labextension), installs it with ``--no-deps`` into a fresh venv that sees this
environment's packages (torch, jupyterlab, ...) through a ``.pth`` file, and checks
``jupyter labextension list`` / ``jupyter server extension list`` there, with every per-user
Jupyter directory pointed at a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREBUILT = ROOT / "extensions" / "ntpt-workbench" / "labextension"

pytestmark = pytest.mark.slow


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 300) -> str:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{out[-4000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not (PREBUILT / "static" / "style.js").is_file():
        pytest.skip("the labextension is not built yet (needs node once: pip install -e . or npm run build)")
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # no node, no npm
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(out)], env, ROOT, timeout=600)
    wheels = list(out.glob("ntpt_workbench-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_holds_the_prebuilt_extension_and_the_server_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    lab = f"{data}/data/share/jupyter/labextensions/ntpt-workbench"
    assert f"{lab}/package.json" in names and f"{lab}/install.json" in names
    assert any(n.startswith(f"{lab}/static/remoteEntry.") for n in names)
    assert f"{data}/data/etc/jupyter/jupyter_server_config.d/ntpt_workbench.json" in names
    for module in ("server/__init__.py", "server/handlers.py", "server/app.py", "library/staging.py"):
        assert f"workbench/{module}" in names
    assert not any("/node_modules/" in n or n.endswith(".ts") for n in names)
    assert "workbench/_notebooks/00_quickstart.ipynb" in names  # `workbench notebooks DIR` copies these


def test_installed_without_node_both_extensions_are_enabled(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    # torch, jupyterlab, ... from this environment, after the venv's own packages (the wheel's).
    (site / "_outer_env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(PATH=str(venv / "bin"), HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               WORKBENCH_LIBRARY=str(tmp_path / "lib"), PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    assert shutil.which("node", path=env["PATH"]) is None
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], env, tmp_path)

    where = _run([str(py), "-c", "import workbench.server as s; print(s.__file__)"], env, tmp_path)
    assert str(venv) in where, where  # the wheel's copy, not this checkout

    labs = _run([str(py), "-m", "jupyterlab.labextensions", "list"], env, tmp_path)
    line = next((ln for ln in labs.splitlines() if "ntpt-workbench" in ln and "v0" in ln), "")
    assert "enabled" in line and "OK" in line and "(python, ntpt-workbench)" in line, labs
    assert str(venv / "share" / "jupyter" / "labextensions") in labs, labs

    servers = _run([str(py), "-m", "jupyter_server.extension.serverextension", "list"], env, tmp_path)
    lines = [ln for ln in servers.splitlines() if "workbench.server" in ln]
    assert any("enabled" in ln for ln in lines) and any("OK" in ln for ln in lines), servers
    assert str(venv / "etc" / "jupyter") in servers, servers
