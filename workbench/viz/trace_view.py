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
import re
from collections.abc import Sequence
from typing import Any

from ..core.errors import ConfigError, DataError
from ._common import jsonable, nan_if_none, new_figure
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
_INDEXED = re.compile(r"^(?P<input>\w+)\[(?P<pos>.+)\]$")
_FIXED = re.compile(r"^_cell\((?P<input>\w+), (?P<cell>\d+), \d+\)$")


def _parse_reads(reads: str | None) -> tuple[str | None, str | None, int | None]:
    """``(input name, position site, fixed cell)`` of a neural site's ``reads`` expression."""
    if not reads:
        return None, None, None
    m = _INDEXED.match(reads)
    if m:
        return m["input"], m["pos"], None
    m = _FIXED.match(reads)
    if m:
        return m["input"], None, int(m["cell"])
    if reads.isidentifier():
        return reads, None, 0
    return None, None, None


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


def _use_weights(trace: Any, restart: int, example: int) -> dict[str, float]:
    """How much each site's value is used: the probability mass the ``choose`` sites consuming it
    give it (through ``cast``/``let``), 1 when it feeds a function directly, capped at 1."""
    consumers: dict[str, list[tuple[Any, int]]] = {}
    for r in trace.records:
        for i, a in enumerate(r.args):
            consumers.setdefault(a, []).append((r, i))
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
        inp, pos, cell = _parse_reads(rec.reads)
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
                      "domain": rec.domain.name, "labels": _labels(rec.domain),
                      "probs": [float(v) for v in probs]})
        acc = attention.setdefault(inp, [0.0] * n)
        for k in range(n):
            acc[k] += w * cells[k]
    return {"sites": sites, "attention": {k: [min(1.0, v) for v in a] for k, a in attention.items()}}


