"""MNIST-addition: the sum of two N-digit numbers written as MNIST images, supervised by the sum only.

The benchmark the neuro-symbolic literature compares on (DeepProbLog, DeepStochLog, A-NeSI, ...).
An example is a tape ``x`` of ``2N`` images: cells ``0..N-1`` write the first number, most
significant digit first (as on paper), cells ``N..2N-1`` the second. The targets are the ``N+1``
digits of the sum as separate outputs ``s0..sN``, *least* significant first, so every output domain
stays ``Digit[10]`` however large N is. The whole sum is right when every digit is right.

Two sketches over one digit net (any ``Image28x28 -> Digit[10]`` neural function, normally lenet):

* :func:`make_sketch`: the fixed school-book program, one position at a time:
  ``t = a_i + b_i + carry`` (a finite function on ``Digit x Digit x Carry``), ``s_i = t mod 10``,
  ``carry = t div 10``, and ``s_N`` = the last carry. Per-digit output marginals are *exact*
  (digits of different cells are independent and the carry into position i depends only on
  positions below i), so the loss is the sum of the digits' cross-entropies.
* :func:`make_learned_sketch`: the carry logic itself is made of holes: what the output digit and
  the carry-out are computed from (``a+b+carry`` or ``a+b``) and by which function (``mod10``,
  ``div10``, ...), shared across positions or one set per position. :func:`judge_program` decides
  whether a read-out program is a correct adder by running it with perfect perception.

Speed: by default every digit read goes through ``x[pos]`` with a constant soft position, so the
soft (and hard) interpreter runs the digit net ONCE per step on all ``B * 2N`` cells (the
interpreter caches per-cell outputs for the execution) and each read is a cheap selection;
``reads="per_cell"`` indexes ``x[i]`` with an int instead, one net call per read (slower: 1.48x
the bare net's step at N=4 against 1.18x batched, measured side by side). The finite functions
take the generic table path: their tables are tiny (``full_add`` is 200 x 20); the convolution fast
path pays off only for large domains (``benchmarks/scaling.py``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..core import (
    Domain,
    FiniteFunction,
    Image28,
    NeuralFunction,
    Seq,
    Sketch,
    cast,
    choose,
    const,
    hole,
    let,
    sketch,
)
from ..core.errors import DataError, DomainError
from ..data.embedded import normalize
from ..nets import AveragedNet, RandomShift  # training-time wrappers live with the architectures
from .perception import LabelPerception

Digit = Domain("Digit", 10)
Carry = Domain("Carry", 2)
Sum19 = Domain("Int19", 19)  # a + b
Sum20 = Domain("Int20", 20)  # a + b + carry

SOURCES = ("a+b+carry", "a+b")
DIGIT_FNS = ("mod10", "div10", "min9", "half")
CARRY_FNS = ("div10", "mod2", "ge5", "zero")
Src = Domain.enum("Src", SOURCES)
DigitFn = Domain.enum("DigitFn", DIGIT_FNS)
CarryFn = Domain.enum("CarryFn", CARRY_FNS)

FULL_ADD = FiniteFunction("full_add", lambda a, b, c: a + b + c, inputs=(Digit, Digit, Carry), output=Sum20)
ADD2 = FiniteFunction("add2", lambda a, b: a + b, inputs=(Digit, Digit), output=Sum19)
MOD10 = FiniteFunction("mod10", lambda t: t % 10, inputs=(Sum20,), output=Digit)
DIV10 = FiniteFunction("div10", lambda t: t // 10, inputs=(Sum20,), output=Carry)
# candidates of the learned-carry sketch (digit-out: Int20 -> Digit; carry-out: Int20 -> Carry)
DIGIT_CANDIDATES = (
    MOD10,
    FiniteFunction("div10_digit", lambda t: t // 10, inputs=(Sum20,), output=Digit),
    FiniteFunction("min9", lambda t: min(t, 9), inputs=(Sum20,), output=Digit),
    FiniteFunction("half", lambda t: t // 2, inputs=(Sum20,), output=Digit),
)
CARRY_CANDIDATES = (
    DIV10,
    FiniteFunction("mod2", lambda t: t % 2, inputs=(Sum20,), output=Carry),
    FiniteFunction("ge5", lambda t: int(t >= 5), inputs=(Sum20,), output=Carry),
)  # "zero" is the constant 0

Reads = Literal["batched", "per_cell"]


def tape_type(n: int) -> Seq:
    """The input type: a tape of ``2n`` 28x28 images (first number, then second, each MSD first)."""
    return Seq(Image28, 2 * n)


def output_names(n: int) -> list[str]:
    """``['s0', ..., 'sN']``: the digits of the sum, least significant first."""
    return [f"s{i}" for i in range(n + 1)]


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DomainError(f"MNIST-addition needs a number length n >= 1, got {n!r}", hint="e.g. n=1, 2, 4 or 15")
    return n


def _reader(x: Any, digit: NeuralFunction, n: int, reads: Reads) -> Callable[[int, str], Any]:
    """``read(cell, name)``: the digit value of one cell."""
    if reads == "batched":
        pos_domain = Domain(f"Cell{2 * n}", 2 * n)
        return lambda k, name: digit(x[const(pos_domain, k, name=f"{name}.cell")], name=name)
    if reads == "per_cell":
        return lambda k, name: digit(x[k], name=name)
    raise DomainError(f"reads must be 'batched' or 'per_cell', not {reads!r}")


def _digits(read: Callable[[int, str], Any], n: int, i: int) -> tuple[Any, Any]:
    """The two digits at position ``i`` (0 = least significant)."""
    return read(n - 1 - i, f"a{i}"), read(2 * n - 1 - i, f"b{i}")


def make_sketch(n: int, digit: NeuralFunction, *, reads: Reads = "batched") -> Sketch:
    """The fixed digit-by-digit adder with a carry over ``digit`` (no holes: only the net learns)."""
    _check_n(n)

    def body(x):
        read = _reader(x, digit, n, reads)
        carry = const(Carry, 0, name="carry0")
        out = {}
        for i in range(n):
            a, b = _digits(read, n, i)
            t = FULL_ADD(a, b, carry, name=f"t{i}")
            out[f"s{i}"] = let(f"s{i}", MOD10(t, name=f"mod10_{i}"))
            carry = let(f"carry{i + 1}", DIV10(t, name=f"div10_{i}"))
        out[f"s{n}"] = cast(carry, Digit, name=f"s{n}")
        return out

    body.__name__ = f"mnist_add{n}"
    return sketch(inputs={"x": tape_type(n)}, output={k: Digit for k in output_names(n)}, name=body.__name__)(body)


def hole_names(n: int, *, shared: bool) -> list[str]:
    """The learned-carry sketch's holes, in the order of :data:`INTENDED`'s values."""
    prefixes = [""] if shared else [f"pos{i}." for i in range(n)]
    return [p + h for p in prefixes for h in ("digit.src", "digit.fn", "carry.src", "carry.fn")]


INTENDED = {"digit.src": "a+b+carry", "digit.fn": "mod10", "carry.src": "a+b+carry", "carry.fn": "div10"}


def intended_assignment(n: int, *, shared: bool) -> dict[str, int]:
    """The school-book carry program as a hole assignment of :func:`make_learned_sketch`."""
    doms = {"digit.src": Src, "digit.fn": DigitFn, "carry.src": Src, "carry.fn": CarryFn}
    out = {}
    for name in hole_names(n, shared=shared):
        key = name.split(".", 1)[1] if name.startswith("pos") else name
        out[name] = doms[key].index(INTENDED[key])
    return out


def make_learned_sketch(n: int, digit: NeuralFunction, *, shared: bool = True, reads: Reads = "batched") -> Sketch:
    """The adder with holes for the carry logic.

    At each position the holes ``digit.src`` / ``carry.src`` pick the operand (``a+b+carry`` or
    ``a+b``) and ``digit.fn`` / ``carry.fn`` the function applied to it (:data:`DIGIT_FNS`,
    :data:`CARRY_FNS`). ``shared=True``: one set of four holes for every position (the program is a
    loop body, 4*4*2*2 = 64 candidates, and generalises to any length); ``shared=False``: a set per
    position (``pos{i}.digit.src``, ...). The top digit of the sum is the last carry.
    """
    _check_n(n)

    def body(x):
        read = _reader(x, digit, n, reads)
        carry = const(Carry, 0, name="carry0")
        common = {}
        if shared:
            common = {h: hole(h, d) for h, d in
                      (("digit.src", Src), ("digit.fn", DigitFn), ("carry.src", Src), ("carry.fn", CarryFn))}
        out = {}
        for i in range(n):
            p = "" if shared else f"pos{i}."
            hs = common or {h: hole(p + h, d) for h, d in
                            (("digit.src", Src), ("digit.fn", DigitFn), ("carry.src", Src), ("carry.fn", CarryFn))}
            a, b = _digits(read, n, i)
            full = FULL_ADD(a, b, carry, name=f"full{i}")
            part = cast(ADD2(a, b, name=f"part{i}"), Sum20, name=f"part{i}.20")
            dsrc = choose(hs["digit.src"], [full, part], name=f"dsrc{i}")
            csrc = choose(hs["carry.src"], [full, part], name=f"csrc{i}")
            dig = choose(hs["digit.fn"], [f(dsrc, name=f"{f.name}_{i}") for f in DIGIT_CANDIDATES],
                         name=f"dfn{i}")
            cout = choose(hs["carry.fn"], [*(f(csrc, name=f"c{f.name}_{i}") for f in CARRY_CANDIDATES),
                                           const(Carry, 0, name=f"zero_{i}")], name=f"cfn{i}")
            out[f"s{i}"] = let(f"s{i}", dig)
            carry = let(f"carry{i + 1}", cout)
        out[f"s{n}"] = cast(carry, Digit, name=f"s{n}")
        return out

    body.__name__ = f"mnist_add{n}_learned"
    return sketch(inputs={"x": tape_type(n)}, output={k: Digit for k in output_names(n)}, name=body.__name__)(body)


# -- data ---------------------------------------------------------------------------------------------
@dataclass
class AdditionData:
    """MNIST-addition examples: ``inputs['x']`` float ``(n, 2N, 28, 28)``, targets ``s0..sN`` ``(n,)``.

    ``digits`` holds the ``2N`` true digit labels per example (for perception accuracy; never
    used in training) and ``index`` the MNIST rows each cell came from.
    """

    n: int
    inputs: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    digits: torch.Tensor
    index: torch.Tensor
    description: str

    def __len__(self) -> int:
        return self.digits.shape[0]

    def take(self, idx: torch.Tensor | slice) -> AdditionData:
        return AdditionData(self.n, {k: v[idx] for k, v in self.inputs.items()},
                            {k: v[idx] for k, v in self.targets.items()}, self.digits[idx], self.index[idx],
                            self.description)

    @property
    def sums(self) -> torch.Tensor:
        """The whole sums as int64 (exact for N <= 17)."""
        return sum_digits_to_int(torch.stack([self.targets[k] for k in output_names(self.n)], -1))


def numbers_from_digits(digits: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two numbers written on tapes of digit labels ``(B, 2N)`` (each MSD first)."""
    w = 10 ** torch.arange(n - 1, -1, -1, dtype=torch.int64)
    return (digits[:, :n].long() * w).sum(-1), (digits[:, n:].long() * w).sum(-1)


