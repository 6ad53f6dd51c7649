"""Training: gradient descent on a sketch's soft interpretation, many random restarts at once.

Restarts are a tensor dimension: hole logits are ``(R, K)`` and, with ``nets="per_restart"``, each
neural function's weights are stacked ``(R, ...)`` and run through ``torch.func.vmap``, so one
forward pass trains R independent runs (the optimiser is element-wise and gradient clipping is done
per restart, so restarts never interact). Every ``validate_every`` steps each restart's *discrete*
program (argmax holes, argmax nets) is evaluated on held-out data, all restarts in one hard pass.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .core.display import Displayable
from .core.domains import Seq
from .core.errors import ConfigError, DataError, TrainingError
from .core.neural import NeuralFunction
from .core.sketch import Sketch, SketchInfo
from .provenance import link as link_provenance
from .readout import Program, predictions

_FIELD_TYPES: dict[str, Any] = {}


def _type_ok(value: Any, tp: Any) -> bool:
    """Whether ``value`` fits annotation ``tp`` (bool is not an int; an int is a float)."""
    import numbers
    import types
    import typing

    origin = typing.get_origin(tp)
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in typing.get_args(tp))
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(float(value))
    if tp is str:
        return isinstance(value, str)
    return True  # an annotation this check does not know: left to the range checks


def _check_types(cfg: Any) -> None:
    """Type-check every field of a config dataclass against its annotation (via ``dataclasses.fields``)."""
    import typing

    if not _FIELD_TYPES:
        _FIELD_TYPES.update(typing.get_type_hints(type(cfg)))
    for f in fields(cfg):
        value, tp = getattr(cfg, f.name), _FIELD_TYPES.get(f.name)
        if tp is not None and not _type_ok(value, tp):
            want = _type_name(tp)
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise ConfigError(f"TrainConfig.{f.name} must be {want}, got {type(value).__name__} {shown}",
                              site=f"TrainConfig.{f.name}", hint=f"{f.name} takes {want}; its default is "
                                                                 f"{f.default!r}")


def _type_name(tp: Any) -> str:
    import typing

    args = typing.get_args(tp)
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(repr, args))
    if args:
        return " or ".join(_type_name(a) for a in args)
    return {int: "an int (not a bool)", float: "a finite number", str: "a string", bool: "a bool",
            type(None): "None"}.get(tp, getattr(tp, "__name__", str(tp)))


def check_device(device: str, *, present: bool = True) -> None:
    """Refuse a device that torch does not know, or (``present``) that is absent on this machine.

    A config only names a device (``present=False``: a config built on a driver may be meant for a GPU
    worker, see workbench.executor); :func:`fit` checks that it is here before moving anything to it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ConfigError(f"TrainConfig.device={device!r} is not a torch device: {e}", site="TrainConfig.device",
                          hint="use 'cpu', 'cuda', 'cuda:N' or 'mps'") from e
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"TrainConfig.device={device!r}: training runs on 'cpu', 'cuda' or 'mps'",
                          site="TrainConfig.device", hint="use device='cpu'")
    if not present:
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"TrainConfig.device={device!r}, but no CUDA device is available here",
                              site="TrainConfig.device",
                              hint="use device='cpu', or install a CUDA build of torch on a machine with a GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"TrainConfig.device={device!r}, but this machine has {torch.cuda.device_count()} "
                              "CUDA device(s)", site="TrainConfig.device",
                              hint=f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"TrainConfig.device={device!r}, but MPS (Apple GPU) is not available here",
                              site="TrainConfig.device", hint="use device='cpu'")


def memory_limit_bytes(cfg: Any) -> float:
    """The memory a run may be estimated to need: ``memory_limit_gb``, default half the machine's RAM."""
    if cfg.memory_limit_gb is not None:
        return float(cfg.memory_limit_gb) * 2**30
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def estimate_memory(info: Any, inputs: Mapping[str, torch.Tensor], cfg: Any, itemsize: int) -> dict[str, float]:
    """A coarse lower bound, in bytes, of what training allocates: per-restart copies of every neural
    function's parameters (weights, gradients, two Adam moments: 4x), and one mini-batch of inputs
    (times R when per-restart nets each see it)."""
    params = sum(p.numel() for nf in info.neural.values() for p in nf.module.parameters())
    copies = cfg.restarts if cfg.nets == "per_restart" else 1
    per_example = sum(v[0].numel() for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim() > 0)
    nets = 4 * copies * params * itemsize
    batch = cfg.batch_size * per_example * itemsize * (copies if info.neural else 1)
    return {"parameters": float(nets), "batch": float(batch), "total": float(nets + batch)}


