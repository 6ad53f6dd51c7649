"""Training views: loss and discrete accuracy per restart, hole entropy per line, lifelong matrices.

Each view is a spec function (plain JSON-ready data) and a figure function:

* :func:`training_spec` / :func:`training_figure`: a :class:`~workbench.train.FitResult`'s loss per
  restart over steps, its discrete validation accuracy per restart, which restarts succeeded;
* :func:`progress_spec`: the same spec from the ``progress`` dicts ``fit`` reports while it runs
  (what :func:`workbench.widgets.fit_live` redraws);
* :func:`entropy_spec` / :func:`entropy_figure`: the entropy (bits) of the holes of each line over
  time, from ``FitResult.hole_history``; holes are grouped by the step in their name
  (``line{t}.instr``, ``line{t}.a`` ... form line ``t``, see :mod:`workbench.viz.naming`);
* :func:`lifelong_spec` / :func:`lifelong_figure`: a stages x tasks accuracy matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.errors import ConfigError
from ._common import PALETTE, entropy_bits, jsonable, nan_if_none, new_figure
from .naming import split_name, stem


# -- loss and accuracy ------------------------------------------------------------------------------
def training_spec(result: Any) -> dict[str, Any]:
    """Curves of a fit: per restart the loss at every step and the discrete validation accuracy."""
    restarts = []
    for r in result.restarts:
        restarts.append({
            "index": r.index, "loss_steps": list(range(1, len(r.losses) + 1)), "losses": list(r.losses),
            "val_steps": list(r.val_steps), "val_accuracy": list(r.val_accuracy),
            "best_accuracy": r.best_accuracy, "best_step": r.best_step, "correct": r.correct,
            "program": r.program.source if r.program is not None else None,
        })
    best = result.best.index if result.restarts else None
    return jsonable({"kind": "fit", "sketch": result.sketch.name, "steps": result.steps, "seconds": result.seconds,
                     "interrupted": result.interrupted, "restarts": restarts, "best": best,
                     "restarts_correct": result.restarts_correct, "entropy": entropy_spec(result)})


def progress_spec(history: Sequence[Mapping[str, Any]], *, name: str = "training") -> dict[str, Any]:
    """A training spec from the dicts ``fit(progress=...)`` reports (loss known at validations only)."""
    n = max((len(h["val_accuracy"]) for h in history), default=0)
    restarts = []
    for r in range(n):
        steps = [int(h["step"]) for h in history]
        acc = [float(h["val_accuracy"][r]) for h in history]
        best_i = max(range(len(acc)), key=acc.__getitem__) if acc else -1
        restarts.append({"index": r, "loss_steps": steps, "losses": [float(h["loss"][r]) for h in history],
                         "val_steps": steps, "val_accuracy": acc,
                         "best_accuracy": acc[best_i] if acc else -1.0,
                         "best_step": steps[best_i] if acc else -1, "correct": None, "program": None})
    last = history[-1] if history else {"step": 0, "seconds": 0.0}
    best = max(restarts, key=lambda x: x["best_accuracy"])["index"] if restarts else None
    return jsonable({"kind": "fit", "sketch": name, "steps": last["step"], "seconds": last["seconds"],
                     "interrupted": False, "restarts": restarts, "best": best, "restarts_correct": None,
                     "entropy": None})


def _smooth(values: list[float], window: int) -> list[float]:
    if window <= 1 or len(values) < 2 * window:
        return values
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _restart_label(r: Mapping[str, Any]) -> str:
    mark = {True: " \u2713 correct", False: " \u2717 wrong", None: ""}[r["correct"]]
    best = f", best acc {r['best_accuracy']:.2f}" if r["best_accuracy"] is not None and r["best_accuracy"] >= 0 else ""
    return f"restart {r['index']}{mark}{best}"


def training_figure(spec: Mapping[str, Any], *, width: float = 10.0, height: float = 3.6) -> Any:
    """Two panels: training loss per restart (log scale) and discrete validation accuracy per restart."""
    fig = new_figure(width, height)
    ax_loss, ax_acc = fig.subplots(1, 2)
    restarts = spec["restarts"]
    for r in restarts:
        colour = PALETTE[r["index"] % len(PALETTE)]
        style = "--" if r["correct"] is False else "-"
        losses = [v for v in r["losses"] if v is not None]
        steps = r["loss_steps"][: len(losses)]
        if losses:
            many = len(losses) > 60
            if many:
                ax_loss.plot(steps, losses, color=colour, alpha=0.18, linewidth=0.7)
            window = max(1, len(losses) // 40)
            ax_loss.plot(steps, _smooth(losses, window), color=colour, linestyle=style, linewidth=1.6,
                         label=_restart_label(r))
        if r["val_steps"]:
            ax_acc.plot(r["val_steps"], r["val_accuracy"], color=colour, linestyle=style, marker="o",
                        markersize=3, linewidth=1.4, label=_restart_label(r))
            if r["best_step"] is not None and r["best_step"] >= 0:
                ax_acc.plot([r["best_step"]], [r["best_accuracy"]], marker="*", markersize=11, color=colour,
                            markeredgecolor="black", markeredgewidth=0.5, linestyle="none")
    if any(v is not None and v > 0 for r in restarts for v in r["losses"]):
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (cross-entropy, nats)")
    ax_loss.set_title("loss per restart" + (" (smoothed; faint: raw)" if any(len(r["losses"]) > 60 for r in restarts)
                                             else ""), fontsize=10)
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("discrete program accuracy (validation)")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_title("read-out program accuracy per restart (\u2605 best)", fontsize=10)
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        if restarts:
            ax.legend(fontsize=7.5, loc="best")
    correct = spec.get("restarts_correct")
    head = f"{spec['sketch']}: {len(restarts)} restart(s), {spec['steps']} steps, {spec['seconds']:.0f} s"
    if correct is not None:
        head += f"; {correct} of {len(restarts)} restart(s) found a correct program"
    if spec.get("interrupted"):
        head += " (interrupted)"
    fig.suptitle(head, fontsize=10.5)
    fig.tight_layout()
    return fig


# -- hole entropy -----------------------------------------------------------------------------------
def _group(hole: str) -> str:
    pattern, step = split_name(hole)
    if not step:
        return hole
    return f"{stem(pattern).rstrip('@.') or 'step'}{step}"


def entropy_spec(result: Any) -> dict[str, Any] | None:
    """Entropy (bits) of each line's holes at each recorded step: ``values[r][g][i]`` for restart
    ``r``, group ``g`` (``line0``, ``line1``, ..., ``return``) and ``steps[i]``; the sum over a
    group's holes (holes are independent)."""
    history = getattr(result, "hole_history", None) or []
    if not history:
        return None
    holes = list(history[0][1])
    groups = list(dict.fromkeys(_group(h) for h in holes))
    R = next(iter(history[0][1].values())).shape[0]
    values = [[[0.0] * len(history) for _ in groups] for _ in range(R)]
    maxima = [0.0] * len(groups)
    for i, (_, probs) in enumerate(history):
        for h, p in probs.items():
            g = groups.index(_group(h))
            rows = p.tolist()
            for r in range(R):
                values[r][g][i] += entropy_bits(rows[r])
            if i == 0:
                maxima[g] += math.log2(p.shape[-1])
    return jsonable({"steps": [int(s) for s, _ in history], "groups": groups,
                     "members": {g: [h for h in holes if _group(h) == g] for g in groups},
                     "max_bits": maxima, "values": values})


