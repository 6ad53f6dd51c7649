"""Executors: where independent pieces of work run (restart shards, seeds, sweep cells, baselines).

Three kinds behind one small interface (:class:`Executor`):

* :class:`InlineExecutor` (the default): in this process, one piece after the other; today's behaviour.
* :class:`ProcessExecutor`: local worker processes (forked), one torch thread each by default.
* :class:`RayExecutor`: tasks on a Ray cluster (the optional extra: ``pip install "ntpt-workbench[ray]"``).
  ``address="local"`` starts a local Ray bound to 127.0.0.1 (dashboard off, usage statistics off); any other
  address (or ``$RAY_ADDRESS``) joins a running cluster. A worker that dies mid-task is retried by Ray
  (``max_retries``), and each piece's result is taken once, so nothing is lost or counted twice.

:func:`fit_sharded` splits one :func:`workbench.train.fit` into shards of restarts (each a batched ``fit``
with ``restart_offset`` set, so restart ``i`` is seeded by its global index whatever the split) and merges
them into one :class:`~workbench.train.FitResult`. Workers return plain data: per-restart curves and
assignments, and the per-restart nets' weights as state dicts (tensors); only the driver builds programs and
only the driver may publish them to a library.

What "identical whatever the sharding" means: every restart's assignment, discrete validation accuracies,
best accuracy and best step, and its number of recorded losses are equal; losses agree to float rounding
(batched float math over R restarts may in principle differ in the last bits for different R or thread
counts; the tests check 1e-5 relative and record whether they were bit-identical).

Ray is imported only when a :class:`RayExecutor` is made: ``make demo`` and the non-Ray tests need no Ray.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import multiprocessing as mp
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .core.errors import ConfigError, MissingDependencyError, WorkbenchError

__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "RayExecutor", "MapResult", "make_executor", "current",
           "use", "fit_sharded", "shard_configs", "RAY_HINT"]

RAY_HINT = 'pip install "ntpt-workbench[ray]"  (or: pip install "ray[default]>=2.50")'


class ExecutorError(WorkbenchError, RuntimeError):
    """A piece of work failed on a worker, or an executor was asked for something it cannot do."""


@dataclass
class MapResult:
    """What came back from :meth:`Executor.map`: ``results[i]`` for each piece ``i`` that finished.
    ``interrupted``: Ctrl-C cancelled the rest (what had come back is kept)."""

    results: dict[int, Any] = field(default_factory=dict)
    interrupted: bool = False
    seconds: float = 0.0

    def ordered(self) -> list[Any]:
        return [self.results[i] for i in sorted(self.results)]


class Executor:
    """Runs ``fn(item)`` for every item; subclasses implement :meth:`_iter` (yield ``(i, result)`` as done)."""

    kind = "base"
    workers = 1

    def _iter(self, fn: Callable[[Any], Any], items: Sequence[Any],
              resources: Sequence[Mapping[str, float]]) -> Iterator[tuple[int, Any]]:  # pragma: no cover
        raise NotImplementedError

    def _cancel(self) -> None:
        """Cancel whatever is still running (called on Ctrl-C)."""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *,
            resources: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
            progress: bool | Callable[[int, Any], None] = False, desc: str = "shards") -> MapResult:
        """Run ``fn`` over ``items`` (in parallel where the executor can); ``resources`` (one mapping, or
        one per item) may ask for ``num_cpus`` / ``num_gpus`` (honoured by Ray). ``progress``: a tqdm bar
        over items (True), or a callable ``(i, result)``. Ctrl-C cancels the rest and keeps what came back."""
        items = list(items)
        res_list = _per_item(resources, len(items))
        out = MapResult()
        t0 = time.perf_counter()
        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc=f"{desc} ({self.kind}, {self.workers} worker(s))", unit="shard")
        try:
            for i, value in self._iter(fn, items, res_list):
                out.results[i] = value
                if bar is not None:
                    bar.update(1)
                elif callable(progress):
                    progress(i, value)
        except KeyboardInterrupt:
            out.interrupted = True
            self._cancel()
        finally:
            if bar is not None:
                bar.close()
            out.seconds = time.perf_counter() - t0
        return out

    def close(self) -> None:
        """Release workers (a Ray session this executor started is shut down)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


