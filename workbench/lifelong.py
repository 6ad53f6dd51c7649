"""Lifelong learning: a sequence of tasks sharing a library of neural functions (NTPT).

Tasks arrive one per *stage*. At its start, every net trained so far is loaded back from the
library and every task seen so far is rebuilt over those nets; then the stage runs four steps:

1. **search** - :func:`workbench.train.fit` finds the new task's program with random restarts. When
   the task introduces a new (untrained) net, each restart trains its own copy of the task's nets
   and the winning restart's copy of the new net is kept; library nets keep their weights (they
   learn only in step 2, where the mixture protects earlier tasks). When every net comes from the
   library, the search holds them fixed and only looks for the program. The winning restart's
   read-out program seeds the task's hole logits.
2. **joint training** - ``schedule.steps`` more steps with ONE copy of every net, shared by all tasks
   (``nets="shared"``), in interleaved chunks over the tasks seen so far: ``"sequential"`` trains only
   the newest task; ``"mixture"`` gives the newest task the largest share and earlier tasks a share
   that decays with their age (the paper's time-varying mixture). Each task keeps its own hole
   logits (and their optimiser) from stage to stage. A net from the library learns at ``shared_lr``
   (default ``hole_lr / 100``, as in the paper, which credits it with preventing forgetting); a net new in
   this stage learns at ``config.net_lr``.
3. **evaluation** - every task seen so far runs its discrete program (argmax holes, argmax nets) on
   its test set: one row of the accuracy matrix (stages x tasks).
4. **publishing** - every net trained in the stage becomes a new library version, with provenance
   (task, data, parent version).

Symmetry breaking: a task may introduce at most one untrained network (one that was not loaded
from the library). Two untrained networks in one task are interchangeable, so gradient descent
cannot tell them apart and tends to merge them into one; :class:`UntrainedNetworksError` says so
unless ``allow_multiple_untrained=True``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from .core.errors import ConfigError, WorkbenchError
from .core.neural import NeuralFunction
from .core.sketch import Sketch
from .executor import current as current_executor
from .executor import fit_sharded
from .library import EntryNotFound, Library
from .provenance import config_dict
from .readout import Program
from .train import (
    Examples,
    TrainConfig,
    apply_lr,
    as_examples,
    clip_per_restart,
    fit,
    make_optimizer,
    output_nll,
    tape_lengths,
)

__all__ = [
    "LifelongError", "UntrainedNetworksError", "MissingLibraryFunctionError", "Task", "Schedule",
    "StageRecord", "Published", "LifelongResult", "run_lifelong", "forgetting", "reverse_transfer",
]


class LifelongError(WorkbenchError, ValueError):
    """A lifelong run was given inconsistent tasks (no tasks, duplicate names, a bad factory ...)."""


class UntrainedNetworksError(LifelongError):
    """A task introduces more than one untrained neural function (symmetry breaking)."""


class MissingLibraryFunctionError(LifelongError):
    """A task uses a library function that neither the library nor an earlier task provides."""


# -- inputs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One task of a lifelong run.

    ``make(neural) -> Sketch`` builds the task's sketch over the neural functions it is given: the
    library functions named in ``uses`` (and, when the task is rebuilt in a later stage, the nets it
    introduced itself). It may create ONE new, untrained net of its own. ``train`` / ``val`` /
    ``test`` are anything :func:`~workbench.train.fit` accepts (e.g. an object with ``.inputs`` and
    ``.targets``); ``data`` describes them for the library's provenance; ``judge(program) -> bool``
    optionally decides whether a read-out program is correct.
    """

    name: str
    make: Callable[[dict[str, NeuralFunction]], Sketch]
    train: Any
    val: Any
    test: Any
    uses: tuple[str, ...] = ()
    judge: Callable[[Program], bool] | None = None
    data: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise LifelongError(f"a task needs a non-empty string name, got {self.name!r}", hint="e.g. 'add2x2_top'")
        if not callable(self.make):
            raise LifelongError(f"task '{self.name}': make must be a callable neural -> Sketch",
                                hint="e.g. make=lambda neural: make_sketch(neural['digit'])")
        uses = (self.uses,) if isinstance(self.uses, str) else tuple(self.uses)
        if not all(isinstance(u, str) and u for u in uses):
            raise LifelongError(f"task '{self.name}': uses must be names of library functions, got {self.uses!r}")
        object.__setattr__(self, "uses", uses)
        for what in ("train", "val", "test"):
            if getattr(self, what) is None:
                raise LifelongError(f"task '{self.name}' has no {what} data",
                                    hint="the search picks restarts on val; every stage evaluates on test")