def sum_targets(digits: torch.Tensor, n: int) -> dict[str, torch.Tensor]:
    """The sum's digits ``s0..sN`` (least significant first) by column addition (any N)."""
    carry = torch.zeros(digits.shape[0], dtype=torch.int64)
    out = {}
    for i in range(n):
        t = digits[:, n - 1 - i].long() + digits[:, 2 * n - 1 - i].long() + carry
        out[f"s{i}"], carry = t % 10, t // 10
    out[f"s{n}"] = carry
    return out


def sum_digits_to_int(s: torch.Tensor) -> torch.Tensor:
    """``(B, N+1)`` sum digits (least significant first) to int64 sums."""
    return (s.long() * 10 ** torch.arange(s.shape[-1], dtype=torch.int64)).sum(-1)


def build_data(images: torch.Tensor, labels: torch.Tensor, n: int, *, seed: int = 0, limit: int | None = None,
               source: str = "MNIST") -> AdditionData:
    """Group MNIST images into examples of ``2n`` images, each image used once (DeepProbLog's protocol).

    ``images`` are uint8 ``(M, 28, 28)``; they are shuffled with ``seed``, cut into ``M // 2n``
    groups (the remainder is dropped) and normalised with MNIST's statistics. ``limit`` keeps the
    first ``limit`` examples.
    """
    _check_n(n)
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(f"build_data needs uint8 images (M, 28, 28) and labels (M,), got {tuple(images.shape)} "
                        f"and {tuple(labels.shape)}")
    per = 2 * n
    m = images.shape[0] // per
    if limit is not None:
        m = min(m, int(limit))
    if m < 1:
        raise DataError(f"{images.shape[0]} images make no example of {per} images", hint="give more images")
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[: m * per]
    index = perm.view(m, per)
    digits = labels[index].long()
    x = normalize(images[perm]).view(m, per, 28, 28)
    desc = (f"MNIST-addition N={n}: {m} examples of {per} {source} images (each image used once, "
            f"shuffled with seed {seed})")
    return AdditionData(n, {"x": x}, sum_targets(digits, n), digits, index, desc)


