"""Restart success against wall time: plain gradient descent against gradient + discrete moves, side by side.

For each task the program search runs twice in one process, one setting right after the other, with the
same ``TrainConfig`` except ``search`` ("gradient" / "moves"), the same seed, data and time budget
(``max_seconds``; ``steps`` large enough that the budget, or every restart reaching 100% discrete validation
accuracy, ends the run). The nets are **frozen perfect-perception readers of label images** (each task's
``perception`` oracle), so what is compared is the search over programs, not perception learning.

* ADD2x2/top: the paper's 4-line sketch (``workbench.tasks.add2x2``), random digit grids.
* APPLY2x2/top: the 4-line APPLY sketch, random operator grids and d1..d3.
* MATH: the loop sketch of ``workbench.tasks.math_tape`` (as ``workbench reproduce math`` uses it) on 2-digit
  expressions; success = fits every 2-digit expression ("fit") and, judged, the generalising loop.
* PATH_LEN: the 3-block sketch on 3x3 grids; judged on 3x3 .. 6x6.

Recorded per task and setting: at every validation, the wall time and how many restarts have reached 100%
discrete validation accuracy (the curve); at the end, how many restarts the task's judge calls correct.

    .venv/bin/python benchmarks/search.py --quick                 # 12 restarts, 40 s per setting and task
    .venv/bin/python benchmarks/search.py --json out/search.json  # 32 restarts, 150 s
"""

from __future__ import annotations

import argparse
import sys
import time

import _common
import torch
from torch import nn


class Oracle(nn.Module):
    """A frozen 'net' that reads label images perfectly (logits from a task's perception oracle)."""

    def __init__(self, read, nf_name: str, out) -> None:
        super().__init__()
        self.read, self.nf_name, self.out = read, nf_name, out
        self.dummy = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        class _NF:  # what the oracles look at: the net's name and output domain
            name, output = self.nf_name, self.out

        return self.read(_NF, x)[0]


def _nf(name: str, read, out):
    from workbench.core import Image28, NeuralFunction

    return NeuralFunction(name, Oracle(read, name, out), input=Image28, output=out)


def add2x2_task(n: int):
    from workbench.core import Domain
    from workbench.tasks import add2x2

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (n, 2, 2), generator=g)
    images = labels.view(n, 2, 2, 1, 1).float().expand(n, 2, 2, 28, 28)
    digit = _nf("digit", add2x2.PERCEPTION.net_forward, Domain("Digit", 10))
    sk = add2x2.make_sketch(digit)
    return sk, ({"grid": images}, labels[:, 0, 0] + labels[:, 0, 1]), lambda p: add2x2.judge(p, "top")


def apply2x2_task(n: int):
    from workbench.tasks import apply2x2

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (n, 2, 2), generator=g)
    ds = torch.randint(0, 10, (n, 3), generator=g)
    images = labels.view(n, 2, 2, 1, 1).float().expand(n, 2, 2, 28, 28)
    target = torch.tensor([apply2x2.apply_op(apply2x2.apply_op(int(d[0]), int(d[1]), int(lab[0, 0])), int(d[2]), int(lab[0, 1]))
                           for d, lab in zip(ds, labels)])
    op = _nf("operator", apply2x2.PERCEPTION.net_forward, apply2x2.Op)
    sk = apply2x2.make_sketch(op)
    return sk, ({"grid": images, "d1": ds[:, 0], "d2": ds[:, 1], "d3": ds[:, 2]}, target), \
        lambda p: apply2x2.judge(p, "top")


def math_task(n: int):
    import workbench as wb
    from workbench.core import Domain
    from workbench.reproduce.math import PAST_END, UNHALTED, Judge
    from workbench.tasks import math_tape as mt
    from workbench.tasks.apply2x2 import Int19

    digit = _nf("digit", mt.perception_oracle, Domain("Digit", 10))
    op = _nf("operator", mt.perception_oracle, Domain("Op", 4))
    sk = mt.make_sketch(digit, op, unhalted=UNHALTED, past_end=PAST_END)
    train_sk = wb.Sketch(sk.fn, inputs={"tape": wb.Seq(wb.Image28, 3)}, output=Int19, name="math")
    s, v = mt.random_expressions(n, 2, seed=100)
    judge = Judge(sk, 20)
    return train_sk, ({"tape": mt.oracle_tapes(s)}, v), lambda p: judge(p.assignment), \
        lambda p: judge.correct_on(p.assignment, 2)


def path_len_task(n: int):
    from workbench.tasks import path_len

    look = _nf("look", path_len.perception_oracle, path_len.Sign)
    sk = path_len.make_sketch(look, 3, 3)
    return sk, path_len.make_data(n, 3, 3, seed=0), path_len.judge


TASKS = {"ADD2x2/top": (add2x2_task, dict(hole_lr=0.1)), "APPLY2x2/top": (apply2x2_task, dict(hole_lr=0.1)),
         "MATH": (math_task, dict(hole_lr=0.2, entropy_bonus=0.01, entropy_decay=0.001)),
         "PATH_LEN": (path_len_task, dict(hole_lr=0.1))}


def run_one(name: str, search: str, restarts: int, budget: float, seed: int) -> dict:
    from workbench.train import TrainConfig, fit

    make, extra = TASKS[name]
    built = make(2000)
    sk, data, judge = built[0], built[1], built[2]
    fits = built[3] if len(built) > 3 else None
    cfg = TrainConfig(restarts=restarts, steps=100_000, batch_size=16, nets="frozen", validate_every=25,
                      val_size=300, seed=seed, max_seconds=budget, search=search, moves_examples=8, **extra)
    curve, best = [], [0.0] * restarts

    def progress(d):
        for r, a in enumerate(d["val_accuracy"]):
            best[r] = max(best[r], a)
        curve.append((round(d["seconds"], 2), sum(b >= 1.0 for b in best)))

    res = fit(sk, data, config=cfg, judge=judge, progress=progress)
    out = {"task": name, "search": search, "restarts": restarts, "budget_s": budget, "seconds": res.seconds,
           "steps": res.steps, "restarts_val_100": sum(r.best_accuracy >= 1.0 for r in res.restarts),
           "restarts_correct": res.restarts_correct, "curve": curve,
           "moves": None if res.search is None else res.search.line()}
    if fits is not None:
        out["restarts_fit"] = sum(bool(fits(r.program)) for r in res.restarts)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", nargs="*", default=list(TASKS))
    ap.add_argument("--budget", type=float, help="seconds per task and setting (default 40 quick, 150 full)")
    ap.add_argument("--restarts", type=int, help="restarts per run (default 12 quick, 32 full)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    restarts, budget = (12, 40.0) if args.quick else (32, 150.0)
    restarts, budget = args.restarts or restarts, args.budget or budget
    rows = []
    for name in args.tasks:
        for search in ("gradient", "moves"):  # side by side: one right after the other, same everything else
            t = time.perf_counter()
            row = run_one(name, search, restarts, budget, args.seed)
            rows.append(row)
            print(f"{name:13s} {search:8s}: {row['restarts_correct']:>2} of {restarts} correct, "
                  f"{row['restarts_val_100']:>2} at 100% val"
                  + (f", {row['restarts_fit']} fit 2 digits" if "restarts_fit" in row else "")
                  + f", {row['seconds']:.0f} s ({time.perf_counter() - t:.0f} s with judging)", flush=True)
    _common.write_json(args.json, {"benchmark": "search", "quick": args.quick, "restarts": restarts,
                                   "budget_s": budget, "rows": rows, "machine": _common.machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
