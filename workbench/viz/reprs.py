"""Rich notebook displays: ``bundle(obj)`` is what ``obj._repr_mimebundle_()`` returns.

For each kind of object (``program``, ``trace``, ``fit``, ``neural``, ``sketch``) the bundle holds

* ``application/vnd.ntpt.<kind>+json``: the view's plain-data spec, for the workbench's JupyterLab
  renderer (graph specs also carry their DOT source, so the browser can lay them out without
  graphviz installed on the server);
* ``image/svg+xml`` (program graphs, when graphviz's ``dot`` is installed) and/or ``text/html``
  (cards, tables, figures as embedded PNG, graphs as inert ``<img>``) so that outputs still show in
  nbconvert, Notebook 7 and VS Code without the extension;
* ``text/plain``: the object's repr.

HTML is safe in untrusted notebooks: every name is escaped, nothing runs, pictures are data URIs.
``include``/``exclude`` (lists of MIME types) are honoured, and representations nobody asked for
are not computed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import Any

from ._common import data_uri, figure_png, jsonable

KINDS = ("program", "trace", "fit", "neural", "sketch")


def mime_type(kind: str) -> str:
    """``application/vnd.ntpt.<kind>+json``."""
    return f"application/vnd.ntpt.{kind}+json"


def bundle(obj: Any, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> dict[str, Any]:
    """The MIME bundle of a Trace, NeuralFunction, Sketch, Program, FitResult (or library entry)."""
    name = type(obj).__name__
    maker = _MAKERS.get(name) if type(obj).__module__.startswith("workbench.") else None
    if maker is None:
        raise TypeError(f"no rich display for {name}")
    kind, parts = maker(obj)
    wanted = set(include) if include else None
    unwanted = set(exclude or ())
    out: dict[str, Any] = {}
    failed: list[str] = []
    for mime, thunk in parts.items():
        key = mime_type(kind) if mime == "json" else mime
        if (wanted is not None and key not in wanted) or key in unwanted:
            continue
        try:
            value = thunk()
        except Exception as e:  # one failing representation never hides the others; say which failed
            failed.append(f"{key}: {type(e).__name__}: {e}")
            continue
        if value is not None:
            out[key] = value
    if (wanted is None or "text/plain" in wanted) and "text/plain" not in unwanted:
        text = out.get("text/plain") or repr(obj)
        out["text/plain"] = text + "".join(f"\n(display of {f} failed)" for f in failed)
    return out


# -- HTML helpers ----------------------------------------------------------------------------------------
_CARD = ("border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;margin:2px 0;"
         "font-family:var(--jp-ui-font-family, sans-serif);font-size:13px;max-width:100%;overflow-x:auto")


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table(rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th style='text-align:left;padding-right:12px;vertical-align:top'>{_e(k)}</th>"
                    f"<td style='text-align:left'>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table style='border-collapse:collapse'>{cells}</table>"


def _card(title: str, body: str, *, kind: str) -> str:
    return (f"<div class='ntpt-card ntpt-{_e(kind)}' style='{_CARD}'>"
            f"<div style='font-weight:600;margin-bottom:4px'>{title}</div>{body}</div>")


def _png(fig: Any, alt: str) -> str:
    return f"<img alt='{_e(alt)}' style='max-width:100%' src='{data_uri(figure_png(fig), 'image/png')}'/>"


def _pre(text: str) -> str:
    return f"<pre style='margin:4px 0;padding:6px;background:rgba(127,127,127,0.08)'>{_e(text)}</pre>"


def _graph_html(img: Any) -> str:
    from .graph import svg_img_tag

    if img.svg is not None:
        return svg_img_tag(img.svg)
    return f"<p><em>{_e(img.hint)}</em></p><details><summary>DOT source</summary>{_pre(img.dot)}</details>"


class _Lazy:
    """Compute once, on first use (several MIME types share one spec or graph)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn
        self.done = False
        self.value: Any = None

    def __call__(self) -> Any:
        if not self.done:
            self.value, self.done = self.fn(), True
        return self.value


def _checked(spec: dict[str, Any]) -> dict[str, Any]:
    json.dumps(spec, allow_nan=False)  # a renderer must be able to parse it
    return spec


