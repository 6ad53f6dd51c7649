"""Cost of random restarts: one training step with R restarts against one with R=1.

The sketch is ADD2x2's program part alone (no neural function): the four grid cells are given as
finite-domain ``Digit`` inputs and read with ``choose(pos, cells)``, so every hole, move, register
and ADD is exactly ADD2x2's. A training step is what ``workbench.train.fit`` does per step (batch
sampling, soft forward, loss, backward, per-restart clipping, Adam on the hole logits); we time it
through ``fit`` itself: ``fit`` with ``N1`` and with ``N2`` steps (both end with one identical
validation), and the difference divided by ``N2 - N1`` is the time of one step. R=1 and the other
R run interleaved, repeated, and we report the median of the per-repeat ratios
``time(R) / time(R=1)`` (the machine may be shared: never compare absolute times across runs).

Two hole initialisations: ``normal`` (N(0, 1) logits, as early in training) and ``peaked`` (the same
logits scaled x20, like a trained program whose distributions are nearly one-hot; this is where
denormal floats once made CPU steps 20-50x slower).

The full run also times two settings a user runs, where the restarts share one net's forward pass
(which R=1 pays too):

* ``frozen_net``: the real ADD2x2 sketch on MNIST grids with a frozen LeNet digit net
  (``nets="frozen"``), batch ``--batch``;
* ``learned_carry``: MNIST-addition's learned-carry search (``make_learned_sketch``, N=2, shared
  holes) over MNIST-train tapes with one shared LeNet trained by all restarts (``nets="shared"``),
  at its training batch (``--carry-batch``, 16).

    .venv/bin/python benchmarks/restarts.py                 # R = 1, 8, ..., 256 (+ frozen net, learned carry)
    .venv/bin/python benchmarks/restarts.py --quick         # program only, R = 1 and 64, < 60 s
    .venv/bin/python benchmarks/restarts.py --json out/restarts.json [--threads 0] [--variants values learned_carry]

One intra-op thread by default: on a 2-core machine shared with other processes, two OpenMP
threads wait on each other and a step at R=1 became 10-30x slower; ``--threads 0`` keeps
torch's default.

Goal: time(R=64) / time(R=1) <= 4 at batch 128.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _common import clocks, load_average, machine_info, since, write_json

try:
    import workbench  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from workbench.core import cast, choose, const, hole, let, sketch
from workbench.tasks.add2x2 import ADD, LINES, MOVES, Digit, Instr, Pos, Reg, Value19
from workbench.train import TrainConfig, fit

GOAL = 4.0
CELLS = ("c00", "c01", "c10", "c11")
FULL_RESTARTS = (1, 8, 16, 32, 64, 128, 256)
QUICK_RESTARTS = (1, 64)
FROZEN_NET_RESTARTS = (1, 8, 64)
CARRY_RESTARTS = (1, 8, 64, 256)
VARIANTS = ("values", "frozen_net", "learned_carry")
INITS = {"normal": 1.0, "peaked": 20.0}  # std of the N(0, std) hole logits
CLOCKS = ("cpu", "wall")


def make_value_sketch(lines: int = LINES):
    """ADD2x2's sketch with the cells' digits given as values instead of images."""

    @sketch(inputs={c: Digit for c in CELLS}, output=Value19, name="add2x2_values")
    def add2x2_values(c00, c01, c10, c11):
        cells = [c00, c01, c10, c11]
        pos = const(Pos, 0, name="pos@0")
        regs = []
        for i in range(lines):
            instr = hole(f"line{i}.instr", Instr)
            moved = [m(pos, name=f"line{i}.{m.name}") for m in MOVES]
            reads = [cast(choose(p, cells, name=f"line{i}.read_{m.name[5]}"), Value19, name=f"line{i}.val_{m.name[5]}")
                     for p, m in zip(moved, MOVES)]
            if regs:
                a = choose(hole(f"line{i}.a", Reg[i - 1]), regs, name=f"line{i}.arg_a")
                b = choose(hole(f"line{i}.b", Reg[i - 1]), regs, name=f"line{i}.arg_b")
                summed = ADD(a, b, name=f"line{i}.sum")
            else:
                summed = const(Value19, 0, name=f"line{i}.sum")
            zero = const(Value19, 0, name=f"line{i}.zero")
            regs.append(let(f"R{i}", choose(instr, [zero, *reads, summed], name=f"line{i}.out")))
            pos = let(f"pos@{i + 1}", choose(instr, [pos, *moved, pos], name=f"line{i}.pos"))
        return choose(hole("return", Reg[lines - 1]), regs, name="result")

    return add2x2_values


def make_data(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``n`` random digit grids (one int per cell) labelled with the sum of the top row."""
    digits = torch.randint(0, 10, (n, len(CELLS)), generator=torch.Generator().manual_seed(seed))
    return {c: digits[:, i] for i, c in enumerate(CELLS)}, digits[:, 0] + digits[:, 1]


