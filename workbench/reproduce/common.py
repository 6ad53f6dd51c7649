"""The experiment registry, the result record and the results-file writer of ``workbench reproduce``.

An experiment module exposes ``run(*, quick: bool, seed: int, progress) -> ExperimentResult``.
``progress`` is a callable taking one line of text (print-like); experiments call it often enough
that a long run shows signs of life. Plots are written by the experiment itself into
``result.out_dir`` (set by :func:`reproduce` before ``run`` is called, via :func:`plot_path`) and
listed in ``ExperimentResult.plots`` as file names relative to that directory.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import math
import os
import platform
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.errors import WorkbenchError

__all__ = ["EXPERIMENTS", "ExperimentResult", "ReproduceError", "experiment_names", "load_experiment",
           "load_result", "plot_path", "reproduce", "write_result", "machine"]


class ReproduceError(WorkbenchError, ValueError):
    """An unknown experiment, a bad option, or an experiment that returned a malformed result."""


#: experiment name -> (module, one-line description). Modules are imported only when run.
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "lifelong_1k": ("workbench.reproduce.lifelong", "the 8-task lifelong schedule (4 ADD2x2, 4 APPLY2x2), "
                    "training grids drawn from 1k distinct grids per task, full MNIST; with the baselines"),
    "lifelong_4k": ("workbench.reproduce.lifelong", "the same schedule with 4k distinct grids per task"),
    "math": ("workbench.reproduce.math", "MATH: restart success rate of the loop search on 2-digit "
             "expressions, accuracy against expression length (2..16) next to the LSTM"),
    "path_len": ("workbench.reproduce.path_len", "PATH_LEN: a loopy program over SYNTHETIC street signs, "
                 "trained on small grids, evaluated on larger ones"),
}

#: The keys every results JSON carries (the issue's contract; tests check them).
REQUIRED_KEYS = ("experiment", "command", "seconds", "ours", "paper", "baselines", "restarts", "restarts_correct")


@dataclass
class ExperimentResult:
    """What an experiment measured. Accuracies are FRACTIONS in [0, 1].

    ``ours``: task -> our accuracy. ``paper``: task -> the paper's figure (None where it gives none).
    ``baselines``: baseline name -> {task -> accuracy}. ``restarts`` / ``restarts_correct``: totals,
    or task -> count. ``seeds``: every seed used. ``details``: anything else worth keeping (programs,
    curves, per-stage matrices); it goes into the JSON as is. ``summary``: the experiment's own
    Markdown (method, data, caveats) for the ``.md`` file; ``plots``: file names in the output dir.
    """

    experiment: str
    ours: dict[str, float]
    paper: dict[str, float | None]
    baselines: dict[str, dict[str, float | None]]
    restarts: int | dict[str, int]
    restarts_correct: int | dict[str, int]
    seeds: list[int]
    quick: bool
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    synthetic: list[str] = field(default_factory=list)  # data sets in this experiment that are SYNTHETIC
    command: str = ""
    seconds: float = float("nan")
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


_OUT_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("workbench_reproduce_out", default=None)


def plot_path(name: str) -> Path:
    """Where an experiment should save the plot ``name`` (a file name such as ``'math_lengths.png'``)."""
    out = _OUT_DIR.get()
    if out is None:
        out = Path("out/reproduce-scratch")
    out.mkdir(parents=True, exist_ok=True)
    return out / name


def experiment_names() -> list[str]:
    return list(EXPERIMENTS)


def load_experiment(name: str) -> Callable[..., ExperimentResult]:
    """The ``run`` function of experiment ``name`` (a typed error with the known names otherwise)."""
    if name not in EXPERIMENTS:
        raise ReproduceError(f"unknown experiment {name!r}", hint=f"one of: {', '.join(EXPERIMENTS)} (or 'all')")
    module = importlib.import_module(EXPERIMENTS[name][0])
    fn = getattr(module, f"run_{name}", None) or getattr(module, "run", None)
    if not callable(fn):
        raise ReproduceError(f"experiment module {module.__name__} has no run_{name}() or run()")
    return fn


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu": cpu, "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "load_avg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def reproduce(name: str, *, quick: bool = False, seed: int = 0, out_dir: str | Path | None = None,
              threads: int | None = 1, command: str | None = None,
              progress: Callable[[str], None] | None = print, executor: Any = None) -> ExperimentResult:
    """Run experiment ``name`` and write its results files; returns the result. ``executor``
    (:mod:`workbench.executor`) runs the experiment's independent parts (restart shards); default inline."""
    import torch

    from ..executor import use

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ReproduceError(f"seed must be an int >= 0, got {seed!r}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ReproduceError(f"threads must be an int >= 1, got {threads!r}")
    fn = load_experiment(name)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    out = Path(out_dir) if out_dir is not None else Path("out/reproduce-quick" if quick else "docs/results")
    out.mkdir(parents=True, exist_ok=True)
    log = progress or (lambda _line: None)
    token = _OUT_DIR.set(out)
    info = machine()  # after set_num_threads: records the threads the experiment runs with
    t0 = time.perf_counter()
    try:
        with use(executor):
            result = fn(quick=quick, seed=seed, progress=log)
    finally:
        _OUT_DIR.reset(token)
        torch.set_num_threads(previous_threads)
    if not isinstance(result, ExperimentResult):
        raise ReproduceError(f"experiment {name!r} returned {type(result).__name__}, not an ExperimentResult")
    result.seconds = time.perf_counter() - t0
    result.machine = info
    result.command = command or _default_command(name, quick, seed)
    write_result(result, out)
    log(f">> wrote {out / (name + '.json')} and {out / (name + '.md')} ({result.seconds:.0f} s)")
    return result


def _default_command(name: str, quick: bool, seed: int) -> str:
    parts = ["workbench", "reproduce", name] + (["--quick"] if quick else []) + ([f"--seed={seed}"] if seed else [])
    return shlex.join(parts)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
        return _jsonable(x.item())
    if hasattr(x, "tolist"):
        return _jsonable(x.tolist())
    return str(x)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.1f}%"


