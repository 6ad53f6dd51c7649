"""Scale-out of a MATH-sized restart search: 1 vs 2 local worker processes, and Ray's overhead over inline.

    python benchmarks/scale_out.py [--quick] --json PATH

The job: the MATH sketch (workbench.tasks.math_tape, the reproduce experiment's options and search
config: batch 16, Dirichlet init, entropy bonus, frozen nets, validation every 50 steps on 300 tapes) over
2-digit tapes of the embedded MNIST digits and SYNTHETIC operators, ``--restarts`` restarts split into
``--shards`` shards of ``--steps`` steps. The perception nets are fresh (untrained) MLPs: the figures are
about time, and with them no restart reaches the target early, so every run does the same work.

Runs, one after the other on the same job:

* ``inline``: the shards one after the other in this process (1 torch thread);
* ``1 worker`` / ``2 workers``: :class:`~workbench.executor.ProcessExecutor` with 1 / 2 processes;
* ``ray, 1 worker``: a local Ray (127.0.0.1, dashboard and usage statistics off) with 1 CPU; its start is
  timed apart (``ray_start_seconds``) and not counted in ``ray_overhead``.

Writes ``seconds_1_worker``, ``seconds_2_workers``, ``ratio`` (2 workers over 1), ``seconds_inline``,
``seconds_ray_1_worker``, ``ray_overhead`` (Ray with one worker over inline) and ``deterministic`` (every
run gave the same per-restart records: assignments, accuracies, best steps exactly, losses to 1e-5
relative; ``bit_identical`` says whether the losses were equal to the last bit).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def build_job(n_train: int, n_val: int):
    import torch

    import workbench as wb
    from workbench import nets
    from workbench.baselines import math_tapes
    from workbench.core import Image28, NeuralFunction
    from workbench.reproduce.math import PAST_END, UNHALTED, digit_pools, operator_pools
    from workbench.tasks import math_tape
    from workbench.tasks.apply2x2 import Int19, Op

    torch.manual_seed(0)
    digits, _ = digit_pools(True)  # the embedded 5k MNIST digits
    ops = operator_pools(True)
    digit = NeuralFunction("digit", nets.build("mlp", out=10, hidden=[64]), input=Image28, output=math_tape.Digit,
                           arch=("mlp", {"out": 10, "hidden": [64]}))
    op = NeuralFunction("operator", nets.build("mlp", out=4, hidden=[64]), input=Image28, output=Op,
                        arch=("mlp", {"out": 4, "hidden": [64]}))
    pools = {"digit_pool": digits["train"], "op_pool": ops["train"]}
    train = math_tapes(n_train, 2, **pools, seed=100)
    val = math_tapes(n_val, 2, **pools, seed=200)
    sketch = math_tape.make_sketch(digit, op, unhalted=UNHALTED, past_end=PAST_END)
    return wb.Sketch(sketch.fn, inputs={"tape": wb.Seq(wb.Image28, 3)}, output=Int19, name="math"), train, val


def _warm(_: int) -> int:
    import workbench.train  # noqa: F401

    return 0


def same(a, b) -> tuple[bool, bool]:
    """(same records to the documented tolerance, losses bit-identical)."""
    import math

    ok, bits = True, True
    if [r.index for r in a.restarts] != [r.index for r in b.restarts]:
        return False, False
    for ra, rb in zip(a.restarts, b.restarts):
        ok &= (ra.assignment == rb.assignment and ra.val_accuracy == rb.val_accuracy
               and ra.best_step == rb.best_step and len(ra.losses) == len(rb.losses))
        ok &= all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-7) for x, y in zip(ra.losses, rb.losses))
        bits &= ra.losses == rb.losses
    return bool(ok), bool(ok and bits)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short job (seconds per run)")
    ap.add_argument("--restarts", type=int, default=None, help="restarts in all (default 24; quick 16)")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="steps per fit (default 300; quick 150)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    ap.add_argument("--json", required=True, metavar="PATH")
    args = ap.parse_args(argv)

    import torch

    from workbench.executor import InlineExecutor, ProcessExecutor, fit_sharded
    from workbench.reproduce.math import FULL, search_config

    torch.set_num_threads(1)
    restarts = args.restarts or (16 if args.quick else 24)
    steps = args.steps or (150 if args.quick else 300)
    sketch, train, val = build_job(600 if args.quick else FULL.n_train, FULL.n_val)
    cfg = search_config(FULL, 0).replace(restarts=restarts, steps=steps)
    info = {"job": {"restarts": restarts, "shards": args.shards, "steps": steps, "batch_size": cfg.batch_size,
                    "validate_every": cfg.validate_every, "n_train": len(train.targets) if hasattr(train, "targets")
                    else None, "n_val": FULL.n_val},
            "machine": _common.machine_info(), "command": "python benchmarks/scale_out.py "
            + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))}

    def timed(name, executor):
        t0 = time.perf_counter()
        res = fit_sharded(sketch, train, val=val, config=cfg, executor=executor, shards=args.shards)
        s = time.perf_counter() - t0
        print(f"{name}: {s:.1f} s (load {_common.load_average()})", flush=True)
        return s, res

    runs = {}
    fit_sharded(sketch, train, val=val, config=cfg.replace(restarts=2, steps=5, validate_every=5),
                executor=InlineExecutor(), shards=1)  # warm-up in this process (first-call costs), not timed
    runs["inline"] = timed("inline", InlineExecutor())
    runs["1_worker"] = timed("1 worker", ProcessExecutor(1))
    runs["2_workers"] = timed("2 workers", ProcessExecutor(2))
    if not args.no_ray:
        from workbench.executor import RayExecutor

        t0 = time.perf_counter()
        ray_ex = RayExecutor("local", workers=1)
        ray_ex.map(_warm, [0])  # Ray starts its worker process (and it imports torch) on the first task
        info["ray_start_seconds"] = time.perf_counter() - t0
        try:
            runs["ray_1_worker"] = timed("ray, 1 worker", ray_ex)
        finally:
            ray_ex.close()
    ref = runs["inline"][1]
    checks = {k: same(ref, r) for k, (_, r) in runs.items()}
    out = {
        "seconds_1_worker": runs["1_worker"][0], "seconds_2_workers": runs["2_workers"][0],
        "ratio": runs["2_workers"][0] / runs["1_worker"][0], "seconds_inline": runs["inline"][0],
        "seconds_ray_1_worker": runs["ray_1_worker"][0] if "ray_1_worker" in runs else None,
        "ray_overhead": runs["ray_1_worker"][0] / runs["inline"][0] if "ray_1_worker" in runs else None,
        "deterministic": all(ok for ok, _ in checks.values()),
        "bit_identical": all(b for _, b in checks.values()),
        "per_run_same_as_inline": {k: ok for k, (ok, _) in checks.items()},
        "load_average_end": _common.load_average(), "pid": os.getpid(), **info,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("seconds_1_worker", "seconds_2_workers", "ratio", "ray_overhead",
                                          "deterministic", "bit_identical")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