def entropy_figure(spec: Mapping[str, Any], *, cols: int = 4) -> Any:
    """One panel per restart: entropy (bits) of each line's holes over training; 0 = decided."""
    import matplotlib as mpl

    ent = spec.get("entropy") if "entropy" in spec else spec
    if not ent:
        raise ConfigError("this training result has no hole history", hint="validate at least once during fit")
    R = len(ent["values"])
    cols = max(1, min(cols, R))
    rows = math.ceil(R / cols)
    fig = new_figure(3.6 * cols + 1.6, 2.7 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    restarts = {r["index"]: r for r in spec.get("restarts", [])}
    cmap = mpl.colormaps["tab10"]
    for r in range(rows * cols):
        ax = axes[r // cols][r % cols]
        if r >= R:
            ax.axis("off")
            continue
        for g, name in enumerate(ent["groups"]):
            ax.plot(ent["steps"], ent["values"][r][g], color=cmap(g % 10), linewidth=1.5, marker=".", markersize=4,
                    label=f"{name} ({', '.join(x.split('.', 1)[-1] for x in ent['members'][name])})"
                    if len(ent["members"][name]) > 1 or ent["members"][name][0] != name else name)
        info = restarts.get(r)
        mark = "" if info is None or info["correct"] is None else (" \u2713" if info["correct"] else " \u2717")
        ax.set_title(f"restart {r}{mark}", fontsize=9.5)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("step", fontsize=8.5)
        if r % cols == 0:
            ax.set_ylabel("entropy of the line's holes (bits)", fontsize=8.5)
        ax.tick_params(labelsize=7.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="line (holes)",
               title_fontsize=8.5, frameon=False)
    fig.suptitle("hole entropy per line over training (0 bits = the line's choice is decided)", fontsize=10.5)
    fig.tight_layout()
    return fig


# -- lifelong accuracy matrix -----------------------------------------------------------------------
def lifelong_spec(matrix: Sequence[Sequence[float | None]], stages: Sequence[str], tasks: Sequence[str], *,
                  title: str = "accuracy after each stage of lifelong learning",
                  metric: str = "accuracy") -> dict[str, Any]:
    """A stages x tasks matrix (``matrix[s][t]``: accuracy on task ``t`` after stage ``s``; ``None``
    where not measured, e.g. a task not seen yet) with its labels."""
    rows = [list(r) for r in matrix]
    if len(rows) != len(stages) or any(len(r) != len(tasks) for r in rows):
        raise ConfigError(f"lifelong matrix is {len(rows)}x{[len(r) for r in rows]} but there are {len(stages)} "
                          f"stage labels and {len(tasks)} task labels", hint="matrix[s][t]: one row per stage")
    return jsonable({"kind": "lifelong", "title": title, "metric": metric, "stages": [str(s) for s in stages],
                     "tasks": [str(t) for t in tasks], "matrix": rows})


def lifelong_figure(spec: Mapping[str, Any]) -> Any:
    """The matrix as an annotated heatmap; blank cells were not measured."""
    import matplotlib as mpl
    import numpy as np

    m = np.array(nan_if_none(spec["matrix"]), dtype=float)
    fig = new_figure(1.1 * len(spec["tasks"]) + 3.0, 0.55 * len(spec["stages"]) + 1.8)
    ax = fig.add_subplot(1, 1, 1)
    cmap = mpl.colormaps["RdYlGn"].with_extremes(bad="#f0f0f0")
    im = ax.imshow(m, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(spec["tasks"])))
    ax.set_xticklabels(spec["tasks"], rotation=30, ha="right", fontsize=8.5)
    ax.set_yticks(range(len(spec["stages"])))
    ax.set_yticklabels(spec["stages"], fontsize=8.5)
    ax.set_xlabel("task evaluated")
    ax.set_ylabel("after training stage")
    for (y, x), v in np.ndenumerate(m):
        ax.text(x, y, "–" if math.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="#999" if math.isnan(v) else "black")
    cb = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    cb.set_label(spec.get("metric", "accuracy"), fontsize=8.5)
    ax.set_title(spec.get("title", ""), fontsize=10)
    fig.tight_layout()
    return fig