MAX_RESTART_COPIES = 65_536  # per-restart nets deep-copy each module R times: 10^6 copies would hang for minutes


def _check_memory(info: Any, inputs: Mapping[str, torch.Tensor], cfg: Any, dtype: torch.dtype) -> None:
    if info.neural and cfg.nets == "per_restart" and cfg.restarts > MAX_RESTART_COPIES:
        raise ConfigError(f"restarts={cfg.restarts} with per-restart nets would deep-copy "
                          f"{', '.join(sorted(info.neural))} {cfg.restarts} times (at most {MAX_RESTART_COPIES})",
                          site="TrainConfig.restarts",
                          hint="use fewer restarts, nets='shared' or nets='frozen', or shard the restarts "
                               "(workbench.executor)")
    need = estimate_memory(info, inputs, cfg, torch.empty((), dtype=dtype).element_size())
    limit = memory_limit_bytes(cfg)
    if need["total"] > limit:
        gib = 2**30
        raise ConfigError(
            f"this run would need at least {need['total'] / gib:.1f} GiB ({need['parameters'] / gib:.1f} GiB for "
            f"{cfg.restarts if cfg.nets == 'per_restart' else 1} cop(ies) of the neural functions' parameters, "
            f"{need['batch'] / gib:.1f} GiB for a batch of {cfg.batch_size}), more than the limit of "
            f"{limit / gib:.1f} GiB", site="TrainConfig",
            hint="lower restarts or batch_size, use nets='shared', or raise TrainConfig.memory_limit_gb")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Frozen training configuration (keyword-only). See the field comments for TerpreT's tricks."""

    restarts: int = 8                       # R random restarts, one forward pass
    steps: int = 1000                       # maximum optimisation steps
    batch_size: int = 64
    optimizer: Literal["adam", "rmsprop"] = "adam"
    hole_lr: float = 0.05                   # learning rate of hole logits
    net_lr: float = 1e-3                    # learning rate of neural functions (paper: 100x smaller when shared)
    hole_init: Literal["dirichlet", "normal", "uniform"] = "dirichlet"  # log Dirichlet(alpha) sample / N(0, s)
    dirichlet_alpha: float = 1.0
    init_scale: float = 1.0                 # std of "normal" init
    nets: Literal["per_restart", "shared", "frozen"] = "per_restart"
    net_init: Literal["copy", "reinit"] = "copy"  # per-restart nets: copies of the given weights, or fresh inits
    clip_norm: float | None = 1.0           # per-restart gradient norm clipping
    grad_noise: float = 0.0                 # annealed Gaussian noise, variance grad_noise / (1 + t)^0.55
    entropy_bonus: float = 0.0              # weight of hole entropy bonus, decaying as 1 / (1 + t * entropy_decay)
    entropy_decay: float = 0.01
    temperature: float = 1.0                # hole softmax temperature at the start ...
    final_temperature: float | None = None  # ... annealed geometrically to this value
    sparsity: float = 0.0                   # Hoyer-style L1/L2 penalty on hole distributions
    validate_every: int = 50
    val_size: int = 1000                    # held-out examples used for each validation
    target_accuracy: float = 1.0            # a restart stops once its discrete accuracy reaches this ...
    patience: int | None = None             # ... or once its best has not improved for this many validations
    max_seconds: float | None = None
    lr_schedule: tuple[tuple[int, float], ...] = ()  # ((from step, factor), ...): every lr times factor from then on
    seed: int = 0
    restart_offset: int = 0                 # global index of this run's first restart (sharding: workbench.executor)
    device: str = "cpu"
    dtype: Literal["float32", "float64"] = "float32"
    memory_limit_gb: float | None = None    # refuse runs estimated above this (None: half the RAM; inf: no check)
    # discrete moves (workbench.search): "moves" scores each restart's argmax program and its neighbours exactly
    search: Literal["gradient", "moves"] = "gradient"
    moves_every: int = 1                    # a round of moves every this many validations
    moves_examples: int = 32                # training examples scored per round (a fresh seeded sample)
    moves_pairs: int = 16                   # random two-hole changes scored per restart and round
    stuck_after: int = 3                    # rounds without improvement (below the top) before a restart is recycled
    recycle_fresh: float = 0.25             # probability a recycled restart starts fresh, else a mutation of the best

    def __post_init__(self) -> None:
        _check_types(self)  # types first (bool is not an int, 2.5 is not a restart count), then ranges
        finite = [f.name for f in fields(self) if isinstance(getattr(self, f.name), float)
                  and f.name not in ("max_seconds", "memory_limit_gb") and not math.isfinite(getattr(self, f.name))]
        if finite:
            raise ConfigError(f"TrainConfig.{finite[0]}={getattr(self, finite[0])!r} is not a finite number",
                              site=f"TrainConfig.{finite[0]}", hint="use a finite value")
        checks = {
            "restarts": self.restarts >= 1, "steps": self.steps >= 1, "batch_size": self.batch_size >= 1,
            "hole_lr": self.hole_lr >= 0, "net_lr": self.net_lr >= 0, "temperature": self.temperature > 0,
            "validate_every": self.validate_every >= 1, "dirichlet_alpha": self.dirichlet_alpha > 0,
            "optimizer": self.optimizer in ("adam", "rmsprop"), "nets": self.nets in ("per_restart", "shared", "frozen"),
            "hole_init": self.hole_init in ("dirichlet", "normal", "uniform"),
            "net_init": self.net_init in ("copy", "reinit"), "dtype": self.dtype in ("float32", "float64"),
            "final_temperature": self.final_temperature is None or self.final_temperature > 0,
            "clip_norm": self.clip_norm is None or self.clip_norm > 0,
            "val_size": self.val_size >= 1, "target_accuracy": 0 <= self.target_accuracy <= 1,
            "patience": self.patience is None or self.patience >= 1,
            "max_seconds": self.max_seconds is None or self.max_seconds > 0,
            "grad_noise": self.grad_noise >= 0, "entropy_bonus": self.entropy_bonus >= 0,
            "entropy_decay": self.entropy_decay >= 0, "sparsity": self.sparsity >= 0, "init_scale": self.init_scale >= 0,
            "memory_limit_gb": self.memory_limit_gb is None or self.memory_limit_gb > 0,
            "restart_offset": isinstance(self.restart_offset, int) and self.restart_offset >= 0,
            "search": self.search in ("gradient", "moves"), "moves_every": self.moves_every >= 1,
            "moves_examples": self.moves_examples >= 1, "moves_pairs": self.moves_pairs >= 0,
            "stuck_after": self.stuck_after >= 1, "recycle_fresh": 0 <= self.recycle_fresh <= 1,
            "lr_schedule": _schedule_ok(self.lr_schedule),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid TrainConfig value(s): {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}",
                              site=f"TrainConfig.{bad[0]}",
                              hint="see the field comments of workbench.train.TrainConfig"
                                   + (" (val_size: at least 1 held-out example)" if "val_size" in bad else ""))
        check_device(self.device, present=False)  # fit checks that the device is here

    def replace(self, **changes: Any) -> TrainConfig:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"TrainConfig has no field(s) {sorted(unknown)}")
        return TrainConfig(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})


