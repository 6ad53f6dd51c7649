"""Overhead of the program: one ADD2x2 training step against the digit net's own supervised step.

Both sides see the same number of digit images per step: ADD2x2 trains on ``B`` grids (``4B``
images, labelled only with a row sum) through the real ``workbench.train.fit`` path with one
restart; the baseline trains the same architecture on ``4B`` labelled digits (cross-entropy, Adam,
the same batch sampling from a tensor, denormals flushed as ``fit`` does). ``fit``'s time per step
is the difference of a run with ``N1`` and one with ``N2`` steps, divided by ``N2 - N1`` (set-up and
the final validation cancel). The two sides run interleaved, repeated; we report the median of the
per-repeat ratios ``time(ADD2x2 step) / time(supervised step)``.

Two ways to hold the net in ``fit``: ``nets="shared"`` (the function's own module: the like-for-like
comparison, this is ``ratio``) and ``nets="per_restart"`` with R=1 (the default, used by the demo:
the weights are stacked and run through ``torch.func.vmap`` even for one restart).

    .venv/bin/python benchmarks/overhead.py                  # lenet, mlp, small_cnn; 32 and 128 grids
    .venv/bin/python benchmarks/overhead.py --quick          # lenet, 32 grids, < 30 s
    .venv/bin/python benchmarks/overhead.py --json out/overhead.json [--threads 0] [--batch 32 128]

One intra-op thread by default (stable on a shared machine); ``--threads 0`` keeps torch's default.
Goal: ratio <= 1.5 for lenet (``ratio`` in the JSON: lenet, 32 grids = 128 digits, ``nets="shared"``).
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

from workbench.core import Image28, NeuralFunction
from workbench.data import embedded_split, make_grid_dataset, normalize
from workbench.nets import build
from workbench.tasks.add2x2 import Digit, make_sketch
from workbench.train import TrainConfig, fit

GOAL = 1.5
FULL_ARCHS = ("lenet", "mlp", "small_cnn")
QUICK_ARCHS = ("lenet",)
MODES = ("shared", "per_restart")
CLOCKS = ("cpu", "wall")


_clocks, _since, _load = clocks, since, load_average


class ProgramStep:
    """ADD2x2 through ``fit`` with one restart: seconds per step by differencing two runs."""

    def __init__(self, arch: str, mode: str, train, val, *, batch: int, n1: int, n2: int):
        torch.manual_seed(0)
        self.digit = NeuralFunction("digit", build(arch, out=10), input=Image28, output=Digit, arch=(arch, {"out": 10}))
        self.sketch = make_sketch(self.digit)
        self.train, self.val, self.n1, self.n2 = train, val, n1, n2
        self.config = TrainConfig(restarts=1, batch_size=batch, nets=mode, hole_lr=0.05, net_lr=1e-3,
                                  val_size=len(val), seed=0)

    def _run(self, steps: int) -> tuple[float, float]:
        cfg = self.config.replace(steps=steps, validate_every=steps + 1)
        start = _clocks()
        fit(self.sketch, self.train, val=self.val, config=cfg)
        return _since(start)

    def step_seconds(self) -> tuple[float, float]:
        short, long = self._run(self.n1), self._run(self.n2)
        return tuple(max(b - a, 1e-9) / (self.n2 - self.n1) for a, b in zip(short, long))


class SupervisedStep:
    """The bare digit net on ``images_per_step`` labelled digits: cross-entropy, Adam."""

    def __init__(self, arch: str, images: torch.Tensor, labels: torch.Tensor, *, images_per_step: int,
                 n1: int, n2: int):
        torch.manual_seed(0)
        self.net = build(arch, out=10)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.images, self.labels, self.k = images, labels, images_per_step
        self.gen = torch.Generator().manual_seed(0)
        self.n1, self.n2 = n1, n2

    def _step(self) -> None:
        idx = torch.randint(0, len(self.labels), (self.k,), generator=self.gen)
        x, y = self.images[idx], self.labels[idx]
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        loss.item()  # fit reads its losses every step too

    def step_seconds(self) -> tuple[float, float]:
        prev = torch.set_flush_denormal(True)  # as fit does
        try:
            for _ in range(self.n1):  # warm-up, as fit's first N1 steps
                self._step()
            start = _clocks()
            for _ in range(self.n2 - self.n1):
                self._step()
            spent = _since(start)
        finally:
            torch.set_flush_denormal(prev)
        return tuple(s / (self.n2 - self.n1) for s in spent)


def run(*, archs: tuple[str, ...], batches: tuple[int, ...], modes: tuple[str, ...], repeats: int, n1: int,
        n2: int, verbose: bool = True) -> dict:
    split = embedded_split(seed=0)
    train = make_grid_dataset(split.train_images, split.train_labels, n=4096, task="top", seed=1)
    val = make_grid_dataset(split.train_images, split.train_labels, n=16, task="top", seed=2)
    images, labels = normalize(split.train_images), split.train_labels
    rows = []
    t_start = time.perf_counter()
    for batch in batches:
        for arch in archs:
            rows.append(_measure(arch, batch, modes, train, val, images, labels, repeats=repeats, n1=n1, n2=n2,
                                 t_start=t_start, verbose=verbose))
    first = rows[0]
    out = {
        "benchmark": "overhead",
        "ratio": first[f"ratio_{modes[0]}"],
        "ratio_arch": first["arch"],
        "ratio_mode": modes[0],
        "ratio_wall": first[f"ratio_{modes[0]}_wall"],
        "goal": GOAL,
        "rows": rows,
        "batch_grids": batches[0],
        "images_per_step": 4 * batches[0],
        "repeats": repeats,
        "steps": [n1, n2],
        "quick": n2 - n1 < 20,
        "clock": "ratio_*/ms_per_step_*: process CPU time; *_wall: elapsed time",
        "machine": machine_info(),
    }
    for row in rows:  # flat keys: ratio_<arch>[_per_restart][_b<grids> for batches other than the first]
        sfx = "" if row["batch_grids"] == batches[0] else f"_b{row['batch_grids']}"
        for mode in modes:
            out[f"ratio_{row['arch']}" + ("" if mode == "shared" else f"_{mode}") + sfx] = row[f"ratio_{mode}"]
    return out


def _measure(arch: str, batch: int, modes: tuple[str, ...], train, val, images, labels, *, repeats: int, n1: int,
             n2: int, t_start: float, verbose: bool) -> dict:
    sides = {"supervised": SupervisedStep(arch, images, labels, images_per_step=4 * batch, n1=n1, n2=n2)}
    sides |= {mode: ProgramStep(arch, mode, train, val, batch=batch, n1=n1, n2=n2) for mode in modes}
    sides["supervised"].step_seconds()  # warm-up both sides off the clock
    for mode in modes:
        sides[mode]._run(2)
    times = {(s, c): [] for s in sides for c in CLOCKS}
    ratios = {(m, c): [] for m in modes for c in CLOCKS}
    for rep in range(repeats):
        for side, timer in sides.items():  # interleaved
            for clock, sec in zip(CLOCKS, timer.step_seconds()):
                times[(side, clock)].append(sec)
        for mode in modes:
            for clock in CLOCKS:
                ratios[(mode, clock)].append(times[(mode, clock)][-1] / times[("supervised", clock)][-1])
        if verbose:
            now = ", ".join(f"{m} x{ratios[(m, 'cpu')][-1]:.2f}" for m in modes)
            print(f"  {arch}, {batch} grids, repeat {rep + 1}/{repeats} ({time.perf_counter() - t_start:.0f} s): {now}",
                  flush=True)
    row: dict = {"arch": arch, "batch_grids": batch, "images_per_step": 4 * batch}
    for side in sides:
        row[f"ms_per_step_{side}"] = 1000 * statistics.median(times[(side, "cpu")])
        row[f"ms_per_step_{side}_wall"] = 1000 * statistics.median(times[(side, "wall")])
    for mode in modes:
        row[f"ratio_{mode}"] = statistics.median(ratios[(mode, "cpu")])
        row[f"ratio_{mode}_wall"] = statistics.median(ratios[(mode, "wall")])
        row[f"ratios_{mode}"] = ratios[(mode, "cpu")]
        row[f"program_ms_per_step_{mode}"] = row[f"ms_per_step_{mode}"] - row["ms_per_step_supervised"]
    return row


def print_table(res: dict) -> None:
    m = res["machine"]
    modes = [k[len("ratio_"):] for k in res["rows"][0] if k.startswith("ratio_") and not k.endswith("_wall")]
    print(f"\noverhead benchmark: one ADD2x2 training step (B grids, R=1) vs the digit net's supervised step "
          f"(4B digits), median of {res['repeats']} repeats")
    print(f"machine: {m['cpu_model']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} thread(s), "
          f"load average {m.get('load_average_start')} at the start, {m['load_average']} at the end")
    cols = [("supervised ms", "ms_per_step_supervised", ".1f")]
    for mode in modes:
        cols += [(f"{mode} ms", f"ms_per_step_{mode}", ".1f"), (f"{mode} ratio", f"ratio_{mode}", ".2f"),
                 (f"{mode} ratio (wall)", f"ratio_{mode}_wall", ".2f")]
    head = f"{'arch':>10} {'B':>4}  " + "  ".join(f"{c[0]:>{max(9, len(c[0]))}}" for c in cols)
    print(head)
    print("-" * len(head))
    for row in res["rows"]:
        print(f"{row['arch']:>10} {row['batch_grids']:>4}  "
              + "  ".join(f"{row[key]:>{max(9, len(name))}{fmt}}" for name, key, fmt in cols))
    status = "met" if res["ratio"] <= res["goal"] else "MISSED"
    print(f"\nratio ({res['ratio_arch']}, {res['batch_grids']} grids, nets={res['ratio_mode']}, CPU time) = "
          f"{res['ratio']:.2f} (wall: {res['ratio_wall']:.2f}); goal <= {res['goal']:g}: {status}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="lenet only, few steps (< 30 s)")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--batch", type=int, nargs="+", default=None,
                    help="grids per step, 4x as many digit images (default 32; full run 32 and 128)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 7, quick 2)")
    ap.add_argument("--archs", nargs="+", default=None, choices=FULL_ARCHS)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: stable on a shared machine; 0 = torch's default)")
    args = ap.parse_args(argv)
    if args.threads < 0:
        ap.error("--threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    archs = tuple(args.archs or (QUICK_ARCHS if args.quick else FULL_ARCHS))
    n1, n2 = (1, 6) if args.quick else (2, 32)
    load_start = _load()
    batches = tuple(args.batch or ((32,) if args.quick else (32, 128)))
    res = run(archs=archs, batches=batches, modes=MODES, repeats=args.repeats or (2 if args.quick else 7),
              n1=n1, n2=n2)
    res["machine"]["load_average_start"] = load_start
    res["command"] = " ".join(["python", *sys.argv])
    print_table(res)
    if write_json(args.json, res):
        print(f"wrote {args.json}")
    return res


if __name__ == "__main__":
    main()
