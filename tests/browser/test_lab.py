"""JupyterLab with the workbench extension, driven by a real browser (Debian chromium + playwright).

One JupyterLab server (started by a script that execs it: 127.0.0.1, a free port, a token, a
temporary root dir and library) and one page serve the user stories in order:

1. the "Neural library" panel lists the entries of the test library (and filters them);
2. dragging an entry into a notebook inserts the line that loads it (on an editor: at the drop
   point; between cells: as a new cell), and running it loads the function;
3. dragging a trained function's output card onto the panel publishes a new version, on disk and
   in the panel; a name is asked for when needed, and invalid names are refused;
4. the program-graph renderer shows an SVG (laid out in the browser from DOT);
5. a card displayed before training, dragged after it, publishes the trained weights (the kernel
   stages the function when the drag starts; displaying wrote nothing).

Screenshots of each state go to $WORKBENCH_SCREENSHOTS (default out/screenshots; see _jlab.py).
Skipped when /usr/bin/chromium, playwright or the built extension is missing; installs nothing and never lets playwright download a browser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _jlab import running_lab, shot, skip_reason

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- the test library


def _make_library(path: Path) -> None:
    """digit@1 (an MLP trained for one epoch WITH digit labels, a stand-in) and op@1 (untrained)."""
    import torch

    from workbench.core.domains import Domain, Image28
    from workbench.core.neural import NeuralFunction
    from workbench.data import embedded_split, normalize
    from workbench.library import Library
    from workbench.nets import build

    torch.manual_seed(0)
    split = embedded_split(seed=0)
    x, y = normalize(split.train_images), split.train_labels
    kwargs = {"hidden": [64], "out": 10}
    digit = NeuralFunction("digit", build("mlp", **kwargs), input=Image28, output=Domain("Digit", 10),
                           arch=("mlp", kwargs))
    opt = torch.optim.Adam(digit.module.parameters(), lr=2e-3)
    for idx in torch.randperm(len(y)).split(64):
        loss = torch.nn.functional.cross_entropy(digit.module(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = float((digit.predict(normalize(split.test_images)) == split.test_labels).float().mean())
    lib = Library(path)
    lib.publish(digit, metrics={"accuracy": acc}, task="supervised-mnist", tags=["mnist", "test-fixture"])
    op_kwargs = {"hidden": [16], "out": 4}
    op = NeuralFunction("op", build("mlp", **op_kwargs), input=Image28,
                        output=Domain.enum("Op", ["+", "-", "*", "/"]), arch=("mlp", op_kwargs))
    lib.publish(op, task="calc/untrained", tags=["operators", "untrained"])


TRAIN_CELL = """\
import torch
from IPython.display import display
from workbench.data import embedded_split, normalize
from workbench.library import Library
from workbench.library.staging import stage

