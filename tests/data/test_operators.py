"""Tests of the SYNTHETIC handwritten operators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.errors import DataError
from workbench.data import operators
from workbench.data.operators import OPERATORS, SYNTHETIC, make_operators


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    images, labels = make_operators(2000, seed=1)
    return images.numpy(), labels.numpy()


def centre_of_mass(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = images.astype(np.float64)
    mass = x.sum(axis=(1, 2))
    idx = np.arange(x.shape[1])
    return (x.sum(axis=2) * idx).sum(axis=1) / mass, (x.sum(axis=1) * idx).sum(axis=1) / mass


def test_marked_synthetic() -> None:
    assert SYNTHETIC is True
    assert "SYNTHETIC" in operators.__doc__
    assert "SYNTHETIC" in make_operators.__doc__


def test_shapes_dtypes_and_balance(sample) -> None:
    images, labels = sample
    assert images.shape == (2000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=4).tolist() == [500, 500, 500, 500]
    assert images.max() == 255 and images.min() == 0


def test_tensor_types() -> None:
    images, labels = make_operators(7, seed=3)
    assert isinstance(images, torch.Tensor) and images.dtype == torch.uint8
    assert isinstance(labels, torch.Tensor) and labels.dtype == torch.int64
    assert images.shape == (7, 28, 28) and set(labels.tolist()) <= set(range(4))


def test_deterministic_by_seed() -> None:
    a_images, a_labels = make_operators(64, seed=5)
    b_images, b_labels = make_operators(64, seed=5)
    c_images, _ = make_operators(64, seed=6)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert not torch.equal(a_images, c_images)


def test_class_subset() -> None:
    _, labels = make_operators(30, seed=0, classes=["x", "/"])
    assert set(labels.tolist()) == {OPERATORS.index("x"), OPERATORS.index("/")}


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_bad_n(n) -> None:
    with pytest.raises(DataError, match="positive number"):
        make_operators(n)


def test_unknown_class() -> None:
    with pytest.raises(DataError, match="unknown operator") as info:
        make_operators(10, classes=["+", "*"])
    assert "+" in info.value.hint


def test_centred_like_mnist(sample) -> None:
    images, _ = sample
    cy, cx = centre_of_mass(images)
    assert np.all(np.abs(cy - 14.0) < 2.0) and np.all(np.abs(cx - 14.0) < 2.0)
    assert abs(cy.mean() - 14.0) < 0.5 and abs(cx.mean() - 14.0) < 0.5
    ink = images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = 28 - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    width = 28 - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    assert np.all(np.maximum(height, width) <= 22)  # fitted into a 20x20 box (+ rounding)
    assert np.median(np.maximum(height, width)) >= 18  # ... and filling it
    # as in MNIST, centring by mass may push a lopsided glyph towards an edge, but rarely
    frame = np.ones((28, 28), dtype=bool)
    frame[2:-2, 2:-2] = False
    assert (images[:, frame] > 0).any(axis=1).mean() < 0.01


def test_classes_are_distinct(sample) -> None:
    """A nearest-centroid classifier separates held-out images far above chance (25%)."""
    images, labels = sample
    test_images, test_labels = (t.numpy() for t in make_operators(800, seed=2))
    x = images.reshape(len(images), -1) / 255.0
    centroids = np.stack([x[labels == c].mean(axis=0) for c in range(4)])
    xt = test_images.reshape(len(test_images), -1) / 255.0
    predicted = ((xt[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(axis=1)
    assert (predicted == test_labels).mean() > 0.85


def test_varied_within_class(sample) -> None:
    """Images of one class are not copies: mean pairwise distance is well above zero."""
    images, labels = sample
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    for c in range(4):
        group = x[labels == c][:200]
        sq = (group**2).sum(1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * group @ group.T, 0.0))
        off_diagonal = dist[~np.eye(len(group), dtype=bool)]
        assert off_diagonal.min() > 0.1, OPERATORS[c]  # no two identical images
        assert off_diagonal.mean() > 0.25 * np.sqrt(sq).mean(), OPERATORS[c]