# -- per kind ---------------------------------------------------------------------------------------------
def _trace(trace: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    from .trace_view import trace_figure, trace_spec

    spec = _Lazy(lambda: trace_spec(trace))

    def page() -> str:
        s = spec()
        head = (f"Trace: {len(trace.records)} sites, {s['restarts']} restart(s), {s['examples']} example(s); "
                f"showing example {s['example']}, restart {s['restart']}")
        hint = "<div style='color:#666'>browse steps and examples with <code>TraceExplorer(trace)</code></div>"
        return _card(_e(head), _png(trace_figure(s), "trace heatmaps") + hint, kind="trace")

    return "trace", {"json": lambda: _checked(spec()), "text/html": page, "text/plain": lambda: repr(trace)}


def _neural_spec(nf: Any) -> dict[str, Any]:
    n = sum(p.numel() for p in nf.module.parameters())
    return jsonable({"name": nf.name, "signature": nf.signature,
                     "input": {"name": nf.input.name, "shape": list(nf.input.shape)},
                     "output": {"name": nf.output.name, "size": nf.output.size,
                                "labels": list(nf.output.labels) if nf.output.labels else None},
                     "parameters": n, "module": type(nf.module).__name__,
                     "arch": {"constructor": nf.arch[0], "kwargs": dict(nf.arch[1])} if nf.arch else None,
                     "origin": dict(nf.origin) if nf.origin else None, "source": "sketch"})


def _neural(nf: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    spec = _Lazy(lambda: _neural_spec(nf))

    def page() -> str:
        s = spec()
        rows = [("signature", s["signature"]), ("parameters", f"{s['parameters']:,}"), ("module", s["module"])]
        if s["arch"]:
            rows.append(("architecture", f"{s['arch']['constructor']}({', '.join(f'{k}={v!r}' for k, v in s['arch']['kwargs'].items())})"))
        if s["origin"]:
            rows.append(("from library", f"{s['origin'].get('name')}@{s['origin'].get('version')}"))
        if s["output"]["labels"]:
            rows.append(("output labels", ", ".join(s["output"]["labels"])))
        return _card(f"neural function <code>{_e(nf.name)}</code>", _table(rows), kind="neural")

    def payload() -> dict[str, Any]:
        # Nothing is written at display time: the card carries a token, and the extension asks the
        # kernel to stage the function's weights when a drag starts (workbench.viz.cards).
        from .cards import remember

        data = dict(spec())
        data["stage"] = {"token": remember(nf), "module": "workbench.viz.cards", "call": "stage_for_drag"}
        data["staging"], data["staging_error"] = None, None
        return _checked(jsonable(data))

    return "neural", {"json": payload, "text/html": page, "text/plain": lambda: repr(nf)}


def _sketch(sk: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    from .graph import example_inputs, structure_graph_spec, structure_trace, to_dot, to_svg

    def make() -> dict[str, Any]:
        info = sk.discover(example_inputs(sk))
        g = structure_graph_spec(structure_trace(sk), name=sk.name)
        return {"name": sk.name, "inputs": {k: repr(t) for k, t in sk.inputs.items()},
                "outputs": {k: repr(d) for k, d in sk.outputs.items()},
                "holes": {k: {"domain": d.name, "size": d.size, "labels": [d.label(v) for v in range(d.size)]}
                          for k, d in info.holes.items()},
                "neural": {k: nf.signature for k, nf in info.neural.items()},
                "program_space": info.program_space, "graph": g, "dot": to_dot(g)}

    spec = _Lazy(lambda: jsonable(make()))
    img = _Lazy(lambda: to_svg(spec()["dot"]))

    def page() -> str:
        s = spec()
        rows = [("inputs", ", ".join(f"{k}: {v}" for k, v in s["inputs"].items())),
                ("outputs", ", ".join(f"{k}: {v}" for k, v in s["outputs"].items())),
                ("neural functions", ", ".join(f"{k}: {v}" for k, v in s["neural"].items()) or "none"),
                ("holes", f"{len(s['holes'])} ({s['program_space']:,} discrete programs)")]
        holes = ", ".join(f"{k}: {v['domain']}" for k, v in s["holes"].items())
        body = _table(rows) + f"<div style='color:#555;margin:4px 0'>{_e(holes)}</div>"
        return _card(f"sketch <code>{_e(sk.name)}</code>", body + _graph_html(img()), kind="sketch")

    return "sketch", {"json": lambda: _checked(spec()), "image/svg+xml": lambda: img().svg, "text/html": page,
                      "text/plain": lambda: repr(sk)}


def _program(p: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    from .graph import program_graph_spec, to_dot, to_svg

    def make() -> dict[str, Any]:
        try:
            g = program_graph_spec(p)
        except SyntaxError:  # source that is not Python (e.g. a sketch name that is no identifier)
            g = None
        assignment = g["holes"] if g else {k: {"value": v, "label": str(v)} for k, v in p.assignment.items()}
        return {"name": p.sketch.name, "source": p.source, "assignment": assignment, "neural": sorted(p.neural),
                "functions": sorted(p.functions), "graph": g, "dot": to_dot(g, rankdir="LR") if g else None}

    spec = _Lazy(lambda: jsonable(make()))
    img = _Lazy(lambda: to_svg(spec()["dot"]) if spec()["dot"] else None)

    def page() -> str:
        s = spec()
        holes = ", ".join(f"{k}={v['label']}" for k, v in s["assignment"].items())
        body = (_pre(s["source"]) + f"<div style='color:#555;margin:4px 0'>holes: {_e(holes)}</div>"
                + (_graph_html(img()) if img() is not None else ""))
        return _card(f"program <code>{_e(s['name'])}</code>", body, kind="program")

    return "program", {"json": lambda: _checked(spec()), "image/svg+xml": lambda: img() and img().svg,
                       "text/html": page,
                       "text/plain": lambda: p.source}


def _fit(result: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    from .training import training_figure, training_spec

    spec = _Lazy(lambda: training_spec(result) | {"summary": result.summary()})
    png = _Lazy(lambda: data_uri(figure_png(training_figure(spec())), "image/png"))

    def trained_cards() -> list[dict[str, Any]]:
        """The best restart's trained neural functions as draggable cards (with their run's metrics)."""
        from ..provenance import provenance_of

        frozen = {id(nf) for nf in result.info.neural.values()}
        out = []
        for nf in result.best.neural.values():
            if id(nf) in frozen:
                continue
            card = _neural(nf)[1]["json"]()
            prov = provenance_of(nf)
            card["trained"], card["metrics"] = prov.get("trained", "trained"), prov.get("metrics") or {}
            out.append(card)
        return out

    def payload() -> dict[str, Any]:
        data = dict(spec())
        try:
            data["png"] = png()
        except Exception:  # the curves are optional in the extension's view (the HTML names the failure)
            data["png"] = None
        try:
            data["neural"] = trained_cards()
        except Exception:  # cards are a convenience: never lose the fit's view over them
            data["neural"] = []
        return _checked(jsonable(data))

    def page() -> str:
        s = spec()
        head = ("<tr><th>restart</th><th>final loss</th><th>best discrete acc</th><th>at step</th>"
                "<th>correct</th></tr>")
        bold = " style='font-weight:600'"
        rows = "".join(
            f"<tr{bold if r['index'] == s['best'] else ''}><td>{r['index']}</td>"
            f"<td>{_fmt(r['losses'][-1] if r['losses'] else None)}</td><td>{_fmt(r['best_accuracy'])}</td>"
            f"<td>{_e(r['best_step'])}</td><td>{_e({True: 'yes', False: 'no', None: '?'}[r['correct']])}</td></tr>"
            for r in s["restarts"])
        table = f"<table style='border-collapse:collapse;text-align:right'>{head}{rows}</table>"
        best = next((r for r in s["restarts"] if r["index"] == s["best"]), None)
        prog = f"<div>best program (restart {s['best']}):</div>{_pre(best['program'])}" if best and best["program"] else ""
        note = " <span style='color:#b45309'>(interrupted: best so far)</span>" if s["interrupted"] else ""
        title = f"fit <code>{_e(s['sketch'])}</code>: {s['steps']} steps, {s['seconds']:.1f} s{note}"
        img = f"<img alt='training curves' style='max-width:100%' src='{png()}'/>"
        return _card(title, table + prog + img, kind="fit")

    return "fit", {"json": payload, "text/html": page, "text/plain": lambda: result.summary()}


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}"


def _entry_version(ev: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    spec = _Lazy(lambda: jsonable(ev.to_manifest() | {"ref": ev.ref, "source": "library", "location": ev.location}))
    return "neural", {"json": lambda: _checked(spec()), "text/html": lambda: _card(
        f"library entry <code>{_e(ev.ref)}</code>", ev._repr_html_(), kind="neural"), "text/plain": lambda: repr(ev)}


def _entry_summary(es: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    spec = _Lazy(lambda: jsonable(es.to_dict() | {"source": "library"}))

    def page() -> str:
        rows = [("latest", f"{es.name}@{es.latest}"), ("versions", es.versions), ("signature", es.signature)]
        rows += [(k, f"{v:.4g}") for k, v in es.metrics.items()]
        return _card(f"library entry <code>{_e(es.name)}</code>", _table(rows), kind="neural")

    return "neural", {"json": lambda: _checked(spec()), "text/html": page, "text/plain": lambda: repr(es)}


_MAKERS: dict[str, Callable[[Any], tuple[str, dict[str, Callable[[], Any]]]]] = {
    "Trace": _trace, "NeuralFunction": _neural, "Sketch": _sketch, "Program": _program, "FitResult": _fit,
    "EntryVersion": _entry_version, "EntrySummary": _entry_summary,
}


def _ambiguity(rep: Any) -> tuple[str, dict[str, Callable[[], Any]]]:
    from .ambiguity import ambiguity_maker

    return ambiguity_maker(rep)


_MAKERS["AmbiguityReport"] = _ambiguity