@dataclass
class Examples:
    """Input tensors (by sketch input name) and target ints (by output name)."""

    inputs: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return next(iter(self.targets.values())).shape[0]

    def take(self, idx: torch.Tensor) -> Examples:
        return Examples({k: v[idx] for k, v in self.inputs.items()}, {k: v[idx] for k, v in self.targets.items()})

    def to(self, device: Any, dtype: torch.dtype | None = None) -> Examples:
        def mv(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype) if (dtype is not None and t.is_floating_point()) else t.to(device)

        return Examples({k: mv(v) for k, v in self.inputs.items()}, {k: v.to(device) for k, v in self.targets.items()})


def as_examples(sketch: Sketch, data: Any, *, what: str) -> Examples:
    """Accept ``Examples``, ``(inputs, targets)`` or an object with ``.inputs``/``.targets``."""
    if isinstance(data, Examples):
        ex = data
    elif isinstance(data, tuple) and len(data) == 2:
        ex = Examples(dict(data[0]), data[1] if isinstance(data[1], Mapping) else {"output": data[1]})
    elif hasattr(data, "inputs") and hasattr(data, "targets"):
        t = data.targets
        ex = Examples(dict(data.inputs), dict(t) if isinstance(t, Mapping) else {"output": t})
    else:
        raise DataError(f"{what}: expected Examples or (inputs dict, targets), got {type(data).__name__}")
    if set(ex.targets) != set(sketch.outputs):
        raise DataError(f"{what}: targets {sorted(ex.targets)} do not match the sketch's outputs {sorted(sketch.outputs)}")
    n = sketch.check_data(ex.inputs)
    for k, v in ex.inputs.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).reshape(v.shape[0], -1).any(-1).sum()) if v.dim() else 1
            raise DataError(f"{what}: input '{k}' has NaN or inf values in {bad} example(s)", site=k,
                            hint="clean or drop those examples (torch.isfinite(x).flatten(1).all(1) finds them)")
    for k, t in ex.targets.items():
        d = sketch.outputs[k]
        if not isinstance(t, torch.Tensor):
            raise DataError(f"{what}: target '{k}' must be a torch tensor of integers, got {type(t).__name__}",
                            site=k, hint="wrap it: torch.tensor(targets, dtype=torch.long)")
        if t.shape != (n,) or t.is_floating_point():
            raise DataError(f"{what}: target '{k}' must be ({n},) integers, got {tuple(t.shape)} {t.dtype}")
        if int(t.min()) < 0 or int(t.max()) >= d.size:
            raise DataError(f"{what}: target '{k}' has values outside {d!r}", hint=f"values must lie in 0..{d.size - 1}")
    return ex


