"""Runs you can keep and reopen: a ``FitResult`` saved as JSON + safetensors (never pickle), and a
small view that compares runs.

:func:`save` writes a directory ``<dir>/run.json`` (sketch name, training config, steps, seconds,
every restart's curves, best accuracy and step, hole assignment, correctness, program source, final
hole probabilities and their history) and ``<dir>/nets.safetensors`` (every restart's trained
neural functions, keys ``r<restart>/<net>/<parameter>``). :func:`load` reads it back in any process
as a :class:`SavedRun`: the same records, curves and bitwise-identical nets (rebuilt from their
allow-listed architecture; nothing is unpickled); with the sketch at hand, :meth:`SavedRun.program`
rebuilds each restart's runnable :class:`~workbench.readout.Program`.

>>> import tempfile, torch, workbench as wb
>>> D = wb.Domain("D", 3)
>>> @wb.sketch(inputs={"x": D}, output=D)
... def pick(x):
...     return wb.choose(wb.hole("h", wb.Bool), [x, wb.const(D, 0)])
>>> data = ({"x": torch.tensor([0, 1, 2] * 20)}, torch.tensor([0, 1, 2] * 20))
>>> result = wb.fit(pick, data, config=wb.TrainConfig(restarts=2, steps=20, validate_every=10, val_size=30))
>>> path = save(result, tempfile.mkdtemp())
>>> run = load(path)
>>> run.restarts[0].assignment == result.restarts[0].assignment, run.steps == result.steps
(True, True)
>>> run.program(0, pick).source == result.restarts[0].program.source
True
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from . import nets
from .core.domains import Domain, TensorType
from .core.neural import NeuralFunction
from .provenance import config_dict, dataset_text

FORMAT = "ntpt-run"
SCHEMA = 1
RUN_JSON, NETS = "run.json", "nets.safetensors"


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _domain(d: Domain) -> dict[str, Any]:
    return {"name": d.name, "size": d.size, "labels": list(d.labels) if d.labels is not None else None}


def save(result: Any, directory: str | os.PathLike[str]) -> Path:
    """Write ``result`` (a FitResult) to ``directory`` (created); -> the directory. No pickle."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    restarts = []
    for r in result.restarts:
        nets_meta = {}
        for name, nf in r.neural.items():
            if not nf.arch:
                continue  # a net without an architecture spec cannot be rebuilt without code
            for k, v in nf.module.state_dict().items():
                tensors[f"r{r.index}/{name}/{k}"] = v.detach().to("cpu", copy=True).contiguous()
            nets_meta[name] = {"name": nf.name, "input": {"name": nf.input.name, "shape": list(nf.input.shape)},
                               "output": _domain(nf.output),
                               "arch": {"constructor": nf.arch[0], "kwargs": dict(nf.arch[1])}}
        restarts.append({
            "index": r.index, "losses": [_num(x) for x in r.losses], "val_steps": list(r.val_steps),
            "val_accuracy": [_num(x) for x in r.val_accuracy], "best_accuracy": _num(r.best_accuracy),
            "best_step": r.best_step, "assignment": {k: int(v) for k, v in r.assignment.items()},
            "correct": r.correct, "program": r.program.source if r.program is not None else None,
            "lengths": dict(r.program.lengths) if r.program is not None else {}, "nets": nets_meta,
        })
    data = {
        "format": FORMAT, "schema": SCHEMA, "sketch": result.sketch.name, "config": config_dict(result.config),
        "steps": int(result.steps), "seconds": _num(result.seconds), "interrupted": bool(result.interrupted),
        "stopped": result.stopped, "stopped_step": result.stopped_step, "judge_error": result.judge_error,
        "dataset": dataset_text(result), "best": result.best.index, "restarts": restarts,
        "hole_probs": {k: v.detach().cpu().double().tolist() for k, v in result.hole_probs.items()},
        "hole_history": [[int(s), {k: v.detach().cpu().double().tolist() for k, v in h.items()}]
                         for s, h in result.hole_history],
    }
    text = json.dumps(data, indent=1, allow_nan=False)
    tmp = out / f".{RUN_JSON}.part"
    tmp.write_text(text)
    save_file(tensors, str(out / NETS))
    os.replace(tmp, out / RUN_JSON)  # run.json last: a directory with run.json is complete
    return out


@dataclass
class SavedRestart:
    index: int
    losses: list[float | None]
    val_steps: list[int]
    val_accuracy: list[float | None]
    best_accuracy: float | None
    best_step: int
    assignment: dict[str, int]
    correct: bool | None
    source: str | None
    lengths: dict[str, int] = field(default_factory=dict)
    neural: dict[str, NeuralFunction] = field(default_factory=dict)