def load_data(n: int, split: Literal["train", "test"], *, seed: int = 0, limit: int | None = None) -> AdditionData:
    """:func:`build_data` over a full MNIST split (``workbench.data.mnist.load_mnist``; DataError if absent)."""
    from ..data.mnist import load_mnist

    images, labels = load_mnist(split)
    return build_data(images, labels, n, seed=seed, limit=limit, source=f"MNIST-{split}")


# -- evaluation ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """Discrete (argmax) execution on a data set."""

    accuracy: float          # whole sum right (every digit s0..sN)
    digit_accuracy: float    # the net's accuracy on the individual images (uses the hidden labels)
    sum_digit_accuracy: float  # fraction of sum digits right
    examples: int

    def as_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "digit_accuracy": self.digit_accuracy,
                "sum_digit_accuracy": self.sum_digit_accuracy, "examples": self.examples}


@torch.no_grad()
def evaluate(sk: Sketch, data: AdditionData, *, assignment: Mapping[str, int] | None = None,
             digit: NeuralFunction | None = None, chunk: int = 2048) -> Evaluation:
    """Whole-sum accuracy of the discrete program (hard execution: argmax digits, holes fixed)."""
    names = output_names(data.n)
    right = total_digits = 0
    digit_right = 0
    sum_digit_right = 0
    module = digit.module if digit is not None else None
    was = module.training if module is not None else None
    if module is not None:
        module.eval()
    try:
        for lo in range(0, len(data), chunk):
            part = data.take(slice(lo, lo + chunk))
            outs = sk.hard(dict(assignment or {}), part.inputs)
            ok = torch.ones(len(part), dtype=torch.bool)
            for k in names:
                hit = outs[k].probs[0].argmax(-1) == part.targets[k]
                sum_digit_right += int(hit.sum())
                ok &= hit
            right += int(ok.sum())
            if digit is not None:
                x = part.inputs["x"]
                pred = digit.module(x.reshape(-1, 28, 28).to(next(digit.module.parameters()).dtype)).argmax(-1)
                digit_right += int((pred.view_as(part.digits) == part.digits).sum())
                total_digits += part.digits.numel()
    finally:
        if module is not None:
            module.train(was)
    n = len(data)
    return Evaluation(right / n, digit_right / total_digits if total_digits else math.nan,
                      sum_digit_right / (n * len(names)), n)


