"""Helpers shared by the benchmark scripts: machine description, clocks, interleaved timing, fits, JSON.

Each script in ``benchmarks/`` is run as ``python benchmarks/<name>.py``, so this folder is on
``sys.path`` and ``import _common`` works; it imports torch only where a helper needs it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (``None`` where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info(*, with_torch: bool = True) -> dict:
    """What the figures were measured on; ``load_average`` is the load now (1, 5, 15 min).

    ``cpu`` and ``cpus`` repeat ``cpu_model`` and ``cores`` under the key names of older JSON files.
    """
    info: dict[str, Any] = {"cpu_model": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "load_average": load_average()}
    if with_torch:
        import torch

        info.update(torch=torch.__version__, threads=torch.get_num_threads())
    info.update(cpu=info["cpu_model"], cpus=info["cores"])
    return info


def clocks() -> tuple[float, float]:
    """(process CPU time, wall time) now."""
    return time.process_time(), time.perf_counter()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) since ``start = clocks()``."""
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


def interleaved(steps: Mapping[Any, Callable[[], None]], *, rounds: int, per_round: int, warmup: int = 1,
                clock: str = "cpu") -> dict[Any, float]:
    """Median seconds per call of each closure, timed round-robin (each round times every closure).

    ``clock="cpu"``: this process's CPU time (what a step costs; robust when other processes take
    turns on a shared machine); ``"wall"``: elapsed time.
    """
    now = time.process_time if clock == "cpu" else time.perf_counter
    for f in steps.values():
        for _ in range(warmup):
            f()
    times: dict = {k: [] for k in steps}
    for _ in range(rounds):
        for k, f in steps.items():
            t = now()
            for _ in range(per_round):
                f()
            times[k].append((now() - t) / per_round)
    return {k: statistics.median(v) for k, v in times.items()}


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line ``y = slope * x + intercept`` and its R^2."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def write_json(path: str | Path | None, obj: Any) -> Path | None:
    """Write ``obj`` as indented JSON (parents created); NaN floats become ``null``."""
    if not path:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(obj), indent=2))
    return path


def _clean(o: Any) -> Any:
    if isinstance(o, float) and o != o:
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o
