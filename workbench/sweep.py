"""Sweeps: a grid over :class:`~workbench.train.TrainConfig` fields x seeds x sketches, one ``fit`` per cell.

Cells are independent, so they go through an executor (:mod:`workbench.executor`): inline, local
processes or Ray. A cell's job is built **on the worker** from its task's ``build(seed)`` (sketch, data,
judge), trained with ``base.replace(**point, seed=seed)``, and only plain figures come back (accuracy,
restarts correct, losses, the best assignment), so nothing unpicklable travels and no worker writes
anywhere. ``SweepResult`` renders a Markdown table (mean over seeds) and a plot (matplotlib)::

    res = sweep({"toy": build_toy}, grid={"hole_lr": [0.05, 0.2]}, seeds=[0, 1],
                base=TrainConfig(restarts=4, steps=100), executor=ProcessExecutor(2))
    print(res.table()); res.plot("sweep.png")

``workbench sweep --task add2x2 --grid hole_lr=0.05,0.2 --seeds 0 1 --executor processes`` runs the same
from the command line on the paper's tasks (:data:`TASKS`).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.errors import ConfigError

__all__ = ["sweep", "SweepResult", "grid_points", "parse_grid", "TASKS"]

#: a task builder: seed -> (sketch, train, val, judge or None)
Build = Callable[[int], tuple[Any, Any, Any, Callable[[Any], bool] | None]]


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (the empty grid is one point), checked against TrainConfig."""
    from .train import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(grid) - known)
    if bad:
        raise ConfigError(f"sweep grid names unknown TrainConfig field(s) {bad}", hint="see workbench.train.TrainConfig")
    if "seed" in grid:
        raise ConfigError("sweep the seed with seeds=[...], not in the grid")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(list(grid[k]) for k in keys))]


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["hole_lr=0.05,0.2", "restarts=4"]`` -> ``{"hole_lr": [0.05, 0.2], "restarts": [4]}`` (values as JSON
    where they parse, else strings)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ConfigError(f"bad grid item {item!r}", hint="FIELD=V1,V2,... e.g. hole_lr=0.05,0.2")
        grid[key.strip()] = [_value(v.strip()) for v in values.split(",")]
    return grid


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"none": None, "None": None}.get(text, text)


@dataclass
class _Cell:
    task: str
    point: dict[str, Any]
    seed: int


class _RunCell:
    """The job of one cell, run on a worker: build, fit, return plain figures."""

    def __init__(self, tasks: Mapping[str, Build], base: Any):
        self.tasks, self.base = dict(tasks), base

    def __call__(self, cell: _Cell) -> dict[str, Any]:
        from .train import fit

        sketch, train, val, judge = self.tasks[cell.task](cell.seed)
        cfg = self.base.replace(**cell.point, seed=cell.seed)
        res = fit(sketch, train, val=val, config=cfg, judge=judge)
        best = res.best
        return {"task": cell.task, "params": cell.point, "seed": cell.seed, "restarts": len(res.restarts),
                "restarts_correct": res.restarts_correct, "best_accuracy": best.best_accuracy,
                "mean_accuracy": sum(r.best_accuracy for r in res.restarts) / len(res.restarts),
                "best_final_loss": best.final_loss, "steps": res.steps, "seconds": res.seconds,
                "best_assignment": best.assignment}


@dataclass
class SweepResult:
    """One row per cell (task x grid point x seed), in grid order; ``interrupted`` when Ctrl-C cut it short."""

    rows: list[dict[str, Any]]
    grid: dict[str, list[Any]]
    seeds: list[int]
    executor: str
    seconds: float
    interrupted: bool = False
    missing: list[dict[str, Any]] = field(default_factory=list)

    def groups(self) -> list[dict[str, Any]]:
        """Rows aggregated over seeds: per (task, params) the mean best accuracy and restarts correct."""
        out: dict[tuple, dict[str, Any]] = {}
        for r in self.rows:
            key = (r["task"], json.dumps(r["params"], sort_keys=True))
            g = out.setdefault(key, {"task": r["task"], "params": r["params"], "seeds": 0, "best_accuracy": 0.0,
                                     "restarts": 0, "restarts_correct": 0, "judged": True, "seconds": 0.0})
            g["seeds"] += 1
            g["best_accuracy"] += r["best_accuracy"]
            g["restarts"] += r["restarts"]
            g["seconds"] += r["seconds"]
            if r["restarts_correct"] is None:
                g["judged"] = False
            else:
                g["restarts_correct"] += r["restarts_correct"]
        for g in out.values():
            g["best_accuracy"] /= g["seeds"]
            g["seconds"] /= g["seeds"]
        return list(out.values())

    def table(self) -> str:
        """A Markdown table: one line per (task, grid point), means over the seeds."""
        keys = list(self.grid)
        head = ["task", *keys, "seeds", "best discrete val acc (mean)", "restarts correct", "s per fit"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for g in self.groups():
            correct = f"{g['restarts_correct']} of {g['restarts']}" if g["judged"] else f"- of {g['restarts']}"
            cells = [g["task"], *(str(g["params"].get(k)) for k in keys), str(g["seeds"]),
                     f"{g['best_accuracy']:.3f}", correct, f"{g['seconds']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Bars: mean best accuracy per grid point, one group of bars per task (restarts correct on top)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        groups = self.groups()
        tasks = list(dict.fromkeys(g["task"] for g in groups))
        points = list(dict.fromkeys(json.dumps(g["params"], sort_keys=True) for g in groups))
        fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(points) * len(tasks)), 3.6))
        width = 0.8 / max(1, len(tasks))
        for t_i, task in enumerate(tasks):
            by = {json.dumps(g["params"], sort_keys=True): g for g in groups if g["task"] == task}
            xs = [p_i + t_i * width for p_i, p in enumerate(points) if p in by]
            ys = [by[p]["best_accuracy"] for p in points if p in by]
            bars = ax.bar(xs, ys, width, label=task)
            for b, p in zip(bars, [p for p in points if p in by]):
                g = by[p]
                if g["judged"]:
                    ax.annotate(f"{g['restarts_correct']}/{g['restarts']}", (b.get_x() + b.get_width() / 2, b.get_height()),
                                ha="center", va="bottom", fontsize=7)
        ax.set_xticks([p_i + 0.4 - width / 2 for p_i in range(len(points))])
        ax.set_xticklabels([", ".join(f"{k}={v}" for k, v in json.loads(p).items()) or "base" for p in points],
                           fontsize=7, rotation=20, ha="right")
        ax.set_ylabel(f"best discrete val acc (mean of {len(self.seeds)} seed(s))")
        ax.set_ylim(0, 1.1)
        ax.legend(fontsize=8)
        ax.set_title(f"sweep ({self.executor}, {self.seconds:.0f} s); labels: restarts correct", fontsize=9)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x

        return clean({"grid": self.grid, "seeds": self.seeds, "executor": self.executor, "seconds": self.seconds,
                      "interrupted": self.interrupted, "rows": self.rows, "missing": self.missing,
                      "groups": self.groups()})