class Timer:
    """Seconds per training step of ``fit`` for one setting, by differencing two runs.

    Two clocks: ``cpu`` (this process's CPU time: what the step costs, robust to other processes
    taking turns on a shared machine) and ``wall`` (elapsed time, what a user waits).
    """

    def __init__(self, sketch_, train, val, *, restarts: int, init_std: float, batch: int, n1: int, n2: int,
                 nets: str = "frozen", net_lr: float = 1e-3):
        self.sketch, self.train, self.val = sketch_, train, val
        self.n1, self.n2 = n1, n2
        n_val = len(next(iter(val[1].values()))) if isinstance(val[1], dict) else len(val[1])
        self.config = TrainConfig(restarts=restarts, batch_size=batch, hole_init="normal", init_scale=init_std,
                                  hole_lr=0.05, nets=nets, net_lr=net_lr, val_size=n_val, seed=0)

    def _seconds(self, steps: int) -> tuple[float, float]:
        """(CPU seconds, wall seconds) of one ``fit``, in the order of ``CLOCKS``."""
        cfg = self.config.replace(steps=steps, validate_every=steps + 1)
        start = clocks()
        fit(self.sketch, self.train, val=self.val, config=cfg)
        return since(start)

    def step_seconds(self) -> dict[str, float]:
        short = self._seconds(self.n1)
        long = self._seconds(self.n2)
        return {clock: max(long[i] - short[i], 1e-9) / (self.n2 - self.n1) for i, clock in enumerate(CLOCKS)}


