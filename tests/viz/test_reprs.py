"""Rich displays: every object's ``_repr_mimebundle_`` has the custom MIME type with its JSON spec,
text/plain, and SVG or HTML; HTML is escaped; include/exclude are honoured."""

from __future__ import annotations

import json

import pytest
import torch

import workbench as wb
from workbench.readout import Program
from workbench.viz.reprs import bundle, mime_type


@pytest.fixture(scope="module")
def objects(add2x2, soft_trace, tiny_fit, correct):
    sketch, digit, _ = add2x2
    return {"trace": soft_trace, "neural": digit, "sketch": sketch,
            "program": Program(sketch, correct, {"digit": digit}), "fit": tiny_fit}


@pytest.mark.parametrize("kind", ["trace", "neural", "sketch", "program", "fit"])
def test_bundle_has_custom_mime_plain_and_a_picture_or_card(objects, kind):
    obj = objects[kind]
    b = obj._repr_mimebundle_()
    assert mime_type(kind) == f"application/vnd.ntpt.{kind}+json" and mime_type(kind) in b
    assert "text/plain" in b and "rich display unavailable" not in b["text/plain"]
    assert "image/svg+xml" in b or "text/html" in b
    json.dumps(b[mime_type(kind)], allow_nan=False)  # the renderer's JSON parses


def test_specs_carry_the_views_data(objects, soft_trace, tiny_fit):
    t = bundle(objects["trace"])[mime_type("trace")]
    assert t["variables"][0]["matrix"][0][0] == pytest.approx(float(soft_trace[t["variables"][0]["sites"][0]]
                                                                    .marginal(0, 0)[0]))
    assert "data:image/png;base64," in bundle(objects["trace"])["text/html"]
    f = bundle(objects["fit"])[mime_type("fit")]
    assert f["restarts"][0]["losses"] == pytest.approx(tiny_fit.restarts[0].losses)
    p = bundle(objects["program"])[mime_type("program")]
    assert p["source"] == objects["program"].source and p["assignment"]["line1.instr"]["label"] == "MOVE_EAST"
    assert bundle(objects["program"])["text/plain"] == objects["program"].source
    s = bundle(objects["sketch"])[mime_type("sketch")]
    assert s["holes"]["line0.instr"]["labels"][0] == "NOOP" and s["program_space"] == 6 ** 4 * 2 * 2 * 3 * 3 * 4
    n = bundle(objects["neural"])[mime_type("neural")]
    assert n["signature"] == "Image28x28 -> Digit[10]" and n["arch"]["constructor"] == "mlp"


def test_include_and_exclude(objects):
    only = bundle(objects["program"], include=["text/plain"])
    assert set(only) == {"text/plain"}
    b = bundle(objects["fit"], exclude=["text/html"])
    assert "text/html" not in b and mime_type("fit") in b and "text/plain" in b


def test_html_escapes_names():
    @wb.sketch(inputs={"x": wb.Bool}, output={"<script>alert(1)</script>": wb.Bool})
    def evil(x):
        return {"<script>alert(1)</script>":
                wb.choose(wb.hole("<img src=x onerror=alert(2)>", wb.Bool), [x, wb.not_(x)], name="out")}

    html = bundle(evil)["text/html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    trace = evil.trace({"<img src=x onerror=alert(2)>": torch.zeros(1, 2)}, {"x": torch.tensor([1])})
    assert "<img src=x" not in bundle(trace)["text/html"]
    program = Program(evil, {"<img src=x onerror=alert(2)>": 1})
    assert "<script>" not in bundle(program)["text/html"]


def test_library_entries(add2x2):
    from workbench.library.manifest import EntrySummary, EntryVersion

    _, digit, _ = add2x2
    ev = EntryVersion(name="digit", version=2, input=digit.input, output=digit.output, constructor="mlp",
                      kwargs={"out": 10}, metrics={"accuracy": 0.97}, task="ADD2x2", dataset="mnist", parent=1,
                      created="2024-01-01T00:00:00Z", weights_sha256="0" * 64)
    b = bundle(ev)
    assert b[mime_type("neural")]["ref"] == "digit@2" and "digit@2" in b["text/html"] and "text/plain" in b
    es = EntrySummary(name="digit", latest=2, versions=2, signature=digit.signature, metrics={"accuracy": 0.97})
    b = bundle(es)
    assert b[mime_type("neural")]["latest"] == 2 and "text/html" in b


def test_unknown_objects_are_refused():
    with pytest.raises(TypeError):
        bundle(object())


def test_a_failing_representation_is_named_in_the_text(objects, monkeypatch):
    import workbench.viz.training as training

    def broken(spec, **kw):
        raise RuntimeError("no figure today")

    monkeypatch.setattr(training, "training_figure", broken)
    b = bundle(objects["fit"])
    assert mime_type("fit") in b and "text/html" not in b
    assert "text/html: RuntimeError: no figure today" in b["text/plain"]


def test_neural_card_stages_weights_when_the_drag_starts_not_when_shown(tmp_path, monkeypatch):
    from workbench.library.staging import StagingArea
    from workbench.nets import build
    from workbench.viz.cards import stage_for_drag

    monkeypatch.setenv("WORKBENCH_LIBRARY", str(tmp_path / "lib"))
    nf = wb.NeuralFunction("digit", build("mlp", hidden=[8]), input=wb.Image28, output=wb.Domain("Digit", 10),
                           arch=("mlp", {"hidden": [8]}))
    payload = bundle(nf)["application/vnd.ntpt.neural+json"]
    assert payload["staging"] is None and payload["stage"]["token"]
    assert not (tmp_path / "lib").exists()  # displaying wrote nothing
    assert bundle(nf)["application/vnd.ntpt.neural+json"]["stage"] == payload["stage"]  # one token per object
    with torch.no_grad():  # "training" after the card was shown
        for p in nf.module.parameters():
            p.add_(1.0)
    reply = stage_for_drag(payload["stage"]["token"])._repr_json_()
    assert reply["error"] is None
    staged = StagingArea(tmp_path / "lib").load(reply["staging"]["id"])
    x = torch.randn(3, 28, 28)
    assert torch.equal(staged.function.module(x), nf.module(x))  # the weights at drag time
    no_arch = wb.NeuralFunction("raw", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)),
                                input=wb.Image28, output=wb.Domain("Digit", 10))
    p2 = bundle(no_arch)["application/vnd.ntpt.neural+json"]
    r2 = stage_for_drag(p2["stage"]["token"])._repr_json_()
    assert r2["staging"] is None and r2["error"]
    gone = stage_for_drag("0" * 32)._repr_json_()
    assert gone["staging"] is None and "gone" in gone["error"]
