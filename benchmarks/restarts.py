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

The full run also times the real ADD2x2 sketch on MNIST grids with a frozen LeNet digit net
(``nets="frozen"``, R = 1, 8, 64): the restarts then share the net's forward pass, which R=1 pays too.

    .venv/bin/python benchmarks/restarts.py                 # R = 1, 8, 16, 32, 64, 128, 256 (+ frozen net)
    .venv/bin/python benchmarks/restarts.py --quick         # R = 1 and 64 only, < 60 s
    .venv/bin/python benchmarks/restarts.py --json out/restarts.json [--threads 0]

One intra-op thread by default: on a 2-core machine shared with other processes, two OpenMP
threads wait on each other and a step at R=1 became 10-30x slower; ``--threads 0`` keeps
torch's default.

Goal: time(R=64) / time(R=1) <= 4 at batch 128.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

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


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    return {"cpu_model": model, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": _load()}  # at the end of the run


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class Timer:
    """Seconds per training step of ``fit`` for one setting, by differencing two runs.

    Two clocks: ``cpu`` (this process's CPU time: what the step costs, robust to other processes
    taking turns on a shared machine) and ``wall`` (elapsed time, what a user waits).
    """

    def __init__(self, sketch_, train, val, *, restarts: int, init_std: float, batch: int, n1: int, n2: int,
                 nets: str = "frozen"):
        self.sketch, self.train, self.val = sketch_, train, val
        self.n1, self.n2 = n1, n2
        self.config = TrainConfig(restarts=restarts, batch_size=batch, hole_init="normal", init_scale=init_std,
                                  hole_lr=0.05, nets=nets, val_size=len(val[1]), seed=0)

    def _seconds(self, steps: int) -> tuple[float, float]:
        cfg = self.config.replace(steps=steps, validate_every=steps + 1)
        w, c = time.perf_counter(), time.process_time()
        fit(self.sketch, self.train, val=self.val, config=cfg)
        return time.perf_counter() - w, time.process_time() - c

    def step_seconds(self) -> dict[str, float]:
        short = self._seconds(self.n1)
        long = self._seconds(self.n2)
        return {clock: max(long[i] - short[i], 1e-9) / (self.n2 - self.n1) for i, clock in enumerate(CLOCKS)}


def steps_for(restarts: int, quick: bool) -> int:
    """Timed steps per measurement: more for cheap settings so that each takes a similar time."""
    if quick:
        return 20 if restarts == 1 else 1
    return max(3, min(40, 320 // restarts))


def make_variant(variant: str):
    """(sketch, train, val) of a variant: ``values`` (program only) or ``frozen_net`` (images, frozen LeNet)."""
    if variant == "values":
        return make_value_sketch(), make_data(4096, seed=1), make_data(16, seed=2)
    from workbench.core import Image28, NeuralFunction
    from workbench.data import embedded_split, make_grid_dataset
    from workbench.nets import build
    from workbench.tasks.add2x2 import make_sketch

    split = embedded_split(seed=0)
    grids = [make_grid_dataset(split.train_images, split.train_labels, n=n, task="top", seed=s)
             for n, s in ((4096, 1), (16, 2))]
    torch.manual_seed(0)
    digit = NeuralFunction("digit", build("lenet", out=10), input=Image28, output=Digit, arch=("lenet", {"out": 10}))
    return make_sketch(digit), *((g.inputs, g.targets) for g in grids)


def run(*, quick: bool, restarts: dict[str, tuple[int, ...]], repeats: int, batch: int, inits: tuple[str, ...],
        verbose: bool = True) -> dict:
    n1 = 1 if quick else 2  # steps before the timed ones (first-step set-up: Adam state, caches)
    timers = {}
    for variant, rs in restarts.items():
        sk, train, val = make_variant(variant)
        for r in rs:
            for name in inits:
                timers[(variant, r, name)] = Timer(sk, train, val, restarts=r, init_std=INITS[name], batch=batch,
                                                   n1=n1, n2=n1 + steps_for(r, quick))
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
    rows = tables["values"]
    ref = "64" if "64" in rows else str(max(restarts["values"]))
    out = {
        "benchmark": "restarts",
        "ratio": rows[ref][f"ratio_{inits[0]}"],
        "ratio_peaked": rows[ref].get("ratio_peaked"),
        "ratio_wall": rows[ref][f"ratio_{inits[0]}_wall"],
        "ratio_peaked_wall": rows[ref].get("ratio_peaked_wall"),
        "ratio_restarts": int(ref),
        "goal": GOAL,
        "per_restarts": rows,
        "batch_size": batch,
        "repeats": repeats,
        "quick": quick,
        "sketch": "ADD2x2 program part, cells given as Digit values (no neural function)",
        "clock": "ratio/ratio_peaked/ms_per_step_<init>: process CPU time; *_wall: elapsed time",
        "step": "workbench.train.fit per-step time: (time of fit(N2 steps) - time of fit(N1 steps)) / (N2 - N1)",
        "steps": {f"{v}/{r}": [n1, n1 + steps_for(r, quick)] for (v, r, _) in timers},
        "machine": machine_info(),
    }
    if "frozen_net" in tables:
        frozen = tables["frozen_net"]
        out["frozen_net"] = frozen
        out["frozen_net_sketch"] = "ADD2x2 on MNIST grids with a frozen (untrained) LeNet digit net, nets='frozen'"
        if ref in frozen:
            out["ratio_frozen_net"] = frozen[ref][f"ratio_{inits[0]}"]
            out["ratio_frozen_net_peaked"] = frozen[ref].get("ratio_peaked")
    return out


def print_table(res: dict) -> None:
    m = res["machine"]
    print(f"\nrestarts benchmark: one fit step with R restarts vs R=1, batch {res['batch_size']}, "
          f"median of {res['repeats']} repeats")
    print(f"machine: {m['cpu_model']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} thread(s), "
          f"load average {m.get('load_average_start')} at the start, {m['load_average']} at the end")
    for title, rows in ((res["sketch"], res["per_restarts"]), (res.get("frozen_net_sketch"), res.get("frozen_net"))):
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
    print(f"\nratio time(R={res['ratio_restarts']}) / time(R=1), program only, CPU time: {res['ratio']:.2f}{peaked} "
          f"(wall: {res['ratio_wall']:.2f}); goal <= {res['goal']:g}: {status}")
    if res.get("ratio_frozen_net") is not None:
        print(f"with a frozen LeNet on the images: {res['ratio_frozen_net']:.2f}, "
              f"peaked {res['ratio_frozen_net_peaked']:.2f}")


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
    args = ap.parse_args(argv)
    if args.threads < 0:
        ap.error("--threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    restarts = {"values": tuple(sorted({1, *(args.restarts or (QUICK_RESTARTS if args.quick else FULL_RESTARTS))}))}
    if not (args.quick or args.no_frozen_net):
        restarts["frozen_net"] = FROZEN_NET_RESTARTS
    repeats = args.repeats or (2 if args.quick else 5)
    load_start = _load()
    res = run(quick=args.quick, restarts=restarts, repeats=repeats, batch=args.batch, inits=tuple(INITS))
    res["machine"]["load_average_start"] = load_start
    print_table(res)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2))
        print(f"wrote {path}")
    return res


if __name__ == "__main__":
    main()