def steps_for(restarts: int, quick: bool) -> int:
    """Timed steps per measurement: more for cheap settings so that each takes a similar time."""
    if quick:
        return 20 if restarts == 1 else 1
    return max(3, min(40, 320 // restarts))


def make_variant(variant: str, *, batch: int, carry_batch: int) -> dict:
    """Sketch, data and fit settings of a variant.

    ``values``: program only; ``frozen_net``: ADD2x2 on images, frozen LeNet; ``learned_carry``:
    MNIST-addition's learned-carry sketch (N=2, shared holes) with one LeNet shared by all restarts.
    """
    if variant == "values":
        return {"sketch": make_value_sketch(), "train": make_data(4096, seed=1), "val": make_data(16, seed=2),
                "batch": batch, "nets": "frozen"}
    from workbench.core import Image28, NeuralFunction
    from workbench.nets import build

    if variant == "learned_carry":
        from workbench.tasks import mnist_addition as ma

        train = ma.load_data(2, "train", seed=0, limit=4096)
        val = ma.load_data(2, "test", seed=0, limit=16)
        digit = ma.digit_function(seed=0)
        return {"sketch": ma.make_learned_sketch(2, digit, shared=True), "train": (train.inputs, train.targets),
                "val": (val.inputs, val.targets), "batch": carry_batch, "nets": "shared", "net_lr": 2e-3}
    from workbench.data import embedded_split, make_grid_dataset
    from workbench.tasks.add2x2 import make_sketch

    split = embedded_split(seed=0)
    grids = [make_grid_dataset(split.train_images, split.train_labels, n=n, task="top", seed=s)
             for n, s in ((4096, 1), (16, 2))]
    torch.manual_seed(0)
    digit = NeuralFunction("digit", build("lenet", out=10), input=Image28, output=Digit, arch=("lenet", {"out": 10}))
    train, val = ((g.inputs, g.targets) for g in grids)
    return {"sketch": make_sketch(digit), "train": train, "val": val, "batch": batch, "nets": "frozen"}


DESCRIPTIONS = {
    "values": "ADD2x2 program part, cells given as Digit values (no neural function)",
    "frozen_net": "ADD2x2 on MNIST grids with a frozen (untrained) LeNet digit net, nets='frozen'",
    "learned_carry": ("MNIST-addition learned-carry sketch (N=2, shared holes) on MNIST-train tapes, one LeNet "
                      "shared by all restarts and trained (nets='shared', net lr 2e-3)"),
}


def run(*, quick: bool, restarts: dict[str, tuple[int, ...]], repeats: int, batch: int, inits: tuple[str, ...],
        carry_batch: int = 16, verbose: bool = True) -> dict:
    n1 = 1 if quick else 2  # steps before the timed ones (first-step set-up: Adam state, caches)
    timers = {}
    batches = {}
    for variant, rs in restarts.items():
        v = make_variant(variant, batch=batch, carry_batch=carry_batch)
        batches[variant] = v["batch"]
        for r in rs:
            for name in inits:
                timers[(variant, r, name)] = Timer(v["sketch"], v["train"], v["val"], restarts=r,
                                                   init_std=INITS[name], batch=v["batch"], nets=v["nets"],
                                                   net_lr=v.get("net_lr", 1e-3), n1=n1, n2=n1 + steps_for(r, quick))
        timers[(variant, 1, inits[0])]._seconds(2)  # warm-up: first-call costs (tables, allocator) off the clock
    times = {(k, c): [] for k in timers for c in CLOCKS}
    ratios = {(k, c): [] for k in timers for c in CLOCKS}
    t_start = time.perf_counter()
    for rep in range(repeats):
        for (variant, r, name), timer in timers.items():  # interleaved: each repeat measures every setting once
            for clock, sec in timer.step_seconds().items():
                times[((variant, r, name), clock)].append(sec)
        for (variant, r, name) in timers:
            for clock in CLOCKS:
                ratios[((variant, r, name), clock)].append(
                    times[((variant, r, name), clock)][-1] / times[((variant, 1, name), clock)][-1])
        if verbose:
            done = ", ".join(f"{v} R={r} {n} x{ratios[((v, r, n), 'cpu')][-1]:.2f}" for (v, r, n) in timers if r != 1)
            print(f"  repeat {rep + 1}/{repeats} ({time.perf_counter() - t_start:.0f} s), CPU-time ratios: {done}",
                  flush=True)
    tables: dict[str, dict] = {}
    for (variant, r, name) in timers:
        row = tables.setdefault(variant, {}).setdefault(str(r), {})
        for clock in CLOCKS:
            k = ((variant, r, name), clock)
            sfx = name if clock == "cpu" else f"{name}_wall"
            row[f"ms_per_step_{sfx}"] = 1000 * statistics.median(times[k])
            row[f"ratio_{sfx}"] = statistics.median(ratios[k])
            row[f"ratios_{sfx}"] = ratios[k]
    first = next(iter(restarts))
    rows = tables[first]
    ref = "64" if "64" in rows else str(max(restarts[first]))
    out = {
        "benchmark": "restarts",
        "ratio": rows[ref][f"ratio_{inits[0]}"],
        "ratio_peaked": rows[ref].get("ratio_peaked"),
        "ratio_wall": rows[ref][f"ratio_{inits[0]}_wall"],
        "ratio_peaked_wall": rows[ref].get("ratio_peaked_wall"),
        "ratio_restarts": int(ref),
        "ratio_variant": first,
        "goal": GOAL,
        "per_restarts": rows,
        "batch_size": batches[first],
        "batch_sizes": batches,
        "repeats": repeats,
        "quick": quick,
        "sketch": DESCRIPTIONS[first],
        "inits": list(inits),
        "clock": "ratio/ratio_peaked/ms_per_step_<init>: process CPU time; *_wall: elapsed time",
        "step": "workbench.train.fit per-step time: (time of fit(N2 steps) - time of fit(N1 steps)) / (N2 - N1)",
        "steps": {f"{v}/{r}": [n1, n1 + steps_for(r, quick)] for (v, r, _) in timers},
        "machine": machine_info(),
    }
    for variant in VARIANTS:
        if variant == first or variant not in tables:
            continue
        out[variant] = tables[variant]
        out[f"{variant}_sketch"] = DESCRIPTIONS[variant]
        if ref in tables[variant]:
            out[f"ratio_{variant}"] = tables[variant][ref][f"ratio_{inits[0]}"]
            out[f"ratio_{variant}_peaked"] = tables[variant][ref].get("ratio_peaked")
    return out


def print_table(res: dict) -> None:
    m = res["machine"]
    print(f"\nrestarts benchmark: one fit step with R restarts vs R=1, batches {res['batch_sizes']}, "
          f"median of {res['repeats']} repeats")
    print(f"machine: {m['cpu_model']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} thread(s), "
          f"load average {m.get('load_average_start')} at the start, {m['load_average']} at the end")
    sections = [(res["sketch"], res["per_restarts"])]
    sections += [(res.get(f"{v}_sketch"), res.get(v)) for v in VARIANTS if v != res["ratio_variant"]]
    for title, rows in sections:
        if not rows:
            continue
        inits = [k[len("ratio_"):] for k in next(iter(rows.values())) if k.startswith("ratio_") and "wall" not in k]
        cols = [(f"{n} ms/step", f"ms_per_step_{n}", ".1f") for n in inits]
        cols += [(f"{n} x R=1", f"ratio_{n}", ".2f") for n in inits]
        cols += [(f"{n} x R=1 (wall)", f"ratio_{n}_wall", ".2f") for n in inits]
        print(f"\n{title}")
        head = f"{'R':>5}  " + "  ".join(f"{c[0]:>18}" for c in cols)
        print(head)
        print("-" * len(head))
        for r, row in rows.items():
            print(f"{r:>5}  " + "  ".join(f"{row[key]:>18{fmt}}" for _, key, fmt in cols))
    status = "met" if res["ratio"] <= res["goal"] else "MISSED"
    peaked = f", peaked {res['ratio_peaked']:.2f}" if res.get("ratio_peaked") is not None else ""
    print(f"\nratio time(R={res['ratio_restarts']}) / time(R=1), {res['ratio_variant']}, CPU time: {res['ratio']:.2f}"
          f"{peaked} (wall: {res['ratio_wall']:.2f}); goal <= {res['goal']:g}: {status}")
    for v in VARIANTS:
        if res.get(f"ratio_{v}") is not None:
            pk = res.get(f"ratio_{v}_peaked")
            print(f"{v}: {res[f'ratio_{v}']:.2f}" + (f", peaked {pk:.2f}" if pk is not None else "")
                  + f" ({'met' if res[f'ratio_{v}'] <= res['goal'] else 'MISSED'})")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="R=1 and R=64 only, few steps (< 60 s)")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5, quick 2)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: stable on a shared machine; 0 = torch's default)")
    ap.add_argument("--restarts", type=int, nargs="+", default=None, help="restart counts (1 is always added)")
    ap.add_argument("--no-frozen-net", action="store_true", help="skip the frozen-LeNet variant of the full run")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                    help="settings to time (default: all three; --quick: values only); the first gives 'ratio'")
    ap.add_argument("--frozen-restarts", type=int, nargs="+", default=None, help=f"default {FROZEN_NET_RESTARTS}")
    ap.add_argument("--carry-restarts", type=int, nargs="+", default=None, help=f"default {CARRY_RESTARTS}")
    ap.add_argument("--carry-batch", type=int, default=16, help="learned-carry batch (its training batch: 16)")
    ap.add_argument("--inits", nargs="+", choices=tuple(INITS), default=tuple(INITS))
    args = ap.parse_args(argv)
    if args.threads < 0:
        ap.error("--threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = args.variants or (("values",) if args.quick else VARIANTS)
    if args.no_frozen_net:
        variants = tuple(v for v in variants if v != "frozen_net")
    counts = {"values": args.restarts or (QUICK_RESTARTS if args.quick else FULL_RESTARTS),
              "frozen_net": args.frozen_restarts or FROZEN_NET_RESTARTS,
              "learned_carry": args.carry_restarts or CARRY_RESTARTS}
    restarts = {v: tuple(sorted({1, *counts[v]})) for v in variants}
    repeats = args.repeats or (2 if args.quick else 5)
    load_start = load_average()
    res = run(quick=args.quick, restarts=restarts, repeats=repeats, batch=args.batch, inits=tuple(args.inits),
              carry_batch=args.carry_batch)
    res["machine"]["load_average_start"] = load_start
    res["command"] = " ".join(["python", *sys.argv])
    print_table(res)
    if write_json(args.json, res):
        print(f"wrote {args.json}")
    return res


if __name__ == "__main__":
    main()
