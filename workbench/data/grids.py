"""Grids of digit images labelled by the sum of one row or column (the paper's ADD2x2 family).

A grid instance is a ``rows x cols`` arrangement of digit images. Its training target is the
sum of the digit labels of the cells picked by a task: ``"top"`` / ``"bottom"`` row or
``"left"`` / ``"right"`` column. The per-cell labels are kept in :class:`GridDataset` for
evaluation only; training must see nothing but the grids and the targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from workbench.core.errors import DataError

from .embedded import normalize

__all__ = ["GRID_TASKS", "GridDataset", "GridTask", "cells_for", "make_grid_dataset"]

GridTask = Literal["top", "left", "bottom", "right"]
GRID_TASKS: tuple[str, ...] = get_args(GridTask)


def _check_task(task: str) -> str:
    if task not in GRID_TASKS:
        raise DataError(f"unknown grid task {task!r}", hint=f"use one of {', '.join(map(repr, GRID_TASKS))}")
    return task


def _check_shape(rows: int, cols: int) -> None:
    if not (isinstance(rows, int) and isinstance(cols, int)) or rows < 1 or cols < 1:
        raise DataError(
            f"a grid needs at least one row and one column, got rows={rows!r}, cols={cols!r}",
            hint="e.g. rows=2, cols=2 for ADD2x2",
        )


def cells_for(task: GridTask, rows: int = 2, cols: int = 2) -> tuple[int, ...]:
    """Flat indices ``r * cols + c`` of the cells whose labels ``task`` sums.

    >>> cells_for("top"), cells_for("left"), cells_for("bottom"), cells_for("right")
    ((0, 1), (0, 2), (2, 3), (1, 3))
    """
    _check_task(task)
    _check_shape(rows, cols)
    if task == "top":
        return tuple(range(cols))
    if task == "bottom":
        return tuple((rows - 1) * cols + c for c in range(cols))
    if task == "left":
        return tuple(r * cols for r in range(rows))
    return tuple(r * cols + cols - 1 for r in range(rows))


@dataclass(frozen=True)
class GridDataset:
    """Grid instances and their targets.

    ``grids``: float32 ``(n, rows, cols, 28, 28)``, normalised with MNIST's mean/std.
    ``targets``: int64 ``(n,)``, the sum of the labels of ``cells_for(task, rows, cols)``.
    ``cell_labels``: int64 ``(n, rows, cols)``, the digit in each cell. FOR EVALUATION ONLY
    (e.g. reading out what a learned classifier says per cell): training must not use them,
    the whole point of the task is learning the digits from the sums alone.
    ``image_index``: int64 ``(n, rows, cols)``, which source image went in each cell.
    """

    grids: torch.Tensor
    cell_labels: torch.Tensor
    targets: torch.Tensor
    task: str
    rows: int
    cols: int
    image_index: torch.Tensor
    n_distinct: int | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        """The sketch inputs: ``{"grid": grids}`` (the form ``fit`` takes, with ``targets``)."""
        return {"grid": self.grids}

    @property
    def cells(self) -> tuple[int, ...]:
        return cells_for(self.task, self.rows, self.cols)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        pool = "fresh grids" if self.n_distinct is None else f"{self.n_distinct} distinct grids"
        return f"GridDataset(n={len(self)}, task={self.task!r}, {self.rows}x{self.cols}, {pool})"


def make_grid_dataset(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n: int,
    task: GridTask = "top",
    rows: int = 2,
    cols: int = 2,
    seed: int = 0,
    distinct: int | None = None,
) -> GridDataset:
    """Build ``n`` random grid instances from uint8 digit ``images`` (N, 28, 28) and their ``labels`` (N,).

    Without ``distinct`` every instance is a fresh random grid (cells drawn uniformly with
    replacement from the images). With ``distinct=k`` we first draw ``k`` distinct grids (distinct
    tuples of image indices) and then sample the ``n`` instances uniformly from that pool (the
    paper's "64k instances from 1k distinct grids" regime). Deterministic given ``seed``.
    """
    _check_task(task)
    _check_shape(rows, cols)
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise DataError(f"n must be a positive number of grid instances, got {n!r}", hint="e.g. n=1000")
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels)
    if images.ndim != 3 or images.shape[0] == 0:
        raise DataError(
            f"need a non-empty stack of images (N, H, W), got shape {tuple(images.shape)}",
            hint="load digits with workbench.data.load_embedded_digits()",
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{images.shape[0]} images but labels of shape {tuple(labels.shape)}",
            hint="pass one label per image",
        )
    n_cells = rows * cols
    gen = torch.Generator().manual_seed(int(seed))
    n_images = images.shape[0]
    if distinct is None:
        index = torch.randint(n_images, (n, n_cells), generator=gen)
    else:
        if not isinstance(distinct, int) or isinstance(distinct, bool) or distinct <= 0:
            raise DataError(
                f"distinct must be a positive number of grids, got {distinct!r}",
                hint="e.g. distinct=1000, or None for fresh grids",
            )
        possible = n_images**n_cells
        if distinct > possible:
            raise DataError(
                f"only {possible} distinct {rows}x{cols} grids exist from {n_images} images, "
                f"asked for {distinct}",
                hint="lower distinct or pass more images",
            )
        pool = _distinct_pool(n_images, n_cells, distinct, gen)
        index = pool[torch.randint(distinct, (n,), generator=gen)]
    cell_labels = labels.to(torch.int64)[index]
    cells = torch.tensor(cells_for(task, rows, cols))
    targets = cell_labels[:, cells].sum(dim=1)
    grids = normalize(images[index.flatten()]).reshape(n, rows, cols, *images.shape[1:])
    return GridDataset(
        grids=grids,
        cell_labels=cell_labels.reshape(n, rows, cols),
        targets=targets,
        task=task,
        rows=rows,
        cols=cols,
        image_index=index.reshape(n, rows, cols),
        n_distinct=distinct,
    )


def _distinct_pool(n_images: int, n_cells: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """Draw ``k`` distinct index tuples of length ``n_cells`` (rejecting duplicates, in draw order)."""
    seen: set[tuple[int, ...]] = set()
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < k:
        batch = torch.randint(n_images, (max(2 * (k - len(chosen)), 16), n_cells), generator=gen)
        for row in map(tuple, batch.tolist()):
            if row not in seen:
                seen.add(row)
                chosen.append(row)
                if len(chosen) == k:
                    break
    return torch.tensor(chosen, dtype=torch.int64)
