"""The soft execution trace of one example and one restart, step by step.

:func:`trace_spec` turns a :class:`~workbench.core.trace.Trace` into plain data: for each chosen
*variable* (a site-name pattern such as ``pos@{t}``, ``R{t}`` or ``line{t}.instr``, see
:mod:`workbench.viz.naming`) a matrix whose rows are the variable's values (with the domain's
labels, e.g. instruction names) and whose columns are the steps; entry ``[v][s]`` is the recorded
marginal probability that the variable takes value ``v`` at step ``s``. For each step it also lists
what the neural functions read: the input cells weighted by the position distribution the read
used, times how much the read is used (the probability that the ``choose`` consuming it selects
it). :func:`trace_figure` draws the spec with matplotlib; :func:`step_view` cuts one column out
for the widgets.

>>> # spec = trace_spec(trace, ["line{t}.instr", "pos@{t}", "R{t}"], restart=0, example=0)
>>> # spec["variables"][2]["matrix"][v][t] == trace["R" + str(t)].marginal(0, 0)[v]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..core.errors import ConfigError, DataError
from ._common import jsonable, nan_if_none, new_figure
from ._sites import Sites, read_parts
from .naming import ONCE, split_name

DEFAULT_KINDS = ("hole", "let", "input")  # variables shown by default: choices and named state
MAX_DEFAULT_SIZE = 40  # ... of at most this many values


# -- variables ------------------------------------------------------------------------------------
def variable_table(trace: Any) -> dict[str, list[Any]]:
    """Every variable pattern of a trace and its site records, in execution order."""
    out: dict[str, list[Any]] = {}
    for r in trace.records:
        out.setdefault(split_name(r.name)[0], []).append(r)
    return out


def default_variables(trace: Any) -> list[str]:
    """Patterns shown when none are asked for: holes, ``let`` state and inputs, plus the outputs."""
    outputs = _output_sites(trace)
    chosen = []
    for pattern, recs in variable_table(trace).items():
        kinds = {r.kind for r in recs}
        size = max(r.domain.size for r in recs)
        if (kinds & set(DEFAULT_KINDS) and size <= MAX_DEFAULT_SIZE) or any(r.name in outputs for r in recs):
            chosen.append(pattern)
    return chosen


def _output_sites(trace: Any) -> dict[str, str]:
    return {v.name: k for k, v in trace.outputs.items() if hasattr(v, "name")}


def _resolve(trace: Any, wanted: Sequence[str] | None) -> list[str]:
    table = variable_table(trace)
    if wanted is None:
        return default_variables(trace)
    if isinstance(wanted, str):
        wanted = [wanted]
    out = []
    for w in wanted:
        if w in table:
            out.append(w)
            continue
        if w in trace:  # a site name: its variable
            out.append(split_name(w)[0])
            continue
        loose = [p for p in table if p.replace("{t}", "") == w or p.split("@")[0] == w]
        if len(loose) == 1:
            out.append(loose[0])
            continue
        raise ConfigError(f"no variable '{w}' in this trace",
                          hint=f"variables are site-name patterns with {{t}} for the step: {list(table)[:25]}")
    return list(dict.fromkeys(out))


def _check_index(trace: Any, restart: int, example: int) -> tuple[int, int]:
    shapes = [r.probs.shape for r in trace.records]
    n_r = max((s[0] for s in shapes), default=1)
    n_b = max((s[1] for s in shapes), default=1)
    if not 0 <= restart < n_r:
        raise DataError(f"restart {restart} is outside this trace's {n_r} restart(s)", hint=f"use 0..{n_r - 1}")
    if not 0 <= example < n_b:
        raise DataError(f"example {example} is outside this trace's {n_b} example(s)", hint=f"use 0..{n_b - 1}")
    return n_r, n_b


# -- reads of neural functions ------------------------------------------------------------------------
def _layout(t: Any) -> tuple[int, int, bool]:
    """``(rows, cols, cells are 2-D images)`` of one example's input tensor ``t`` (no batch dim)."""
    if t.dim() == 4:  # grid (rows, cols, H, W)
        return int(t.shape[0]), int(t.shape[1]), True
    if t.dim() == 3:  # tape (L, H, W)
        return 1, int(t.shape[0]), True
    if t.dim() == 2:  # one image (H, W)
        return 1, 1, True
    n = int(t.shape[0]) if t.dim() >= 1 else 1
    return 1, n, False


