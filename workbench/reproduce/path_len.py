"""``workbench reproduce path_len``: PATH_LEN on SYNTHETIC street signs, trained on small grids,
evaluated on larger ones.

Protocol (see :mod:`workbench.tasks.path_len` for the sketch and the data):

1. Training data: ``(grid, length)`` pairs of 3x3 grids (path lengths 0..4 from the centre cell, every cell
   drawn from a pool of SYNTHETIC sign images). Neither the path nor any sign label is shown.
   (Longer training paths made joint learning fail: with lengths 0..6 or 0..8, 0 of 4 restarts found
   a correct program in 800 steps in our trials, LOOK mostly collapsing onto one or two classes.)
2. :func:`workbench.fit` trains the sketch's holes and LOOK (a fresh :func:`~workbench.tasks.path_len.sign_cnn`
   per restart, from scratch) jointly, R restarts in one pass. A held-out set of 3x3 grids (the
   training size) with every path length 0..8, drawn from a *different* image pool, picks each
   restart's best step and the reported restart. It has to include the lengths 5..8: a loop with a
   NOOP in it (three steps per arrow) is as good as the intended loop on paths of up to 5 arrows
   within the 18 unrolled steps of a 3x3 grid, and only longer paths tell the two apart.
3. Each restart's read-out program is judged by its meaning: 100% with perfect perception (LOOK
   replaced by the hidden labels) on random grids of 3x3, 4x4, 5x5 and 6x6 with every path length.
4. The best restart (by 3x3 validation accuracy only: nothing about larger grids guides the choice)
   is evaluated with its learned LOOK on held-out grids of 3x3 (the training size) and of 4x4, 5x5,
   6x6 (longer paths: up to 35 moves), all from a third image pool; LOOK's accuracy on held-out sign
   images (labels used here only) is reported per class.
5. Baseline: a fully convolutional network over the whole grid (per-cell sign encoder, three 3x3 conv
   layers over the grid, global sum pooling, linear regression of the length, rounded) trained on the
   same 3x3 grids and evaluated on the same larger grids.

The paper (v1) gives no PATH_LEN number, so ``paper`` holds None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..core import NeuralFunction
from ..tasks import path_len as pl
from ..train import TrainConfig, fit
from .common import ExperimentResult, plot_path

__all__ = ["run", "GridCNN"]

PATH_CLASSES = ("north", "east", "south", "west", "stop")


@dataclass(frozen=True)
class _Size:
    n_train: int
    pool_train: int
    n_val: int
    n_eval: int
    pool_eval: int
    restarts: int
    steps: int
    batch: int
    eval_sizes: tuple[tuple[int, int], ...]
    judge_sizes: tuple[tuple[int, int], ...]
    judge_n: int
    baseline_steps: int
    max_seconds: float


FULL = _Size(n_train=4000, pool_train=3000, n_val=300, n_eval=300, pool_eval=1800, restarts=8, steps=1000,
             batch=32, eval_sizes=((3, 3), (4, 4), (5, 5), (6, 6)), judge_sizes=((3, 3), (4, 4), (5, 5), (6, 6)),
             judge_n=150, baseline_steps=1500, max_seconds=600.0)
QUICK = _Size(n_train=200, pool_train=600, n_val=40, n_eval=40, pool_eval=600, restarts=2, steps=30, batch=8,
              eval_sizes=((3, 3), (4, 4)), judge_sizes=((3, 3), (4, 4)), judge_n=30, baseline_steps=30,
              max_seconds=20.0)
TRAIN = (3, 3)
TRAIN_MAX_LEN = 4  # training paths have 0..4 moves; the test paths of a WxH grid up to W*H-1


class GridCNN(nn.Module):
    """Baseline: per-cell sign encoder -> 3x3 convs over the grid -> global sum pool -> length (a scalar).

    Fully convolutional, so it runs on any grid size; the sum pooling and the regression head give it
    the best chance we could think of to count beyond the lengths it was trained on."""

    def __init__(self, features: int = 16, width: int = 32):
        super().__init__()
        self.cell = pl.sign_cnn(out=features)
        self.grid = nn.Sequential(nn.ReLU(), nn.Conv2d(features, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(width, 1)

    def forward(self, grids: torch.Tensor) -> torch.Tensor:  # (B, rows, cols, 28, 28) -> (B,)
        b, r, c = grids.shape[:3]
        f = self.cell(grids.reshape(b * r * c, *grids.shape[3:])).reshape(b, r, c, -1).permute(0, 3, 1, 2)
        return self.head(self.grid(f).sum((2, 3))).squeeze(-1)


def _train_baseline(train: pl.PathGrids, steps: int, batch: int, seed: int) -> GridCNN:
    torch.manual_seed(seed)
    net = GridCNN()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(train), (batch,), generator=gen)
        loss = nn.functional.mse_loss(net(train.images[idx]), train.lengths[idx].float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def _baseline_predict(net: GridCNN, data: pl.PathGrids) -> torch.Tensor:
    return torch.cat([net(data.images[i:i + 100]).round().long() for i in range(0, len(data), 100)])


@torch.no_grad()
def _program_predict(assignment: dict[str, int], look: NeuralFunction, data: pl.PathGrids) -> torch.Tensor:
    """Hard execution of a read-out program with its learned LOOK on grids of any size (-1: no value)."""
    sk = pl.make_sketch(look, data.rows, data.cols)
    out = []
    for i in range(0, len(data), 100):
        v = sk.hard(assignment, {"grid": data.images[i:i + 100]},
                    net_forward=lambda nf, x: look.module(x).unsqueeze(0))["output"].probs[0]
        out.append(torch.where(v.sum(-1) > 0.5, v.argmax(-1), torch.full_like(v.argmax(-1), -1)))
    return torch.cat(out)


def _by_length(pred: torch.Tensor, data: pl.PathGrids) -> dict[int, float]:
    ok = (pred == data.lengths).float()
    return {int(n): float(ok[data.lengths == n].mean()) for n in torch.unique(data.lengths)}


def _key(rows: int, cols: int) -> str:
    return f"train_size_{rows}x{cols}" if (rows, cols) == TRAIN else f"larger_{rows}x{cols}"


def _plot(ours_size: dict[str, float], base_size: dict[str, float], ours_len: dict[str, dict[int, float]],
          base_len: dict[str, dict[int, float]], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(ours_size)
    x = range(len(names))
    a.plot(x, [ours_size[k] for k in names], "o-", label="NTPT program + learned LOOK (ours)")
    a.plot(x, [base_size[k] for k in names], "s--", label="whole-grid CNN baseline")
    a.set_xticks(list(x), [k.replace("train_size_", "train ").replace("larger_", "") for k in names])
    a.set_ylim(-0.02, 1.02)
    a.set_xlabel("grid size (trained on 3x3 only)")
    a.set_ylabel("accuracy (exact path length)")
    a.set_title("accuracy vs grid size")
    a.legend(loc="lower left", fontsize=8)
    for k in names:
        lens = sorted(ours_len[k])
        b.plot(lens, [ours_len[k][n] for n in lens], "o-", ms=3, label=f"ours {k.split('_')[-1]}")
    longest = names[-1]
    lens = sorted(base_len[longest])
    b.plot(lens, [base_len[longest][n] for n in lens], "s--", ms=3, color="grey",
           label=f"CNN {longest.split('_')[-1]}")
    b.axvline(TRAIN_MAX_LEN + 0.5, color="k", lw=0.8, ls=":")
    b.text(TRAIN_MAX_LEN + 0.7, 0.05, "longest path\nin training", fontsize=7)
    b.set_ylim(-0.02, 1.02)
    b.set_xlabel("path length (moves)")
    b.set_title("accuracy vs path length")
    b.legend(fontsize=7, ncol=2)
    fig.suptitle("PATH_LEN on SYNTHETIC street signs: trained on 3x3 grids (lengths 0..4), evaluated on larger",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(*, quick: bool = False, seed: int = 0, progress: Callable[[str], None] = print) -> ExperimentResult:
    size = QUICK if quick else FULL
    t_start = time.perf_counter()
    log = progress or (lambda _line: None)

    # -- data: three disjoint SYNTHETIC image pools (train / validation / test) -----------------------
    pool_train = pl.sign_pool(size.pool_train, seed=1000 + seed)
    pool_val = pl.sign_pool(max(600, size.pool_train // 3), seed=2000 + seed)
    pool_test = pl.sign_pool(size.pool_eval, seed=3000 + seed)
    train = pl.make_path_grids(size.n_train, *TRAIN, max_len=TRAIN_MAX_LEN, seed=10 + seed, pool=pool_train)
    val = pl.make_path_grids(size.n_val, *TRAIN, seed=20 + seed, pool=pool_val)  # every length 0..8
    tests = {_key(r, c): pl.make_path_grids(size.n_eval, r, c, seed=30 + seed + 7 * i, pool=pool_test)
             for i, (r, c) in enumerate(size.eval_sizes)}
    look_x, look_y = pl.sign_pool(size.pool_eval, seed=4000 + seed)
    log(f"path_len: data ready ({time.perf_counter() - t_start:.0f} s): {len(train)} training grids 3x3, "
        f"test sizes {list(tests)} (SYNTHETIC street signs)")

    # -- train the sketch: holes and LOOK from scratch, jointly ---------------------------------------
    look = pl.make_look(seed=seed)
    sk = pl.make_sketch(look, *TRAIN)
    cfg = TrainConfig(restarts=size.restarts, steps=size.steps, batch_size=size.batch, net_init="reinit",
                      hole_lr=0.05, net_lr=3e-3, validate_every=50 if not quick else 10, val_size=size.n_val,
                      seed=seed, max_seconds=size.max_seconds)

    def judge(program) -> bool:
        return pl.generalises(program.assignment, size.judge_sizes, n=size.judge_n, seed=500 + seed)

    def on_progress(d: dict) -> None:
        accs = " ".join(f"{a:.2f}" for a in d["val_accuracy"])
        log(f"  step {d['step']:5d} ({d['seconds']:.0f} s): discrete 3x3 val acc per restart [{accs}]")

    result = fit(sk, train.examples(), val=val.examples(), config=cfg, judge=judge, progress=on_progress)
    log(result.summary())
    best = result.best
    best_look = best.neural["look"]

    # -- evaluate: every restart with its own LOOK, on every size ---------------------------------------
    per_restart = []
    for r in result.restarts:
        accs = {k: float((_program_predict(r.assignment, r.neural["look"], d) == d.lengths).float().mean())
                for k, d in tests.items()}
        per_restart.append({"restart": r.index, "val_accuracy_3x3": r.best_accuracy, "best_step": r.best_step,
                            "correct": r.correct, "program": pl.describe(r.assignment), "test": accs})
    ours_len = {k: _by_length(_program_predict(best.assignment, best_look, d), d) for k, d in tests.items()}
    ours = {k: per_restart[best.index]["test"][k] for k in tests}
    perfect = {}  # the same program on the same test grids with LOOK replaced by the hidden labels
    for k, d in tests.items():
        out = pl.make_sketch(pl.oracle_look(), d.rows, d.cols).hard(
            best.assignment, {"grid": pl.oracle_grids(d.signs)}, net_forward=pl.perception_oracle)["output"]
        perfect[k] = float((out.probs[0].argmax(-1) == d.lengths).float().mean())
    pred_look = best_look.predict(look_x)
    per_class = {name: float((pred_look[look_y == c] == c).float().mean()) for c, name in enumerate(pl.SIGNS)}
    on_path = torch.isin(look_y, torch.tensor([pl.SIGNS.index(c) for c in PATH_CLASSES]))
    ours["look_accuracy"] = float((pred_look[on_path] == look_y[on_path]).float().mean())
    ours["look_accuracy_all_6_classes"] = float((pred_look == look_y).float().mean())
    log(f"path_len: ours {ours}")

    # -- baseline ---------------------------------------------------------------------------------------
    t_base = time.perf_counter()
    cnn = _train_baseline(train, size.baseline_steps, size.batch, seed)
    base_pred = {k: _baseline_predict(cnn, d) for k, d in tests.items()}
    base = {k: float((p == tests[k].lengths).float().mean()) for k, p in base_pred.items()}
    base_len = {k: _by_length(base_pred[k], d) for k, d in tests.items()}
    base_seconds = time.perf_counter() - t_base
    log(f"path_len: whole-grid CNN baseline {base} ({base_seconds:.0f} s)")

    plot = plot_path("path_len_generalisation.png")
    _plot({k: ours[k] for k in tests}, base, ours_len, base_len, plot)

    source = best.program.source
    correct = result.restarts_correct
    rows = "\n".join(
        f"| {p['restart']} | {p['val_accuracy_3x3']:.3f} | {'yes' if p['correct'] else 'no'} | "
        + " | ".join(f"{p['test'][k]:.3f}" for k in tests) + " | " + "<br>".join(f"`{line}`" for line in p["program"].splitlines()[1:]) + " |"
        for p in per_restart)
    look_rows = " | ".join(f"{k}: {v:.3f}" for k, v in per_class.items())
    summary = f"""
