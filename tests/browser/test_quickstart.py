"""The quickstart notebook in a real JupyterLab, driven by headless Chromium (Debian chromium + playwright).

A JupyterLab server (started by a script that execs it: 127.0.0.1, a free port, a token, a temporary
root dir holding a copy of notebooks/00_quickstart.ipynb) runs with ``WORKBENCH_SMALL=1`` in its
environment, so its kernels train the small ADD2x2 in well under a minute. The user story:

1. open the notebook, Run > Run All Cells, wait until every cell has run (kernel idle, no ``[*]``),
   without errors, and the trace explorer shows up (screenshot ``docs/images/lab_quickstart.png``);
2. move the explorer's step slider (arrow key on the focused handle, then a mouse drag to the end):
   the readout, the step label, the StepView (anywidget) and the heatmap image (its bytes) all
   change (screenshot ``docs/images/lab_trace_slider.png``).

Skipped when /usr/bin/chromium or playwright is missing; installs nothing and never lets playwright
download a browser. The set-up is a small copy of test_lab.py's (that file is left as it is).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "00_quickstart.ipynb"
IMAGES = ROOT / "docs" / "images"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT = 60_000  # ms, for the slow first steps (JupyterLab load, kernel start with torch)
RUN_TIMEOUT = 150_000  # ms for Run All Cells (the small notebook computes for well under a minute)

pytestmark = pytest.mark.slow


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium chromium-driver; `make test` does it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_notebook(dest: Path) -> None:
    """The quickstart notebook without any outputs or execution counts (so `[n]` prompts are ours)."""
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    dest.write_text(json.dumps(nb, indent=1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("quickstart-lab")
    root, lib, cfg = tmp / "root", tmp / "lib", tmp / "config"
    root.mkdir()
    lib.mkdir()
    (cfg / "labconfig").mkdir(parents=True)
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    _copy_notebook(root / NOTEBOOK.name)

    port, token = _free_port(), secrets.token_hex(16)
    script = tmp / "start_lab.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -m jupyterlab --allow-root --no-browser --ip=127.0.0.1 --port={port} '
        f'--IdentityProvider.token="{token}" --ServerApp.root_dir="{root}"\n')
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PLAYWRIGHT"))}
    path = env.get("PYTHONPATH", "")
    env.update(WORKBENCH_SMALL="1",  # the kernels inherit it: the notebook's small-size switch
               PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""),
               WORKBENCH_LIBRARY=str(lib), JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    env.pop("MPLBACKEND", None)
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + (tmp / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT)
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell .cm-content")
            _wait_idle(page, 90_000)
            yield {"page": page, "log": tmp / "server.log"}
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_idle(page, timeout: float) -> None:
    page.wait_for_function("document.querySelector('.jp-StatusBar-Widget') && "
                           "document.body.innerText.includes('| Idle')", timeout=timeout)


def _shot(page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name))


PROMPTS = "[...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim())"


@pytest.fixture(scope="module")
def ran(lab):
    """Run > Run All Cells, then wait until every cell has run (kernel idle, no `[*]` left)."""
    page = lab["page"]
    page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current widget
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    started = time.perf_counter()
    try:
        # done: the first code cell has a number and no cell is queued or running
        page.wait_for_function(f"(() => {{ const p = {PROMPTS}; return /\\d/.test(p[0]) && "
                               "!p.some(t => t.includes('*')); })()", timeout=RUN_TIMEOUT, polling=500)
        _wait_idle(page, TIMEOUT)
    except Exception as e:
        shot = lab["log"].parent / "run_all_failed.png"
        page.screenshot(path=str(shot))
        pytest.fail(f"Run All Cells did not finish in {RUN_TIMEOUT / 1000:.0f} s ({e.__class__.__name__}); "
                    f"prompts {page.evaluate(PROMPTS)}; screenshot {shot}; server log tail:\n"
                    + lab["log"].read_text(errors="replace")[-3000:])
    return {**lab, "seconds": time.perf_counter() - started}


def _cell(page, source: str):
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=source)


def _to_top(locator) -> None:
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")
    locator.page.wait_for_timeout(300)


def _explorer(page):
    return _cell(page, "TraceExplorer(trace").locator(".widget-vbox").filter(has=page.locator(".ntpt-step-view")).first


def test_run_all_cells(ran):
    page = ran["page"]
    prompts = page.evaluate(PROMPTS)
    assert prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts  # an error stops the run
    numbers = [int(p[1:-2]) for p in prompts]
    assert numbers == sorted(numbers), numbers
    outputs = page.locator(".jp-Notebook .jp-OutputArea").all_text_contents()  # offscreen cells too
    assert not [o for o in outputs if "Traceback" in o], "a cell raised"
    text = page.locator(".jp-Notebook").text_content() or ""
    assert re.search(r"held-out accuracy of the discrete program: \d\.\d{3}", text)
    explorer = _explorer(page)
    explorer.wait_for(timeout=TIMEOUT)
    explorer.locator(".noUi-handle").wait_for()
    explorer.locator("img.widget-image").wait_for()
    _to_top(_cell(page, "fit_live(sketch"))
    _shot(page, "lab_quickstart.png")
    print(f"Run All Cells took {ran['seconds']:.1f} s")


def _state(explorer) -> dict:
    """What the explorer shows: readout, step label, StepView title and DOM, heatmap bytes (sha-256)."""
    digest = explorer.locator("img.widget-image").evaluate("""async (img) => {
        const bytes = await (await fetch(img.src)).arrayBuffer();
        const hash = await crypto.subtle.digest('SHA-256', bytes);
        return [...new Uint8Array(hash)].map(b => b.toString(16).padStart(2, '0')).join('');
    }""")
    return {"readout": explorer.locator(".widget-readout").first.inner_text().strip(),
            "label": explorer.locator("div.widget-label").first.inner_text(),
            "title": explorer.locator(".ntpt-step-title").inner_text(),
            "view": explorer.locator(".ntpt-step-view").inner_html(),
            "image": digest}


def _moved(explorer, before: dict, index: int, steps: int) -> dict:
    """Wait until everything shows step `index` (one change in flight at a time), and return it."""
    deadline = time.time() + 30
    while True:
        now = _state(explorer)
        if now["title"] != before["title"] and now["image"] != before["image"]:
            break
        if time.time() > deadline:
            raise AssertionError(f"the view did not change: {now['title']!r} after {before['title']!r}")
        time.sleep(0.25)
    assert now["readout"] == str(index), now
    assert f"({index + 1} of {steps})" in now["title"], now
    assert f"({index + 1} of {steps})" in now["label"], now
    assert now["view"] != before["view"]
    return now


def test_trace_slider_moves_the_view(ran):
    page = ran["page"]
    explorer = _explorer(page)
    _to_top(_cell(page, "TraceExplorer(trace"))
    handle = explorer.locator(".noUi-handle")
    steps = int(float(handle.get_attribute("aria-valuemax") or 0)) + 1
    assert steps > 3, "the trace has too few steps to browse"
    states = [_state(explorer)]
    assert states[0]["readout"] == "0" and f"(1 of {steps})" in states[0]["title"], states[0]

    # the keyboard: focus the slider's handle, press the right arrow
    handle.focus()
    page.keyboard.press("ArrowRight")
    states.append(_moved(explorer, states[-1], 1, steps))

    # the mouse: drag the handle past the right end of the track
    track, box = explorer.locator(".noUi-target").bounding_box(), handle.bounding_box()
    assert track and box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * 0.5, y, steps=8)
    page.mouse.move(track["x"] + track["width"] + 20, y, steps=8)
    page.mouse.up()
    states.append(_moved(explorer, states[-1], steps - 1, steps))

    # back with the keyboard, one step at a time, to a middle step (more to see than the result step)
    for index in range(steps - 2, 1, -1):
        handle.focus()
        page.keyboard.press("ArrowLeft")
        states.append(_moved(explorer, states[-1], index, steps))
    assert len({s["image"] for s in states}) == len(states)  # every step has its own heatmap
    _shot(page, "lab_trace_slider.png")