@dataclass(frozen=True)
class Schedule:
    """How the steps of each stage's joint training are shared among the tasks seen so far.

    ``steps``: joint steps per stage, after the search. ``"sequential"``: all of them on the newest
    task. ``"mixture"``: a task ``a`` stages old weighs ``decay ** a`` (the newest weighs 1), the
    steps are split in proportion and interleaved in chunks of ``chunk`` steps.
    """

    kind: Literal["sequential", "mixture"] = "sequential"
    steps: int = 200
    decay: float = 0.5
    chunk: int = 25

    def __post_init__(self) -> None:
        bad = {"kind": self.kind in ("sequential", "mixture"), "steps": _is_int(self.steps) and self.steps >= 0,
               "decay": isinstance(self.decay, (int, float)) and 0.0 <= self.decay <= 1.0,
               "chunk": _is_int(self.chunk) and self.chunk >= 1}
        wrong = [k for k, ok in bad.items() if not ok]
        if wrong:
            raise ConfigError(f"invalid Schedule value(s): {', '.join(f'{k}={getattr(self, k)!r}' for k in wrong)}",
                              hint="kind 'sequential' or 'mixture', steps >= 0, 0 <= decay <= 1, chunk >= 1")

    def shares(self, seen: int) -> list[float]:
        """Fraction of a stage's joint steps for each of the ``seen`` tasks (oldest first)."""
        if self.kind == "sequential":
            return [0.0] * (seen - 1) + [1.0]
        weights = [self.decay ** (seen - 1 - i) for i in range(seen)]
        return [w / sum(weights) for w in weights]

    def plan(self, seen: int) -> list[tuple[int, int]]:
        """The stage's chunks ``(task index, steps)``, each task's chunks spread evenly over the stage."""
        counts = [int(self.steps * s) for s in self.shares(seen)]
        counts[-1] += self.steps - sum(counts)  # rounding remainder to the newest task
        chunks = []
        for i, n in enumerate(counts):
            sizes = [self.chunk] * (n // self.chunk) + ([n % self.chunk] if n % self.chunk else [])
            chunks += [((j + 0.5) / len(sizes), -i, i, size) for j, size in enumerate(sizes)]
        return [(i, size) for _, _, i, size in sorted(chunks)]


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Published:
    """One library version written by the run."""

    stage: int
    task: str
    name: str
    version: int
    parent: int | None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class StageRecord:
    """What one stage did. ``val_steps`` / ``val_accuracy``: the new task's discrete validation accuracy,
    first during the search (best restart), then after each of its joint-training chunks (steps
    continue from the search's last step and count only this task's steps)."""

    stage: int
    task: str
    restarts: int
    restarts_correct: int | None
    search_steps: int
    val_steps: list[int]
    val_accuracy: list[float]
    joint_steps: dict[str, int]
    accuracy: dict[str, float]
    published: list[str]
    seconds: float

    def steps_to(self, accuracy: float) -> int | None:
        """First validated step at which the new task's discrete validation accuracy reached ``accuracy``."""
        return next((s for s, a in zip(self.val_steps, self.val_accuracy) if a >= accuracy), None)


@dataclass
class LifelongResult:
    """The accuracy matrix (``accuracy[stage][task]``, ``None`` before a task arrives) and what follows."""

    tasks: list[str]
    schedule: Schedule
    accuracy: list[list[float | None]]
    forgetting: dict[str, float]
    reverse_transfer: dict[str, float]
    programs: dict[str, Program]
    correct: dict[str, bool | None]
    published: list[Published]
    stages: list[StageRecord]
    seconds: float
    library: str
    shared_lr: float

    @property
    def final(self) -> dict[str, float]:
        """Each task's test accuracy after the last stage."""
        return dict(zip(self.tasks, self.accuracy[-1]))

    def summary(self) -> str:
        w = max(12, *(len(t) for t in self.tasks))
        lines = [f"lifelong run: {len(self.tasks)} tasks, {self.schedule.kind} schedule, {self.seconds:.1f} s, "
                 f"shared-net lr {self.shared_lr:g}, library {self.library}",
                 "test accuracy of the discrete programs (rows: after stage; columns: tasks)",
                 " " * (w + 4) + "".join(f"{t:>{w + 2}}" for t in self.tasks)]
        for s, row in enumerate(self.accuracy):
            cells = "".join(f"{'-' if a is None else f'{a:.3f}':>{w + 2}}" for a in row)
            lines.append(f"{s + 1:>2}  {self.tasks[s]:<{w}}{cells}")
        if self.forgetting:
            lines.append("forgetting:       " + ", ".join(f"{k} {v:.3f}" for k, v in self.forgetting.items()))
            lines.append("reverse transfer: " + ", ".join(f"{k} {v:+.3f}" for k, v in self.reverse_transfer.items()))
        for p in self.published:
            parent = f", parent {p.name}@{p.parent}" if p.parent is not None else ", no parent"
            lines.append(f"published {p.ref} after stage {p.stage + 1} ({p.task}{parent})")
        for name, prog in self.programs.items():
            ok = {None: "", True: " (correct)", False: " (wrong)"}[self.correct[name]]
            lines.append(f"program of {name}{ok}:")
            lines += ["    " + line for line in prog.source.rstrip().splitlines()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks, "schedule": asdict(self.schedule), "accuracy": self.accuracy,
            "forgetting": self.forgetting, "reverse_transfer": self.reverse_transfer,
            "programs": {k: p.source for k, p in self.programs.items()}, "correct": self.correct,
            "published": [asdict(p) | {"ref": p.ref} for p in self.published],
            "stages": [asdict(s) for s in self.stages], "seconds": self.seconds, "library": self.library,
            "shared_lr": self.shared_lr,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def forgetting(accuracy: list[list[float | None]]) -> list[float]:
    """For each task but the last: best accuracy it ever had minus its final accuracy, at least 0."""
    n = _check_matrix(accuracy)
    return [max(0.0, max(row[t] for row in accuracy[t:]) - accuracy[-1][t]) for t in range(n - 1)]


def reverse_transfer(accuracy: list[list[float | None]]) -> list[float]:
    """For each task but the last: final accuracy minus its accuracy at the end of its own stage."""
    n = _check_matrix(accuracy)
    return [accuracy[-1][t] - accuracy[t][t] for t in range(n - 1)]


def _check_matrix(accuracy: list[list[float | None]]) -> int:
    n = len(accuracy)
    for s, row in enumerate(accuracy):
        if len(row) != n or any(row[t] is None for t in range(s + 1)):
            raise LifelongError(f"accuracy matrix row {s} must have {n} entries, the first {s + 1} of them numbers",
                                hint="rows are stages, columns tasks; task t arrives at stage t")
    if n == 0:
        raise LifelongError("the accuracy matrix is empty")
    return n


# -- the driver --------------------------------------------------------------------------------------
@dataclass
class _TaskState:
    task: Task
    train: Examples
    val: Examples
    test: Examples
    nets: tuple[str, ...] = ()          # the neural functions its sketch calls
    sketch: Sketch | None = None
    neural: dict[str, NeuralFunction] = field(default_factory=dict)
    holes: dict[str, nn.Parameter] = field(default_factory=dict)
    optimizer: torch.optim.Optimizer | None = None
    steps_trained: int = 0  # joint-stage steps of this task (the learning-rate schedule's clock)


def run_lifelong(tasks: Iterable[Task], *, library: Library | str, schedule: Schedule | None = None,
                 config: TrainConfig | None = None, seed: int = 0, shared_lr: float | None = None,
                 allow_multiple_untrained: bool = False,
                 progress: Callable[[dict], None] | None = None) -> LifelongResult:
    """Train ``tasks`` one stage each (see the module docstring); return the accuracy matrix and more.

    ``config`` is the search's :class:`TrainConfig` (restarts, steps, learning rates, ...); the driver
    sets its ``seed`` (``seed + stage``), ``nets`` and ``net_init`` itself. ``shared_lr``: learning
    rate of nets that come from the library (default ``config.hole_lr / 100``). ``progress`` gets a
    dict after each search validation and after each stage.
    """
    t0 = time.perf_counter()
    tasks = list(tasks)
    if not tasks:
        raise LifelongError("run_lifelong needs at least one task", hint="pass a list of Task objects")
    if not all(isinstance(t, Task) for t in tasks):
        raise LifelongError("tasks must be workbench.lifelong.Task objects")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise LifelongError(f"task names must be unique, got {names}")
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise ConfigError(f"schedule must be a Schedule, got {type(schedule).__name__}")
    cfg = TrainConfig() if config is None else config
    shared_lr = cfg.hole_lr / 100 if shared_lr is None else shared_lr
    if isinstance(shared_lr, bool) or not isinstance(shared_lr, (int, float)) or not (
            shared_lr >= 0 and math.isfinite(shared_lr)):
        raise ConfigError(f"shared_lr must be a finite number >= 0, got {shared_lr!r}")
    library = library if isinstance(library, Library) else Library(library)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32

    torch.manual_seed(seed)
    states = _prepare(tasks, library, allow_multiple_untrained, dtype, cfg.device)
    matrix: list[list[float | None]] = []
    records: list[StageRecord] = []
    published: list[Published] = []
    versions: dict[str, int | None] = {}  # the library version of each net this run works on
    gen = torch.Generator().manual_seed(seed)
    for stage, new in enumerate(states):
        ts = time.perf_counter()
        seen = states[: stage + 1]
        torch.manual_seed(seed + stage)
        # 1. every net trained so far comes back from the library; the new task may add one of its own
        live = {n: _load(library, n, new.task.name, versions.get(n))
                for n in sorted({n for s in seen[:-1] for n in s.nets} | set(new.task.uses))}
        for s in seen:
            _build(s, live, first=s is new)
        introduced = {n: nf for n, nf in new.neural.items() if n not in live}
        live.update(introduced)
        untrained = {n for n, nf in introduced.items() if nf.origin is None}

        # 2. search: random restarts; a new net gets one copy per restart, library nets stay fixed
        search_cfg = cfg.replace(seed=seed + stage, nets="per_restart" if untrained else "frozen",
                                 net_init="reinit" if untrained == set(new.nets) else "copy")

        def relay(d: dict, stage: int = stage, task: str = new.task.name) -> None:
            if progress is not None:
                progress({"stage": stage, "task": task, "phase": "search"} | d)

        executor = current_executor()
        if executor.kind == "inline":
            fitted = fit(new.sketch, new.train, val=new.val, config=search_cfg, judge=new.task.judge, progress=relay)
        else:  # the stage's restarts in shards on the executor (stages stay in order: each builds on the last)
            fitted = fit_sharded(new.sketch, new.train, val=new.val, config=search_cfg, judge=new.task.judge,
                                 executor=executor)
            relay({"step": fitted.steps, "seconds": fitted.seconds,
                   "val_accuracy": [r.best_accuracy for r in fitted.restarts],
                   "loss": [r.final_loss for r in fitted.restarts]})
        best = fitted.best
        for name in untrained:
            live[name].module.load_state_dict(best.neural[name].module.state_dict())
        new.holes = _seed_holes(fitted.hole_probs, best.index, best.assignment, dtype, cfg.device)

        # 3. joint training, one shared copy of every net
        plan = schedule.plan(len(seen))
        trained = [s for i, s in enumerate(seen) if s is new or any(j == i and n > 0 for j, n in plan)]
        lrs = {n: (cfg.net_lr if n in untrained else shared_lr) for s in trained for n in s.nets}
        joint = _joint(seen, plan, live, lrs, cfg, dtype, gen, relay)

        # 4. evaluation of every task seen so far
        row = [_accuracy(s, s.test) for s in seen]
        matrix.append(row + [None] * (len(states) - len(seen)))

        # 5. publishing every net trained in this stage
        data = "; ".join(f"{s.task.name}: {s.task.data or f'{len(s.train)} training examples'}" for s in trained)
        refs = []
        changed = untrained | {n for i, k in plan if k > 0 for n in seen[i].nets if lrs[n] > 0}
        for name in sorted(changed):
            metrics = {f"{s.task.name}.test_accuracy": a for s, a in zip(seen, row) if name in s.nets}
            ev = library.publish(live[name], metrics=metrics, task=new.task.name, dataset=data,
                                 description=f"lifelong stage {stage + 1} of {len(states)} ({schedule.kind}): "
                                             f"trained on {', '.join(s.task.name for s in trained)}",
                                 tags=("lifelong", schedule.kind),
                                 run={"source": "lifelong", "config": config_dict(cfg), "stage": stage + 1,
                                      "stages": len(states), "schedule": schedule.kind,
                                      "steps": fitted.steps + (joint[-1][0] if joint else 0),
                                      "seconds": round(time.perf_counter() - ts, 3), "trained": "trained"})
            versions[name] = ev.version
            published.append(Published(stage, new.task.name, ev.name, ev.version, ev.parent))
            refs.append(ev.ref)
        counts: dict[str, int] = {}
        for i, n in plan:
            counts[seen[i].task.name] = counts.get(seen[i].task.name, 0) + n
        val_steps, val_accuracy = _best_curve(fitted)
        val_steps += [fitted.steps + n for n, _ in joint]
        val_accuracy += [a for _, a in joint]
        record = StageRecord(stage=stage, task=new.task.name, restarts=len(fitted.restarts),
                             restarts_correct=fitted.restarts_correct, search_steps=fitted.steps,
                             val_steps=val_steps, val_accuracy=val_accuracy, joint_steps=counts,
                             accuracy={s.task.name: a for s, a in zip(seen, row)}, published=refs,
                             seconds=time.perf_counter() - ts)
        records.append(record)
        if progress is not None:
            progress({"stage": stage, "task": new.task.name, "phase": "done", "accuracy": record.accuracy,
                      "published": refs, "seconds": record.seconds})

    programs = {s.task.name: _program(s) for s in states}
    correct = {name: (None if s.task.judge is None else bool(s.task.judge(programs[name])))
               for name, s in zip(names, states)}
    return LifelongResult(
        tasks=names, schedule=schedule, accuracy=matrix,
        forgetting=dict(zip(names, forgetting(matrix))), reverse_transfer=dict(zip(names, reverse_transfer(matrix))),
        programs=programs, correct=correct, published=published, stages=records,
        seconds=time.perf_counter() - t0, library=library.location, shared_lr=shared_lr)


def _best_curve(result: Any) -> tuple[list[int], list[float]]:
    """The best restart's discrete validation accuracy at each validation of a fit (a restart that had
    stopped, at the target accuracy or out of patience, counts with its last validation)."""
    steps = max((r.val_steps for r in result.restarts), key=len)
    return list(steps), [max(r.val_accuracy[min(i, len(r.val_accuracy) - 1)] for r in result.restarts if r.val_accuracy)
                         for i in range(len(steps))]


# -- helpers -----------------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _load(library: Library, name: str, task: str, version: int | None = None) -> NeuralFunction:
    try:
        return library.load(name, version)
    except EntryNotFound as e:
        raise MissingLibraryFunctionError(
            f"task '{task}' uses library function '{name}', which is not in library {library.location} "
            "and is not introduced by an earlier task",
            hint=f"publish '{name}' first, put the task that creates it earlier, or fix the name "
                 f"(library entries: {', '.join(library.names()) or 'none'})") from e


def _prepare(tasks: list[Task], library: Library, allow_multiple_untrained: bool, dtype: torch.dtype,
             device: str) -> list[_TaskState]:
    """Check every task before training anything: data, library names, factories, the untrained rule."""
    pool: dict[str, NeuralFunction] = {}
    states = []
    for task in tasks:
        given = {n: pool[n] if n in pool else _load(library, n, task.name) for n in task.uses}
        sketch = _call_make(task, given)
        ex = {what: as_examples(sketch, getattr(task, what), what=f"task '{task.name}' {what} data").to(device, dtype)
              for what in ("train", "val", "test")}
        state = _TaskState(task, ex["train"], ex["val"], ex["test"])
        introduced = _check_nets(state, sketch, given)
        clash = sorted(set(introduced) & set(pool))
        if clash:
            raise LifelongError(f"task '{task.name}' creates a new neural function '{clash[0]}', but an earlier task "
                                "or the library already provides one of that name",
                                hint=f"list '{clash[0]}' in uses=... to reuse it, or give the new net another name")
        untrained = sorted(n for n, nf in introduced.items() if nf.origin is None)
        if len(untrained) > 1 and not allow_multiple_untrained:
            raise UntrainedNetworksError(
                f"task '{task.name}' introduces {len(untrained)} untrained neural functions ({', '.join(untrained)}); "
                "at most one may be introduced per task. Untrained networks in one task are interchangeable "
                "(any permutation of them fits the data equally well), so gradient descent cannot tell them apart "
                "and tends to merge them into one function",
                hint="train the others in earlier tasks and load them from the library (uses=...), or pass "
                     "allow_multiple_untrained=True if the sketch breaks the symmetry itself")
        pool.update(given | introduced)
        states.append(state)
    return states


def _call_make(task: Task, given: dict[str, NeuralFunction]) -> Sketch:
    sketch = task.make(dict(given))
    if not isinstance(sketch, Sketch):
        raise LifelongError(f"task '{task.name}': make() returned {type(sketch).__name__}, not a Sketch",
                            hint="decorate the sketch function with @workbench.core.sketch(...) and return it")
    return sketch


def _check_nets(state: _TaskState, sketch: Sketch, given: dict[str, NeuralFunction]) -> dict[str, NeuralFunction]:
    """Record the sketch's nets; return those it introduced itself (not among ``given``)."""
    name = state.task.name
    neural = sketch.discover(state.train.inputs).neural
    for n, nf in given.items():
        if n not in neural:
            raise LifelongError(f"task '{name}' uses '{n}' but its sketch never calls it",
                                hint=f"the sketch calls: {', '.join(sorted(neural)) or 'no neural function'}")
        if neural[n] is not nf:
            raise LifelongError(f"task '{name}': make() ignored the neural function '{n}' it was given and built "
                                "its own", hint=f"use neural['{n}'] inside make(); create a net only when absent")
    state.nets = tuple(sorted(neural))
    state.sketch, state.neural = sketch, dict(neural)
    return {n: nf for n, nf in neural.items() if n not in given}


def _build(state: _TaskState, live: dict[str, NeuralFunction], *, first: bool) -> None:
    """(Re)build a task's sketch over the live nets; on its first stage it may add its own new net."""
    given = {n: live[n] for n in (state.task.uses if first else state.nets)}
    introduced = _check_nets(state, _call_make(state.task, given), given)
    if not first and introduced:
        raise LifelongError(f"task '{state.task.name}': make() created {sorted(introduced)} again in a later stage",
                            hint="create a new net only when it is absent from the dict make() receives")


def _seed_holes(hole_probs: Mapping[str, torch.Tensor], r: int, assignment: Mapping[str, int],
                dtype: torch.dtype, device: str) -> dict[str, nn.Parameter]:
    """Hole logits of restart ``r`` (its final distribution), or its best program's choices if those differ."""
    holes = {}
    for k, p in hole_probs.items():
        logits = torch.log(p[r].to(torch.float64).clamp_min(1e-12))
        if int(logits.argmax()) != assignment[k]:  # best validation came earlier: 0.99 on its choice
            logits = torch.full_like(logits, math.log(0.01 / max(1, len(logits) - 1)))
            logits[assignment[k]] = math.log(0.99)
        holes[k] = nn.Parameter(logits[None].to(dtype=dtype, device=device))
    return holes


def _joint(seen: list[_TaskState], plan: list[tuple[int, int]], live: dict[str, NeuralFunction],
           lrs: dict[str, float], cfg: TrainConfig, dtype: torch.dtype, gen: torch.Generator,
           progress: Callable[[dict], None]) -> list[tuple[int, float]]:
    """Interleaved chunks of steps over tasks, one shared copy of every net (``nets="shared"``).

    Returns the newest task's validation curve: ``(its steps so far, discrete accuracy)`` after each
    of its chunks.
    """
    curve: list[tuple[int, float]] = []
    groups = [{"params": list(live[n].module.parameters()), "lr": lr} for n, lr in sorted(lrs.items()) if lr > 0]
    for n, lr in lrs.items():  # (a search with fixed nets leaves requires_grad off)
        live[n].module.to(device=cfg.device, dtype=dtype).train().requires_grad_(lr > 0)
    net_opt = make_optimizer(cfg, groups) if groups else None
    temperature = cfg.final_temperature or cfg.temperature
    for i, n_steps in plan:
        s = seen[i]
        if s.optimizer is None:
            s.optimizer = make_optimizer(cfg, [{"params": list(s.holes.values()), "lr": cfg.hole_lr}])
        nets = [p for n in s.nets for p in live[n].module.parameters()]
        t0 = time.perf_counter()
        for _ in range(n_steps):
            batch = s.train.take(torch.randint(0, len(s.train), (cfg.batch_size,), generator=gen).to(cfg.device))
            outs = s.sketch.soft(s.holes, batch.inputs, temperature=temperature, dtype=dtype, device=cfg.device)
            loss = output_nll(outs, batch.targets, 1)[0]  # the loss, optimiser, clipping and schedule of fit
            if not loss.requires_grad:  # no holes and fixed nets: nothing to train
                break
            s.optimizer.zero_grad(set_to_none=True)
            if net_opt is not None:
                net_opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_norm is not None:  # one restart: holes and nets each clipped to the norm
                clip_per_restart(list(s.holes.values()), 1, cfg.clip_norm)
                clip_per_restart(nets, 1, cfg.clip_norm)
            s.steps_trained += 1
            for opt in (s.optimizer, net_opt):
                if opt is not None:
                    if cfg.lr_schedule:
                        apply_lr(opt, cfg, s.steps_trained)
                    opt.step()
        if s is seen[-1]:
            curve.append(((curve[-1][0] if curve else 0) + n_steps, _accuracy(s, s.val)))
            progress({"phase": "joint", "step": curve[-1][0], "seconds": time.perf_counter() - t0,
                      "val_accuracy": [curve[-1][1]]})
    return curve


def _program(state: _TaskState) -> Program:
    return Program(state.sketch, {k: int(v.detach()[0].argmax()) for k, v in state.holes.items()},
                   lengths=tape_lengths(state.sketch, state.train.inputs))


@torch.no_grad()
def _accuracy(state: _TaskState, data: Examples) -> float:
    """Accuracy of the task's discrete program (argmax holes, argmax nets) on ``data``."""
    modes = {n: nf.module.training for n, nf in state.neural.items()}
    for nf in state.neural.values():
        nf.module.eval()
    try:
        outs = _program(state).hard(data.inputs)
    finally:
        for n, nf in state.neural.items():
            nf.module.train(modes[n])
    ok = torch.stack([pred == data.targets[k] for k, pred in outs.items()]).all(0)
    return float(ok.float().mean())