torch.manual_seed(1)
digit = Library().load("digit")          # digit@1 from the panel's library: train it a bit more
split = embedded_split(seed=0)
x, y = normalize(split.train_images), split.train_labels
opt = torch.optim.Adam(digit.module.parameters(), lr=1e-3)
for idx in torch.randperm(len(y)).split(64):
    loss = torch.nn.functional.cross_entropy(digit.module(x[idx]), y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
acc = float((digit.predict(normalize(split.test_images)) == split.test_labels).float().mean())
card = {"name": digit.name, "signature": digit.signature, "origin": digit.origin,
        "parameters": sum(p.numel() for p in digit.module.parameters()),
        "staging": stage(digit, metrics={"accuracy": acc}, task="supervised-mnist")}
display({"application/vnd.ntpt.neural+json": card, "text/plain": repr(digit)}, raw=True)
print(f"held-out accuracy {acc:.3f}")"""

FRESH_CELL = """\
from workbench.core.domains import Domain, Image28
from workbench.core.neural import NeuralFunction
from workbench.nets import build

fresh = NeuralFunction("digit", build("mlp", hidden=[8], out=10), input=Image28,
                       output=Domain("Digit", 10), arch=("mlp", {"hidden": [8], "out": 10}))
card = {"name": fresh.name, "signature": fresh.signature, "origin": None, "parameters": 6370,
        "staging": stage(fresh)}
display({"application/vnd.ntpt.neural+json": card, "text/plain": repr(fresh)}, raw=True)"""

LATE_CELL = """\
import torch
import workbench  # in a kernel, this registers the rich displays
from IPython.display import display
from workbench.core.domains import Domain, Image28
from workbench.core.neural import NeuralFunction
from workbench.nets import build

late = NeuralFunction("late", build("mlp", hidden=[8], out=10), input=Image28,
                      output=Domain("Digit", 10), arch=("mlp", {"hidden": [8], "out": 10}))
display(late)  # the card is shown BEFORE the function is trained"""

TRAIN_LATE_CELL = """\
with torch.no_grad():  # stands in for training: every weight changes after the card was shown
    for p in late.module.parameters():
        p.fill_(0.25)
print("TRAINED", sum(float(p.detach().sum()) for p in late.module.parameters()))"""

NEVER_CELL = """\
import workbench
from IPython.display import display
from workbench.core.domains import Domain, Image28
from workbench.core.neural import NeuralFunction
from workbench.nets import build

never = NeuralFunction("never", build("mlp", hidden=[8], out=10), input=Image28,
                       output=Domain("Digit", 10), arch=("mlp", {"hidden": [8], "out": 10}))
display(never)  # built and never trained"""

FIT_CELL = """\
import torch
import workbench as wb
from workbench.nets import build as build_net
D5, D9, Op = wb.Domain("D5", 5), wb.Domain("D9", 9), wb.Domain("Op", 3)
OneHot5 = wb.TensorType("OneHot5", (5,))
add59 = wb.add(D5, D5, D9)
value = wb.NeuralFunction("value", build_net("mlp", in_shape=[5], out=5, hidden=[8]), input=OneHot5, output=D5,
                          arch=("mlp", {"in_shape": [5], "out": 5, "hidden": [8]}))

@wb.sketch(inputs={"a": OneHot5, "b": OneHot5}, output=D9)
def sums(a, b):
    va, vb = value(a, name="va"), value(b, name="vb")
    return wb.choose(wb.hole("op", Op), [add59(va, vb), wb.cast(va, D9), wb.const(D9, 0)], name="out")

code = torch.tensor([3, 0, 4, 1, 2])
g = torch.Generator().manual_seed(0)
sa, sb = torch.randint(0, 5, (300,), generator=g), torch.randint(0, 5, (300,), generator=g)
eye = torch.eye(5)
fitted = wb.fit(sums, ({"a": eye[sa], "b": eye[sb]}, code[sa] + code[sb]),
                config=wb.TrainConfig(restarts=2, steps=60, batch_size=64, hole_lr=0.05, net_lr=0.05,
                                      validate_every=20, seed=1))
fitted  # its display shows the trained 'value' as a draggable card"""

VERSION_PROBE_CELL = 'print("VERSION", digit.origin["version"])'

GRAPH_DOT = """digraph "add2x2_top" {
  rankdir=LR; node [fontname="Helvetica", fontsize=11];
  grid [shape=box, label="grid : Grid[Image28x28, 2x2]"];
  c0 [shape=ellipse, label="digit(grid[0])"]; c1 [shape=ellipse, label="digit(grid[1])"];
  add [shape=box, style=rounded, label="add"]; out [shape=doublecircle, label="sum"];
  grid -> c0; grid -> c1; c0 -> add; c1 -> add; add -> out;
}"""

GRAPH_CELL = f"""\
dot = '''{GRAPH_DOT}'''
# no "svg": the extension lays the DOT out in the browser (@hpcc-js/wasm-graphviz)
display({{"application/vnd.ntpt.program+json": {{"name": "add2x2_top", "dot": dot,
          "source": "def add2x2_top(grid):\\n    return add(digit(grid[0]), digit(grid[1]))"}},
         "text/plain": "program add2x2_top"}}, raw=True)"""


def _notebook(path: Path) -> None:
    def code(src: str, tag: str) -> dict:
        return {"cell_type": "code", "execution_count": None, "id": tag, "metadata": {}, "outputs": [],
                "source": src}

    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "title", "metadata": {},
             "source": "# Neural library: drag and drop\nDrag entries in, drag cards out."},
            code("x = 1", "target"),
            code('print("LOADED", digit.signature, digit.origin["version"])', "probe"),
            code(TRAIN_CELL, "train"),
            code(GRAPH_CELL, "graph"),
            code(FRESH_CELL, "fresh"),
            code(LATE_CELL, "late"),
            code(TRAIN_LATE_CELL, "train_late"),
            code(NEVER_CELL, "never"),
            code(FIT_CELL, "fit"),
            code("", "version_target"),
            code(VERSION_PROBE_CELL, "version_probe"),
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


