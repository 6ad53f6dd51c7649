"""Tests of the SYNTHETIC street signs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.errors import DataError
from workbench.data import signs
from workbench.data.signs import SIGNS, SYNTHETIC, make_signs, render_sign


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    images, labels = make_signs(1800, seed=1)
    return images.numpy(), labels.numpy()


def test_marked_synthetic() -> None:
    assert SYNTHETIC is True
    for doc in (signs.__doc__, make_signs.__doc__, render_sign.__doc__):
        assert "SYNTHETIC" in doc


def test_shapes_dtypes_and_balance(sample) -> None:
    images, labels = sample
    assert images.shape == (1800, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=len(SIGNS)).tolist() == [300] * len(SIGNS)


def test_tensor_types_and_subset() -> None:
    images, labels = make_signs(9, seed=0, classes=["stop", "north"])
    assert isinstance(images, torch.Tensor) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and images.shape == (9, 28, 28)
    assert set(labels.tolist()) == {SIGNS.index("stop"), SIGNS.index("north")}


def test_deterministic_by_seed() -> None:
    a = make_signs(50, seed=4)
    b = make_signs(50, seed=4)
    c = make_signs(50, seed=5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_render_sign() -> None:
    image = render_sign("east", np.random.default_rng(0))
    assert image.shape == (28, 28) and image.dtype == np.uint8
    again = render_sign(SIGNS.index("east"), np.random.default_rng(0))
    np.testing.assert_array_equal(image, again)
    with pytest.raises(DataError, match="unknown sign class"):
        render_sign("left", np.random.default_rng(0))
    with pytest.raises(DataError, match="out of range"):
        render_sign(6, np.random.default_rng(0))


@pytest.mark.parametrize("n", [0, -1, 1.5, None])
def test_bad_n(n) -> None:
    with pytest.raises(DataError, match="positive number"):
        make_signs(n)


def test_unknown_class() -> None:
    with pytest.raises(DataError, match="unknown sign") as info:
        make_signs(5, classes=["north", "up"])
    assert "north" in info.value.hint


def test_signs_are_centred(sample) -> None:
    """Signs sit in the middle of the cell: the bright part's centre of mass is near the centre."""
    images, labels = sample
    x = images[labels != SIGNS.index("blank")].astype(np.float64)
    x = np.maximum(x - np.median(x, axis=(1, 2), keepdims=True), 0.0)
    mass = x.sum(axis=(1, 2))
    idx = np.arange(28)
    cy = (x.sum(axis=2) * idx).sum(axis=1) / mass
    cx = (x.sum(axis=1) * idx).sum(axis=1) / mass
    assert np.all(np.abs(cy - 13.5) < 2.5) and np.all(np.abs(cx - 13.5) < 2.5)
    assert abs(cy.mean() - 13.5) < 0.5 and abs(cx.mean() - 13.5) < 0.5
    centre = images[:, 8:20, 8:20].astype(float).mean(axis=(1, 2))
    border = np.concatenate(
        [images[:, :1].reshape(len(images), -1), images[:, -1:].reshape(len(images), -1)], 1
    )
    signs_only = labels != SIGNS.index("blank")
    assert np.mean(centre[signs_only] > border[signs_only].mean(axis=1)) > 0.95


def test_classes_are_distinct(sample) -> None:
    """A nearest-centroid classifier separates held-out signs far above chance (1/6)."""
    images, labels = sample
    test_images, test_labels = (t.numpy() for t in make_signs(600, seed=2))
    x = images.reshape(len(images), -1) / 255.0
    centroids = np.stack([x[labels == c].mean(axis=0) for c in range(len(SIGNS))])
    xt = test_images.reshape(len(test_images), -1) / 255.0
    predicted = ((xt[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(axis=1)
    assert (predicted == test_labels).mean() > 0.8


def test_varied_within_class(sample) -> None:
    images, labels = sample
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    for c in range(len(SIGNS)):
        group = x[labels == c][:150]
        sq = (group**2).sum(1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * group @ group.T, 0.0))
        off_diagonal = dist[~np.eye(len(group), dtype=bool)]
        assert off_diagonal.min() > 0.1, SIGNS[c]
        assert off_diagonal.mean() > 2.0, SIGNS[c]