## What was run

PATH_LEN on **SYNTHETIC street signs** (`workbench/data/signs.py`; no real sign images are used).
Training: {len(train)} grids of 3x3 with path lengths 0..{TRAIN_MAX_LEN} (paths start in the centre
cell) and their lengths only (no path, no sign label); validation (model selection only: each restart's best step and the reported restart):
{len(val)} 3x3 grids with every path length 0..8, from another image pool (the lengths 5..8 are what
tell the intended loop from a loop with a NOOP in it, three steps per arrow, which fits every path
of up to 5 arrows in the 18 steps unrolled on 3x3 but not longer ones);
test: {size.n_eval} grids per size from a third pool, every path length the size allows (up to
{max(r * c for r, c in size.eval_sizes) - 1} moves on {size.eval_sizes[-1][0]}x{size.eval_sizes[-1][1]}).
Sketch: {pl.BLOCKS} blocks, each an `instr` hole (NOOP / MOVE in the direction LOOK reads / INC)
and a `goto` hole; halt when LOOK reads STOP under the agent; loop unrolled {pl.STEPS_PER_CELL}
steps per grid cell. LOOK: a fresh `sign_cnn` per restart, learned from scratch jointly with the
holes ({cfg.restarts} restarts, up to {cfg.steps} steps of batch {cfg.batch_size}, Adam, hole lr
{cfg.hole_lr}, LOOK lr {cfg.net_lr}, stopped after {result.steps} steps / {result.seconds:.0f} s).

`ours` is the restart with the best 3x3 validation accuracy (chosen without looking at larger grids),
run as a discrete program with its own learned LOOK. `look_accuracy` is LOOK's accuracy on held-out
sign images of the five classes a path uses (north, east, south, west, stop); `blank` never lies on
a path, so nothing in training tells LOOK what to call it (`look_accuracy_all_6_classes` counts it
anyway). A restart is *correct* when its program is right on 100% of random grids of
{', '.join(f'{r}x{c}' for r, c in size.judge_sizes)} with perfect perception (LOOK replaced by the
hidden labels), i.e. judged by meaning, not by matching the intended program.

Baseline: a fully convolutional CNN over the whole grid (per-cell `sign_cnn` encoder, three 3x3
convolutions over the grid, global sum pooling, linear regression of the length, rounded), trained
with MSE on the same 3x3 grids for {size.baseline_steps} steps of batch {size.batch}
({base_seconds:.0f} s). The paper (v1) reports no PATH_LEN figure.

## The learned program (best restart)

```
{pl.describe(best.assignment)}
```

LOOK per class on held-out SYNTHETIC signs: {look_rows}.

The same program on the same test grids with perfect perception (LOOK replaced by the hidden labels):
{', '.join(f'{k}: {v:.3f}' for k, v in perfect.items())}. Where `ours` falls short of that, LOOK misread
a sign on the path: a grid is right only if every sign along its path (up to 36 on 6x6) is read right,
and the test grids reuse each image of their pool several times, so one misread image costs several grids.

## Every restart

| restart | 3x3 val acc | correct | {' | '.join(tests)} | program |
|---|---|---|{'---|' * len(tests)}---|
{rows}

<details><summary>Read-out source of the best restart (unrolled for 3x3 grids)</summary>

```python
{source}```
</details>
"""
    return ExperimentResult(
        experiment="path_len",
        ours=ours,
        paper={k: None for k in ours},
        baselines={"whole-grid CNN": base},
        restarts=cfg.restarts,
        restarts_correct=int(correct) if correct is not None else 0,
        seeds=[seed],
        quick=quick,
        summary=summary,
        details={"per_restart": per_restart, "look_per_class": per_class, "best_program_with_perfect_look": perfect, "ours_by_length": ours_len,
                 "baseline_by_length": base_len, "program_listing": pl.describe(best.assignment),
                 "program_source": source, "best_restart": best.index, "train_steps": result.steps,
                 "train_seconds": result.seconds, "baseline_seconds": base_seconds,
                 "config": {k: getattr(cfg, k) for k in ("restarts", "steps", "batch_size", "hole_lr", "net_lr",
                                                         "net_init", "validate_every", "seed", "max_seconds")},
                 "data": {"train_grids": len(train), "train_size": "3x3", "train_lengths": f"0..{TRAIN_MAX_LEN}",
                          "val_grids": len(val), "val_lengths": "0..8", "test_grids_per_size": size.n_eval,
                          "sign_pools": {"train": size.pool_train, "test": size.pool_eval},
                          "signs": "SYNTHETIC street signs (workbench/data/signs.py)"}},
        plots=[plot.name],
        synthetic=["street signs"],
    )