class RestartNets(nn.Module):
    """R copies of a neural function's module, stacked and run at once with ``torch.func.vmap``."""

    def __init__(self, nf: NeuralFunction, restarts: int, *, reinit: bool, seed: int, offset: int = 0):
        super().__init__()
        copies = [copy.deepcopy(nf.module) for _ in range(restarts)]
        if reinit:
            for r, m in enumerate(copies):
                torch.manual_seed(seed * 7919 + offset + r)  # seeded by the global restart index
                for sub in m.modules():
                    if hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
        params, buffers = stack_module_state(copies)
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v) for k, v in params.items()})
        self._keys = list(params)
        self.buffers_ = buffers
        self.__dict__["base"] = copy.deepcopy(nf.module).to("meta")  # structure only, not a submodule
        self.nf = nf
        self.restarts = restarts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = {k: self.params[k.replace(".", "__")] for k in self._keys}

        def one(p: dict, b: dict, inp: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (p, b), (inp,))

        return vmap(one, in_dims=(0, 0, None))(params, self.buffers_, x)

    def module_for(self, r: int) -> nn.Module:
        m = copy.deepcopy(self.nf.module)
        m.load_state_dict({k: self.params[k.replace(".", "__")][r].detach().clone() for k in self._keys}
                          | {k: v[r].clone() for k, v in self.buffers_.items()})
        return m

    def state_for(self, r: int) -> dict[str, torch.Tensor]:
        return {k: self.params[k.replace(".", "__")][r].detach().clone() for k in self._keys}


@dataclass
class RestartResult:
    """One restart: its curves, final figures, discrete program and (if judged) correctness."""

    index: int
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_accuracy: float = -1.0
    best_step: int = -1
    assignment: dict[str, int] = field(default_factory=dict)
    program: Program | None = None
    correct: bool | None = None
    neural: dict[str, NeuralFunction] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


@dataclass
class FitResult(Displayable):
    """Everything a training run produced. ``best`` is the restart with the highest discrete accuracy."""

    sketch: Sketch
    config: TrainConfig
    info: SketchInfo
    restarts: list[RestartResult]
    steps: int
    seconds: float
    hole_probs: dict[str, torch.Tensor]  # final (R, K)
    interrupted: bool = False
    hole_history: list[tuple[int, dict[str, torch.Tensor]]] = field(default_factory=list)  # (step, {hole: (R, K)})
    stopped: str | None = None        # why training stopped early on a fault (NaN/inf loss); the result is best-so-far
    stopped_step: int | None = None   # ... at which step
    judge_error: str | None = None    # the first error the judge raised (``correct`` stays None for those restarts)
    search: Any = None                # workbench.search.SearchStats when TrainConfig.search="moves"
    examples: dict[str, Any] = field(default_factory=dict, repr=False)  # train / val / extra (for the ambiguity report)

    @property
    def best(self) -> RestartResult:
        return max(self.restarts, key=lambda r: (r.best_accuracy, -r.final_loss))

    @property
    def program(self) -> Program:
        return self.best.program

    @property
    def restarts_correct(self) -> int | None:
        judged = [r.correct for r in self.restarts]
        return None if any(c is None for c in judged) else sum(judged)

    def summary(self) -> str:
        lines = [f"{self.sketch.name}: {len(self.restarts)} restarts, {self.steps} steps, {self.seconds:.1f} s"]
        for r in self.restarts:
            ok = "" if r.correct is None else ("  correct" if r.correct else "  wrong")
            lines.append(f"  restart {r.index}: loss {r.final_loss:.4f}, discrete val acc {r.best_accuracy:.3f}{ok}")
        if self.stopped:
            lines.append(f"  stopped at step {self.stopped_step}: {self.stopped} (best-so-far programs kept)")
        if self.judge_error:
            lines.append(f"  judge failed: {self.judge_error}")
        if self.search is not None:
            lines.append(f"  {self.search.line()}")
        lines.append(f"  {self.ambiguity.line()}")
        return "\n".join(lines)

    @property
    def ambiguity(self) -> Any:
        """The ambiguity report (:mod:`workbench.ambiguity`): distinct programs, which fit equally, and
        inputs that tell them apart (give a task probe with ``workbench.ambiguity.report(result, probe)``)."""
        from .ambiguity import report

        return report(self)

    def __repr__(self) -> str:
        return self.summary()