def _per_item(resources: Any, n: int) -> list[dict[str, float]]:
    if resources is None:
        return [{} for _ in range(n)]
    if isinstance(resources, Mapping):
        return [dict(resources) for _ in range(n)]
    res = [dict(r) for r in resources]
    if len(res) != n:
        raise ConfigError(f"resources: {len(res)} mappings for {n} items")
    return res


class InlineExecutor(Executor):
    """Everything in this process, in order (the default)."""

    kind = "inline"

    def _iter(self, fn, items, resources):
        for i, item in enumerate(items):
            yield i, fn(item)


# -- local processes --------------------------------------------------------------------------------------
_PAYLOADS: dict[int, tuple[Callable[[Any], Any], list[Any]]] = {}


def _process_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _process_call(token: int, i: int) -> bytes:
    fn, items = _PAYLOADS[token]  # inherited through fork: nothing of the job itself is pickled
    return pickle.dumps(fn(items[i]), protocol=pickle.HIGHEST_PROTOCOL)  # plain pickle: no shared-memory fds


def _process_call_spawned(payload: bytes) -> bytes:
    fn, item = pickle.loads(payload)
    return pickle.dumps(fn(item), protocol=pickle.HIGHEST_PROTOCOL)


class ProcessExecutor(Executor):
    """Local worker processes, ``threads`` torch threads each (1 by default: one piece per core).

    On platforms with ``fork`` the job (function and items, closures included) is inherited by the
    workers, never pickled; only results travel back (pickled). Elsewhere the job must pickle
    (``cloudpickle`` is used when installed)."""

    kind = "processes"

    def __init__(self, workers: int | None = None, *, threads: int = 1):
        self.workers = int(workers or os.cpu_count() or 1)
        if self.workers < 1 or threads < 1:
            raise ConfigError(f"ProcessExecutor needs workers >= 1 and threads >= 1, got {workers}, {threads}")
        self.threads = threads
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Any] = []

    def _iter(self, fn, items, resources):
        if any(r.get("num_gpus") for r in resources):
            raise ExecutorError("ProcessExecutor does not place work on GPUs",
                                hint="use RayExecutor (--ray ...) for num_gpus, or inline with device='cuda'")
        fork = "fork" in mp.get_all_start_methods()
        token = id(items)
        ctx = mp.get_context("fork" if fork else "spawn")
        if fork:
            _PAYLOADS[token] = (fn, items)
        try:
            self._pool = ProcessPoolExecutor(max_workers=min(self.workers, max(1, len(items))), mp_context=ctx,
                                             initializer=_process_init, initargs=(self.threads,))
            if fork:
                futures = {self._pool.submit(_process_call, token, i): i for i in range(len(items))}
            else:
                try:
                    import cloudpickle as dumper
                except ImportError:
                    dumper = pickle
                futures = {self._pool.submit(_process_call_spawned, dumper.dumps((fn, item))): i
                           for i, item in enumerate(items)}
            self._futures = list(futures)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futures[f], pickle.loads(f.result())
        finally:
            _PAYLOADS.pop(token, None)
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _cancel(self) -> None:
        for f in self._futures:
            f.cancel()
        if self._pool is not None:
            for p in list(getattr(self._pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    p.terminate()


# -- Ray --------------------------------------------------------------------------------------------------
def import_ray(*, loopback: bool = False):
    """``ray``, or a :class:`MissingDependencyError` with the install hint. ``loopback``: this process talks
    to Ray on 127.0.0.1 only (Ray otherwise rewrites a loopback address to the machine's outward IP)."""
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read when ray is first imported
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("Ray is needed for the Ray executor (--ray / RayExecutor) but is not installed",
                                     hint=RAY_HINT) from e
    if loopback:
        with contextlib.suppress(Exception):  # private, but the one switch: resolve "localhost" to 127.0.0.1
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False
    return ray


def _ray_call(fn: Callable[[Any], Any], item: Any, threads: int) -> Any:
    import torch

    torch.set_num_threads(threads)
    return fn(item)


class RayExecutor(Executor):
    """Ray tasks, one per item, ``num_cpus`` each (1 by default) and ``num_gpus`` where asked.

    ``address``: ``"local"`` starts a local Ray with ``workers`` CPUs bound to 127.0.0.1; an address
    (``"127.0.0.1:6379"``, ``"auto"``, ``"ray://host:10001"``) or ``$RAY_ADDRESS`` joins a cluster;
    None uses a Ray session that is already initialised, else ``$RAY_ADDRESS``, else ``"local"``.
    ``max_retries``: how often Ray re-runs a task whose worker died (then the whole task runs again:
    a shard's restarts are returned once, by the attempt that finished)."""

    kind = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None, num_cpus: float = 1,
                 max_retries: int = 3, node_ip_address: str | None = None, wait_s: float = 5.0):
        chosen = address or os.environ.get("RAY_ADDRESS") or "local"
        ray = import_ray(loopback=node_ip_address == "127.0.0.1" or chosen == "local" or _is_loopback(chosen))
        self.ray = ray
        self.num_cpus, self.max_retries, self.wait_s = num_cpus, max_retries, wait_s
        self._owns = False
        self._refs: list[Any] = []
        if not ray.is_initialized():
            address = chosen
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address == "local":
                ray.init(num_cpus=int(workers or os.cpu_count() or 1), _node_ip_address=node_ip_address or "127.0.0.1",
                         **kw)
            else:
                ip = node_ip_address or ("127.0.0.1" if _is_loopback(address) else None)
                ray.init(address=address, **({"_node_ip_address": ip} if ip else {}),
                         **{k: v for k, v in kw.items() if k != "include_dashboard"})
            self._owns = True
        self.address = address
        cpus = ray.cluster_resources().get("CPU", 1)
        self.workers = int(workers or max(1, cpus // max(num_cpus, 1e-9)))

    def remote_options(self, resources: Mapping[str, float]) -> dict[str, Any]:
        """The options each Ray task is submitted with (resources asked, retries)."""
        opts: dict[str, Any] = {"num_cpus": resources.get("num_cpus", self.num_cpus), "max_retries": self.max_retries}
        if resources.get("num_gpus"):
            opts["num_gpus"] = resources["num_gpus"]
        return opts

    def _iter(self, fn, items, resources):
        ray = self.ray
        remote = ray.remote(_ray_call)
        fn_ref = ray.put(fn)  # the job (sketch, data) goes to the object store once
        refs = []
        for item, res in zip(items, resources):
            opts = self.remote_options(res)
            refs.append(remote.options(**opts).remote(fn_ref, item, max(1, int(math.ceil(opts["num_cpus"])))))
        self._refs = refs
        index = {r: i for i, r in enumerate(refs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=self.wait_s)
            for r in done:
                try:
                    value = ray.get(r)
                except ray.exceptions.RayError as e:
                    self._cancel()
                    raise ExecutorError(f"shard {index[r]} failed on Ray: {e}",
                                        hint="see the worker's traceback above; a dead worker is retried "
                                             f"{self.max_retries} time(s)") from e
                yield index[r], value

    def _cancel(self) -> None:
        for r in self._refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(r, force=True)

    def close(self) -> None:
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns = False


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "auto")


# -- choosing one -----------------------------------------------------------------------------------------
def make_executor(kind: str | Executor | None = None, *, workers: int | None = None,
                  ray: str | None = None) -> Executor:
    """An executor from command-line words: ``kind`` in ``inline`` / ``processes`` / ``ray`` (None:
    ``ray`` when ``ray`` (an address or ``"local"``) is given, else inline); ``workers``: processes or
    local Ray CPUs."""
    if isinstance(kind, Executor):
        return kind
    if kind is None:
        kind = "ray" if ray else "inline"
    if kind == "inline":
        return InlineExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "ray":
        return RayExecutor(ray, workers=workers)
    raise ConfigError(f"unknown executor {kind!r}", hint="one of: inline, processes, ray")


_CURRENT: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("workbench_executor", default=None)


def current() -> Executor:
    """The executor set by :func:`use` (inline when none is)."""
    return _CURRENT.get() or InlineExecutor()


@contextlib.contextmanager
def use(executor: Executor | None) -> Iterator[Executor]:
    """Make ``executor`` the one :func:`current` returns inside the block (e.g. for ``workbench reproduce``)."""
    token = _CURRENT.set(executor)
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


# -- sharded fit ------------------------------------------------------------------------------------------
def shard_configs(config: Any, shards: int) -> list[Any]:
    """Split ``config.restarts`` into ``shards`` contiguous blocks of global indices (sizes differ by at
    most one), each a config with ``restarts`` and ``restart_offset`` set. (A shard that asks for a GPU
    switches to ``device="cuda"`` on its worker: the driver may have no GPU.)"""
    R = config.restarts
    shards = max(1, min(int(shards), R))
    base, extra = divmod(R, shards)
    out, start = [], config.restart_offset
    for k in range(shards):
        n = base + (k < extra)
        out.append(config.replace(restarts=n, restart_offset=start))
        start += n
    return out


class _FitShard:
    """The job a worker runs for one shard: ``fit`` on its restarts, returned as plain data."""

    def __init__(self, sketch: Any, train: Any, val: Any, on_validation: Callable[[dict], None] | None,
                 device: str | None = None):
        self.sketch, self.train, self.val, self.on_validation = sketch, train, val, on_validation
        self.device = device  # "cuda" for shards that asked for a GPU (set here, on the worker that has it)

    def __call__(self, cfg: Any) -> dict[str, Any]:
        import socket

        from .train import fit

        if self.device is not None:
            cfg = cfg.replace(device=self.device)

        res = fit(self.sketch, self.train, val=self.val, config=cfg, progress=self.on_validation)
        per_restart = [name for name in res.info.neural if cfg.nets == "per_restart"]
        restarts = [{"index": r.index, "losses": r.losses, "val_steps": r.val_steps, "val_accuracy": r.val_accuracy,
                     "best_accuracy": r.best_accuracy, "best_step": r.best_step, "assignment": r.assignment,
                     "state": {n: {k: v.detach().cpu() for k, v in r.neural[n].module.state_dict().items()}
                               for n in per_restart}}
                    for r in res.restarts]
        return {"restarts": restarts, "hole_probs": res.hole_probs, "hole_history": res.hole_history,
                "steps": res.steps, "seconds": res.seconds, "interrupted": res.interrupted,
                "offset": cfg.restart_offset, "device": cfg.device,
                "worker": {"pid": os.getpid(), "host": socket.gethostname(), "node": _ray_node()}}


def _ray_node() -> str | None:
    try:
        import sys

        if "ray" not in sys.modules:
            return None
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - only informative
        return None


def fit_sharded(sketch: Any, train: Any, *, val: Any = None, config: Any = None,
                judge: Callable[[Any], bool] | None = None, executor: Executor | None = None,
                shards: int | None = None, num_gpus: float = 0, progress: bool | Callable[[int, Any], None] = False,
                on_validation: Callable[[dict], None] | None = None) -> Any:
    """:func:`workbench.train.fit` with its restarts split into ``shards`` batched fits on ``executor``
    (default: :func:`current`; ``shards`` default: its worker count), merged into one ``FitResult``.

    Restarts come back in global order with the same records as one unsharded ``fit`` (see the module
    docstring for what "the same" means). ``judge`` runs in the driver on the merged programs.
    ``num_gpus``: each shard asks Ray for that many GPUs and trains with ``device="cuda"``.
    ``on_validation`` is ``fit``'s ``progress`` callback, run inside the workers. ``progress``: a tqdm
    bar over shards. Ctrl-C cancels the shards still running and returns the restarts that came back
    (``interrupted=True``). ``nets="shared"`` couples restarts, so it cannot be split (one shard only).
    The result's ``shard_info`` lists each shard's offset, restarts, seconds and worker."""
    from .core.neural import NeuralFunction
    from .readout import Program
    from .train import FitResult, RestartResult, TrainConfig, as_examples, tape_lengths

    cfg = config or TrainConfig()
    ex = executor or current()
    k = int(shards or ex.workers)
    if cfg.nets == "shared" and k > 1:
        raise ConfigError("nets='shared' trains one set of nets on every restart's loss: its restarts are not "
                          "independent and cannot be split into shards", hint="use shards=1, or nets='per_restart'")
    configs = shard_configs(cfg, k)
    resources = {"num_gpus": num_gpus} if num_gpus else None
    t0 = time.perf_counter()
    job = _FitShard(sketch, train, val, on_validation, device="cuda" if num_gpus else None)
    mapped = ex.map(job, configs, resources=resources, progress=progress, desc=f"fit {sketch.name}")
    if not mapped.results:
        raise KeyboardInterrupt("interrupted before any shard came back") if mapped.interrupted else \
            ExecutorError("no shard came back")
    parts = [mapped.results[i] for i in sorted(mapped.results)]

    train_ex = as_examples(sketch, train, what="training data")
    info = sketch.discover(train_ex.inputs)
    lengths = tape_lengths(sketch, train_ex.inputs)
    import torch

    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    results = []
    for part in parts:
        for d in part["restarts"]:
            r = RestartResult(d["index"], losses=list(d["losses"]), val_steps=list(d["val_steps"]),
                              val_accuracy=list(d["val_accuracy"]), best_accuracy=d["best_accuracy"],
                              best_step=d["best_step"], assignment=dict(d["assignment"]))
            neural = {}
            for name, nf in info.neural.items():
                if name in d["state"]:
                    m = copy.deepcopy(nf.module).to(dtype=dtype)
                    m.load_state_dict(d["state"][name], strict=False)
                    neural[name] = NeuralFunction(nf.name, m, input=nf.input, output=nf.output, arch=nf.arch,
                                                  origin=nf.origin, check=False)
                else:
                    neural[name] = nf
            r.neural = neural
            r.program = Program(sketch, r.assignment, neural, lengths=lengths)
            if judge is not None:
                r.correct = bool(judge(r.program))
            results.append(r)
    results.sort(key=lambda r: r.index)
    hole_probs = {h: torch.cat([p["hole_probs"][h] for p in parts]) for h in parts[0]["hole_probs"]}
    result = FitResult(sketch, cfg.replace(restarts=len(results)) if len(results) != cfg.restarts else cfg, info,
                       results, max(p["steps"] for p in parts), time.perf_counter() - t0, hole_probs,
                       mapped.interrupted or any(p["interrupted"] for p in parts), _merge_history(parts))
    result.shard_info = [{"offset": p["offset"], "restarts": len(p["restarts"]), "steps": p["steps"],
                          "seconds": p["seconds"], "device": p["device"], **p["worker"]} for p in parts]
    return result


def _merge_history(parts: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Hole histories of the shards on the union of their steps; a shard that had stopped shows its last."""
    import torch

    steps = sorted({t for p in parts for t, _ in p["hole_history"]})
    if not steps or any(not p["hole_history"] for p in parts):
        return []
    merged = []
    for t in steps:
        rows = []
        for p in parts:
            hist = [h for s, h in p["hole_history"] if s <= t] or [p["hole_history"][0][1]]
            rows.append(hist[-1])
        merged.append((t, {h: torch.cat([r[h] for r in rows]) for h in rows[0]}))
    return merged