def _input_images(trace: Any, name: str, example: int) -> dict[str, Any] | None:
    t = trace.inputs.get(name)
    if t is None or not hasattr(t, "dim") or not t.is_floating_point():
        return None
    x = t[min(example, t.shape[0] - 1)].detach().float().cpu()
    rows, cols, images = _layout(x)
    out: dict[str, Any] = {"rows": rows, "cols": cols, "cells": None}
    if images:
        cells = x.reshape(rows * cols, *x.shape[-2:])
        lo, hi = float(cells.min()), float(cells.max())
        cells = (cells - lo) / (hi - lo) if hi > lo else cells * 0
        out["cells"] = [[[round(float(v), 3) for v in row] for row in cell] for cell in cells]
    return out


def _use_weights(trace: Any, sites: Sites, restart: int, example: int) -> dict[str, float]:
    """How much each site's value is used: the probability mass the ``choose`` sites consuming it
    give it (through ``cast``/``let``), 1 when it feeds a function directly, capped at 1."""
    consumers = sites.consumers
    outputs = set(_output_sites(trace))
    memo: dict[str, float] = {}

    def weight(name: str, depth: int = 0) -> float:
        if name in memo:
            return memo[name]
        uses = consumers.get(name, [])
        w = 1.0 if name in outputs else 0.0
        for rec, i in uses:
            if rec.kind in ("cast", "let") and depth < 50:
                w += weight(rec.name, depth + 1)
            elif rec.kind == "choose" and i > 0:
                w += float(trace[rec.args[0]].marginal(restart, example)[i - 1]) if rec.args[0] in trace else 0.0
            elif rec.kind == "choose":  # used as a selector: always read
                w += 1.0
            else:
                w += 1.0
        memo[name] = min(w, 1.0)
        return memo[name]

    return {r.name: weight(r.name) for r in trace.records if r.kind == "neural"}


def _reads_at(trace: Any, recs: list[Any], restart: int, example: int, weights: dict[str, float],
              images: dict[str, Any]) -> dict[str, Any]:
    sites, attention = [], {}
    for rec in recs:
        inp, pos, cell = read_parts(rec.reads)
        if inp is None:
            continue
        if inp not in images:
            images[inp] = _input_images(trace, inp, example)
        info = images[inp]
        n = info["rows"] * info["cols"] if info else (trace[pos].domain.size if pos in trace else 1)
        if pos is not None and pos in trace:
            cells = [float(v) for v in trace[pos].marginal(restart, example)]
        else:
            cells = [1.0 if k == (cell or 0) else 0.0 for k in range(n)]
        cells = (cells + [0.0] * n)[:n]
        w = weights.get(rec.name, 1.0)
        probs = rec.marginal(restart, example)
        sites.append({"site": rec.name, "input": inp, "position": pos, "cell": cell, "cells": cells, "weight": w,
                      "domain": rec.domain.name, "labels": [rec.domain.label(v) for v in range(rec.domain.size)],
                      "probs": [float(v) for v in probs]})
        acc = attention.setdefault(inp, [0.0] * n)
        for k in range(n):
            acc[k] += w * cells[k]
    return {"sites": sites, "attention": {k: [min(1.0, v) for v in a] for k, a in attention.items()}}


# -- traces of a training result ---------------------------------------------------------------------
def fit_trace(result: Any, inputs: Any, *, restart: int | None = None, temperature: float = 1.0) -> Any:
    """The soft trace of one restart of a :class:`~workbench.train.FitResult` (default: the best) on
    ``inputs``: its learned hole distributions and its trained neural functions.

    >>> # TraceExplorer(fit_trace(result, {"grid": test.grids[:8]}))
    """
    import torch

    r = result.best.index if restart is None else restart
    logits = {k: torch.log(p[r:r + 1].clamp_min(1e-30)) for k, p in result.hole_probs.items()}
    nets = result.restarts[r].neural

    def forward(nf: Any, x: Any) -> Any:
        module = nets[nf.name].module if nf.name in nets else nf.module
        was = module.training
        module.eval()
        try:
            return module(x).unsqueeze(0)
        finally:
            module.train(was)

    data = inputs.inputs if hasattr(inputs, "inputs") else inputs
    return result.sketch.trace(logits, data, net_forward=forward, temperature=temperature)


