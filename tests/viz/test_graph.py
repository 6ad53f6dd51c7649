"""Program graphs: holes and their probabilities are on the graph, pruning follows the holes, and
the view degrades to DOT source plus an install hint when graphviz's ``dot`` is missing."""

from __future__ import annotations

import re
import shutil

import pytest
import torch

import workbench as wb
from workbench.readout import Program
from workbench.tasks.add2x2 import INSTRUCTIONS
from workbench.viz import graph
from workbench.viz.reprs import bundle, mime_type


def test_every_hole_is_on_the_soft_graph_with_its_probabilities(soft_trace):
    spec = graph.soft_graph_spec(soft_trace, restart=1, top=3)
    dot = graph.to_dot(spec)
    holes = [r for r in soft_trace.records if r.kind == "hole"]
    assert set(spec["holes"]) == {r.name for r in holes}
    for r in holes:
        probs = r.marginal(1, 0)
        assert spec["holes"][r.name]["probs"] == pytest.approx(probs.tolist(), abs=1e-7)
        node = next(n for n in spec["nodes"] if n["id"] == r.name)
        best = int(probs.argmax())
        assert node["choices"][0][1] == pytest.approx(float(probs[best]))
        assert f'"{r.name}" [label="hole {r.name}' in dot
        label = spec["holes"][r.name]["values"][best]
        assert f"{label}  {float(probs[best]):.2f}" in dot  # top choice and its probability


def test_alternative_edges_carry_the_selector_marginal(soft_trace):
    spec = graph.soft_graph_spec(soft_trace, restart=0, min_prob=0.0)
    instr = soft_trace["line1.instr"].marginal(0, 0)
    into_r1 = {e["src"]: e for e in spec["edges"] if e["dst"] == "line1.out" and e["role"] == "alt"}
    # R1 = choose(line1.instr, [zero, val_n, val_e, val_s, val_w, sum]); casts fold into the reads
    for j, src in enumerate(["line1.zero", "line1.read_n", "line1.read_e", "line1.read_s", "line1.read_w",
                             "line1.sum"]):
        assert into_r1[src]["prob"] == pytest.approx(float(instr[j]), abs=1e-6)
        assert into_r1[src]["label"] == f"{INSTRUCTIONS[j]} {float(instr[j]):.2f}"
    # pos@2 = choose(line1.instr, [pos@1, moves..., pos@1]): NOOP and ADD both keep the position
    keep = next(e for e in spec["edges"] if e["dst"] == "line1.pos" and e["src"] == "line0.pos" and e["role"] == "alt")
    assert keep["prob"] == pytest.approx(float(instr[0] + instr[5]), abs=1e-6)
    assert keep["label"].startswith("NOOP|ADD ")
    names = {n["id"]: n["name"] for n in spec["nodes"]}
    assert names["line1.out"] == "R1" and names["line1.pos"] == "pos@2"  # let names label the values


def test_pruning_leaves_the_program(decided_trace):
    spec = graph.soft_graph_spec(decided_trace)
    ids = {n["id"] for n in spec["nodes"] if not n.get("unused")}
    assert {"line1.read_e", "line2.read_w", "line3.sum", "result", "output:output"} <= ids
    assert not ids & {"line1.read_n", "line1.read_s", "line2.read_e", "line0.read_n", "line3.read_e"}
    unused = {n["id"] for n in spec["nodes"] if n.get("unused")}
    assert unused == {"line1.a", "line1.b", "line2.a", "line2.b"}  # holes of lines that do not ADD
    assert spec["pruned"] and "line0.read_n" in spec["pruned"]


def test_program_graph_from_the_read_out_source(add2x2, correct):
    sketch, digit, _ = add2x2
    program = Program(sketch, correct, {"digit": digit})
    spec = graph.program_graph_spec(program)
    assigned = [line.split("=")[0].strip() for line in program.source.splitlines()[1:-1]]
    assert [n["id"] for n in spec["nodes"]] == ["grid", *assigned, "return"]
    edges = {(e["src"], e["dst"]) for e in spec["edges"]}
    assert ("grid", assigned[0]) in edges and ("R3", "return") in edges
    assert spec["holes"]["line1.instr"] == {"value": 2, "label": "MOVE_EAST"}
    assert spec["holes"]["line3.a"]["label"] == "R1" and spec["holes"]["return"]["label"] == "R3"
    dot = graph.to_dot(spec)
    for h, v in spec["holes"].items():
        assert f"{h} = {v['label']}" in dot
    assert "grid[0, 1]" in dot  # cells named by (row, col)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_svg_with_graphviz(soft_trace):
    img = graph.to_svg(graph.to_dot(graph.soft_graph_spec(soft_trace)))
    assert img.ok and img.svg.startswith("<svg") and img.hint is None
    assert "line0.instr" in img.svg


