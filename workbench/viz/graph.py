"""Program graphs (graphviz DOT): a sketch's soft structure, and a read-out program.

* :func:`soft_graph_spec` (from a :class:`~workbench.core.trace.Trace`): the data flow between
  sites (``SiteRecord.args``), with ``cast``/``let`` folded into the value they name. Each hole is a
  node listing its top choices and their probabilities; each ``choose`` site draws one edge per
  alternative, labelled with the selector's label and probability (e.g. ``MOVE_EAST 0.91``) and as
  thick as it is likely. Alternatives below ``min_prob`` are left out, and so is whatever then no
  longer reaches an output: as training decides the holes, the soft graph shrinks to the program.
  Sites are grouped into one box per step of their name (``line0``, ``line1``, ... see
  :mod:`workbench.viz.naming`); a loop-carried variable (``pos@{t}``) links consecutive boxes.
* :func:`program_graph_spec` (from a :class:`~workbench.readout.Program`): the discrete program's
  lines (from its IR: one node per line of its source), the inputs they read and the hole values.

:func:`to_dot` writes either spec as DOT text; :func:`to_svg` runs graphviz's ``dot`` when it is
installed and otherwise returns the DOT source with an install hint (nothing else needs ``dot``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from ._common import data_uri, entropy_bits, jsonable
from ._sites import Sites, read_parts
from .naming import ONCE, split_name

INSTALL_HINT = ("program graphs need graphviz's 'dot' program: install it with `apt-get install graphviz`, "
                "`conda install -c conda-forge graphviz` or `brew install graphviz`; the DOT source is shown instead")


# -- soft structure ------------------------------------------------------------------------------------
def _top(labels: list[str], probs: list[float], k: int) -> list[list[Any]]:
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    return [[labels[i], probs[i]] for i in order[:k]]


def soft_graph_spec(trace: Any, *, restart: int = 0, example: int = 0, min_prob: float = 0.05, top: int = 3,
                    name: str = "sketch", title: str | None = None, values: bool = True) -> dict[str, Any]:
    """The soft program graph of one restart (and example, for data-dependent selectors).

    ``min_prob``: alternatives less likely than this are left out; ``top``: choices listed per
    hole; ``title`` replaces the graph's caption; ``values=False`` leaves out each value's most likely
    outcome (for traces of a placeholder example, as :func:`graph_spec` makes for a FitResult)."""
    sites = Sites(trace)
    recs = sites.by_name
    # fold cast/let into the value they carry; a let's name becomes the value's display name
    root: dict[str, str] = {}
    display: dict[str, str] = {}
    for r in trace.records:
        if r.kind in ("cast", "let") and len(r.args) == 1 and r.args[0] in recs:
            src = root.get(r.args[0], r.args[0])
            root[r.name] = src
            if r.kind == "let" and src not in display:
                display[src] = r.name

    def rt(n: str) -> str:
        return root.get(n, n)

    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add_edge(src: str, dst: str, role: str, prob: float | None = None, label: str | None = None) -> None:
        key = (src, dst, role)
        e = edges.get(key)
        if e is None:
            edges[key] = {"src": src, "dst": dst, "role": role, "prob": prob, "labels": [label] if label else []}
        else:
            if prob is not None:
                e["prob"] = (e["prob"] or 0.0) + prob
            if label:
                e["labels"].append(label)

    holes = {}
    for r in trace.records:
        if r.name in root:
            continue
        probs = [float(x) for x in r.marginal(restart, example)]
        labels = sites.labels(r)
        node = {"id": r.name, "name": display.get(r.name, r.name), "site": r.name, "kind": r.kind,
                "domain": r.domain.name, "step": _step(display.get(r.name, r.name), r.name)}
        if r.kind == "hole":
            holes[r.name] = {"values": labels, "probs": probs, "entropy_bits": entropy_bits(probs)}
            node["choices"] = _top(labels, probs, top)
            node["entropy_bits"] = entropy_bits(probs)
        elif r.kind == "const":
            node["value"] = labels[max(range(len(probs)), key=probs.__getitem__)]
        elif values:
            node["top"] = _top(labels, probs, 1)[0]
        if r.kind == "neural":
            node["reads"] = None if r.reads is None else str(r.reads)
        nodes[r.name] = node
        if r.kind == "choose" and r.args:
            sel = r.args[0]
            add_edge(rt(sel), r.name, "select")
            sp = [float(x) for x in trace[sel].marginal(restart, example)] if sel in trace else []
            named = sel in trace and trace[sel].domain.labels is not None
            short = display.get(sel, sel).rsplit(".", 1)[-1]
            for j, alt in enumerate(r.args[1:]):
                p = sp[j] if j < len(sp) else None
                # labelled selector: "MOVE_EAST 0.91"; otherwise name the choice: "a=R1 0.97"
                tag = trace[sel].domain.label(j) if named else f"{short}={display.get(rt(alt), alt)}"
                add_edge(rt(alt), r.name, "alt", p, tag)
        elif r.kind == "neural":
            inp = read_parts(r.reads)[0] or ""
            if inp.isidentifier():
                if inp not in nodes:
                    nodes[inp] = {"id": inp, "name": inp, "site": inp, "kind": "tensor", "domain": "",
                                  "step": ONCE}
                add_edge(inp, r.name, "input")
            for a in r.args:
                add_edge(rt(a), r.name, "index")
        else:
            for a in r.args:
                add_edge(rt(a), r.name, "data")
    for ename, v in trace.outputs.items():
        if hasattr(v, "name") and rt(v.name) in nodes:
            oid = f"output:{ename}"
            nodes[oid] = {"id": oid, "name": ename, "site": v.name, "kind": "output", "domain": v.domain.name,
                          "step": ONCE}
            if values:
                p = v.probs[min(restart, v.probs.shape[0] - 1), min(example, v.probs.shape[1] - 1)]
                nodes[oid]["top"] = _top([v.domain.label(i) for i in range(v.domain.size)], p.tolist(), 1)[0]
            add_edge(rt(v.name), oid, "data")

    # prune unlikely alternatives, then whatever no longer reaches an output
    kept = [e for e in edges.values() if not (e["role"] == "alt" and e["prob"] is not None and e["prob"] < min_prob)]
    into: dict[str, list[dict[str, Any]]] = {}
    for e in kept:
        into.setdefault(e["dst"], []).append(e)
    live: set[str] = set()
    todo = [n for n, d in nodes.items() if d["kind"] == "output"] or list(nodes)
    while todo:
        n = todo.pop()
        if n in live:
            continue
        live.add(n)
        todo.extend(e["src"] for e in into.get(n, []))
    for h in holes:  # every hole stays visible; an unused one is drawn faded
        if h not in live:
            nodes[h]["unused"] = True
            live.add(h)
    out_edges = [{**e, "label": _edge_label(e)} for e in kept if e["src"] in live and e["dst"] in live]
    out_nodes = [nodes[n] for n in nodes if n in live]
    return jsonable({"kind": "soft", "name": name, "title": title, "restart": restart, "example": example,
                     "min_prob": min_prob,
                     "nodes": out_nodes, "edges": out_edges, "holes": holes,
                     "pruned": sorted(set(nodes) - live)})


def _edge_label(e: Mapping[str, Any]) -> str:
    if e["role"] != "alt" or e["prob"] is None:
        return ""
    names = "|".join(dict.fromkeys(e["labels"]))
    if len(names) > 28:
        names = names[:26] + "…"
    return f"{names} {e['prob']:.2f}"


def _step(display: str, site: str) -> str:
    """The box a node goes in: the step of the site computing it (``line0.pos`` -> 0), else of its name."""
    s = split_name(site)[1]
    return s if s != ONCE else split_name(display)[1]


# -- sketch structure ------------------------------------------------------------------------------------
def structure_graph_spec(trace: Any, *, name: str = "sketch") -> dict[str, Any]:
    """The sketch's skeleton: only its named variables (holes, ``let`` state such as ``R{t}`` and
    ``pos@{t}``, inputs, outputs), with an edge wherever one reaches another through unnamed sites.
    Holes list their values. Compact where :func:`soft_graph_spec` of an untrained sketch is not."""
    sites = Sites(trace)
    recs = trace.records
    outputs = {v.name: k for k, v in trace.outputs.items() if hasattr(v, "name")}
    named = {split_name(r.name)[0] for r in recs if r.kind in ("hole", "let")}
    kept = [r for r in recs if r.kind in ("hole", "let", "input") or r.name in outputs
            or (r.kind == "const" and split_name(r.name)[0] in named and split_name(r.name)[1])]
    keep = {r.name for r in kept}
    tensors: set[str] = set()  # tensor inputs read by neural functions

    def sources(r: Any) -> list[str]:
        out = list(r.args)
        if r.kind == "neural":
            inp = read_parts(r.reads)[0]
            if inp:
                tensors.add(inp)
                out.append(f"input:{inp}")
        return out

    memo: dict[str, set[str]] = {}

    def feeders(r: Any) -> set[str]:  # the kept nodes feeding record ``r`` through unnamed sites
        found: set[str] = set()
        for a in sources(r):
            if a in keep or a.startswith("input:"):
                found.add(a)
            elif a in sites.by_name:
                if a not in memo:
                    memo[a] = set()  # (a data-flow graph has no cycles; this only guards)
                    memo[a] = feeders(sites.by_name[a])
                found |= memo[a]
        return found

    nodes, edges = [], []
    for r in kept:
        node = {"id": r.name, "name": r.name, "site": r.name, "kind": r.kind, "domain": r.domain.name,
                "step": split_name(r.name)[1]}
        if r.kind == "hole":
            node["values"] = sites.labels(r)
        if r.kind == "const":
            node["value"] = sites.labels(r)[int(r.marginal(0, 0).argmax())]
        nodes.append(node)
        for src in sorted(feeders(r)):
            role = "select" if src in sites.by_name and sites.by_name[src].kind == "hole" else "data"
            edges.append({"src": src, "dst": r.name, "role": role, "label": ""})
    for inp in sorted(tensors):
        nodes.append({"id": f"input:{inp}", "name": inp, "site": inp, "kind": "tensor", "domain": "", "step": ONCE})
    for name_, key in outputs.items():
        nodes.append({"id": f"output:{key}", "name": key, "site": name_, "kind": "output",
                      "domain": sites.by_name[name_].domain.name, "step": ONCE})
        edges.append({"src": name_, "dst": f"output:{key}", "role": "data", "label": ""})
    return jsonable({"kind": "structure", "name": name, "nodes": nodes, "edges": edges,
                     "holes": {r.name: {"values": sites.labels(r)} for r in kept if r.kind == "hole"}})


# -- read-out program ------------------------------------------------------------------------------------
def program_graph_spec(program: Any, *, hole_labels: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The discrete program's data flow, from its IR (:meth:`~workbench.core.program.Graph.statements`):
    one node per line of its source, an edge per variable a line reads, loop lines marked with their step
    count; plus the hole values (named by ``hole_labels``, by default read off the sketch's structure)."""
    ir = program.ir
    nodes = [{"id": p, "name": p, "kind": "input", "expr": ""} for p in ir.params]
    edges = []
    defined = set(ir.params)
    for st in ir.statements():
        if st.header or st.var.startswith("_length("):
            continue
        var = st.var
        kind = "output" if var == "return" else (st.node.op if st.node is not None else "let")
        if kind == "is":
            kind = "fn"
        node = {"id": var, "name": var, "kind": kind, "expr": st.expr}
        if st.loop is not None:
            node["loop"] = st.loop
        if any(n["id"] == var for n in nodes):  # a loop variable assigned before the loop and in it
            continue
        nodes.append(node)
        reads = [d for d in st.deps if d in defined or d == var]
        if st.node is not None and st.node.read is not None and st.node.read.input not in reads:
            reads.insert(0, st.node.read.input)
        edges.extend({"src": u, "dst": var, "role": "loop" if u == var else "data", "label": ""}
                     for u in dict.fromkeys(reads))
        defined.add(var)
    labels = dict(hole_labels or {}) or _hole_labels(program.sketch)
    holes = {}
    for h, v in program.assignment.items():
        names = labels.get(h)
        holes[h] = {"value": int(v), "label": names[int(v)] if names and int(v) < len(names) else str(v)}
    return jsonable({"kind": "program", "name": program.sketch.name, "nodes": nodes, "edges": edges,
                     "holes": holes, "source": program.source,
                     "loops": [{"steps": lp.count, "lines": len(lp.body)} for lp in ir.loops]})


