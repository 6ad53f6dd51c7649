"""DeepProbLog 2.1.0 and the workbench side by side on MNIST-addition, in one run, on one machine.

What it does:

1. creates a private virtual environment (default ``<repo>/.cache/dpl-venv``, git-ignored) and
   installs ``deepproblog==2.1.0`` there from PyPI, with ``problog``, ``pysdd``, ``numpy``,
   ``pillow`` and the pinned CPU ``torch==2.13.0``. DeepProbLog declares ``torchvision`` as a
   dependency, and PyPI's torchvision does not import beside that CPU wheel (installing it drags in
   a multi-GB CUDA torch): so DeepProbLog is installed with ``--no-deps`` and a small **torchvision
   shim** is put on the venv's path through a ``.pth`` file. The shim provides only what
   DeepProbLog's MNIST example imports: ``torchvision.datasets.MNIST`` (reading OUR local MNIST
   arrays from an ``.npz`` file: no download) and ``torchvision.transforms.Compose / ToTensor /
   Normalize``.
2. exports the workbench's local MNIST (``workbench.data.mnist.load_mnist``, MD5-checked IDX
   files) to that ``.npz``;
3. runs DeepProbLog's own MNIST-addition example unchanged in substance (its
   ``deepproblog.examples.MNIST.data.addition`` data set, its ``MNIST_Net``, its ``addition.pl``
   program, ``ExactEngine`` with caching, ``DataLoader(batch 2)``, Adam lr 1e-3, ``train_model``)
   in a subprocess of that venv, one thread, timing the training and evaluating with its own
   ``get_confusion_matrix`` on the test set;
4. in this process, trains the workbench's MNIST-addition sketch (same N, same MNIST arrays, one
   thread) for one epoch, before and after DeepProbLog (to average out load drift), and evaluates it;
5. prints per-epoch times, their ratio and the accuracies after one epoch.

``--quick``: DeepProbLog runs a fixed number of iterations and its per-epoch time is
EXTRAPOLATED (labelled so): the measured time plus the remaining iterations at the rate of the last
third of the measured ones; its accuracy is then after those iterations only, on a test subset.
Full mode: one real DeepProbLog epoch (about 8-10 minutes at N=1 on a 2-core machine).

    .venv/bin/python benchmarks/deepproblog_side_by_side.py --quick --json out/dpl_quick.json
    .venv/bin/python benchmarks/deepproblog_side_by_side.py --n 1 --json out/dpl_n1.json
    .venv/bin/python benchmarks/deepproblog_side_by_side.py --n 2 --quick --json out/dpl_n2_quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine_info, write_json

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = REPO / ".cache" / "dpl-venv"
DPL_SPEC = "deepproblog==2.1.0"
DPL_DEPS = ["problog==2.3.0", "pysdd==1.0.6", "cython", "numpy", "pillow"]
TORCH_SPEC = "torch==2.13.0"

SHIM_INIT = '''"""A torchvision stand-in for DeepProbLog's examples (written by the workbench's benchmark).

PyPI's torchvision does not import beside the CPU torch wheel used here, and the examples only
need MNIST and three transforms. MNIST comes from the .npz named by $WB_DPL_MNIST_NPZ (the
workbench's local copy): nothing is downloaded.
"""
from . import datasets, transforms  # noqa: F401
__version__ = "0.0-workbench-shim"
'''

SHIM_DATASETS = '''"""torchvision.datasets.MNIST over a local .npz (keys train_images/train_labels/test_images/test_labels)."""
import os

import numpy as np


class MNIST:
    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        path = os.environ.get("WB_DPL_MNIST_NPZ")
        if not path:
            raise RuntimeError("workbench torchvision shim: set WB_DPL_MNIST_NPZ to the exported MNIST .npz")
        split = "train" if train else "test"
        with np.load(path) as z:
            self.data = z[split + "_images"]
            self.targets = z[split + "_labels"].astype(np.int64)
        self.transform = transform
        self.target_transform = target_transform
        self.train = train

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        img, target = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
'''

SHIM_TRANSFORMS = '''"""The three transforms DeepProbLog's MNIST example uses, on uint8 HxW arrays."""
import numpy as np
import torch


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, img):
        a = np.asarray(img)
        t = torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)
        return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)


class Normalize:
    def __init__(self, mean, std):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, t):
        return (t - self.mean) / self.std