# -- training recipes ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How to train: batch size and phases of ``(steps, net learning rate)`` run as successive
    :func:`workbench.train.fit` calls on the same net (a step schedule of the learning rate).

    ``max_seconds`` caps the whole training wall time; each phase gets the remaining time in
    proportion to its share of the remaining steps, so a slow (shared) machine shortens every
    phase instead of skipping the low-rate ones.
    """

    batch_size: int
    phases: tuple[tuple[int, float], ...]
    max_seconds: float | None = None
    augment: int = 0  # random shifts of up to this many pixels while training (0: none, as the peers)
    rotate: float = 0.0  # ... and random rotations of up to this many degrees
    scale: float = 0.0  # ... and random rescaling by up to this fraction
    average: float = 0.0  # decay of an exponential moving average of the weights used for evaluation (0: off)

    @property
    def steps(self) -> int:
        return sum(s for s, _ in self.phases)

    def describe(self) -> str:
        ph = " + ".join(f"{s} steps @ lr {lr:g}" for s, lr in self.phases)
        cap = f", capped at {self.max_seconds:g} s" if self.max_seconds else ""
        aug = f", random shifts <= {self.augment} px" if self.augment else ""
        if self.rotate or self.scale:
            aug += f", rotations <= {self.rotate:g} deg, scaling <= {self.scale:.0%}"
        if self.average:
            aug += f", weight average (EMA {self.average:g}) for evaluation"
        return f"Adam, batch {self.batch_size}, {ph}{cap}{aug}"


RECIPES: dict[int, Recipe] = {
    1: Recipe(batch_size=64, phases=((900, 3e-3), (600, 3e-4)), max_seconds=28.0),
    2: Recipe(batch_size=32, phases=((1800, 3e-3), (1200, 3e-4))),
    4: Recipe(batch_size=16, phases=((3600, 2e-3), (2400, 3e-4))),
    # N=15 needs ~99.3% per image (0.993^30 = 0.81): random shifts and weight averaging get LeNet there
    15: Recipe(batch_size=8, phases=((9000, 2e-3), (6000, 5e-4), (3000, 1e-4)), max_seconds=840.0, augment=2,
               average=0.9995),
}


def recipe_for(n: int) -> Recipe:
    """The recipe used for the published figures (``RECIPES``); other N scale the N=4 one."""
    if n in RECIPES:
        return RECIPES[n]
    b = max(4, 64 // (2 * n) * 2)
    return Recipe(batch_size=b, phases=((3600, 2e-3), (2400, 3e-4)))


def epoch_recipe(n: int, n_train: int, *, batch_size: int | None = None) -> Recipe:
    """One epoch (``ceil(n_train / batch)`` steps, batches sampled with replacement) at a decaying rate."""
    b = batch_size or recipe_for(n).batch_size
    steps = -(-n_train // b)
    first = int(round(steps * 0.6))
    return Recipe(batch_size=b, phases=((first, 2e-3), (steps - first, 5e-4)))


@dataclass
class TrainRun:
    """What :func:`train_addition` produced."""

    sketch: Sketch
    digit: NeuralFunction
    fits: list[Any]
    seconds: float  # training wall time (the fit calls)
    steps: int
    examples_seen: int
    n_train: int
    cpu_seconds: float = math.nan  # CPU time of this process over the same span (all threads)

    @property
    def epochs(self) -> float:
        return self.examples_seen / self.n_train

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / self.epochs if self.epochs else math.nan


def train_addition(n: int, train: AdditionData, *, recipe: Recipe | None = None, seed: int = 0,
                   digit: NeuralFunction | None = None, sk: Sketch | None = None,
                   monitor: int = 256) -> TrainRun:
    """Train the fixed adder's digit net from (images, sum digits) with :func:`workbench.train.fit`.

    ``nets="shared"`` with one restart (no holes: nothing to restart), no gradient clipping, and
    validation only at the end of each phase on ``monitor`` training examples (a monitor, not a
    held-out set: nothing is selected on it). The wall time covers the ``fit`` calls only.
    """
    import time

    from ..train import TrainConfig, fit

    recipe = recipe or recipe_for(n)
    digit = digit or digit_function(seed=seed, augment=recipe.augment, rotate=recipe.rotate, scale=recipe.scale,
                                    average=recipe.average)
    sk = sk or make_sketch(n, digit)
    val = train.take(slice(0, monitor))
    fits, seconds, cpu, steps = [], 0.0, 0.0, 0
    remaining = recipe.steps
    for k, (phase_steps, lr) in enumerate(recipe.phases):
        cap = None
        if recipe.max_seconds is not None:
            cap = max(0.5, (recipe.max_seconds - seconds) * phase_steps / remaining)
        cfg = TrainConfig(restarts=1, nets="shared", steps=phase_steps, batch_size=recipe.batch_size, net_lr=lr,
                          clip_norm=None, validate_every=10**9, val_size=monitor, max_seconds=cap,
                          seed=seed * 1000 + k)
        t, c = time.perf_counter(), time.process_time()
        res = fit(sk, (train.inputs, train.targets), val=(val.inputs, val.targets), config=cfg)
        seconds += time.perf_counter() - t
        cpu += time.process_time() - c
        steps += res.steps
        remaining -= phase_steps
        fits.append(res)
    return TrainRun(sk, digit, fits, seconds, steps, steps * recipe.batch_size, len(train), cpu)


# -- judging a learned carry program by its meaning ---------------------------------------------------
def label_tapes(digits: torch.Tensor) -> torch.Tensor:
    """Images whose every pixel holds the digit label: with :func:`oracle_forward`, perfect perception."""
    return digits.float().view(*digits.shape, 1, 1).expand(*digits.shape, 28, 28)


#: Perfect perception (the one reader of label images every task shares: workbench.tasks.perception)
PERCEPTION = LabelPerception()
oracle_forward = PERCEPTION.net_forward  # a ``net_forward`` that reads the label written in a label_tapes image


def probe_digits(n: int, *, samples: int = 1000, seed: int = 0) -> torch.Tensor:
    """Digit tapes ``(M, 2n)`` that exercise every carry situation.

    For ``n = 1`` every pair of digits (100 tapes); otherwise ``samples`` random tapes plus the
    long carry chains ``99..9 + 00..1``, ``00..1 + 99..9``, ``99..9 + 99..9`` and all-zero.
    """
    if n == 1:
        return torch.tensor(list(itertools.product(range(10), repeat=2 * n)), dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    rand = torch.randint(0, 10, (samples, 2 * n), generator=g)
    nines = torch.full((n,), 9)
    one = torch.zeros(n, dtype=torch.long)
    one[-1] = 1
    special = torch.stack([torch.cat([nines, one]), torch.cat([nines, nines]), torch.zeros(2 * n, dtype=torch.long),
                           torch.cat([one, nines])])
    return torch.cat([special, rand])


def perfect_perception_accuracy(sk: Sketch, assignment: Mapping[str, int] | None, n: int, *,
                                samples: int = 1000, seed: int = 0) -> float:
    """Whole-sum accuracy of ``sk`` with ``assignment`` when every digit is read perfectly."""
    digits = probe_digits(n, samples=samples, seed=seed)
    right = 0
    for lo in range(0, digits.shape[0], 1024):
        part = digits[lo:lo + 1024]
        outs = sk.hard(dict(assignment or {}), {"x": label_tapes(part)}, net_forward=oracle_forward)
        ok = torch.ones(part.shape[0], dtype=torch.bool)
        for k, t in sum_targets(part, n).items():
            ok &= outs[k].probs[0].argmax(-1) == t
        right += int(ok.sum())
    return right / digits.shape[0]


def judge_program(program: Any, *, n_check: int | None = None, samples: int = 1000) -> bool:
    """Is a read-out program of :func:`make_learned_sketch` a correct adder (meaning, not form)?

    Runs its hole assignment with perfect perception on digit tapes of its own length (all of
    them for N=1, else ``samples`` random ones plus carry chains); with shared holes also on ``n_check`` digits (default 6) to
    check the loop body generalises.
    """
    sk = program.sketch
    n = sk.inputs["x"].length // 2
    if perfect_perception_accuracy(sk, program.assignment, n, samples=samples) < 1.0:
        return False
    shared = "digit.src" in program.assignment
    if shared:
        m = n_check or 6
        other = make_learned_sketch(m, _label_reader(), shared=True)
        return perfect_perception_accuracy(other, program.assignment, m, samples=samples) == 1.0
    return True


def _label_reader() -> NeuralFunction:
    return PERCEPTION.function("digit", Digit)


def oracle_digit() -> NeuralFunction:
    """A digit function with perfect perception on :func:`label_tapes` images (no parameters)."""
    return _label_reader()


def describe_carry(assignment: Mapping[str, int], n: int | None = None) -> str:
    """The carry logic of an assignment in words, e.g. ``digit = (a+b+carry) mod10; carry = ...``."""
    def one(prefix: str) -> str:
        d = f"({SOURCES[assignment[prefix + 'digit.src']]}) {DIGIT_FNS[assignment[prefix + 'digit.fn']]}"
        cfn = CARRY_FNS[assignment[prefix + "carry.fn"]]
        c = "0" if cfn == "zero" else f"({SOURCES[assignment[prefix + 'carry.src']]}) {cfn}"
        return f"digit = {d}; carry = {c}"

    if "digit.src" in assignment:
        return one("")
    positions = sorted({int(k.split(".")[0][3:]) for k in assignment if k.startswith("pos")})
    return " | ".join(f"pos{i}: {one(f'pos{i}.')}" for i in positions)


def digit_function(*, arch: str = "lenet", seed: int = 0, augment: int = 0, rotate: float = 0.0,
                   scale: float = 0.0, average: float = 0.0) -> NeuralFunction:
    """A fresh digit net (the peers' LeNet by default) as ``digit: Image28x28 -> Digit[10]``.

    ``augment`` / ``rotate`` / ``scale`` prepend :class:`RandomShift` (active in training mode only);
    ``average > 0`` wraps the net in :class:`AveragedNet` with that decay (eval mode runs the average).
    """
    from ..nets import build

    torch.manual_seed(seed)
    module = build(arch)
    wrapped = bool(augment or rotate or scale or average)
    if augment or rotate or scale:
        module = torch.nn.Sequential(RandomShift(augment, rotate=rotate, scale=scale), module)
    if average:
        module = AveragedNet(module, average)
    # a wrapped module is no longer the registered architecture: no arch spec (publish the inner net)
    return NeuralFunction("digit", module, input=Image28, output=Digit, arch=None if wrapped else (arch, {}))


__all__ = [
    "Digit", "Carry", "Sum20", "Src", "DigitFn", "CarryFn", "SOURCES", "DIGIT_FNS", "CARRY_FNS",
    "FULL_ADD", "MOD10", "DIV10", "AdditionData", "Evaluation", "make_sketch", "make_learned_sketch",
    "hole_names", "intended_assignment", "build_data", "load_data", "sum_targets", "numbers_from_digits",
    "sum_digits_to_int", "evaluate", "label_tapes", "oracle_forward", "probe_digits",
    "perfect_perception_accuracy", "judge_program", "oracle_digit", "Recipe", "RECIPES",
    "recipe_for", "epoch_recipe", "train_addition", "TrainRun", "RandomShift", "AveragedNet", "describe_carry", "digit_function",
    "tape_type", "output_names",
]


# -- the task protocol (workbench.tasks.protocol) -------------------------------------------------------
perception = PERCEPTION
make_data = build_data
judge = judge_program
