"""``workbench reproduce EXPERIMENT``: the paper's experiments, each writing its results files.

Every experiment is a module of this package with a function ``run(*, quick, seed, progress) ->
ExperimentResult`` (see :mod:`workbench.reproduce.common`), registered in :data:`EXPERIMENTS`.
:func:`reproduce` runs one, times it, and writes ``OUT/EXPERIMENT.json`` and ``OUT/EXPERIMENT.md``
(plots beside them). Full sizes write to ``docs/results``; ``--quick`` sizes (minutes, what the
tests run) default to ``out/reproduce-quick`` so that they never overwrite the recorded results.
"""

from __future__ import annotations

from .common import (
    EXPERIMENTS,
    ExperimentResult,
    ReproduceError,
    experiment_names,
    load_experiment,
    reproduce,
    write_result,
)

__all__ = ["EXPERIMENTS", "ExperimentResult", "ReproduceError", "experiment_names", "load_experiment",
           "reproduce", "write_result"]