'''

# The runner executes inside the DeepProbLog venv. It follows deepproblog/examples/MNIST/addition.py.
RUNNER = r'''
import json, os, sys, time
import torch

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(cfg["seed"])
import random
random.seed(cfg["seed"])

import deepproblog
from deepproblog.dataset import DataLoader
from deepproblog.engines import ExactEngine
from deepproblog.evaluate import get_confusion_matrix
from deepproblog.examples.MNIST.data import MNIST_train, MNIST_test, addition
from deepproblog.examples.MNIST.network import MNIST_Net
from deepproblog.model import Model
from deepproblog.network import Network
from deepproblog.train import TrainObject
from deepproblog.utils.stop_condition import StopCondition

N = cfg["n"]
t_setup = time.time()
train_set = addition(N, "train")
test_set = addition(N, "test")
network = MNIST_Net()
net = Network(network, "mnist_net", batching=True)
net.optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
program = os.path.join(os.path.dirname(deepproblog.__file__), "examples", "MNIST", "models", "addition.pl")
model = Model(program, [net])
model.set_engine(ExactEngine(model), cache=True)
model.add_tensor_source("train", MNIST_train)
model.add_tensor_source("test", MNIST_test)
loader = DataLoader(train_set, 2, False)
setup_s = time.time() - t_setup
epoch_iters = len(loader)
limit = cfg["iterations"] or epoch_iters


class Iterations(StopCondition):
    def is_stop(self, train_object):
        return train_object.i - 1 >= limit or train_object.epoch >= 1

    def __str__(self):
        return f"{limit} iterations"


stamps = []
trainer = TrainObject(model)
trainer.hooks.append((1, lambda t: stamps.append(time.time())))
t0, c0 = time.time(), time.process_time()
trainer.train(loader, Iterations(), log_iter=cfg["log_iter"], verbose=1)
train_s, train_cpu = time.time() - t0, time.process_time() - c0
iters = trainer.i - 1

if cfg["test_limit"]:
    test_set.data = test_set.data[: cfg["test_limit"]]
