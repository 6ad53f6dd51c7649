"""How a workbench training step scales: tape length, domain size, restarts and batch size.

A "step" is what :func:`workbench.train.fit` does per iteration: the soft interpretation of the
sketch on a batch, the cross-entropy of the targets, backward, one Adam step. Each sweep builds all
its configurations first and then times them round-robin (``--rounds`` rounds of ``--per-round``
steps, after a warm-up), so slow phases of a shared machine hit every configuration alike; the
median per-step process CPU time is reported (on a shared machine, wall time moves with the other
processes' load; CPU time much less). Images are random tensors and targets random digits: timing does
not depend on the data, and the script needs no MNIST.

* tape: the MNIST-addition adder (``workbench.tasks.mnist_addition.make_sketch``) on tapes of
  2..64 images (N = 1..32 digits per number), batch ``--tape-batch`` examples, with the bare
  supervised LeNet step on the same images beside it; a least-squares line through step time
  against tape length (slope, intercept, R^2);
* domain: ``mod_add`` of a hole and a soft value over ``Int(M)`` (two additions per step), the
  generic table path (an ``M^3`` 0/1 table, refused by the core above 50M entries, i.e. M > 368)
  against the circular-convolution fast path (a DFT as three GEMMs up to DFT length 256, FFT
  above), M up to 1000;
* restarts: the learned-carry sketch (N=2) with R restarts, (a) program-only restarts sharing one
  net (the net runs once, holes are ``(R, K)``) and (b) one LeNet per restart (``torch.func.vmap``);
* batch: the N=1 adder against the bare LeNet step, batch 8..512 examples.

Plots: ``docs/images/bench_{tape,domain,restarts,batch}.png`` (``--plots DIR`` elsewhere).

    .venv/bin/python benchmarks/scaling.py --json out/bench/scaling.json
    .venv/bin/python benchmarks/scaling.py --quick --json out/scaling_quick.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import interleaved, linear_fit, load_average, machine_info, write_json

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workbench.core import Int, hole, sketch  # noqa: E402
from workbench.core.errors import DomainError  # noqa: E402
from workbench.core.functions import GEMM_DFT_MAX, FiniteFunction, mod_add  # noqa: E402
from workbench.tasks import mnist_addition as ma  # noqa: E402
from workbench.train import RestartNets  # noqa: E402

Step = Callable[[], None]


# -- timing ----------------------------------------------------------------------------------------
measure = interleaved  # median seconds per step of each closure, timed round-robin


def _nll(outs: dict, targets: dict) -> torch.Tensor:
    loss = 0
    for k, v in outs.items():
        p = v.probs.gather(-1, targets[k].view(1, -1, 1).expand(v.probs.shape[0], -1, 1)).squeeze(-1)
        loss = loss - torch.log(p.clamp_min(1e-12)).mean(-1).sum()
    return loss


def sketch_step(sk, inputs: dict, targets: dict, holes: dict, params: list, *, net_forward=None) -> Step:
    """One fit-like step of ``sk`` (soft forward, NLL, backward, Adam)."""
    opt = torch.optim.Adam([{"params": list(holes.values()), "lr": 0.05}, {"params": params, "lr": 1e-3}])
    kw = {"net_forward": net_forward} if net_forward is not None else {}

    def step() -> None:
        loss = _nll(sk.soft(holes, inputs, **kw), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bare_step(module: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Step:
    opt = torch.optim.Adam(module.parameters(), 1e-3)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(module(images), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _tape_batch(n: int, batch: int, gen: torch.Generator) -> tuple[dict, dict, torch.Tensor]:
    digits = torch.randint(0, 10, (batch, 2 * n), generator=gen)
    x = torch.randn(batch, 2 * n, 28, 28, generator=gen)
    return {"x": x}, ma.sum_targets(digits, n), digits


# -- sweeps -------------------------------------------------------------------------------------------
def sweep_tape(lengths: list[int], batch: int, rounds: int, per_round: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    steps: dict = {}
    for length in lengths:
        n = length // 2
        inputs, targets, digits = _tape_batch(n, batch, gen)
        digit = ma.digit_function(seed=0)
        sk = ma.make_sketch(n, digit)
        steps[("wb", length)] = sketch_step(sk, inputs, targets, {}, list(digit.module.parameters()))
        other = ma.digit_function(seed=0)
        steps[("bare", length)] = bare_step(other.module, inputs["x"].reshape(-1, 28, 28), digits.reshape(-1))
    t = measure(steps, rounds=rounds, per_round=per_round)
    wb = [1e3 * t[("wb", k)] for k in lengths]
    bare = [1e3 * t[("bare", k)] for k in lengths]
    fit = linear_fit([float(k) for k in lengths], wb)
    fit_prog = linear_fit([float(k) for k in lengths], [a - b for a, b in zip(wb, bare)])
    return {"lengths": lengths, "batch": batch, "step_ms": wb, "bare_lenet_ms": bare,
            "ratio": [a / b for a, b in zip(wb, bare)],
            "fit": {"slope_ms_per_symbol": fit["slope"], "intercept_ms": fit["intercept"], "r2": fit["r2"]},
            "fit_program_part": {"slope_ms_per_symbol": fit_prog["slope"], "intercept_ms": fit_prog["intercept"],
                                 "r2": fit_prog["r2"]}}


def _modadd_sketch(m: int, *, table: bool):
    d = Int(m)
    if table:  # the generic path: no fast path declared, so every call uses the M^3 table
        f = FiniteFunction("mod_add", lambda x, y: (x + y) % m, inputs=(d, d), output=d)
    else:  # no table: the fast path (DFT-as-GEMM up to GEMM_DFT_MAX, FFT above)
        f = mod_add(m, domain=d, name="mod_add", tabulate=False)
    @sketch(inputs={"x": d}, output=d, name=f"modadd{m}")
    def body(x):
        y = f(x, hole("k1", d), name="y")
        return f(y, hole("k2", d), name="z")

    return body


def sweep_domain(sizes: list[int], table_sizes: list[int], batch: int, rounds: int, per_round: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    steps: dict = {}
    refused: dict = {}
    build_s: dict = {}
    for m in sizes:
        for path in ("fast", "table"):
            if path == "table" and m not in table_sizes:
                continue
            try:
                t0 = time.process_time()
                sk = _modadd_sketch(m, table=path == "table")
                if path == "table":
                    build_s[m] = time.process_time() - t0
            except DomainError as e:
                refused[m] = str(e).splitlines()[0]
                continue
            x = torch.randint(0, m, (batch,), generator=gen)
            inputs = {"x": x}
            holes = {k: torch.randn(1, m, generator=gen).requires_grad_() for k in ("k1", "k2")}
            steps[(path, m)] = sketch_step(sk, inputs, {"output": (x + 7) % m}, holes, [])
    t = measure(steps, rounds=rounds, per_round=per_round)
    fast = [1e3 * t[("fast", m)] for m in sizes]
    table = [1e3 * t[("table", m)] if ("table", m) in t else None for m in sizes]
    return {"sizes": sizes, "batch": batch, "fast_ms": fast, "table_ms": table,
            "fast_kernel": [("dft_gemm" if m <= GEMM_DFT_MAX else "fft") for m in sizes],
            "table_memory_mb": [m ** 3 * 12 / 2 ** 20 if ("table", m) in t else None for m in sizes],
            "table_build_cpu_s": [build_s.get(m) for m in sizes],
            "table_refused": {str(k): v for k, v in refused.items()},
            "table_cap_entries": 50_000_000, "table_largest_possible_m": int(round(50_000_000 ** (1 / 3) - 0.5))}


def sweep_restarts(counts: list[int], per_restart_counts: list[int], batch: int, rounds: int, per_round: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    n = 2
    inputs, targets, _ = _tape_batch(n, batch, gen)
    steps: dict = {}
    for r in counts:
        digit = ma.digit_function(seed=0)
        sk = ma.make_learned_sketch(n, digit, shared=True)
        info = sk.discover(inputs)
        holes = {k: torch.randn(r, d.size, generator=gen).requires_grad_() for k, d in info.holes.items()}
        steps[("shared", r)] = sketch_step(sk, inputs, targets, holes, list(digit.module.parameters()))
        if r in per_restart_counts:
            digit2 = ma.digit_function(seed=0)
            sk2 = ma.make_learned_sketch(n, digit2, shared=True)
            nets = RestartNets(digit2, r, reinit=True, seed=0)
            holes2 = {k: v.detach().clone().requires_grad_() for k, v in holes.items()}
            steps[("per_restart", r)] = sketch_step(sk2, inputs, targets, holes2, list(nets.parameters()),
                                                    net_forward=lambda nf, x, nets=nets: nets(x))
    t = measure(steps, rounds=rounds, per_round=per_round)
    return {"restarts": counts, "batch": batch, "n": n,
            "shared_net_ms": [1e3 * t[("shared", r)] for r in counts],
            "per_restart_restarts": per_restart_counts,
            "per_restart_ms": [1e3 * t[("per_restart", r)] for r in per_restart_counts]}


def sweep_batch(sizes: list[int], rounds: int, per_round: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    steps: dict = {}
    for b in sizes:
        inputs, targets, digits = _tape_batch(1, b, gen)
        digit = ma.digit_function(seed=0)
        steps[("wb", b)] = sketch_step(ma.make_sketch(1, digit), inputs, targets, {}, list(digit.module.parameters()))
        other = ma.digit_function(seed=0)
        steps[("bare", b)] = bare_step(other.module, inputs["x"].reshape(-1, 28, 28), digits.reshape(-1))
    t = measure(steps, rounds=rounds, per_round=per_round)
    wb = [1e3 * t[("wb", b)] for b in sizes]
    bare = [1e3 * t[("bare", b)] for b in sizes]
    return {"sizes": sizes, "n": 1, "step_ms": wb, "bare_lenet_ms": bare,
            "examples_per_s": [b / (ms / 1e3) for b, ms in zip(sizes, wb)],
            "images_per_s": [2 * b / (ms / 1e3) for b, ms in zip(sizes, wb)],
            "ratio": [a / c for a, c in zip(wb, bare)]}


# -- plots --------------------------------------------------------------------------------------------
def plot_all(res: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = []
    m = res["machine"]
    note = (f"{m.get('cpu_model', 'CPU')}, {m['threads']} torch thread, load average {m.get('load_avg_at_start')}"
            + (" [quick]" if res["quick"] else ""))

    def save(fig, name):
        fig.text(0.01, 0.005, note, fontsize=6, color="gray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = out / f"bench_{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))

    t = res["tape"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t["lengths"], t["step_ms"], "o-", label="workbench step (adder sketch)")
    ax.plot(t["lengths"], t["bare_lenet_ms"], "s--", label="bare supervised LeNet step, same images")
    f = t["fit"]
    xs = [min(t["lengths"]), max(t["lengths"])]
    ax.plot(xs, [f["slope_ms_per_symbol"] * x + f["intercept_ms"] for x in xs], ":", color="gray",
            label=f"fit: {f['slope_ms_per_symbol']:.2f} ms/symbol + {f['intercept_ms']:.1f} ms, R²={f['r2']:.3f}")
    ax.set(xlabel="tape length (images per example)", ylabel="CPU ms per training step",
           title=f"Step time vs tape length (batch {t['batch']})")
    ax.legend(fontsize=8)
    save(fig, "tape")

    d = res["domain"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(d["sizes"], d["fast_ms"], "o-", label=f"fast path (DFT as GEMMs up to M={GEMM_DFT_MAX}, FFT above)")
    tm = [(m, v) for m, v in zip(d["sizes"], d["table_ms"]) if v is not None]
    if tm:
        ax.loglog([m for m, _ in tm], [v for _, v in tm], "s-", label="table path (M³ table)")
        ax.axvline(d["table_largest_possible_m"], color="gray", ls=":", lw=1)
        ax.text(d["table_largest_possible_m"], ax.get_ylim()[0] * 1.5, " table cap\n (50M entries)", fontsize=7)
    ax.set(xlabel="domain size M", ylabel="CPU ms per training step",
           title=f"mod-add over Int(M): table vs fast path (batch {d['batch']})")
    ax.legend(fontsize=8)
    save(fig, "domain")

    r = res["restarts"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(r["restarts"], r["shared_net_ms"], "o-", label="program restarts, one shared LeNet")
    if r["per_restart_restarts"]:
        ax.loglog(r["per_restart_restarts"], r["per_restart_ms"], "s-", label="one LeNet per restart (vmap)")
    ax.loglog(r["restarts"], [r["shared_net_ms"][0] * 4] * len(r["restarts"]), ":", color="gray",
              label="4x the R=1 step (shared net)")
    ax.set(xlabel="restarts R", ylabel="CPU ms per training step",
           title=f"Learned-carry sketch (N={r['n']}, batch {r['batch']}): restarts")
    ax.legend(fontsize=8)
    save(fig, "restarts")

    b = res["batch"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(b["sizes"], b["images_per_s"], "o-", label="workbench (N=1 adder)")
    ax.semilogx(b["sizes"], [2 * s / (ms / 1e3) for s, ms in zip(b["sizes"], b["bare_lenet_ms"])], "s--",
                label="bare supervised LeNet")
    ax.set(xlabel="batch size (examples of 2 images)", ylabel="images per second",
           title="Throughput vs batch size (N=1)")
    ax.legend(fontsize=8)
    save(fig, "batch")
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sweeps, few rounds (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plots", type=Path, default=None,
                    help="folder for the PNGs (default docs/images; out/scaling-quick with --quick)")
    ap.add_argument("--no-plots", dest="plot", action="store_false")
    ap.add_argument("--only", nargs="+", choices=("tape", "domain", "restarts", "batch"), default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    prev = torch.is_flush_denormal_enabled() if hasattr(torch, "is_flush_denormal_enabled") else False
    torch.set_flush_denormal(True)
    q = args.quick
    rounds, per = (2, 2) if q else (5, 4)
    which = set(args.only or ("tape", "domain", "restarts", "batch"))
    info = machine_info()
    info["load_avg_at_start"] = info["load_average"]
    res: dict = {"machine": info, "quick": q, "command": " ".join(["python", *sys.argv]),
                 "clock": "process CPU time per step (median over rounds)"}
    t0 = time.perf_counter()
    try:
        if "tape" in which:
            res["tape"] = sweep_tape([2, 4, 8] if q else [2, 4, 8, 16, 32, 48, 64], 4 if q else 16, rounds, per)
            f = res["tape"]["fit"]
            print(f"tape: {dict(zip(res['tape']['lengths'], [round(v, 1) for v in res['tape']['step_ms']]))} ms; "
                  f"fit {f['slope_ms_per_symbol']:.2f} ms/symbol + {f['intercept_ms']:.1f} ms, R^2 {f['r2']:.4f}",
                  flush=True)
        if "domain" in which:
            sizes = [10, 30, 100] if q else [10, 30, 100, 200, 300, 368, 500, 1000]
            res["domain"] = sweep_domain(sizes, [10, 30, 100] if q else [10, 30, 100, 200, 300, 368, 500],
                                         16 if q else 64, rounds, per)
            d = res["domain"]
            print(f"domain: fast {dict(zip(d['sizes'], [round(v, 2) for v in d['fast_ms']]))} ms; table "
                  f"{dict(zip(d['sizes'], [None if v is None else round(v, 2) for v in d['table_ms']]))} ms; "
                  f"refused {list(d['table_refused'])}", flush=True)
        if "restarts" in which:
            counts = [1, 4, 16] if q else [1, 2, 4, 8, 16, 32, 64, 128, 256]
            res["restarts"] = sweep_restarts(counts, [1, 4] if q else [1, 2, 4, 8, 16, 32, 64],
                                             4 if q else 16, rounds if q else 3, per if q else 2)
            r = res["restarts"]
            print(f"restarts: shared net {dict(zip(r['restarts'], [round(v, 1) for v in r['shared_net_ms']]))} ms; "
                  f"per-restart nets {dict(zip(r['per_restart_restarts'], [round(v, 1) for v in r['per_restart_ms']]))} ms",
                  flush=True)
        if "batch" in which:
            res["batch"] = sweep_batch([8, 32] if q else [8, 16, 32, 64, 128, 256, 512], rounds, per)
            b = res["batch"]
            print(f"batch: images/s {dict(zip(b['sizes'], [round(v) for v in b['images_per_s']]))}; "
                  f"ratio to bare {dict(zip(b['sizes'], [round(v, 2) for v in b['ratio']]))}", flush=True)
    finally:
        torch.set_flush_denormal(prev)
    res["seconds"] = time.perf_counter() - t0
    res["machine"]["load_average_end"] = load_average()
    if args.plot and all(k in res for k in ("tape", "domain", "restarts", "batch")):
        out = args.plots or (REPO / ("out/scaling-quick" if q else "docs/images"))
        res["plots"] = plot_all(res, out)
        print("plots:", ", ".join(res["plots"]))
    write_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