def _labels(domain: Any) -> list[str]:
    return [domain.label(v) for v in range(domain.size)]


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
        widest = max(recs, key=lambda r: r.domain.size).domain
        matrix: list[list[float | None]] = [[None] * len(steps) for _ in range(size)]
        sites: list[str | None] = [None] * len(steps)
        kinds: list[str | None] = [None] * len(steps)
        domains: list[str | None] = [None] * len(steps)
        for rec in recs:
            c = col[split_name(rec.name)[1]]
            sites[c], kinds[c], domains[c] = rec.name, rec.kind, rec.domain.name
            for v, pr in enumerate(rec.marginal(restart, example).tolist()):
                matrix[v][c] = float(pr)
        out_vars.append({"pattern": p, "domain": widest.name, "values": _labels(widest), "domains": domains,
                         "sites": sites, "kinds": kinds, "matrix": matrix,
                         "output": next((outputs[s] for s in sites if s in outputs), None)})

    weights = _use_weights(trace, restart, example)
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
        "outputs": {k: {"site": v.name, "values": _labels(v.domain),
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


def trace_figure(spec: dict[str, Any], *, highlight: int | None = None, title: str | None = None,
                 annotate: bool = True) -> Any:
    """Heatmaps (rows: values, columns: steps) for each variable, and the input cells read per step."""
    import matplotlib as mpl
    import numpy as np

    steps = spec["steps"]
    n = max(1, len(steps))
    variables_ = spec["variables"]
    has_reads = any(r["attention"] for r in spec["reads"]) and spec.get("inputs")
    heights = [max(len(v["values"]), 2) * 0.22 + 0.45 for v in variables_]
    read_h = 1.9 if has_reads else 0.0
    width = max(5.0, 1.05 * n + 2.6)
    fig = new_figure(width, sum(heights) + read_h + 0.9)
    ratios = heights + ([read_h] if has_reads else [])
    if not ratios:
        ratios = [1.0]
    gs = fig.add_gridspec(len(ratios), n + 1, height_ratios=ratios, width_ratios=[1.0] * n + [0.08],
                          hspace=0.55, wspace=0.08, left=0.18, right=0.93, top=1 - 0.55 / (sum(ratios) + 0.9),
                          bottom=0.35 / (sum(ratios) + 0.9))
    cmap = mpl.colormaps["viridis"].copy()
    cmap.set_bad("#e9e9ee")
    labels = [s if s != ONCE else "·" for s in steps]
    image = None
    for i, v in enumerate(variables_):
        ax = fig.add_subplot(gs[i, :n])
        m = np.array(nan_if_none(v["matrix"]), dtype=float)
        image = ax.imshow(m, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_yticks(range(len(v["values"])))
        step_y = max(1, math.ceil(len(v["values"]) / 12))
        ax.set_yticks(range(0, len(v["values"]), step_y))
        ax.set_yticklabels(v["values"][::step_y], fontsize=7)
        ax.set_xticks(range(len(steps)))
        ax.set_xticklabels(labels if i == len(variables_) - 1 and not has_reads else [], fontsize=8)
        ax.tick_params(length=0)
        name = v["pattern"] + (f"  (output '{v['output']}')" if v.get("output") else "")
        ax.set_title(f"{name}   [{v['domain']}]", fontsize=8.5, loc="left", pad=3)
        if annotate and m.size <= 240:
            for (y, x), p in np.ndenumerate(m):
                if not math.isnan(p) and p >= 0.05:
                    ax.text(x, y, f"{p:.2f}".lstrip("0") if p < 1 else "1", ha="center", va="center", fontsize=6,
                            color="black" if p > 0.6 else "white")
        if highlight is not None and 0 <= highlight < len(steps):
            ax.add_patch(mpl.patches.Rectangle((highlight - 0.5, -0.5), 1, len(v["values"]), fill=False,
                                               edgecolor="#ff3b30", linewidth=1.6))
    if image is not None:
        cax = fig.add_subplot(gs[: len(variables_), n])
        cb = fig.colorbar(image, cax=cax)
        cb.set_label("probability", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    if has_reads:
        inp_name = next(iter(spec["inputs"]))
        info = spec["inputs"][inp_name]
        for j, s in enumerate(steps):
            ax = fig.add_subplot(gs[len(variables_), j])
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            att = spec["reads"][j]["attention"].get(inp_name)
            if att is None:
                ax.text(0.5, 0.5, "no read", ha="center", va="center", fontsize=7, color="#888",
                        transform=ax.transAxes)
                ax.set_xlabel(labels[j], fontsize=8)
                continue
            img = _mosaic(info["cells"], info["rows"], info["cols"], att)
            if img is not None:
                ax.imshow(img, interpolation="nearest")
                h = img.shape[0] / info["rows"]
                w = img.shape[1] / info["cols"]
                for k, a in enumerate(att):
                    r, q = divmod(k, info["cols"])
                    if a >= 0.005:
                        ax.text(q * w + 1, r * h + 1, f"{a:.2f}", fontsize=5.5, va="top", ha="left",
                                color="white", bbox={"boxstyle": "square,pad=0.1", "fc": "black", "ec": "none",
                                                     "alpha": 0.55})
            used = sum(site["weight"] for site in spec["reads"][j]["sites"])
            ax.set_xlabel(f"{labels[j]}\nread {min(used, 1):.2f}", fontsize=7.5)
            if highlight == j:
                for side in ax.spines.values():
                    side.set_visible(True)
                    side.set_edgecolor("#ff3b30")
                    side.set_linewidth(1.6)
        fig.text(0.02, read_h / 2 / (sum(ratios) + 0.9) + 0.35 / (sum(ratios) + 0.9),
                 f"'{inp_name}' cells read\n(weighted by position\nand use)", fontsize=7.5, va="center")
    where = f"example {spec['example']}, restart {spec['restart']}"
    fig.suptitle(title or f"soft execution trace ({where}); columns are steps", fontsize=10, x=0.02,
                 ha="left")
    return fig
