"""The quickstart notebook in a real JupyterLab, driven by headless Chromium (Debian chromium + playwright).

A JupyterLab server (started by a script that execs it: 127.0.0.1, a free port, a token, a temporary
root dir holding a copy of notebooks/00_quickstart.ipynb) runs with ``WORKBENCH_SMALL=1`` in its
environment, so its kernels train the small ADD2x2 in well under a minute. The user story:

1. open the notebook, Run > Run All Cells, wait until every cell has run (kernel idle, no ``[*]``),
   without errors, and the trace explorer shows up (screenshot ``lab_quickstart.png``);
2. move the explorer's step slider (arrow key on the focused handle, then a mouse drag to the end):
   the readout, the step label, the StepView (anywidget) and the heatmap image (its bytes) all
   change (screenshot ``lab_trace_slider.png``).

Skipped when /usr/bin/chromium or playwright is missing; installs nothing and never lets playwright
download a browser. The server/browser set-up is shared with test_lab.py (``_jlab.py``); screenshots go to
``$WORKBENCH_SCREENSHOTS`` (default ``out/screenshots``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from _jlab import ROOT, TIMEOUT, running_lab, shot, skip_reason, wait_idle

NOTEBOOK = ROOT / "notebooks" / "00_quickstart.ipynb"
# WORKBENCH_SMALL=0 in the environment runs the notebook at full size (a few minutes; e.g. to refresh
# docs/images/lab_quickstart.png with WORKBENCH_SCREENSHOTS=docs/images); the default is the small size.
SMALL = os.environ.get("WORKBENCH_SMALL", "1")
RUN_TIMEOUT = 150_000 if SMALL == "1" else 900_000  # ms for Run All Cells

pytestmark = pytest.mark.slow


def _copy_notebook(dest: Path) -> None:
    """The quickstart notebook without any outputs or execution counts (so `[n]` prompts are ours)."""
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    dest.write_text(json.dumps(nb, indent=1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = skip_reason(need_extension=False)
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("quickstart-lab")
    root, lib = tmp / "root", tmp / "lib"
    root.mkdir()
    lib.mkdir()
    _copy_notebook(root / NOTEBOOK.name)
    # the kernels inherit WORKBENCH_SMALL: the notebook's small-size switch
    with running_lab(tmp, root, NOTEBOOK.name, env={"WORKBENCH_SMALL": SMALL, "WORKBENCH_LIBRARY": str(lib)}) as lab:
        yield lab


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
        wait_idle(page, TIMEOUT)
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
    shot(page, "lab_quickstart.png")
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
    shot(page, "lab_trace_slider.png")
