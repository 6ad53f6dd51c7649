"""The one protocol every task module implements: four names.

* ``make_sketch(...)``: the sketch factory (over the task's neural functions);
* ``make_data(...)``: the data builder (inputs and targets, as ``fit`` takes them);
* ``judge(program, ...) -> bool``: whether a read-out program is correct, by its meaning, with
  perfect perception (never by matching one canonical program);
* ``perception``: the task's :class:`~workbench.tasks.perception.LabelPerception` (a batched
  ``net_forward`` for hard execution, and ``perception.for_program(p)`` for ``Program.compile``).

Lifelong runs, reproduction commands, baselines and benchmarks reach a task only through these.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..core.errors import ConfigError

TASK_MODULES = ("add2x2", "apply2x2", "math_tape", "path_len", "mnist_addition")
PROTOCOL = ("make_sketch", "make_data", "judge", "perception")


def task_module(name: str) -> ModuleType:
    """The task module ``name`` (checked to implement the protocol)."""
    if name not in TASK_MODULES:
        raise ConfigError(f"unknown task {name!r}", hint=f"tasks: {', '.join(TASK_MODULES)}")
    mod = importlib.import_module(f"workbench.tasks.{name}")
    missing = [k for k in PROTOCOL if not hasattr(mod, k)]
    if missing:
        raise ConfigError(f"task module {name} lacks {missing} of the task protocol", hint=", ".join(PROTOCOL))
    return mod