@dataclass
class SavedRun:
    """A run read back by :func:`load` (``path``: where it came from)."""

    path: str
    sketch: str
    config: dict[str, Any]
    steps: int
    seconds: float | None
    interrupted: bool
    stopped: str | None
    dataset: str | None
    best_index: int
    restarts: list[SavedRestart]
    hole_probs: dict[str, torch.Tensor]
    hole_history: list[tuple[int, dict[str, torch.Tensor]]]

    @property
    def best(self) -> SavedRestart:
        return next(r for r in self.restarts if r.index == self.best_index)

    @property
    def restarts_correct(self) -> int | None:
        judged = [r.correct for r in self.restarts]
        return None if any(c is None for c in judged) else sum(judged)

    def program(self, restart: int, sketch: Any) -> Any:
        """Restart ``restart``'s runnable Program, given its sketch (a sketch is code: it is not saved)."""
        from .readout import Program

        r = next(x for x in self.restarts if x.index == restart)
        if getattr(sketch, "name", None) != self.sketch:
            raise ValueError(f"this run trained sketch '{self.sketch}', not '{getattr(sketch, 'name', sketch)}'")
        return Program(sketch, r.assignment, r.neural or None, lengths=r.lengths)

    def row(self) -> dict[str, Any]:
        b = self.best
        return {"run": Path(self.path).name, "sketch": self.sketch, "restarts": len(self.restarts),
                "correct": self.restarts_correct, "best_val_accuracy": b.best_accuracy, "steps": self.steps,
                "seconds": self.seconds, "program": b.source or ""}

    def __repr__(self) -> str:
        r = self.row()
        return (f"SavedRun({r['run']}: {r['sketch']}, {r['restarts']} restarts, best val acc "
                f"{r['best_val_accuracy']}, {r['steps']} steps)")


def load(directory: str | os.PathLike[str]) -> SavedRun:
    """Read a run written by :func:`save` (JSON + safetensors; architectures from the allow-list)."""
    d = Path(directory)
    data = json.loads((d / RUN_JSON).read_text())
    if data.get("format") != FORMAT or data.get("schema") != SCHEMA:
        raise ValueError(f"{d / RUN_JSON} is not a saved run of this workbench (format {data.get('format')!r})")
    tensors = load_file(str(d / NETS)) if (d / NETS).exists() else {}
    restarts = []
    for r in data["restarts"]:
        neural = {}
        for name, meta in r.get("nets", {}).items():
            arch = meta["arch"]
            with torch.random.fork_rng(devices=[]):
                module = nets.build(arch["constructor"], **arch["kwargs"])
            prefix = f"r{r['index']}/{name}/"
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
            if len(dtypes) == 1:
                module.to(dtypes.pop())
            module.load_state_dict(state, strict=True)
            out = meta["output"]
            neural[name] = NeuralFunction(meta["name"], module, input=TensorType(meta["input"]["name"],
                                          tuple(meta["input"]["shape"])),
                                          output=Domain(out["name"], out["size"], out["labels"]),
                                          arch=(arch["constructor"], arch["kwargs"]))
        restarts.append(SavedRestart(index=r["index"], losses=r["losses"], val_steps=r["val_steps"],
                                     val_accuracy=r["val_accuracy"], best_accuracy=r["best_accuracy"],
                                     best_step=r["best_step"], assignment=r["assignment"], correct=r["correct"],
                                     source=r["program"], lengths=r.get("lengths") or {}, neural=neural))
    return SavedRun(path=str(d), sketch=data["sketch"], config=data["config"], steps=data["steps"],
                    seconds=data["seconds"], interrupted=data["interrupted"], stopped=data.get("stopped"),
                    dataset=data.get("dataset"), best_index=data["best"], restarts=restarts,
                    hole_probs={k: torch.tensor(v, dtype=torch.float64) for k, v in data["hole_probs"].items()},
                    hole_history=[(s, {k: torch.tensor(v, dtype=torch.float64) for k, v in h.items()})
                                  for s, h in data["hole_history"]])


class Runs:
    """A small view comparing runs (saved directories, SavedRun or FitResult objects): one row each,
    the best first. Shows as an HTML table in a notebook, as text elsewhere.

    ``Runs.scan(DIR)`` opens every saved run under DIR."""

    def __init__(self, runs: Iterable[Any]):
        self.runs = [load(r) if isinstance(r, (str, os.PathLike)) else r for r in runs]

    @classmethod
    def scan(cls, directory: str | os.PathLike[str]) -> Runs:
        return cls(sorted(str(p.parent) for p in Path(directory).glob(f"*/{RUN_JSON}")))

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for r in self.runs:
            if isinstance(r, SavedRun):
                out.append(r.row())
            else:  # a FitResult in memory
                b = r.best
                out.append({"run": "(in memory)", "sketch": r.sketch.name, "restarts": len(r.restarts),
                            "correct": r.restarts_correct, "best_val_accuracy": _num(b.best_accuracy),
                            "steps": r.steps, "seconds": _num(r.seconds),
                            "program": b.program.source if b.program is not None else ""})
        return sorted(out, key=lambda row: -(row["best_val_accuracy"] or -1.0))

    _COLUMNS = ("run", "sketch", "restarts", "correct", "best_val_accuracy", "steps", "seconds")

    def __repr__(self) -> str:
        rows = self.rows()
        lines = ["  ".join(f"{c:>17}" for c in self._COLUMNS)]
        lines += ["  ".join(f"{_shown(row[c]):>17}" for c in self._COLUMNS) for row in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{c.replace('_', ' ')}</th>" for c in self._COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(_shown(row[c]))}</td>" for c in self._COLUMNS)
            + f"<td><details><summary>program</summary><pre>{html.escape(row['program'])}</pre></details></td></tr>"
            for row in self.rows())
        return (f"<table class='ntpt-runs'><caption style='text-align:left'>{len(self.runs)} run(s), best first"
                f"</caption><tr>{head}<th></th></tr>{body}</table>")


def _shown(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def compare(runs: Iterable[Any]) -> Runs:
    """``Runs(runs)``: the comparison view."""
    return Runs(runs)


__all__ = ["save", "load", "SavedRun", "SavedRestart", "Runs", "compare"]