def _table(result: ExperimentResult) -> str:
    tasks = list(result.ours)
    for d in [result.paper, *result.baselines.values()]:
        tasks += [t for t in d if t not in tasks]
    head = ["task", "ours", "paper (NTPT)"] + list(result.baselines)
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in tasks:
        cells = [t, f"**{_pct(result.ours.get(t))}**", _pct(result.paper.get(t))]
        cells += [_pct(b.get(t)) for b in result.baselines.values()]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _restarts_line(result: ExperimentResult) -> str:
    r, c = result.restarts, result.restarts_correct
    if isinstance(r, dict):
        parts = [f"{t}: {c.get(t) if isinstance(c, dict) else '?'} of {n}" for t, n in r.items()]
        return "; ".join(parts)
    return f"{c} of {r}"


def load_result(path: str | Path) -> ExperimentResult:
    """An :class:`ExperimentResult` back from its ``.json`` file (e.g. to re-render the Markdown)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReproduceError(f"cannot read results file {path}: {e}", hint="a docs/results/NAME.json file") from e
    names = {f.name for f in fields(ExperimentResult)}
    missing = [k for k in REQUIRED_KEYS if k not in data] if isinstance(data, dict) else list(REQUIRED_KEYS)
    if missing:
        raise ReproduceError(f"{path} is not a results file (missing {missing or 'everything'})",
                             hint="it must be a JSON object written by `workbench reproduce`")
    return ExperimentResult(**{k: v for k, v in data.items() if k in names})


def write_result(result: ExperimentResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``OUT/EXPERIMENT.json`` and ``OUT/EXPERIMENT.md`` (atomically: temp file, then rename)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:  # pragma: no cover - the dataclass always has them
        raise ReproduceError(f"result of {result.experiment!r} lacks keys {missing}")
    size = "QUICK size (a smoke run: small data, few steps; NOT the reproduction)" if result.quick else "full size"
    synthetic = (f"\n**SYNTHETIC data:** {', '.join(result.synthetic)} (generated procedurally, see "
                 "`workbench/data/`).\n" if result.synthetic else "")
    plots = "\n".join(f"![{p}]({p})" for p in result.plots)
    md = f"""# `{result.experiment}`: {EXPERIMENTS.get(result.experiment, ('', ''))[1]}

{size}. Command: `{result.command}`. Wall time: {result.seconds:.0f} s. Seeds: {result.seeds}.
Machine: {result.machine.get('cpu', '?')}, {result.machine.get('cpus', '?')} cores, torch {result.machine.get('torch', '?')}, {result.machine.get('threads', '?')} torch thread(s).
{synthetic}
## Test accuracy

{_table(result)}

Restarts that found a correct program: {_restarts_line(result)}.

{result.summary.strip()}

{plots}

The same numbers, and more, are in [`{result.experiment}.json`]({result.experiment}.json).
"""
    paths = []
    for suffix, text in ((".json", json.dumps(data, indent=2) + "\n"), (".md", md)):
        path = out / f"{result.experiment}{suffix}"
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        paths.append(path)
    return paths[0], paths[1]