def example_inputs(sketch: Any) -> dict[str, Any]:
    """One all-zero example of each declared input (enough to run a sketch for its structure)."""
    import torch

    out = {}
    for k, typ in sketch.inputs.items():
        if hasattr(typ, "size") and hasattr(typ, "labels"):  # a Domain
            out[k] = torch.zeros(1, dtype=torch.long)
        elif hasattr(typ, "length"):  # a tape
            out[k] = torch.zeros(1, typ.length or 1, *typ.cell.shape)
        else:  # a tensor type or a grid
            out[k] = torch.zeros(1, *typ.shape)
    return out


def _hole_labels(sketch: Any) -> dict[str, list[str]]:
    """Names of each hole's values (instruction names, the registers a selector picks ...)."""
    try:
        trace = structure_trace(sketch)
    except Exception:  # only for labels: fall back to plain numbers
        return {}
    sites = Sites(trace)
    return {r.name: sites.labels(r) for r in trace.records if r.kind == "hole"}


def structure_trace(sketch: Any, hole_probs: Mapping[str, Any] | None = None, restart: int = 0) -> Any:
    """A soft trace of ``sketch`` on an all-zero example: uniform holes, or ``hole_probs`` (R, K) of a fit."""
    import torch

    x = example_inputs(sketch)
    if hole_probs is None:
        info = sketch.discover(x)
        logits = {k: torch.zeros(1, d.size) for k, d in info.holes.items()}
    else:
        logits = {k: torch.log(torch.as_tensor(p, dtype=torch.float32)[restart:restart + 1].clamp_min(1e-30))
                  for k, p in hole_probs.items()}
    return sketch.trace(logits, x)


