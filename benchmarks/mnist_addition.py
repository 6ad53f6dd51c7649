"""MNIST-addition with the workbench: N-digit numbers as MNIST images, trained from the sum only.

For each N it trains the fixed digit-by-digit adder (``workbench.tasks.mnist_addition``) over the
peers' LeNet from (images, sum digits) with the recipe of ``RECIPES[N]``, then reports on MNIST-test
(each test image used once, DeepProbLog's protocol):

* test accuracy: the whole sum right (discrete execution: argmax digits, the program on ints);
  for N >= 4 also the mean over ``--test-partitions`` further random groupings of the 10k test
  images (the standard partition has only 10000 / 2N sums: 333 at N=15, +-2% standard error);
* the digit net's accuracy on the individual test images (hidden labels; never used in training);
* training wall time (the ``fit`` calls) and time per epoch (one pass over the N-digit training sums);
* the interpreter overhead: a workbench training step / a bare supervised LeNet step on the same
  images, interleaved in one process.

Unless ``--no-learned``, it also trains the learned-carry sketch (holes for the carry logic; shared
across positions, and one set per position) with several restarts, each with its own LeNet trained
from scratch at the same time, and reports how many restarts recover a correct carry program
(judged by perfect-perception execution, not by matching a canonical form) and a read-out.

    .venv/bin/python benchmarks/mnist_addition.py --json out/mnist_addition.json
    .venv/bin/python benchmarks/mnist_addition.py --n 1 --json out/mnist_add_n1.json
    .venv/bin/python benchmarks/mnist_addition.py --quick --json out/mnist_addition_quick.json
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import load_average, machine_info, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.core.errors import DataError  # noqa: E402
from workbench.tasks import mnist_addition as ma  # noqa: E402
from workbench.train import TrainConfig, fit  # noqa: E402

PUBLISHED = {  # whole-sum test accuracy reported by the peers (their papers)
    1: "DeepProbLog 97.2%", 2: "DeepProbLog 95.2%", 4: "DeepStochLog 92.7%",
    15: "A-NeSI 76.8%, DeepProofLog 80.8%",
}


def quick_recipe(n: int) -> ma.Recipe:
    r = ma.recipe_for(n)
    return ma.Recipe(batch_size=r.batch_size, phases=tuple((max(20, s // 20), lr) for s, lr in r.phases),
                     augment=r.augment)


def overhead(n: int, batch: int, *, rounds: int = 5, per_round: int = 8, seed: int = 0) -> dict:
    """Workbench soft step / bare supervised LeNet step on the same images (interleaved rounds)."""
    data = ma.load_data(n, "train", seed=seed, limit=max(512, 4 * batch))
    digit = ma.digit_function(seed=seed)
    sk = ma.make_sketch(n, digit)
    opt = torch.optim.Adam(digit.module.parameters(), 1e-3)
    names = ma.output_names(n)
    gen = torch.Generator().manual_seed(seed)

    def wb_step(idx: torch.Tensor) -> None:
        outs = sk.soft({}, {"x": data.inputs["x"][idx]})
        loss = sum(-torch.log(outs[k].probs[0].gather(-1, data.targets[k][idx].view(-1, 1)).clamp_min(1e-12)).mean()
                   for k in names)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def bare_step(idx: torch.Tensor) -> None:
        x = data.inputs["x"][idx].reshape(-1, 28, 28)
        loss = torch.nn.functional.cross_entropy(digit.module(x), data.digits[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    fns = {"workbench": wb_step, "bare": bare_step}
    times: dict[str, list[float]] = {k: [] for k in fns}
    prev = torch.is_flush_denormal_enabled() if hasattr(torch, "is_flush_denormal_enabled") else False
    torch.set_flush_denormal(True)
    try:
        for f in fns.values():
            f(torch.randint(0, len(data), (batch,), generator=gen))
        for _ in range(rounds):
            for k, f in fns.items():
                t = time.perf_counter()
                for _ in range(per_round):
                    f(torch.randint(0, len(data), (batch,), generator=gen))
                times[k].append((time.perf_counter() - t) / per_round)
    finally:
        torch.set_flush_denormal(prev)
    ratios = [a / b for a, b in zip(times["workbench"], times["bare"])]
    return {"batch": batch, "images_per_step": batch * 2 * n,
            "workbench_step_ms": 1e3 * statistics.median(times["workbench"]),
            "bare_lenet_step_ms": 1e3 * statistics.median(times["bare"]),
            "ratio_median": statistics.median(ratios), "ratios": ratios}


def run_fixed(n: int, *, quick: bool, seed: int, partitions: int, augment: int | None = None) -> dict:
    train = ma.load_data(n, "train", seed=seed)
    test = ma.load_data(n, "test", seed=seed)
    recipe = quick_recipe(n) if quick else ma.recipe_for(n)
    if augment is not None:
        recipe = dataclasses.replace(recipe, augment=augment)
    print(f">> N={n}: {len(train)} training sums, {len(test)} test sums; {recipe.describe()}", flush=True)
    run = ma.train_addition(n, train, recipe=recipe, seed=seed)
    ev = ma.evaluate(run.sketch, test, digit=run.digit)
    out = {"n": n, "train_examples": len(train), "test_examples": len(test), "recipe": recipe.describe(),
           "steps": run.steps, "epochs": run.epochs, "train_seconds": run.seconds, "train_cpu_seconds": run.cpu_seconds,
           "epoch_seconds": run.seconds_per_epoch, "test_accuracy": ev.accuracy,
           "digit_accuracy": ev.digit_accuracy, "sum_digit_accuracy": ev.sum_digit_accuracy,
           "expected_from_digit_accuracy": ev.digit_accuracy ** (2 * n), "published": PUBLISHED.get(n)}
    if partitions and n >= 4:
        accs = [ma.evaluate(run.sketch, ma.load_data(n, "test", seed=seed + 1 + k), digit=run.digit).accuracy
                for k in range(partitions)]
        out["test_accuracy_partitions"] = accs
        out["test_accuracy_partitions_mean"] = statistics.fmean(accs)
    print(f"   test accuracy {ev.accuracy:.4f} (digits {ev.digit_accuracy:.4f}); {run.seconds:.1f} s training "
          f"({run.cpu_seconds:.1f} s CPU), "
          f"{run.seconds_per_epoch:.2f} s/epoch, {run.epochs:.1f} epochs"
          + (f"; mean over {partitions} more test groupings {out['test_accuracy_partitions_mean']:.4f}"
             if "test_accuracy_partitions" in out else ""), flush=True)
    return out


def run_learned(n: int, *, shared: bool, restarts: int, steps: int, batch: int, seed: int) -> dict:
    train = ma.load_data(n, "train", seed=seed)
    val = ma.load_data(n, "test", seed=seed)
    val_mon = val.take(slice(0, 500))
    digit = ma.digit_function(seed=seed)
    sk = ma.make_learned_sketch(n, digit, shared=shared)
    cfg = TrainConfig(restarts=restarts, nets="per_restart", net_init="reinit", steps=steps, batch_size=batch,
                      net_lr=2e-3, hole_lr=0.05, validate_every=100, val_size=500, seed=seed)
    print(f">> learned carry: N={n}, {'shared' if shared else 'per-position'} holes, {restarts} restarts "
          f"(each its own LeNet), {steps} steps of batch {batch}", flush=True)
    res = fit(sk, (train.inputs, train.targets), val=(val_mon.inputs, val_mon.targets), config=cfg,
              judge=ma.judge_program)
    rows = [{"restart": r.index, "correct": r.correct, "carry_logic": ma.describe_carry(r.assignment, n),
             "val_accuracy": r.best_accuracy} for r in res.restarts]
    ok = sum(bool(r.correct) for r in res.restarts)
    best = next((r for r in res.restarts if r.correct), res.best)
    print(f"   {ok}/{restarts} restarts recovered a correct carry program in {res.seconds:.0f} s", flush=True)
    tag = "a correct restart" if best.correct else "the best restart (NOT a correct adder)"
    print(f"   read-out of {tag} (restart {best.index}):\n"
          + "\n".join("      " + ln for ln in best.program.source.splitlines()))
    return {"n": n, "shared": shared, "restarts": restarts, "steps": res.steps, "batch": batch,
            "seconds": res.seconds, "correct": ok, "success_rate": ok / restarts, "per_restart": rows,
            "program_space": res.info.program_space, "readout": best.program.source,
            "readout_restart": best.index, "readout_correct": bool(best.correct)}


def machine() -> dict:
    info = machine_info()
    info["load_avg_at_start"] = info["load_average"]
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 15], help="digits per number")
    ap.add_argument("--quick", action="store_true", help="1/20 of the steps (a smoke run, not the figures)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core machine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-partitions", type=int, default=10, help="extra test groupings for N >= 4")
    ap.add_argument("--augment", type=int, default=None, help="override the recipes' random-shift augmentation (px)")
    ap.add_argument("--no-learned", dest="learned", action="store_false", help="skip the learned-carry run")
    ap.add_argument("--learned-n", type=int, default=2)
    ap.add_argument("--learned-restarts", type=int, default=8)
    ap.add_argument("--learned-steps", type=int, default=800)
    ap.add_argument("--learned-variants", nargs="+", choices=("shared", "per_position"), default=None,
                    help="learned-carry hole layouts (default both; --quick: shared)")
    ap.add_argument("--no-overhead", dest="overhead", action="store_false")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict = {"machine": machine(), "quick": args.quick, "command": " ".join(["python", *sys.argv]),
                    "fixed": [], "overhead": []}
    try:
        for n in args.n:
            result["fixed"].append(run_fixed(n, quick=args.quick, seed=args.seed,
                                             partitions=0 if args.quick else args.test_partitions,
                                             augment=args.augment))
        if args.overhead:
            for n in args.n:
                o = overhead(n, ma.recipe_for(n).batch_size, rounds=3 if args.quick else 5, seed=args.seed)
                o["n"] = n
                result["overhead"].append(o)
                print(f">> overhead N={n} (batch {o['batch']}): workbench {o['workbench_step_ms']:.1f} ms / bare LeNet "
                      f"{o['bare_lenet_step_ms']:.1f} ms per step = {o['ratio_median']:.2f}x", flush=True)
        if args.learned:
            layouts = args.learned_variants or (["shared"] if args.quick else ["shared", "per_position"])
            variants = [layout == "shared" for layout in layouts]
            result["learned"] = [run_learned(args.learned_n, shared=shared,
                                             restarts=4 if args.quick else args.learned_restarts,
                                             steps=60 if args.quick else args.learned_steps, batch=16, seed=args.seed)
                                 for shared in variants]
    except DataError as e:
        print(f"ERROR: MNIST is not available: {e}", file=sys.stderr)
        return 2
    result["machine"]["load_average_end"] = load_average()
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