t1 = time.time()
cm = get_confusion_matrix(model, test_set, verbose=0)
eval_s = time.time() - t1
# Extrapolation (quick mode): the time measured so far plus the remaining iterations at the rate of
# the LAST third of the measured ones (new query shapes keep being compiled early on; the late rate
# is the closest to the rest of the epoch's).
times = [b - a for a, b in zip([t0] + stamps[:-1], stamps)]
tail = times[len(times) * 2 // 3:] or [train_s / max(1, iters)]
steady = sum(tail) / len(tail)
deciles = [sum(times[k * len(times) // 10:(k + 1) * len(times) // 10]) for k in range(10)] if len(times) >= 10 else []
epoch_s = train_s if iters >= epoch_iters else train_s + steady * (epoch_iters - iters)
out = {
    "n": N, "iterations": iters, "epoch_iterations": epoch_iters, "train_examples": len(train_set),
    "batch_size": 2, "train_seconds": train_s, "train_cpu_seconds": train_cpu, "setup_seconds": setup_s,
    "late_seconds_per_iteration": steady, "seconds_per_tenth_of_the_iterations": deciles,
    "epoch_seconds": epoch_s,
    "epoch_seconds_extrapolated": iters < epoch_iters,
    "epoch_cpu_seconds": train_cpu * epoch_s / train_s if train_s > 0 else float("nan"),
    "test_accuracy": cm.accuracy(), "test_examples": len(test_set), "eval_seconds": eval_s,
    "torch": torch.__version__, "threads": torch.get_num_threads(),
}
print("DPL_RESULT " + json.dumps(out), flush=True)
'''


class SetupError(RuntimeError):
    pass


def _run(cmd: list[str], what: str, env: dict | None = None, timeout: float | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SetupError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(venv: Path, *, torch_spec: str = TORCH_SPEC, log=print) -> Path:
    """Create the DeepProbLog venv (idempotent) and return its python."""
    py = venv_python(venv)
    marker = venv / ".workbench-dpl-ready"
    if marker.exists() and py.exists():
        return py
    if not py.exists():
        log(f">> creating {venv}")
        _run([sys.executable, "-m", "venv", str(venv)], "creating the DeepProbLog venv")
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    log(f">> installing {torch_spec} (CPU) into {venv}")
    _run(pip + [torch_spec], f"pip install {torch_spec}")
    log(f">> installing {DPL_SPEC} --no-deps and {' '.join(DPL_DEPS)} (torchvision is replaced by a shim)")
    _run(pip + ["--no-deps", DPL_SPEC], f"pip install {DPL_SPEC}")
    _run(pip + DPL_DEPS, "pip install DeepProbLog's dependencies")
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], "locating site-packages")
    shim = venv / "torchvision-shim" / "torchvision"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text(SHIM_INIT)
    (shim / "datasets.py").write_text(SHIM_DATASETS)
    (shim / "transforms.py").write_text(SHIM_TRANSFORMS)
    Path(site.strip(), "workbench_torchvision_shim.pth").write_text(str(shim.parent) + "\n")
    _run([str(py), "-c", "import deepproblog, problog, torch, torchvision; "
                         "from deepproblog.engines import ExactEngine; print(torch.__version__)"],
         "importing DeepProbLog in its venv")
    marker.write_text(f"{DPL_SPEC}\n{torch_spec}\n")
    return py


def export_mnist(path: Path) -> None:
    import numpy as np

    from workbench.data.mnist import load_mnist

    arrays = {}
    for split in ("train", "test"):
        x, y = load_mnist(split)
        arrays[f"{split}_images"] = x.numpy()
        arrays[f"{split}_labels"] = y.numpy()
    np.savez(path, **arrays)


def run_deepproblog(py: Path, npz: Path, *, n: int, iterations: int | None, test_limit: int | None, threads: int,
                    seed: int, timeout: float, log=print) -> dict:
    cfg = {"n": n, "iterations": iterations, "test_limit": test_limit, "threads": threads, "seed": seed,
           "log_iter": 1000}
    env = dict(os.environ, WB_DPL_MNIST_NPZ=str(npz), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        runner = Path(tmp) / "dpl_runner.py"
        runner.write_text(RUNNER)
        log(f">> DeepProbLog: N={n}, {f'{iterations} iterations' if iterations else 'one epoch'} (batch 2, exact engine)")
        proc = subprocess.run([str(py), str(runner), json.dumps(cfg)], capture_output=True, text=True, env=env,
                              cwd=tmp, timeout=timeout, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("DPL_RESULT "):
            return json.loads(line[len("DPL_RESULT "):])
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
    raise SetupError(f"DeepProbLog's run failed (exit {proc.returncode}):\n{tail}")


def run_workbench(n: int, *, seed: int, threads: int, data=None) -> dict:
    import torch

    from workbench.tasks import mnist_addition as ma

    torch.set_num_threads(threads)
    train, test = data if data is not None else (ma.load_data(n, "train", seed=seed), ma.load_data(n, "test", seed=seed))
    recipe = ma.epoch_recipe(n, len(train))
    run = ma.train_addition(n, train, recipe=recipe, seed=seed)
    ev = ma.evaluate(run.sketch, test, digit=run.digit)
    return {"n": n, "train_examples": len(train), "batch_size": recipe.batch_size, "steps": run.steps,
            "epochs": run.epochs, "train_seconds": run.seconds, "epoch_seconds": run.seconds / run.epochs,
            "train_cpu_seconds": run.cpu_seconds, "epoch_cpu_seconds": run.cpu_seconds / run.epochs,
            "test_accuracy": ev.accuracy, "digit_accuracy": ev.digit_accuracy, "test_examples": ev.examples,
            "recipe": recipe.describe()}


def machine() -> dict:
    info = machine_info()
    info["load_avg_at_start"] = info["load_average"]
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1, choices=(1, 2), help="digits per number (DeepProbLog: 1 or 2)")
    ap.add_argument("--quick", action="store_true",
                    help="DeepProbLog runs --iterations iterations; its epoch time is EXTRAPOLATED")
    ap.add_argument("--iterations", type=int, default=400, help="DeepProbLog iterations in --quick mode")
    ap.add_argument("--test-limit", type=int, default=None,
                    help="DeepProbLog test queries to evaluate (default: all; 500 in --quick)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both systems (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--venv", type=Path, default=Path(os.environ.get("WB_DPL_VENV", DEFAULT_VENV)))
    ap.add_argument("--torch-spec", default=TORCH_SPEC, help="torch requirement installed into the venv")
    ap.add_argument("--setup-only", action="store_true", help="create the venv and exit")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before DeepProbLog's run is abandoned")
    ap.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    args = ap.parse_args(argv)

    try:
        py = ensure_venv(args.venv, torch_spec=args.torch_spec)
    except (SetupError, OSError, subprocess.TimeoutExpired) as e:
        print(f"ERROR: could not set up DeepProbLog ({DPL_SPEC}) in {args.venv}:\n{e}", file=sys.stderr)
        return 2
    if args.setup_only:
        print(f"DeepProbLog venv ready: {py}")
        return 0

    sys.path.insert(0, str(REPO))
    from workbench.tasks import mnist_addition as ma

    info = machine()
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "mnist.npz"
        export_mnist(npz)
        data = (ma.load_data(args.n, "train", seed=args.seed), ma.load_data(args.n, "test", seed=args.seed))
        print(f">> workbench: N={args.n}, one epoch (before DeepProbLog)")
        ours_before = run_workbench(args.n, seed=args.seed, threads=args.threads, data=data)
        print(f"   {ours_before['epoch_seconds']:.1f} s/epoch, test accuracy {ours_before['test_accuracy']:.4f}")
        iterations = args.iterations if args.quick else None
        test_limit = args.test_limit if args.test_limit is not None else (500 if args.quick else None)
        try:
            dpl = run_deepproblog(py, npz, n=args.n, iterations=iterations, test_limit=test_limit,
                                  threads=args.threads, seed=args.seed, timeout=args.timeout)
        except (SetupError, subprocess.TimeoutExpired) as e:
            print(f"ERROR: DeepProbLog did not run: {e}", file=sys.stderr)
            return 3
        print(f">> workbench: N={args.n}, one epoch (after DeepProbLog)")
        ours_after = run_workbench(args.n, seed=args.seed + 1, threads=args.threads, data=data)
    ours_epoch = (ours_before["epoch_seconds"] + ours_after["epoch_seconds"]) / 2
    ratio = dpl["epoch_seconds"] / ours_epoch
    ours_cpu = (ours_before["epoch_cpu_seconds"] + ours_after["epoch_cpu_seconds"]) / 2
    cpu_ratio = dpl["epoch_cpu_seconds"] / ours_cpu
    label = f"EXTRAPOLATED from {dpl['iterations']} iterations" if dpl["epoch_seconds_extrapolated"] else "measured"
    acc_label = (f"after {dpl['iterations']} of {dpl['epoch_iterations']} iterations" if dpl["epoch_seconds_extrapolated"]
                 else "after one epoch")
    print()
    print(f"MNIST-addition N={args.n}, same MNIST arrays, same machine, {args.threads} thread(s) each")
    print(f"  DeepProbLog {DPL_SPEC.split('==')[1]} (exact engine, batch 2): {dpl['epoch_seconds']:.1f} s/epoch ({label}); "
          f"test accuracy {dpl['test_accuracy']:.4f} {acc_label} on {dpl['test_examples']} test sums")
    for tag, o in (("before", ours_before), ("after", ours_after)):
        print(f"  workbench ({tag}): {o['epoch_seconds']:.2f} s/epoch (batch {o['batch_size']}, {o['steps']} steps); "
              f"test accuracy {o['test_accuracy']:.4f} after one epoch on {o['test_examples']} test sums")
    print(f"  per-epoch time ratio DeepProbLog / workbench: {ratio:.1f}x wall-clock "
          f"({cpu_ratio:.1f}x in CPU time: {dpl['epoch_cpu_seconds']:.0f} s vs {ours_cpu:.1f} s"
          f"{', extrapolated' if dpl['epoch_seconds_extrapolated'] else ''})")
    print(f"  load average (1/5/15 min) at the end: {os.getloadavg()}")
    result = {"n": args.n, "quick": args.quick, "machine": info, "deepproblog": dpl,
              "workbench": {"before": ours_before, "after": ours_after, "epoch_seconds_mean": ours_epoch},
              "epoch_time_ratio": ratio, "epoch_cpu_time_ratio": cpu_ratio, "load_avg_at_end": os.getloadavg(),
              "deepproblog_epoch_label": label, "deepproblog_accuracy_label": acc_label,
              "command": " ".join([Path(sys.executable).name, *sys.argv])}
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