# -- the spec ----------------------------------------------------------------------------------------
def trace_spec(trace: Any, variables: Sequence[str] | str | None = None, restart: int = 0, example: int = 0, *,
               images: bool = True) -> dict[str, Any]:
    """Plain data (JSON-ready) of one example's soft execution under one restart.

    ``variables``: patterns like ``"pos@{t}"``, ``"R{t}"``, ``"line{t}.instr"`` (or a site name, or
    a pattern without ``{t}`` such as ``"pos"``); default :func:`default_variables`. Columns are the
    steps of those variables in execution order (:data:`~workbench.viz.naming.ONCE`, ``""``, for
    variables without a step). ``matrix[v][s]`` is the marginal of value ``v`` at step ``s``
    (``None`` where the variable has no site at that step or its domain is smaller there).
    """
    n_r, n_b = _check_index(trace, restart, example)
    patterns = _resolve(trace, variables)
    table = variable_table(trace)
    sites_ = Sites(trace)
    first: dict[str, int] = {}
    for p in patterns:
        for rec in table[p]:
            first.setdefault(split_name(rec.name)[1], rec.index)
    steps = sorted(first, key=first.__getitem__)
    col = {s: i for i, s in enumerate(steps)}
    outputs = _output_sites(trace)

    out_vars = []
    for p in patterns:
        recs = table[p]
        size = max(r.domain.size for r in recs)
        widest = max(recs, key=lambda r: r.domain.size)
        matrix: list[list[float | None]] = [[None] * len(steps) for _ in range(size)]
        sites: list[str | None] = [None] * len(steps)
        kinds: list[str | None] = [None] * len(steps)
        domains: list[str | None] = [None] * len(steps)
        for rec in recs:
            c = col[split_name(rec.name)[1]]
            sites[c], kinds[c], domains[c] = rec.name, rec.kind, rec.domain.name
            for v, pr in enumerate(rec.marginal(restart, example).tolist()):
                matrix[v][c] = float(pr)
        out_vars.append({"pattern": p, "domain": widest.domain.name, "values": sites_.labels(widest),
                         "domains": domains,
                         "sites": sites, "kinds": kinds, "matrix": matrix,
                         "output": next((outputs[s] for s in sites if s in outputs), None)})

    weights = _use_weights(trace, sites_, restart, example)
    neural_by_step: dict[str, list[Any]] = {}
    for rec in trace.records:
        if rec.kind == "neural":
            neural_by_step.setdefault(split_name(rec.name)[1], []).append(rec)
    imgs: dict[str, Any] = {}
    reads = [_reads_at(trace, neural_by_step.get(s, []), restart, example, weights, imgs) if s != ONCE
             else {"sites": [], "attention": {}} for s in steps]
    spec = {
        "kind": "trace", "restart": restart, "example": example, "restarts": n_r, "examples": n_b,
        "steps": steps, "variables": out_vars, "reads": reads,
        "inputs": {k: v for k, v in imgs.items() if v is not None} if images else {},
        "outputs": {k: {"site": v.name, "values": [v.domain.label(i) for i in range(v.domain.size)],
                        "probs": [float(x) for x in v.probs[min(restart, v.probs.shape[0] - 1),
                                                             min(example, v.probs.shape[1] - 1)]]}
                    for k, v in trace.outputs.items() if hasattr(v, "probs")},
    }
    return jsonable(spec)