def tape_lengths(sketch: Sketch, inputs: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Lengths of the any-length tapes in ``inputs`` (read-out unrolls loops for a given length)."""
    return {k: int(inputs[k].shape[1]) for k, t in sketch.inputs.items() if isinstance(t, Seq) and t.length is None}


def restart_rng(seed: int, index: int):
    """The random stream of restart ``index`` (its GLOBAL index) under ``seed``: a NumPy generator seeded by
    the pair, so a restart's initialisation never depends on how many restarts share its run."""
    import numpy as np

    return np.random.default_rng([int(seed) & (2**64 - 1), int(index)])


def _init_holes(info: SketchInfo, cfg: TrainConfig, dtype: torch.dtype) -> tuple[dict[str, nn.Parameter], list[int]]:
    """Hole logits ``(R, K)``, row r drawn from :func:`restart_rng` of global index ``restart_offset + r``;
    also one seed per restart for its gradient noise."""
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in info.holes}
    noise_seeds = []
    for r in range(cfg.restarts):
        rng = restart_rng(cfg.seed, cfg.restart_offset + r)
        noise_seeds.append(int(rng.integers(2**62)))
        for name, d in info.holes.items():
            if cfg.hole_init == "dirichlet":  # log of a Dirichlet(alpha) sample, from normalised Gamma draws
                g = torch.from_numpy(rng.gamma(cfg.dirichlet_alpha, size=d.size))
                row = torch.log((g / g.sum()).clamp_min(1e-30)) if float(g.sum()) > 0 else torch.zeros(d.size)
            elif cfg.hole_init == "normal":
                row = torch.from_numpy(rng.standard_normal(d.size)) * cfg.init_scale
            else:
                row = torch.zeros(d.size, dtype=torch.float64)
            rows[name].append(row.to(torch.float64))
    holes = {name: nn.Parameter(torch.stack(rs).to(dtype=dtype, device=cfg.device)) for name, rs in rows.items()}
    return holes, noise_seeds


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


# -- the parts of one training loop (fit, lifelong's joint stages, recipes) -----------------------------------
def _schedule_ok(schedule: Any) -> bool:
    if not isinstance(schedule, tuple):
        return False
    steps = []
    for item in schedule:
        if not (isinstance(item, tuple) and len(item) == 2 and _type_ok(item[0], int) and _type_ok(item[1], float)):
            return False
        steps.append(item[0])
        if item[0] < 1 or not math.isfinite(item[1]) or item[1] < 0:
            return False
    return steps == sorted(set(steps))


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """The learning-rate multiplier of ``cfg.lr_schedule`` at ``step`` (1 before its first entry)."""
    factor = 1.0
    for start, f in cfg.lr_schedule:
        if step >= start:
            factor = f
    return factor


def make_optimizer(cfg: TrainConfig, groups: list[dict]) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over parameter groups; each group remembers its base rate for :func:`apply_lr`."""
    for g in groups:
        g.setdefault("base_lr", g["lr"])
    return torch.optim.Adam(groups) if cfg.optimizer == "adam" else torch.optim.RMSprop(groups)


def apply_lr(opt: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> None:
    f = lr_factor(cfg, step)
    for g in opt.param_groups:
        g["lr"] = g.get("base_lr", g["lr"]) * f


def output_nll(outs: Mapping[str, Any], targets: Mapping[str, torch.Tensor], restarts: int) -> torch.Tensor:
    """Negative log-likelihood of the targets under the output marginals, per restart ``(R,)``, summed
    over outputs and averaged over the batch (the loss of every training loop)."""
    loss: torch.Tensor | float = 0.0
    for k, v in outs.items():
        t = targets[k]
        p = v.probs.expand(restarts, -1, -1).gather(-1, t.view(1, -1, 1).expand(restarts, -1, 1)).squeeze(-1)
        loss = loss + (-torch.log(p.clamp_min(1e-12))).mean(-1)
    return loss


def clip_per_restart(params: list[torch.Tensor], restarts: int, max_norm: float) -> None:
    """Clip each restart's gradient (row r of every stacked parameter) to ``max_norm``."""
    _clip_per_restart(params, restarts, max_norm)