def sweep(tasks: Mapping[str, Build], *, grid: Mapping[str, Sequence[Any]] | None = None,
          seeds: Sequence[int] = (0,), base: Any = None, executor: Any = None,
          progress: bool | Callable[[int, Any], None] = False) -> SweepResult:
    """Fit every task x grid point x seed (one ``fit`` per cell) on ``executor`` (default: the current one).

    ``tasks``: name -> ``build(seed) -> (sketch, train, val, judge)``; ``grid``: TrainConfig field -> values;
    ``base``: the TrainConfig the points change. Ctrl-C keeps the cells that came back (``interrupted``)."""
    from .executor import current
    from .train import TrainConfig

    if not tasks:
        raise ConfigError("sweep needs at least one task")
    grid = {k: list(v) for k, v in (grid or {}).items()}
    points = grid_points(grid)
    base = base or TrainConfig()
    for p in points:  # a bad value fails here, in the driver, before any work is sent
        base.replace(**p)
    cells = [_Cell(t, p, int(s)) for t in tasks for p in points for s in seeds]
    ex = executor or current()
    t0 = time.perf_counter()
    mapped = ex.map(_RunCell(tasks, base), cells, progress=progress, desc="sweep")
    rows = [mapped.results[i] for i in sorted(mapped.results)]
    missing = [{"task": c.task, "params": c.point, "seed": c.seed} for i, c in enumerate(cells) if i not in mapped.results]
    return SweepResult(rows, grid, [int(s) for s in seeds], ex.kind, time.perf_counter() - t0, mapped.interrupted,
                       missing)


# -- the paper's tasks, for `workbench sweep` ----------------------------------------------------------------
def _add2x2(n: int) -> Build:
    def build(seed: int):
        from . import nets
        from .core import Image28, NeuralFunction
        from .data import embedded_split
        from .tasks import add2x2

        digits = embedded_split(seed=0)
        digit = NeuralFunction("digit", nets.build("mlp", out=10, hidden=[64]), input=Image28, output=add2x2.Digit,
                               arch=("mlp", {"out": 10, "hidden": [64]}))
        train = add2x2.make_data(digits.train_images, digits.train_labels, n=n, task="top", seed=seed)
        val = add2x2.make_data(digits.train_images, digits.train_labels, n=max(100, n // 5), task="top",
                               seed=seed + 10_000)
        return add2x2.make_sketch(digit), train, val, lambda p: add2x2.judge(p, "top")

    return build


def _apply2x2(n: int) -> Build:
    def build(seed: int):
        from . import nets
        from .core import Image28, NeuralFunction
        from .data.operators import make_operators
        from .tasks import apply2x2

        ops = make_operators(max(600, n // 2), seed=0)
        op = NeuralFunction("operator", nets.build("mlp", out=4, hidden=[64]), input=Image28, output=apply2x2.Op,
                            arch=("mlp", {"out": 4, "hidden": [64]}))
        data = apply2x2.make_data(*ops, n=n, task="top", seed=seed)
        val = apply2x2.make_data(*ops, n=max(100, n // 5), task="top", seed=seed + 10_000)
        return (apply2x2.make_sketch(op), (data["inputs"], data["targets"]), (val["inputs"], val["targets"]),
                lambda p: apply2x2.judge(p, "top"))

    return build


#: task name -> (description, builder factory taking the number of training examples)
TASKS: dict[str, tuple[str, Callable[[int], Build]]] = {
    "add2x2": ("ADD2x2/top on the embedded MNIST digits, a fresh MLP digit net per restart", _add2x2),
    "apply2x2": ("APPLY2x2/top on SYNTHETIC operators, a fresh MLP operator net per restart", _apply2x2),
}
