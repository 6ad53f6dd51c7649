"""The neural baselines of the 8-task lifelong schedule (Gaunt et al. 2017): MTNN and independent nets.

Both read a 2x2 grid cell by cell with a per-cell *embedding net* and answer with a task-specific
*head* (a softmax over the 19 values 0..18):

* digit cells (ADD2x2) go through a digit net, operator cells (APPLY2x2) through an operator net, both
  :mod:`workbench.nets` architectures (default ``lenet``, with 10 and 4 outputs: the architectures the
  NTPT run uses for its library nets ``digit`` and ``op``, so perception has the same capacity on both
  sides); a cell's embedding is its net's output vector, the four are concatenated in cell order
  (top-left, top-right, bottom-left, bottom-right);
* ADD2x2 head: ``4 x 10`` embeddings -> 1 hidden layer of 128 ReLU -> 19 logits;
* APPLY2x2 head: ``4 x 4`` embeddings + one-hot d1, d2, d3 (``3 x 10``) -> 3 hidden layers of 128 ReLU -> 19.

**Multitask network (the paper's MTNN).** ONE digit net and ONE operator net shared by every task,
one head per task. Protocol: the lifelong one, not joint training. The paper trains its neural baseline
on the same sequence of tasks as NTPT (its accuracies after the schedule, 24/47/56/60 % on ADD2x2 in the
order the tasks arrived, show the early tasks fading); we use exactly the lifelong driver's stage plan:
tasks arrive one per stage, each stage runs ``steps_per_task`` steps split over the tasks seen so far by
:meth:`workbench.lifelong.Schedule.plan` (``"mixture"``: the newest task weighs 1, a task ``a`` stages
old weighs ``decay ** a``, interleaved in chunks; ``"sequential"``: the newest task only) and the shared
nets keep training on every task's chunks. Every step is one Adam step on a batch of ONE task (its
cross-entropy through the shared net and its own head), as in the driver. Model selection: within each
stage the whole network is checkpointed at each validation (every ``validate_every`` steps and at the
stage's end) and the checkpoint with the best mean validation accuracy over the tasks seen so far is
kept; the next stage continues from it. After the last stage every task's test accuracy is measured
(an answer is right when the argmax over the 19 values is the target).

**Independent networks.** One network per task (its own embedding net and head), trained only on that
task's training data for ``steps_per_task`` steps, best validation checkpoint kept, test accuracy.

Both see exactly the tasks' training data (``Task.train``: for the paper's regime 64k instances drawn
from a pool of 1k distinct grids); batches are drawn uniformly from it. Full size (:data:`FULL`): 2,500
Adam steps (lr 3e-3) of batch 32 per task per baseline, validation on 500 instances every 500 steps.
Measured once (seed 0, one thread, 8 tasks, training sets of 8k instances from 1k distinct grids, 500 val
and 2,000 test grids per task; embedded MNIST held-out digits for val/test, SYNTHETIC operators): 257 s
of CPU for the multitask net and 234 s for the independent nets; 10k-grid test sets add about 35 s, so
a full-size run costs about 9 CPU-minutes. Test accuracies of that run: multitask 0.81 / 0.88 / 0.89 /
0.90 on ADD2x2 top / left / bottom / right and 0.12 / 0.12 / 0.12 / 0.10 on APPLY2x2 (majority answer
about 0.10: every net memorises the 1k grids and does not learn the modular arithmetic); independent
0.57 / 0.59 / 0.55 / 0.50 and 0.12 / 0.12 / 0.13 / 0.12. :data:`QUICK`: 50 steps of batch 16 per task,
validated once per stage on 100 instances (about 8 CPU-seconds for 8 tiny tasks).

Entry point for ``workbench reproduce``: :func:`run_baselines`. Lower level: :func:`train_multitask`,
:func:`train_independent` (each returns a :class:`BaselineFit`), :class:`MultitaskNet`.

>>> net = MultitaskNet(["add2x2_top", "apply2x2_left"], MultitaskConfig())
>>> net(net.tasks[0], {"grid": torch.zeros(3, 2, 2, 28, 28)}).shape
torch.Size([3, 19])
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn

from ..core.errors import ConfigError, DataError
from ..nets import build

__all__ = [
    "FULL", "QUICK", "VALUES", "BaselineFit", "MultitaskConfig", "MultitaskError", "MultitaskNet", "TaskData",
    "task_kind", "run_baselines", "train_independent", "train_multitask",
]

VALUES = 19  # answers live in 0..18
GIVEN = 10   # APPLY2x2's d1, d2, d3 lie in 0..9
KINDS = {"add2x2_": "add", "apply2x2_": "apply"}  # task-name prefix -> kind


class MultitaskError(DataError):
    """The baselines were given a task they do not know or malformed task data."""


@dataclass(frozen=True, kw_only=True)
class MultitaskConfig:
    """Sizes and training settings of both baselines (frozen, keyword-only).

    ``digit_arch`` / ``operator_arch``: ``(name, kwargs)`` of a :mod:`workbench.nets` architecture for
    digit / operator cells; its output vector is the cell's embedding. ``hidden``: width of the heads'
    hidden layers (paper: 128; ADD2x2 heads have ``add_layers`` of them, APPLY2x2 heads ``apply_layers``).
    ``steps_per_task``: steps of each multitask stage and of each independent net. ``schedule``,
    ``decay``, ``chunk``: the multitask stage plan (see :class:`workbench.lifelong.Schedule`).
    ``shared_lr``: learning rate of the shared embedding nets in the multitask net (None: ``lr``).
    ``val_size``: validation instances used per task (the first ones). ``eval_chunk``: grids per
    forward pass at evaluation.
    """

    digit_arch: tuple[str, dict[str, Any]] = ("lenet", {"out": 10})
    operator_arch: tuple[str, dict[str, Any]] = ("lenet", {"out": 4})
    hidden: int = 128
    add_layers: int = 1
    apply_layers: int = 3
    steps_per_task: int = 2500
    batch_size: int = 32
    lr: float = 3e-3  # Adam; 1e-3 reached 0.35 and 3e-3 0.57 on ADD2x2/top after 1,500 steps (1k grids, embedded MNIST)
    shared_lr: float | None = None
    schedule: Literal["mixture", "sequential"] = "mixture"
    decay: float = 0.5
    chunk: int = 25
    validate_every: int = 500
    val_size: int = 500
    eval_chunk: int = 1000

    def __post_init__(self) -> None:
        def pos_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 1

        def pos_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v)

        checks = {
            "digit_arch": _is_arch(self.digit_arch), "operator_arch": _is_arch(self.operator_arch),
            "hidden": pos_int(self.hidden), "add_layers": pos_int(self.add_layers),
            "apply_layers": pos_int(self.apply_layers),
            "steps_per_task": isinstance(self.steps_per_task, int) and not isinstance(self.steps_per_task, bool)
            and self.steps_per_task >= 0,
            "batch_size": pos_int(self.batch_size), "lr": pos_num(self.lr),
            "shared_lr": self.shared_lr is None or pos_num(self.shared_lr),
            "schedule": self.schedule in ("mixture", "sequential"),
            "decay": isinstance(self.decay, (int, float)) and 0.0 <= self.decay <= 1.0,
            "chunk": pos_int(self.chunk), "validate_every": pos_int(self.validate_every),
            "val_size": pos_int(self.val_size), "eval_chunk": pos_int(self.eval_chunk),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid MultitaskConfig value(s): {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}",
                              hint="see the docstring of workbench.baselines.multitask.MultitaskConfig")

    def replace(self, **changes: Any) -> MultitaskConfig:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"MultitaskConfig has no field(s) {sorted(unknown)}",
                              hint=f"fields: {[f.name for f in fields(self)]}")
        return MultitaskConfig(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})


def _is_arch(a: Any) -> bool:
    return (isinstance(a, (tuple, list)) and len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], Mapping))


#: The size ``workbench reproduce lifelong_*`` runs (the paper's 64k-instances / 1k-grids regime).
FULL = MultitaskConfig()
#: The ``--quick`` size: tiny data, seconds.
QUICK = MultitaskConfig(steps_per_task=50, batch_size=16, validate_every=50, val_size=100, chunk=10)


# -- tasks and their data ------------------------------------------------------------------------------
def task_kind(name: Any) -> Literal["add", "apply"]:
    """``"add"`` for an ``add2x2_*`` task, ``"apply"`` for an ``apply2x2_*`` task; a typed error otherwise."""
    if isinstance(name, str):
        for prefix, kind in KINDS.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return kind  # type: ignore[return-value]
    raise MultitaskError(f"the neural baselines do not know task {name!r}",
                         hint="task names must start with 'add2x2_' (a digit grid, sum of two cells) or "
                              "'apply2x2_' (an operator grid and d1, d2, d3), e.g. 'add2x2_top'")


@dataclass(frozen=True)
class TaskData:
    """One split of one task as tensors: ``grid`` float ``(n, 2, 2, 28, 28)``, ``given`` int ``(n, 3)``
    (APPLY2x2's d1, d2, d3; ``None`` for ADD2x2), ``targets`` int ``(n,)`` in 0..18."""

    grid: torch.Tensor
    given: torch.Tensor | None
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def inputs(self, idx: torch.Tensor | slice) -> dict[str, torch.Tensor]:
        out = {"grid": self.grid[idx]}
        if self.given is not None:
            g = self.given[idx]
            out.update(d1=g[:, 0], d2=g[:, 1], d3=g[:, 2])
        return out

    @staticmethod
    def of(data: Any, *, kind: str, task: str, what: str) -> TaskData:
        """Read ``data`` (what ``workbench.train.fit`` accepts, or the dict of ``apply2x2.make_dataset``)."""
        where = f"task '{task}', {what} data"
        if data is None:
            raise MultitaskError(f"{where} is missing", hint="give every task train, val and test data")
        if hasattr(data, "inputs") and hasattr(data, "targets"):
            inputs, targets = data.inputs, data.targets
        elif isinstance(data, Mapping) and "inputs" in data and "targets" in data:
            inputs, targets = data["inputs"], data["targets"]
        elif isinstance(data, tuple) and len(data) == 2:
            inputs, targets = data
        else:
            raise MultitaskError(f"{where}: expected an object with .inputs/.targets, a dict with 'inputs'/'targets' "
                                 f"or an (inputs, targets) pair, got {type(data).__name__}",
                                 hint="e.g. make_grid_dataset(...) or apply2x2.make_dataset(...)")
        if isinstance(targets, Mapping):
            if set(targets) != {"output"}:
                raise MultitaskError(f"{where}: expected one target named 'output', got {sorted(targets)}")
            targets = targets["output"]
        if not isinstance(inputs, Mapping):
            raise MultitaskError(f"{where}: inputs must be a dict of tensors, got {type(inputs).__name__}")
        need = ["grid"] + (["d1", "d2", "d3"] if kind == "apply" else [])
        missing = [k for k in need if k not in inputs]
        if missing:
            raise MultitaskError(f"{where}: inputs lack {missing} (have {sorted(inputs)})",
                                 hint="ADD2x2 needs {'grid'}; APPLY2x2 needs {'grid', 'd1', 'd2', 'd3'}")
        grid, targets = inputs["grid"], targets
        if not isinstance(grid, torch.Tensor) or not isinstance(targets, torch.Tensor):
            raise MultitaskError(f"{where}: grid and targets must be torch tensors")
        n = int(targets.shape[0]) if targets.dim() == 1 else -1
        if n <= 0 or targets.is_floating_point() or targets.dtype == torch.bool:
            raise MultitaskError(f"{where}: targets must be a non-empty (n,) integer tensor, got "
                                 f"{tuple(targets.shape)} {targets.dtype}")
        if int(targets.min()) < 0 or int(targets.max()) >= VALUES:
            raise MultitaskError(f"{where}: targets must lie in 0..{VALUES - 1}, got "
                                 f"{int(targets.min())}..{int(targets.max())}")
        if tuple(grid.shape) != (n, 2, 2, 28, 28) or not grid.is_floating_point():
            raise MultitaskError(f"{where}: grid must be float ({n}, 2, 2, 28, 28), got {tuple(grid.shape)} {grid.dtype}",
                                 hint="build it with workbench.data.make_grid_dataset or apply2x2.make_dataset "
                                      "(normalised images)")
        given = None
        if kind == "apply":
            ds = [inputs[k] for k in ("d1", "d2", "d3")]
            for k, d in zip(("d1", "d2", "d3"), ds):
                if not isinstance(d, torch.Tensor) or tuple(d.shape) != (n,) or d.is_floating_point():
                    raise MultitaskError(f"{where}: input '{k}' must be ({n},) integers, got "
                                         f"{tuple(getattr(d, 'shape', ()))} {getattr(d, 'dtype', type(d).__name__)}")
                if int(d.min()) < 0 or int(d.max()) >= GIVEN:
                    raise MultitaskError(f"{where}: input '{k}' must lie in 0..{GIVEN - 1}")
            given = torch.stack([d.to(torch.int64) for d in ds], 1)
        return TaskData(grid, given, targets.to(torch.int64))


@dataclass
class _Split:
    name: str
    kind: str
    train: TaskData
    val: TaskData
    test: TaskData


def _read_tasks(tasks: Sequence[Any], val_size: int) -> list[_Split]:
    tasks = list(tasks)
    if not tasks:
        raise MultitaskError("the neural baselines need at least one task", hint="pass a list of workbench.lifelong.Task")
    out, seen = [], set()
    for t in tasks:
        name = getattr(t, "name", None)
        if not all(hasattr(t, a) for a in ("name", "train", "val", "test")):
            raise MultitaskError(f"expected task objects with name/train/val/test, got {type(t).__name__}",
                                 hint="pass workbench.lifelong.Task objects")
        kind = task_kind(name)
        if name in seen:
            raise MultitaskError(f"task name {name!r} appears twice", hint="task names must be unique")
        seen.add(name)
        train, val, test = (TaskData.of(getattr(t, w), kind=kind, task=name, what=w) for w in ("train", "val", "test"))
        k = min(len(val), val_size)
        val = TaskData(val.grid[:k], None if val.given is None else val.given[:k], val.targets[:k])
        out.append(_Split(name, kind, train, val, test))
    return out


# -- the network ---------------------------------------------------------------------------------------
class MultitaskNet(nn.Module):
    """Per-cell embedding nets shared by all of its tasks (one per cell kind) plus one head per task.

    ``tasks``: task names (``add2x2_*`` / ``apply2x2_*``). ``forward(task, inputs)`` takes the task's
    inputs (``{"grid": (B, 2, 2, 28, 28)}``, plus ``d1``, ``d2``, ``d3`` ``(B,)`` for APPLY2x2) and
    returns logits ``(B, 19)``. An independent baseline is a ``MultitaskNet`` of one task.
    """

    def __init__(self, tasks: Sequence[str], config: MultitaskConfig | None = None):
        super().__init__()
        c = config or FULL
        self.config = c
        self.tasks = list(tasks)
        kinds = {t: task_kind(t) for t in self.tasks}
        self.embed = nn.ModuleDict()
        widths = {}
        for kind, (arch, kwargs) in (("add", c.digit_arch), ("apply", c.operator_arch)):
            if kind in kinds.values():
                self.embed["digit" if kind == "add" else "operator"] = net = build(arch, **dict(kwargs))
                with torch.no_grad():
                    widths[kind] = int(net(torch.zeros(1, 28, 28)).reshape(1, -1).shape[1])
        self.heads = nn.ModuleDict()
        for t, kind in kinds.items():
            width = 4 * widths[kind] + (3 * GIVEN if kind == "apply" else 0)
            layers: list[nn.Module] = []
            for _ in range(c.add_layers if kind == "add" else c.apply_layers):
                layers += [nn.Linear(width, c.hidden), nn.ReLU()]
                width = c.hidden
            self.heads[t] = nn.Sequential(*layers, nn.Linear(width, VALUES))
        self._kinds = kinds

    def embedding_net(self, task: str) -> nn.Module:
        """The cell net ``task`` reads its grid with (the same module for every task of its kind)."""
        return self.embed["digit" if self._kinds[task] == "add" else "operator"]

    def forward(self, task: str, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        grid = inputs["grid"]
        b = grid.shape[0]
        emb = self.embedding_net(task)(grid.reshape(b * 4, 28, 28).float()).reshape(b, -1)
        if self._kinds[task] == "apply":
            hot = [nn.functional.one_hot(inputs[k].long(), GIVEN).to(emb.dtype) for k in ("d1", "d2", "d3")]
            emb = torch.cat([emb, *hot], 1)
        return self.heads[task](emb)

    @torch.no_grad()
    def accuracy(self, task: str, data: TaskData, *, chunk: int | None = None) -> float:
        """Fraction of ``data`` whose argmax answer equals the target (eval mode, in chunks)."""
        chunk = chunk or self.config.eval_chunk
        was = self.training
        self.eval()
        try:
            right = sum(int((self(task, data.inputs(slice(i, i + chunk))).argmax(-1)
                             == data.targets[i:i + chunk]).sum()) for i in range(0, len(data), chunk))
        finally:
            self.train(was)
        return right / len(data)


# -- training ------------------------------------------------------------------------------------------
@dataclass
class BaselineFit:
    """One baseline's run. ``test``: task -> test accuracy after training (fractions). ``val``: task -> the
    selected checkpoint's validation accuracy. ``val_matrix`` (multitask only): after each stage, the
    selected checkpoint's validation accuracy of every task (``None`` before a task arrives); ``test_matrix``
    likewise on test when ``track_test`` was set. ``steps``: task -> gradient steps on its data."""

    kind: str
    tasks: list[str]
    test: dict[str, float]
    val: dict[str, float]
    steps: dict[str, int]
    seconds: float
    val_matrix: list[list[float | None]] = field(default_factory=list)
    test_matrix: list[list[float | None]] = field(default_factory=list)
    models: list[MultitaskNet] = field(default_factory=list, repr=False)


def _step(model: MultitaskNet, opt: torch.optim.Optimizer, task: str, data: TaskData, batch: int,
          gen: torch.Generator) -> float:
    idx = torch.randint(0, len(data), (batch,), generator=gen)
    loss = nn.functional.cross_entropy(model(task, data.inputs(idx)), data.targets[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _optimizer(model: MultitaskNet, cfg: MultitaskConfig) -> torch.optim.Optimizer:
    shared = cfg.lr if cfg.shared_lr is None else cfg.shared_lr
    return torch.optim.Adam([{"params": list(model.embed.parameters()), "lr": shared},
                             {"params": list(model.heads.parameters()), "lr": cfg.lr}])


def _say(progress: Callable[[str], None] | None, line: str) -> None:
    if progress is not None:
        progress(line)


def train_multitask(tasks: Sequence[Any], *, config: MultitaskConfig | None = None, seed: int = 0,
                    track_test: bool = False, progress: Callable[[str], None] | None = None) -> BaselineFit:
    """The multitask network over the lifelong stage plan (see the module docstring)."""
    from ..lifelong import Schedule

    cfg = config or FULL
    splits = _read_tasks(tasks, cfg.val_size)
    names = [s.name for s in splits]
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MultitaskNet(names, cfg)
    opt = _optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed)
    schedule = Schedule(kind=cfg.schedule, steps=cfg.steps_per_task, decay=cfg.decay, chunk=cfg.chunk)
    steps = dict.fromkeys(names, 0)
    val_matrix: list[list[float | None]] = []
    test_matrix: list[list[float | None]] = []
    best_val: list[float] = []
    model.train()
    for stage in range(len(splits)):
        seen = splits[:stage + 1]
        ts = time.perf_counter()
        best, best_state, best_val = -1.0, None, []
        done, losses = 0, []
        plan = schedule.plan(len(seen))
        for j, (i, n) in enumerate(plan or [(stage, 0)]):
            task = seen[i]
            for _ in range(n):
                losses.append(_step(model, opt, task.name, task.train, cfg.batch_size, gen))
            steps[task.name] += n
            crossed = (done + n) // cfg.validate_every > done // cfg.validate_every
            done += n
            if crossed or j >= len(plan) - 1:  # every validate_every steps and at the stage's end
                accs = [model.accuracy(t.name, t.val) for t in seen]
                mean = sum(accs) / len(accs)
                if mean >= best:
                    best, best_state, best_val = mean, copy.deepcopy(model.state_dict()), accs
                recent = losses[-50:]
                _say(progress, f"  multitask stage {stage + 1} step {done}: loss "
                               f"{sum(recent) / max(1, len(recent)):.3f}, val {' '.join(f'{a:.3f}' for a in accs)} "
                               f"(mean {mean:.3f})")
        model.load_state_dict(best_state)
        val_matrix.append(best_val + [None] * (len(splits) - len(seen)))
        if track_test:
            test_matrix.append([model.accuracy(s.name, s.test) for s in seen] + [None] * (len(splits) - len(seen)))
        _say(progress, f"multitask: stage {stage + 1}/{len(splits)} ({splits[stage].name}) done in "
                       f"{time.perf_counter() - ts:.1f} s, selected mean val {best:.3f}")
    test = {s.name: model.accuracy(s.name, s.test) for s in splits}
    _say(progress, "multitask test: " + ", ".join(f"{k} {v:.3f}" for k, v in test.items()))
    model.eval()
    return BaselineFit("multitask", names, test, dict(zip(names, best_val)), steps, time.perf_counter() - t0,
                       val_matrix, test_matrix, [model])


def train_independent(tasks: Sequence[Any], *, config: MultitaskConfig | None = None, seed: int = 0,
                      progress: Callable[[str], None] | None = None) -> BaselineFit:
    """One network per task (own cell net and head), trained on that task alone; best val checkpoint."""
    cfg = config or FULL
    splits = _read_tasks(tasks, cfg.val_size)
    t0 = time.perf_counter()
    test, val, steps, models = {}, {}, {}, []
    for k, s in enumerate(splits):
        ts = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1009 + k + 1)
            model = MultitaskNet([s.name], cfg)
        opt = _optimizer(model, cfg)
        gen = torch.Generator().manual_seed(seed * 1009 + k + 1)
        best, best_state = -1.0, None
        model.train()
        for step in range(1, cfg.steps_per_task + 1):
            _step(model, opt, s.name, s.train, cfg.batch_size, gen)
            if step % cfg.validate_every == 0 or step == cfg.steps_per_task:
                acc = model.accuracy(s.name, s.val)
                if acc >= best:
                    best, best_state = acc, copy.deepcopy(model.state_dict())
        if best_state is None:  # no steps: the untrained net
            best = model.accuracy(s.name, s.val)
        else:
            model.load_state_dict(best_state)
        model.eval()
        val[s.name], steps[s.name] = best, cfg.steps_per_task
        test[s.name] = model.accuracy(s.name, s.test)
        models.append(model)
        _say(progress, f"independent: {s.name} val {best:.3f} test {test[s.name]:.3f} "
                       f"({time.perf_counter() - ts:.1f} s)")
    return BaselineFit("independent", [s.name for s in splits], test, val, steps, time.perf_counter() - t0,
                       models=models)


def run_baselines(tasks: Sequence[Any], *, quick: bool, seed: int, progress: Callable[[str], None] | None = None,
                  config: MultitaskConfig | None = None) -> dict[str, dict[str, float]]:
    """Train both neural baselines on ``tasks`` (``workbench.lifelong.Task``-like: ``name``, ``train``,
    ``val``, ``test``) in their order; return ``{"multitask": {task: test accuracy}, "independent": {...}}``
    (fractions). ``config`` overrides the size that ``quick`` picks (:data:`QUICK` or :data:`FULL`)."""
    cfg = config or (QUICK if quick else FULL)
    tasks = list(tasks)
    _read_tasks(tasks, cfg.val_size)  # fail on bad input before any training
    _say(progress, f"neural baselines: {len(tasks)} tasks, {cfg.steps_per_task} steps of batch {cfg.batch_size} "
                   f"per task, {cfg.schedule} schedule for the multitask net")
    multi = train_multitask(tasks, config=cfg, seed=seed, progress=progress)
    indep = train_independent(tasks, config=cfg, seed=seed, progress=progress)
    _say(progress, f"neural baselines done: multitask {multi.seconds:.0f} s, independent {indep.seconds:.0f} s")
    return {"multitask": multi.test, "independent": indep.test}