def graph_spec(obj: Any, **kwargs: Any) -> dict[str, Any]:
    """The graph spec of a Trace, Sketch (uniform holes), FitResult (learned holes) or Program."""
    kind = type(obj).__name__
    if kind == "Program":
        return program_graph_spec(obj, **kwargs)
    if kind == "Trace":
        return soft_graph_spec(obj, **kwargs)
    if kind == "Sketch":  # view="structure" (default: named variables only) or "soft" (every site, uniform holes)
        if kwargs.pop("view", "structure") == "soft":
            return soft_graph_spec(structure_trace(obj), name=obj.name, values=False, **kwargs)
        return structure_graph_spec(structure_trace(obj), name=obj.name)
    if kind == "FitResult":
        restart = kwargs.pop("restart", obj.best.index)
        trace = structure_trace(obj.sketch, obj.hole_probs, restart)
        spec = soft_graph_spec(trace, name=obj.sketch.name, restart=0, values=False, **kwargs)
        return spec | {"restart": restart}
    raise ConfigError(f"no program graph for a {kind}", hint="give a Trace, Sketch, FitResult or Program")


# -- DOT ----------------------------------------------------------------------------------------------------
def _q(text: str, *, left: bool = False) -> str:
    """A DOT quoted string: user text escaped, line breaks centred (or left-justified)."""
    brk = "\\l" if left else "\\n"
    body = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", brk)
    return '"' + body + (brk if left else "") + '"'