def step_view(spec: dict[str, Any], step: int | str) -> dict[str, Any]:
    """One column of a trace spec (by index or label): each variable's distribution and the reads."""
    steps = spec["steps"]
    if isinstance(step, str):
        if step not in steps:
            raise ConfigError(f"no step '{step}' in this trace view", hint=f"steps: {steps}")
        i = steps.index(step)
    else:
        if not -len(steps) <= step < len(steps):
            raise ConfigError(f"step {step} is outside 0..{len(steps) - 1}")
        i = step % len(steps)
    vars_ = []
    for v in spec["variables"]:
        probs = [row[i] for row in v["matrix"]]
        if v["sites"][i] is None:
            continue
        size = sum(1 for p in probs if p is not None)
        vars_.append({"pattern": v["pattern"], "site": v["sites"][i], "domain": v["domains"][i],
                      "values": v["values"][:size], "probs": probs[:size]})
    reads = spec["reads"][i]
    return {"index": i, "step": steps[i], "steps": len(steps), "restart": spec["restart"],
            "example": spec["example"], "variables": vars_, "reads": reads}


# -- the figure ------------------------------------------------------------------------------------------
def _mosaic(cells: list | None, rows: int, cols: int, attention: list[float], gap: int = 2) -> Any:
    """An RGB image of an input's cells, each tinted by how much it is read."""
    import numpy as np

    if cells is None:
        return None
    c = np.asarray(cells, dtype=float)
    h, w = c.shape[1], c.shape[2]
    img = np.ones((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3))
    hot = np.array([1.0, 0.62, 0.1])  # attended cells glow orange
    for k in range(rows * cols):
        r, q = divmod(k, cols)
        a = float(attention[k]) if k < len(attention) else 0.0
        base = 0.12 + 0.88 * a
        tile = c[k][..., None] * (a * hot + (1 - a) * np.array([0.55, 0.55, 0.6])) * base + (1 - base) * 0.08
        tile = tile + (0.08 * (1 - a))
        img[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = np.clip(tile, 0, 1)
    return img


def _compact_rows(v: dict[str, Any], threshold: float = 0.01, limit: int = 12) -> list[int]:
    """Rows of a variable worth drawing: all of a small domain; of a big one, values that reach
    ``threshold`` somewhere (keeps the figure short; the spec keeps every row)."""
    n = len(v["values"])
    if n <= limit:
        return list(range(n))
    rows = [i for i, row in enumerate(v["matrix"]) if any(p is not None and p >= threshold for p in row)]
    return rows if len(rows) >= 2 else list(range(n))


def trace_figure(spec: dict[str, Any], *, highlight: int | None = None, title: str | None = None,
                 annotate: bool = True, compact: bool = True) -> Any:
    """Heatmaps (rows: values, columns: steps) for each variable, and the input cells read per step.

    ``highlight`` outlines one step's column; ``compact`` hides the rows of big domains (more than
    12 values) that stay below probability 0.01 at every step (the title says so).
    """
    import matplotlib as mpl
    import numpy as np

    steps = spec["steps"]
    n = max(1, len(steps))
    variables_ = spec["variables"]
    inputs = spec.get("inputs") or {}
    has_reads = bool(inputs) and any(r["attention"] for r in spec["reads"])
    labels = [s if s != ONCE else ("end" if i == len(steps) - 1 else "·") for i, s in enumerate(steps)]
    shown = [_compact_rows(v) if compact else list(range(len(v["values"]))) for v in variables_]

    # layout in inches: title, then per variable a title line + one row per value + step labels
    row_h, title_h, gap = 0.19, 0.26, 0.34
    left, right, top, bottom = 1.35, 0.95, 0.62, 0.25
    col_w = 0.95 if n > 3 else 1.25
    width = left + right + col_w * n
    heat_h = [max(len(r), 2) * row_h for r in shown]
    read_h = min(col_w - 0.1, 1.25) + 0.5 if has_reads else 0.0
    height = top + sum(h + title_h + gap for h in heat_h) + read_h + bottom
    fig = new_figure(width, height)

    def box(x: float, y_top: float, w: float, h: float) -> list[float]:  # inches from the top-left
        return [x / width, 1 - (y_top + h) / height, w / width, h / height]

    cmap = mpl.colormaps["viridis"].with_extremes(bad="#e9e9ee")
    y = top
    image = None
    first_y = None
    for v, rows, h in zip(variables_, shown, heat_h):
        y += title_h
        ax = fig.add_axes(box(left, y, col_w * n, h))
        first_y = y if first_y is None else first_y
        m = np.array(nan_if_none([v["matrix"][i] for i in rows]), dtype=float)
        image = ax.imshow(m, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([v["values"][i] for i in rows], fontsize=7)
        ax.set_xticks(range(len(steps)))
        ax.set_xticklabels(labels, fontsize=7, color="#555")
        ax.tick_params(length=0, pad=2)
        hidden = len(v["values"]) - len(rows)
        out = v.get("output")
        name = v["pattern"] + ("" if not out else " (the output)" if out == "output" else f" (output '{out}')")
        note = f"; {hidden} values below 0.01 hidden" if hidden else ""
        ax.set_title(f"{name}   [{v['domain']}{note}]", fontsize=8.5, loc="left", pad=3)
        if annotate:
            for (yy, xx), p in np.ndenumerate(m):
                if not math.isnan(p) and p >= 0.05:
                    ax.text(xx, yy, "1" if p >= 0.995 else f"{p:.2f}".lstrip("0"), ha="center", va="center",
                            fontsize=6.3, color="black" if p > 0.6 else "white")
        if highlight is not None and 0 <= highlight < len(steps):
            ax.add_patch(mpl.patches.Rectangle((highlight - 0.5, -0.5), 1, len(rows), fill=False,
                                               edgecolor="#ff3b30", linewidth=1.8, clip_on=False))
        y += h + gap
    if image is not None:
        bar_h = min(y - gap - first_y, 2.6)
        cax = fig.add_axes(box(left + col_w * n + 0.15, first_y, 0.13, bar_h))
        cb = fig.colorbar(image, cax=cax)
        cb.set_label("probability", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    if has_reads:
        name = next(k for k in inputs if any(k in r["attention"] for r in spec["reads"]))
        info = inputs[name]
        side = min(col_w - 0.1, 1.25)
        for j in range(len(steps)):
            ax = fig.add_axes(box(left + j * col_w + (col_w - side) / 2, y, side, side))
            ax.set_xticks([])
            ax.set_yticks([])
            for edge in ax.spines.values():
                edge.set_visible(False)
            reads = spec["reads"][j]
            att = reads["attention"].get(name)
            if j == 0:
                ax.set_ylabel(f"'{name}' cells read", fontsize=8)
            if att is None:  # a blank of the same shape keeps the step labels in line
                blank = _mosaic(info["cells"], info["rows"], info["cols"], [0.0] * (info["rows"] * info["cols"]))
                if blank is not None:
                    ax.imshow(np.full_like(blank, 0.96), interpolation="nearest")
                ax.text(0.5, 0.5, "no read", ha="center", va="center", fontsize=7, color="#999",
                        transform=ax.transAxes)
                ax.set_xlabel(labels[j], fontsize=7.5, color="#555")
                continue
            img = _mosaic(info["cells"], info["rows"], info["cols"], att)
            if img is not None:
                ax.imshow(img, interpolation="nearest")
                ch, cw = img.shape[0] / info["rows"], img.shape[1] / info["cols"]
                for k, a in enumerate(att):
                    r, q = divmod(k, info["cols"])
                    if a >= 0.005:
                        ax.text(q * cw + 1, r * ch + 1, f"{a:.2f}", fontsize=5.5, va="top", ha="left", color="white",
                                bbox={"boxstyle": "square,pad=0.1", "fc": "black", "ec": "none", "alpha": 0.55})
            used = min(1.0, sum(site["weight"] for site in reads["sites"]))
            ax.set_xlabel(f"{labels[j]}: read {used:.2f}", fontsize=7.5, color="#555")
            if highlight == j:
                for edge in ax.spines.values():
                    edge.set_visible(True)
                    edge.set_edgecolor("#ff3b30")
                    edge.set_linewidth(1.8)
    where = f"example {spec['example']}, restart {spec['restart']}"
    fig.text(0.1 / width, 1 - 0.12 / height, title or f"soft execution trace ({where})", fontsize=10, va="top",
             ha="left", weight="bold")
    fig.text(0.1 / width, 1 - 0.36 / height,
             "columns are steps; each column is the distribution of the variable at that step"
             + ("; bottom: input cells read (brightness = weight)" if has_reads else ""),
             fontsize=7.5, va="top", ha="left", color="#555")
    return fig