# --------------------------------------------------------------------------- server and browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = skip_reason(need_extension=True)
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("lab")
    root, lib = tmp / "root", tmp / "lib"
    root.mkdir()
    _make_library(lib)
    _notebook(root / "workbench.ipynb")
    with running_lab(tmp, root, "workbench.ipynb", ready_path="/ntpt/library/stamp",
                     lab_args=f'--NTPTWorkbench.library="{lib}"', env={"WORKBENCH_LIBRARY": str(lib)},
                     viewport=(1400, 900)) as lab:
        yield {**lab, "lib": lib}


def _center(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, locator
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A Lumino drag: pointer down, a few small moves (past the 5 px threshold), then to the target."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 4, start[1] + 4, steps=2)
    page.mouse.move(start[0] + 12, start[1] + 12, steps=3)
    page.mouse.move(*end, steps=15)
    page.mouse.move(end[0] + 1, end[1] + 1, steps=2)
    page.mouse.up()


def _cell(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _source(page, index: int) -> str:
    return _cell(page, index).locator(".cm-content").inner_text()


def _run_cell(page, index: int) -> None:
    cell = _cell(page, index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+Enter")


def _confirm(page, *, shot_name: str | None = None) -> str:
    """Accept the publish preview dialog; -> its text (taking a screenshot first when asked)."""
    dialog = page.locator(".jp-Dialog:has(.jp-ntpt-publishPreview)")
    dialog.wait_for(timeout=60_000)
    text = dialog.inner_text()
    if shot_name:
        shot(page, shot_name)
    dialog.locator(".jp-mod-accept").click()
    dialog.wait_for(state="detached")
    return text


def _panel(page):
    """The library panel, made visible (its side-bar tab toggles it)."""
    panel = page.locator("#ntpt-library")
    if not panel.is_visible():
        page.locator('.jp-SideBar li[data-id="ntpt-library"]').click()
    panel.wait_for(state="visible")
    return panel


# --------------------------------------------------------------------------- the stories


def test_panel_lists_the_library(lab):
    page = lab["page"]
    panel = _panel(page)
    panel.locator('.jp-ntpt-entry[data-name="op"]').wait_for()
    names = panel.locator(".jp-ntpt-entry .jp-ntpt-name").all_inner_texts()
    assert names == ["digit", "op"]
    digit = panel.locator('.jp-ntpt-entry[data-name="digit"]')
    assert digit.locator(".jp-ntpt-signature").inner_text() == "Image28x28 -> Digit[10]"
    assert digit.locator(".jp-ntpt-version").inner_text() == "v1"
    assert re.fullmatch(r"accuracy 0\.\d+", digit.locator(".jp-ntpt-metrics").inner_text())
    assert "task supervised-mnist" in digit.locator(".jp-ntpt-provenance").inner_text()
    assert panel.locator('.jp-ntpt-entry[data-name="op"] .jp-ntpt-tag').all_inner_texts() == [
        "operators", "untrained"]
    location = panel.locator(".jp-ntpt-location")
    assert location.get_attribute("title") == f"Library: {lab['lib']}"
    assert str(lab["lib"]).endswith(location.inner_text().lstrip("…"))
    # the filter box
    panel.locator(".jp-ntpt-filter").fill("operators")
    page.wait_for_function("document.querySelectorAll('#ntpt-library .jp-ntpt-entry').length === 1")
    assert panel.locator(".jp-ntpt-entry .jp-ntpt-name").all_inner_texts() == ["op"]
    panel.locator(".jp-ntpt-filter").fill("")
    page.wait_for_function("document.querySelectorAll('#ntpt-library .jp-ntpt-entry').length === 2")
    shot(page, "lab_panel.png")


def test_drag_an_entry_into_the_notebook(lab):
    page = lab["page"]
    panel = _panel(page)
    entry = panel.locator('.jp-ntpt-entry[data-name="digit"]')
    entry.wait_for(state="visible")
    code = 'from workbench.library import Library\ndigit = Library().load("digit", version=1)'

    # (a) on a cell's editor: inserted as whole lines at the drop point
    target = _cell(page, 1).locator(".cm-content")
    box = target.bounding_box()
    _drag(page, _center(entry), (box["x"] + 30, box["y"] + box["height"] / 2))
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell')[1]"
                           ".querySelector('.cm-content').innerText.includes('Library')")
    assert _source(page, 1) == "x = 1\n" + code
    assert page.locator(".jp-Notebook .jp-Cell").count() == 12

    # (b) between two cells: a new code cell there
    probe = _cell(page, 2).bounding_box()
    _drag(page, _center(entry), (probe["x"] + probe["width"] / 2, probe["y"] + 2))
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell').length === 13")
    assert _source(page, 2) == code
    assert "jp-CodeCell" in (_cell(page, 2).get_attribute("class") or "")

    # running it loads the function (the probe cell, now cell 3, prints it)
    _run_cell(page, 2)
    _run_cell(page, 3)
    out = _cell(page, 3).locator(".jp-OutputArea-output")
    out.wait_for()
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell')[3].innerText.includes('LOADED')")
    assert "LOADED Image28x28 -> Digit[10] 1" in out.inner_text()
    shot(page, "lab_drag_in.png")


def test_drag_a_trained_functions_card_onto_the_panel(lab):
    page, lib = lab["page"], lab["lib"]
    _run_cell(page, 4)  # train digit@1 a little more, stage it, show its card
    card = _cell(page, 4).locator(".jp-ntpt-card.jp-ntpt-draggable")
    card.wait_for(timeout=120_000)
    assert "from digit@1" in card.inner_text()
    _cell(page, 4).scroll_into_view_if_needed()
    drop = _panel(page).locator(".jp-ntpt-dropZone")
    _drag(page, _center(card), _center(drop))
    preview = _confirm(page, shot_name="lab_publish_preview.png")
    assert "digit@2" in preview and "from digit@1" in preview and "⚠" not in preview  # trained, same lineage

    status = _panel(page).locator(".jp-ntpt-status")
    page.wait_for_function("document.querySelector('#ntpt-library .jp-ntpt-status')"
                           ".innerText.includes('Published')")
    assert "Published digit@2 (from version 1)" in status.inner_text()
    manifest = lib / "digit" / "000002" / "manifest.json"
    assert manifest.is_file()
    data = json.loads(manifest.read_text())
    assert data["provenance"]["parent"] == 1 and data["provenance"]["task"] == "supervised-mnist"
    assert 0.0 < data["metrics"]["accuracy"] <= 1.0
    digit = _panel(page).locator('.jp-ntpt-entry[data-name="digit"]')
    page.wait_for_function("document.querySelector('#ntpt-library .jp-ntpt-entry[data-name=\"digit\"] "
                           ".jp-ntpt-version').innerText === 'v2'")
    assert "from v1" in digit.locator(".jp-ntpt-provenance").inner_text()
    shot(page, "lab_drag_out.png")


def test_the_graph_renderer_shows_an_svg(lab):
    page = lab["page"]
    _run_cell(page, 5)
    graph = _cell(page, 5).locator(".jp-ntpt-graph")
    graph.locator("svg").first.wait_for(timeout=60_000)
    assert graph.get_attribute("data-source") == "browser"
    svg = graph.locator("svg").first
    assert svg.locator("g.node").count() == 5
    assert "digit(grid[0])" in (svg.text_content() or "")
    assert "def add2x2_top" in graph.locator(".jp-ntpt-source").inner_text()
    _cell(page, 5).scroll_into_view_if_needed()
    shot(page, "lab_graph.png")


def test_publishing_asks_for_a_name_when_needed(lab):
    """A new function named like an existing, unrelated entry: the panel asks, refuses a bad name."""
    page, lib = lab["page"], lab["lib"]
    _run_cell(page, 6)
    card = _cell(page, 6).locator(".jp-ntpt-card.jp-ntpt-draggable")
    card.wait_for()
    _cell(page, 6).scroll_into_view_if_needed()
    _drag(page, _center(card), _center(_panel(page).locator(".jp-ntpt-dropZone")))
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    assert "already exists" in dialog.inner_text()
    dialog.locator("input").fill("../escape")
    dialog.locator(".jp-mod-accept").click()
    page.wait_for_function("document.querySelector('.jp-Dialog') && "
                           "document.querySelector('.jp-Dialog').innerText.includes('not a valid entry name')")
    page.locator(".jp-Dialog input").fill("digit-fresh")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    assert "NEVER TRAINED" in _confirm(page)
    page.wait_for_function("document.querySelector('#ntpt-library .jp-ntpt-status')"
                           ".innerText.includes('Published digit-fresh@1')")
    assert (lib / "digit-fresh" / "000001" / "manifest.json").is_file()
    assert not (lib.parent / "escape").exists()
    _panel(page).locator('.jp-ntpt-entry[data-name="digit-fresh"]').wait_for()



def test_a_card_shown_before_training_publishes_the_trained_weights(lab):
    """Displaying writes nothing; the kernel stages the function when the drag starts."""
    import torch

    from workbench.library import Library

    page, lib = lab["page"], lab["lib"]
    staging = lib / ".staging"
    before = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    _run_cell(page, 7)  # display the untrained card
    card = _cell(page, 7).locator(".jp-ntpt-card.jp-ntpt-draggable")
    card.wait_for(timeout=120_000)
    after_display = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    assert after_display == before  # showing the card staged nothing
    _run_cell(page, 8)  # then "train" it
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell')[8].innerText.includes('TRAINED')")
    _cell(page, 7).scroll_into_view_if_needed()
    _drag(page, _center(card), _center(_panel(page).locator(".jp-ntpt-dropZone")))
    assert "trained" in _confirm(page)
    page.wait_for_function("document.querySelector('#ntpt-library .jp-ntpt-status')"
                           ".innerText.includes('Published late@1')", timeout=60_000)
    published = Library(lib).load("late")
    assert all(torch.equal(p, torch.full_like(p, 0.25)) for p in published.module.parameters())
    shot(page, "lab_drag_time_staging.png")


def _status_has(page, text: str, timeout: float = 60_000) -> None:
    try:
        page.wait_for_function("t => document.querySelector('#ntpt-library .jp-ntpt-status').innerText.includes(t)",
                               arg=text, timeout=timeout)
    except Exception:
        shot(page, "debug_status_timeout.png")  # what the page showed instead
        raise


def test_publishing_a_never_trained_net_warns_and_identical_weights_are_refused(lab):
    page, lib = lab["page"], lab["lib"]
    _run_cell(page, 9)
    card = _cell(page, 9).locator(".jp-ntpt-card.jp-ntpt-draggable")
    card.wait_for(timeout=60_000)
    _cell(page, 9).scroll_into_view_if_needed()
    _drag(page, _center(card), _center(_panel(page).locator(".jp-ntpt-dropZone")))
    dialog = page.locator(".jp-Dialog:has(.jp-ntpt-publishPreview)")
    dialog.wait_for(timeout=60_000)
    warning = dialog.locator('.jp-ntpt-warning[data-kind="untrained"]')
    assert "never trained" in warning.inner_text()
    assert "Publish anyway" in dialog.locator(".jp-mod-accept").inner_text()
    assert "NEVER TRAINED" in dialog.locator(".jp-ntpt-diff").inner_text()
    dialog.locator(".jp-ntpt-description").fill("a random baseline")
    shot(page, "lab_publish_untrained_warning.png")
    dialog.locator(".jp-mod-accept").click()  # published anyway, with the warning recorded
    _status_has(page, "Published never@1")
    m = json.loads((lib / "never" / "000001" / "manifest.json").read_text())
    assert m["provenance"]["run"]["trained"] == "untrained" and m["description"] == "a random baseline"

    # the same card again: the same weights, refused with a pointer to never@1, nothing written
    _cell(page, 9).scroll_into_view_if_needed()
    _drag(page, _center(card), _center(_panel(page).locator(".jp-ntpt-dropZone")))
    name_dialog = page.locator(".jp-Dialog")  # the kernel's object does not know the server published it
    name_dialog.wait_for()
    assert "already exists" in name_dialog.inner_text()
    name_dialog.locator(".jp-mod-accept").click()  # keep the name 'never'
    _status_has(page, "Not published: these weights are already never@1")
    status = _panel(page).locator(".jp-ntpt-status").inner_text()
    assert 'Library().load("never", version=1)' in status
    assert not (lib / "never" / "000002").exists()
    shot(page, "lab_duplicate_refused.png")


def test_a_fit_results_display_shows_its_trained_nets_and_publishes_with_provenance(lab):
    page, lib = lab["page"], lab["lib"]
    _run_cell(page, 10)
    card = _cell(page, 10).locator(".jp-ntpt-fit .jp-ntpt-card.jp-ntpt-draggable")
    card.wait_for(timeout=180_000)
    assert card.get_attribute("data-name") == "value" and "program_val_accuracy" in card.inner_text()
    card.scroll_into_view_if_needed()
    shot(page, "lab_fit_cards.png")
    _drag(page, _center(card), _center(_panel(page).locator(".jp-ntpt-dropZone")))
    preview = _confirm(page)
    assert "program_val_accuracy" in preview and "first version" in preview
    _status_has(page, "Published value@1")
    m = json.loads((lib / "value" / "000001" / "manifest.json").read_text())
    prov = m["provenance"]
    assert prov["task"] == "sums" and prov["dataset"] == "270 training examples, 30 validation examples"
    assert prov["run"]["source"] == "fit" and prov["run"]["config"]["restarts"] == 2 and prov["run"]["steps"] == 60
    assert 0 <= m["metrics"]["program_val_accuracy"] <= 1
    # the panel shows the provenance: details line and the history's per-version details
    entry = _panel(page).locator('.jp-ntpt-entry[data-name="value"]')
    entry.wait_for()
    assert "fit · 60 steps" in entry.locator(".jp-ntpt-details").inner_text()
    assert "sha256" in entry.locator(".jp-ntpt-details").inner_text()
    entry.locator(".jp-ntpt-more").click()
    details = entry.locator(".jp-ntpt-versionDetails")
    details.wait_for()
    text = details.inner_text()
    assert "sums" in text and "270 training examples" in text and "program_val_accuracy" in text
    assert "mlp(hidden=[8], in_shape=[5], out=5)" in text and "93" in text  # 5*8+8+8*5+5 = 93 parameters
    entry.scroll_into_view_if_needed()
    shot(page, "lab_provenance.png")