_STYLE = {
    "hole": 'shape=note, style=filled, fillcolor="#fff4c2", color="#b08800"',
    "neural": 'shape=box, style="rounded,filled", fillcolor="#dbeafe", color="#2563eb"',
    "fn": 'shape=ellipse, style=filled, fillcolor="#f3f4f6", color="#6b7280"',
    "choose": 'shape=invtrapezium, style=filled, fillcolor="#ede9fe", color="#7c3aed"',
    "const": 'shape=plaintext, fontcolor="#6b7280"',
    "input": 'shape=cds, style=filled, fillcolor="#dcfce7", color="#16a34a"',
    "tensor": 'shape=cds, style=filled, fillcolor="#dcfce7", color="#16a34a"',
    "output": 'shape=doubleoctagon, style=filled, fillcolor="#fee2e2", color="#dc2626"',
    "let": 'shape=box, style=filled, fillcolor="#f3f4f6"',
    "cast": 'shape=box, style=filled, fillcolor="#f3f4f6"',
}


def _node_label(n: Mapping[str, Any]) -> str:
    if n["kind"] == "hole" and "values" in n:  # structure view: the hole's possible values
        vals = n["values"]
        shown = ", ".join(vals[:6]) + (f", ... ({len(vals)})" if len(vals) > 6 else "")
        return f"hole {n['name']}\n{_wrap(shown, 34)}"
    if n["kind"] == "hole":
        lines = [f"hole {n['name']}"] + [f"{lab}  {p:.2f}" for lab, p in n["choices"] if p >= 0.005]
        return "\n".join(lines)
    if n["kind"] == "const":
        return f"{n['name']} = {n['value']}"
    if n["kind"] == "neural":
        return f"{n['name']}\n{n.get('reads') or ''} → {n['domain']}"
    if n["kind"] == "tensor":
        return n["name"]
    top = n.get("top")
    extra = f"\n{n['domain']}: {top[0]} ({top[1]:.2f})" if top else (f"\n{n['domain']}" if n.get("domain") else "")
    return f"{n['name']}{extra}"


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def to_dot(spec: Mapping[str, Any], *, rankdir: str = "TB") -> str:
    """DOT text of a graph spec (soft or program)."""
    out = [f"digraph {_q(spec['name'])} {{",
           f'  graph [rankdir={rankdir}, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.35, '
           f'labelloc=t, label={_q(_title(spec))}];',
           '  node [fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=8, color="#555555", arrowsize=0.6];']
    if spec["kind"] == "program":
        for n in spec["nodes"]:
            style = _STYLE["input" if n["kind"] == "input" else n["kind"]]
            label = n["name"] if not n["expr"] else (f"{n['name']} = {n['expr']}" if n["kind"] != "output"
                                                     else f"return {n['expr']}")
            out.append(f"  {_q(n['id'])} [label={_q(label)}, {style}];")
        for e in spec["edges"]:
            out.append(f"  {_q(e['src'])} -> {_q(e['dst'])};")
        if spec["holes"]:
            rows = "\n".join(["hole values"] + [f"{h} = {v['label']}" for h, v in spec["holes"].items()])
            out.append(f'  "holes:" [shape=note, style=filled, fillcolor="#fff4c2", color="#b08800", '
                       f'label={_q(rows, left=True)}];')
        out.append("}")
        return "\n".join(out) + "\n"
    clusters: dict[str, list[Mapping[str, Any]]] = {}
    for n in spec["nodes"]:
        clusters.setdefault(n.get("step", ONCE), []).append(n)
    def stem_of(n: Mapping[str, Any]) -> str:
        return split_name(n["site"])[0].split("{t}")[0].rstrip("@.")

    stems = [stem_of(n) for n in spec["nodes"] if n.get("step", ONCE) != ONCE]
    common = max(set(stems), key=lambda x: (stems.count(x), x)) if stems else ""
    for step, members in clusters.items():
        indent = "  "
        if step != ONCE:  # one box per step, named like most sites ("line1"), else "step 4"
            title = f"{common}{step}" if common and any(stem_of(m) == common for m in members) else f"step {step}"
            out.append(f"  subgraph {_q('cluster_' + step)} {{")
            out.append(f'    label={_q(title)}; style="rounded,dashed"; color="#9ca3af"; fontcolor="#374151";')
            indent = "    "
        for n in members:
            style = _STYLE.get(n["kind"], "shape=box")
            if n.get("unused"):
                style += ', fontcolor="#9ca3af", color="#d1d5db", fillcolor="#fafafa"'
            out.append(f"{indent}{_q(n['id'])} [label={_q(_node_label(n))}, {style}];")
        if step != ONCE:
            out.append("  }")
    for e in spec["edges"]:
        attrs = []
        if e["role"] == "select":
            attrs.append('style=dashed, color="#b08800", arrowhead=odot')
        elif e["role"] == "index":
            attrs.append('style=dotted, color="#2563eb"')
        elif e["role"] == "input":  # the grid feeds every read: light, and left out of the layout
            attrs.append('color="#16a34a40", constraint=false')
        if e["role"] == "alt" and e.get("prob") is not None:
            p = max(0.0, min(1.0, e["prob"]))
            shade = int(200 - 170 * p)
            attrs.append(f'penwidth={0.6 + 2.6 * p:.2f}, color="#{shade:02x}{shade:02x}{min(255, shade + 40):02x}"')
        if e.get("label"):
            attrs.append(f"label={_q(e['label'])}")
        out.append(f"  {_q(e['src'])} -> {_q(e['dst'])}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def _title(spec: Mapping[str, Any]) -> str:
    if spec.get("title"):
        return spec["title"]
    if spec["kind"] == "structure":
        return f"sketch {spec['name']}: {len(spec['holes'])} holes (dashed: a hole selects)"
    if spec["kind"] == "program":
        return f"read-out program {spec['name']}"
    h = spec.get("holes", {})
    bits = sum(v["entropy_bits"] for v in h.values())
    return (f"{spec['name']}: soft program (restart {spec['restart']}); {len(h)} holes, {bits:.1f} bits undecided; "
            f"alternatives below p={spec['min_prob']:g} hidden")


# -- rendering -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphImage:
    """What :func:`to_svg` made: ``svg`` (``None`` without graphviz), the DOT source and a hint."""

    dot: str
    svg: str | None = None
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return self.svg is not None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        import html

        if self.svg is not None:  # HTML first: an inert <img> that scales to the output's width
            return {"text/html": svg_img_tag(self.svg), "image/svg+xml": self.svg, "text/plain": self.dot}
        return {"text/html": f"<p><em>{html.escape(self.hint or '')}</em></p><pre>{html.escape(self.dot)}</pre>",
                "text/plain": f"{self.dot}\n# {self.hint}"}


def dot_available() -> bool:
    return shutil.which("dot") is not None


def render(dot: str, fmt: str = "svg", *, timeout: float = 30.0) -> bytes | None:
    """Run ``dot -T<fmt>`` on the DOT text; ``None`` when graphviz is not installed or fails."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def to_svg(dot: str) -> GraphImage:
    """SVG of DOT text via graphviz's ``dot``; without it, the DOT source and :data:`INSTALL_HINT`."""
    svg = render(dot, "svg")
    if svg is None:
        why = INSTALL_HINT if not dot_available() else "graphviz's 'dot' failed on this graph; the DOT source is shown"
        return GraphImage(dot=dot, hint=why)
    text = svg.decode("utf-8", "replace")
    start = text.find("<svg")
    return GraphImage(dot=dot, svg=text[start:] if start >= 0 else text)


def svg_img_tag(svg: str, *, alt: str = "program graph", max_width: str = "100%") -> str:
    """An inert ``<img>`` showing the SVG (safe in untrusted notebooks: no script can run)."""
    import html

    return (f'<img alt="{html.escape(alt)}" style="max-width:{max_width}" '
            f'src="{data_uri(svg, "image/svg+xml")}"/>')