def fit(sketch: Sketch, train: Any, *, val: Any = None, config: TrainConfig | None = None,
        judge: Callable[[Program], bool] | None = None, progress: Callable[[dict], None] | None = None,
        init: FitResult | None = None, extra: Any = None) -> FitResult:
    """Train ``sketch`` on ``train`` examples; validate discrete programs on ``val``.

    ``judge(program) -> bool`` decides whether a restart's read-out program is correct (e.g. by
    running it with perfect perception); ``progress`` is called with a dict after each validation.
    Interrupting (KeyboardInterrupt) returns the result so far, with each restart's best program.

    Restarts are independent of each other (unless ``nets="shared"``), which is what lets
    :func:`workbench.executor.fit_sharded` split them: restart ``i`` (its global index,
    ``restart_offset + r``) draws its initialisation from ``restart_rng(seed, i)``; the mini-batch
    stream is seeded by ``seed`` alone, the same for every restart; and a restart **stops** (its
    record freezes: no more losses, validations, best program or final hole probabilities) at the
    first validation where its discrete accuracy reaches ``target_accuracy`` or where ``patience``
    validations in a row have not improved its best. ``fit`` ends when every restart has stopped.
    ``max_seconds`` and Ctrl-C stop the whole run wherever it is (wall-clock, so not reproducible).

    ``search="moves"`` adds discrete moves and recycling of restarts (:mod:`workbench.search`; restarts then
    interact). ``init`` continues from a previous result's restarts (logits and nets); ``extra`` adds labelled
    examples (``Examples`` or a list of them, e.g. of other tape lengths) to the exact scores and the discrete
    validation: see :func:`workbench.train.resume`.
    """
    cfg = config or TrainConfig()
    check_device(cfg.device)  # an absent CUDA/MPS device: a ConfigError with a hint, before any tensor moves
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    train_ex = as_examples(sketch, train, what="training data")
    if val is None:
        n = len(train_ex)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
        k = max(1, min(cfg.val_size, n // 10))
        val_ex, train_ex = train_ex.take(perm[:k]), train_ex.take(perm[k:])
        if len(train_ex) == 0:
            raise DataError("training data has a single example: nothing is left after holding out a validation set",
                            hint="give more examples or pass val= explicitly")
    else:
        val_ex = as_examples(sketch, val, what="validation data")
    val_ex = val_ex.take(torch.arange(min(len(val_ex), cfg.val_size)))
    train_ex, val_ex = train_ex.to(cfg.device, dtype), val_ex.to(cfg.device, dtype)

    info = sketch.discover(train_ex.inputs)
    _check_memory(info, train_ex.inputs, cfg, dtype)
    gen = torch.Generator().manual_seed(cfg.seed)  # the mini-batch stream: the same whatever R
    torch.manual_seed(cfg.seed)
    holes, noise_seeds = _init_holes(info, cfg, dtype)
    R = cfg.restarts
    active = [True] * R  # False once a restart has stopped (target accuracy or patience): its record is frozen
    stale_r = [0] * R
    noise_gens = [torch.Generator().manual_seed(s) for s in noise_seeds] if cfg.grad_noise else []
    frozen: dict[int, dict[str, dict[str, torch.Tensor]]] = {}  # restart -> its logits / history row when it stopped

    ensembles: dict[str, RestartNets] = {}
    net_params: list[nn.Parameter] = []
    for name, nf in info.neural.items():
        nf.module.to(device=cfg.device, dtype=dtype)
        if cfg.nets == "per_restart":
            ensembles[name] = RestartNets(nf, R, reinit=cfg.net_init == "reinit", seed=cfg.seed,
                                          offset=cfg.restart_offset).to(cfg.device)
            net_params += list(ensembles[name].parameters())
        elif cfg.nets == "shared":
            net_params += list(nf.module.parameters())
        else:
            nf.module.requires_grad_(False)

    def net_forward(nf: NeuralFunction, x: torch.Tensor) -> torch.Tensor:
        if nf.name in ensembles:
            return ensembles[nf.name](x)
        return nf.module(x).unsqueeze(0)

    groups = [{"params": list(holes.values()), "lr": cfg.hole_lr}]
    if net_params:
        groups.append({"params": net_params, "lr": cfg.net_lr})
    opt = make_optimizer(cfg, groups)

    from .search import Searcher, load_init

    if init is not None:
        load_init(init, holes, ensembles)
    extra_ex = as_groups(sketch, extra)
    searcher = Searcher(sketch, info, cfg, holes=holes, opt=opt, train=train_ex, ensembles=ensembles,
                        net_forward=net_forward, dtype=dtype, extra=extra_ex)
    results = [RestartResult(cfg.restart_offset + r) for r in range(R)]
    best_state: list[dict[str, dict[str, torch.Tensor]]] = [{} for _ in range(R)]
    n_train = len(train_ex)
    t0 = time.perf_counter()
    prev_denormal = _denormals_flushed()
    torch.set_flush_denormal(True)  # peaked distributions otherwise slow CPU steps 20-50x
    step, interrupted = 0, False

    def temperature(t: int) -> float:
        if cfg.final_temperature is None:
            return cfg.temperature
        return cfg.temperature * (cfg.final_temperature / cfg.temperature) ** (t / max(1, cfg.steps - 1))

    hole_history: list[tuple[int, dict[str, torch.Tensor]]] = []
    stopped: str | None = None  # a fault that stopped training (NaN/inf loss): the result is the best so far
    stopped_step: int | None = None
    judge_error: str | None = None

    def validate(t: int) -> bool:
        searcher.before_validation(t, active, results)  # discrete moves (search="moves"), before the argmax
        assign = {k: v.detach().argmax(-1) for k, v in holes.items()}
        hist = {k: torch.softmax(v.detach() / temperature(t), -1).cpu() for k, v in holes.items()}
        for r, snap in frozen.items():  # a stopped restart shows the distributions it stopped with
            for k in hist:
                hist[k][r] = snap["history"][k]
        hole_history.append((t, hist))
        with torch.no_grad():
            for m in ensembles.values():
                m.eval()
            outs = sketch.hard(assign, val_ex.inputs, net_forward=net_forward, dtype=dtype, device=cfg.device)
            for m in ensembles.values():
                m.train()
        ok = torch.ones(R, len(val_ex), dtype=torch.bool, device=cfg.device)
        for k, v in outs.items():
            ok &= predictions(v.probs).expand(R, -1) == val_ex.targets[k]
        acc = searcher.accuracy(ok.float().mean(-1).tolist(), assign, len(val_ex))
        improved = False
        for r in range(R):
            if not active[r]:
                continue
            res = results[r]
            res.val_steps.append(t)
            res.val_accuracy.append(acc[r])
            stale_r[r] += 1
            if acc[r] > res.best_accuracy:
                improved = improved or res.best_accuracy >= 0
                res.best_accuracy, res.best_step, stale_r[r] = acc[r], t, 0
                res.assignment = {k: int(v[r]) for k, v in assign.items()}
                best_state[r] = {name: m.state_for(r) for name, m in ensembles.items()}
            if acc[r] >= cfg.target_accuracy or (cfg.patience is not None and stale_r[r] >= cfg.patience):
                active[r] = False
                frozen[r] = {"logits": {k: v.detach()[r].clone() for k, v in holes.items()},
                             "history": {k: h[r].clone() for k, h in hist.items()}}
        if progress is not None:
            progress({"step": t, "seconds": time.perf_counter() - t0, "val_accuracy": acc,
                      "loss": [res.final_loss for res in results]})
        return improved

    try:
        for step in range(1, cfg.steps + 1):
            idx = torch.randint(0, n_train, (cfg.batch_size,), generator=gen).to(cfg.device)
            batch = train_ex.take(idx)
            outs = sketch.soft(holes, batch.inputs, net_forward=net_forward, temperature=temperature(step),
                               dtype=dtype, device=cfg.device)
            loss_r = output_nll(outs, batch.targets, R) + torch.zeros(R, dtype=dtype, device=cfg.device)
            if not torch.isfinite(loss_r).all():
                bad = [r for r in range(R) if active[r] and not math.isfinite(float(loss_r[r].detach()))]
                stopped, stopped_step = f"loss became NaN/inf at step {step} in restart(s) {bad}", step
                break  # keep what was learned: each restart's best validated program so far
            objective = loss_r
            if cfg.entropy_bonus or cfg.sparsity:
                probs = {k: torch.softmax(v / temperature(step), -1) for k, v in holes.items()}
            if cfg.entropy_bonus:
                bonus = cfg.entropy_bonus / (1.0 + step * cfg.entropy_decay)
                objective = objective - bonus * sum(_entropy(p) for p in probs.values())
            if cfg.sparsity:
                objective = objective + cfg.sparsity * sum(p.sum(-1) / p.norm(dim=-1) for p in probs.values())
            opt.zero_grad(set_to_none=True)
            if not objective.requires_grad:
                raise TrainingError(f"nothing trainable reaches the outputs of sketch '{sketch.name}': no hole "
                                    f"({', '.join(info.holes) or 'none'}) and no trained neural function affects them",
                                    site=next(iter(info.holes), None),
                                    hint="use each hole's value (e.g. in wb.choose) on the way to the returned value, "
                                         "or train a neural function the outputs depend on (nets != 'frozen')")
            objective.sum().backward()
            if cfg.grad_noise:
                std = math.sqrt(cfg.grad_noise / (1 + step) ** 0.55)
                for h in holes.values():  # each restart's noise from its own stream
                    noise = torch.stack([torch.randn(h.shape[1:], generator=g, dtype=dtype) for g in noise_gens])
                    h.grad.add_(noise.to(cfg.device) * std)
            if cfg.clip_norm is not None:
                _clip_per_restart(list(holes.values()) + [p for m in ensembles.values() for p in m.parameters()],
                                  R, cfg.clip_norm)
                if cfg.nets == "shared" and net_params:
                    nn.utils.clip_grad_norm_(net_params, cfg.clip_norm)
            if cfg.lr_schedule:
                apply_lr(opt, cfg, step)
            opt.step()
            for r, v in enumerate(loss_r.tolist()):
                if active[r]:
                    results[r].losses.append(v)
            if step % cfg.validate_every == 0 or step == cfg.steps:
                validate(step)
                if not any(active):  # every restart reached the target or ran out of patience
                    break
            if cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds:
                validate(step)
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        torch.set_flush_denormal(prev_denormal)
    if not results[0].val_accuracy and step > 0 and not interrupted and stopped is None:
        validate(step)
    if stopped is not None and all(not r.val_accuracy for r in results):
        raise TrainingError(f"{stopped}, before any validation: no program to return",
                            hint="lower the learning rates, enable clip_norm, or check the data for NaNs")
    seconds = time.perf_counter() - t0

    for r, res in enumerate(results):
        if not res.assignment:  # interrupted before any validation: use the current argmax
            res.assignment = {k: int(v.detach()[r].argmax()) for k, v in holes.items()}
        neural = {}
        for name, nf in info.neural.items():
            if name in ensembles:
                m = ensembles[name].module_for(r)
                if best_state[r].get(name):
                    m.load_state_dict(best_state[r][name], strict=False)
                neural[name] = NeuralFunction(nf.name, m, input=nf.input, output=nf.output, arch=nf.arch,
                                              origin=nf.origin, check=False)
            else:
                neural[name] = nf
        res.neural = neural
        res.program = Program(sketch, res.assignment, neural, lengths=tape_lengths(sketch, train_ex.inputs))
        if judge is not None:
            try:
                res.correct = bool(judge(res.program))
            except Exception as e:  # a failing judge must not throw the trained run away
                res.correct = None
                if judge_error is None:
                    judge_error = f"restart {res.index}: {type(e).__name__}: {e}"
    final = {k: v.detach().clone() for k, v in holes.items()}
    for r, snap in frozen.items():
        for k in final:
            final[k][r] = snap["logits"][k]
    hole_probs = {k: torch.softmax(v, -1).cpu() for k, v in final.items()}
    return link_provenance(FitResult(sketch, cfg, info, results, step, seconds, hole_probs, interrupted, hole_history,
                     stopped=stopped, stopped_step=stopped_step, judge_error=judge_error,
                     search=searcher.stats if cfg.search == "moves" else None,
                     examples={"train": train_ex, "val": val_ex, "extra": extra_ex}))  # trained nets know their run


def _denormals_flushed() -> bool:
    return float(torch.tensor([1e-310], dtype=torch.float64) * 1.0) == 0.0


def _clip_per_restart(params: list[torch.Tensor], restarts: int, max_norm: float) -> None:
    """Clip each restart's gradient (row r of every stacked parameter) to ``max_norm``."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    sq = sum(g.reshape(restarts, -1).pow(2).sum(-1) for g in grads)
    scale = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(restarts, *([1] * (g.dim() - 1))))


def as_groups(sketch: Sketch, extra: Any) -> list[Any]:
    """Extra labelled examples as a list of :class:`~workbench.train.Examples` (one per shape)."""
    if extra is None:
        return []
    if isinstance(extra, list):
        return [as_examples(sketch, e, what="extra examples") for e in extra]
    return [as_examples(sketch, extra, what="extra examples")]


def resume(result: Any, train: Any, *, extra: Any, val: Any = None, config: Any = None, sketch: Any = None,
           judge: Callable | None = None, progress: Callable | None = None) -> Any:
    """Continue ``result``'s restarts from where they were (logits, nets) with ``extra`` labelled examples
    (``(inputs, targets)``, ``Examples``, or a list of them; other tape lengths are fine when ``sketch``
    accepts them). The extra examples enter the exact scores of the discrete moves and the discrete
    validation accuracy, so ``config`` should use ``search="moves"`` (the default here). ``sketch``: the
    sketch to continue with (default ``result.sketch``; give an any-length one for longer extra tapes)."""
    cfg = config or result.config.replace(search="moves")
    cfg = cfg.replace(restarts=len(result.restarts))
    return fit(sketch or result.sketch, train, val=val, config=cfg, judge=judge, progress=progress, init=result,
               extra=extra)