def test_without_dot_the_view_returns_dot_source_and_a_hint(monkeypatch, add2x2, soft_trace, correct):
    monkeypatch.setenv("PATH", "/nonexistent")  # hide graphviz the way a machine without it looks
    assert shutil.which("dot") is None
    dot = graph.to_dot(graph.soft_graph_spec(soft_trace))
    img = graph.to_svg(dot)
    assert img.svg is None and img.dot == dot and not img.ok
    assert "apt-get install graphviz" in img.hint and "conda install -c conda-forge graphviz" in img.hint
    shown = img._repr_mimebundle_()
    assert "image/svg+xml" not in shown and "apt-get install graphviz" in shown["text/html"]
    # the rich displays that draw graphs still work: DOT in the JSON, hint in the HTML, no SVG
    sketch, digit, _ = add2x2
    program = Program(sketch, correct, {"digit": digit})
    for obj, kind in ((program, "program"), (sketch, "sketch")):
        b = bundle(obj)
        assert "image/svg+xml" not in b
        assert b[mime_type(kind)]["dot"].startswith("digraph")
        assert "apt-get install graphviz" in b["text/html"] and "text/plain" in b


def test_dot_quotes_user_names():
    @wb.sketch(inputs={"x": wb.Bool}, output=wb.Bool)
    def evil(x):
        return wb.choose(wb.hole('pick "\\one"', wb.Domain.enum("Op", ["ID", 'NOT"'])), [x, wb.not_(x)], name="out")

    trace = evil.trace({'pick "\\one"': torch.zeros(1, 2)}, {"x": torch.tensor([0, 1])})
    dot = graph.to_dot(graph.soft_graph_spec(trace, name='evil"<b>'))  # a graph name given by the user
    assert 'digraph "evil\\"<b>"' in dot and '"pick \\"\\\\one\\""' in dot
    unescaped = re.findall(r'(?<!\\)"', dot.split("\n", 1)[1])
    assert len(unescaped) % 2 == 0  # quotes balance
    if shutil.which("dot"):
        assert graph.to_svg(dot).ok  # graphviz parses it


def test_sketch_structure_keeps_named_variables_only(add2x2):
    sketch, _, _ = add2x2
    spec = graph.graph_spec(sketch)
    assert spec["kind"] == "structure"
    ids = {n["id"] for n in spec["nodes"]}
    holes = {"line0.instr", "line1.instr", "line1.a", "line1.b", "line2.instr", "line2.a", "line2.b",
             "line3.instr", "line3.a", "line3.b", "return"}
    assert set(spec["holes"]) == holes
    assert ids == holes | {f"R{i}" for i in range(4)} | {f"pos@{t}" for t in range(5)} | {
        "result", "input:grid", "output:output"}
    edges = {(e["src"], e["dst"]): e["role"] for e in spec["edges"]}
    assert edges[("pos@0", "pos@1")] == "data" and edges[("pos@1", "R1")] == "data"
    assert edges[("R0", "R1")] == "data" and edges[("input:grid", "R0")] == "data"
    assert edges[("line1.a", "R1")] == "select" and edges[("return", "result")] == "select"
    assert ("R1", "R0") not in edges and ("pos@4", "R3") not in edges
    assert spec["holes"]["line2.b"]["values"] == ["R0", "R1"]
    dot = graph.to_dot(spec)
    assert "hole line0.instr\\nNOOP, MOVE_NORTH" in dot


def test_graph_of_a_fit_result_has_its_learned_holes(tiny_fit):
    for r in (0, 1):
        spec = graph.graph_spec(tiny_fit, restart=r)
        assert spec["restart"] == r
        for name, probs in tiny_fit.hole_probs.items():
            assert spec["holes"][name]["probs"] == pytest.approx(probs[r].tolist(), abs=1e-6)
        assert not any("top" in n for n in spec["nodes"])  # values of a placeholder input are not shown
    assert graph.graph_spec(tiny_fit)["restart"] == tiny_fit.best.index
