"""Shared set-up of the browser tests: a JupyterLab server on 127.0.0.1 driven by headless Chromium.

``running_lab`` starts JupyterLab (through a script that execs it: a free port, a token, a private
config dir with the announcements extension off, the project on PYTHONPATH), waits until
``ready_path`` answers, opens ``notebook`` in Chromium and yields ``{"page", "base", "token",
"log"}``; on exit it stops the browser and the server. Nothing is installed and playwright never
downloads a browser: a missing Chromium or playwright skips the tests (``skip_reason``).

Screenshots go to ``$WORKBENCH_SCREENSHOTS`` (default ``out/screenshots``), so a test run never
rewrites the pictures under ``docs/images``; refresh those deliberately with
``WORKBENCH_SCREENSHOTS=docs/images``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT = 60_000  # ms, for the slow first steps (JupyterLab load, kernel start with torch)
IMAGES = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or ROOT / "out" / "screenshots")
if not IMAGES.is_absolute():
    IMAGES = ROOT / IMAGES


def extension_installed() -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(p) / "ntpt-workbench" / "package.json").is_file() for p in jupyter_path("labextensions"))


def skip_reason(*, need_extension: bool) -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium chromium-driver; `make test` does it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if need_extension and not extension_installed():
        return "the JupyterLab extension is not built/installed (needs node: pip install -e . builds it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_idle(page, timeout: float) -> None:
    page.wait_for_function("document.querySelector('.jp-StatusBar-Widget') && "
                           "document.body.innerText.includes('| Idle')", timeout=timeout)


def shot(page, name: str) -> Path:
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    page.screenshot(path=str(path))
    return path


@contextmanager
def running_lab(tmp: Path, root: Path, notebook: str, *, ready_path: str = "/api/status", lab_args: str = "",
                env: dict[str, str] | None = None, viewport: tuple[int, int] = (1400, 1000)) -> Iterator[dict]:
    """JupyterLab serving ``root`` (which holds ``notebook``), opened in Chromium; see the module doc."""
    from playwright.sync_api import sync_playwright

    cfg = tmp / "config"
    (cfg / "labconfig").mkdir(parents=True)
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = free_port(), secrets.token_hex(16)
    script = tmp / "start_lab.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -m jupyterlab --allow-root --no-browser --ip=127.0.0.1 --port={port} '
        f'--IdentityProvider.token="{token}" --ServerApp.root_dir="{root}" {lab_args}\n')
    script.chmod(0o755)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PLAYWRIGHT"))}
    path = full_env.get("PYTHONPATH", "")
    full_env.update(PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""),
                    JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
                    JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
                    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                    OPENBLAS_NUM_THREADS="1")
    full_env.pop("MPLBACKEND", None)
    full_env.update(env or {})
    log_path = tmp / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(script)], env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                req = urllib.request.Request(f"{base}{ready_path}", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(TIMEOUT)
            page.goto(f"{base}/lab/tree/{notebook}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell .cm-content")
            wait_idle(page, 90_000)
            yield {"page": page, "base": base, "token": token, "log": log_path}
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
