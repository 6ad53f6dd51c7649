"""Storage of entry versions on a local directory or any fsspec filesystem.

Layout: ``<root>/<name>/<version:06d>/{manifest.json, weights.safetensors}``. A version is visible
only once its ``manifest.json`` exists; readers skip everything else (``.tmp-*`` directories of
publishers in flight or killed, version directories without a manifest).

Atomicity of publishing, per backend:

* **local paths and ``file://``** - the version is written into ``<name>/.tmp-<time>-<uuid>/`` and
  claimed by ``os.rename`` of that directory to ``<name>/<version>``. POSIX (and Windows) rename of
  a directory fails when the target is a non-empty directory, so the rename is a lock-free,
  cross-process claim: concurrent publishers (also on other machines sharing a POSIX filesystem
  with atomic rename) never lose, duplicate or overwrite a version; the loser retries with the next
  number. Files are fsync-ed before the rename, so a killed publisher leaves at most a temp dir.
* **other fsspec filesystems** (``memory://``, object stores) - rename is not atomic there (often
  copy + delete). The weights are moved first and the manifest last, so readers never see a
  half-written version, and the claim (check the number is free, then move) runs under a
  process-local lock: safe for publishers in one process (``memory://`` is per process anyway),
  NOT for concurrent publishers in several processes or machines, who could pick the same number.

Removal keeps a ``removed.json`` tombstone in the version directory, so a version number is never
reused. Temp directories older than :data:`STALE_SECONDS` are deleted by later publishes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
import uuid
from collections.abc import Callable

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .errors import LibraryError
from .names import parse_version_dir, version_dir

MANIFEST, WEIGHTS, TOMBSTONE = "manifest.json", "weights.safetensors", "removed.json"
STALE_SECONDS = 30 * 60
_TMP = ".tmp-"
_CLAIM_LOCK = threading.Lock()
_TAKEN = {errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR}


def resolve(location: str | os.PathLike[str] | None) -> tuple[fsspec.AbstractFileSystem, str, str]:
    """``(filesystem, root path, display location)``; default ``$WORKBENCH_LIBRARY`` or ``./library``."""
    if location is None:
        location = os.environ.get("WORKBENCH_LIBRARY") or "library"
    location = os.fspath(location)
    if "://" in location or "::" in location:
        fs, root = fsspec.core.url_to_fs(location)
        return fs, root.rstrip("/") or "/", location.rstrip("/")
    root = os.path.abspath(os.path.expanduser(location))
    return LocalFileSystem(), root, root


class Store:
    """Files of a library; knows nothing of torch or manifests' contents."""

    def __init__(self, location: str | os.PathLike[str] | None = None):
        self.fs, self.root, self.location = resolve(location)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.key = self.fs.unstrip_protocol(self.root)  # one spelling per place: compares locations

    def path(self, *parts: str) -> str:
        return "/".join((self.root.rstrip("/"), *parts))

    # -- reading -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Directory names directly under the root (not yet validated as entry names)."""
        try:
            entries = self.fs.ls(self.root, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory")

    def numbers(self, name: str) -> list[int]:
        """Every version number of ``name`` in use (visible, half-written or removed)."""
        try:
            names = os.listdir(self.path(name)) if self.local else [
                p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path(name), detail=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [v for n in names if (v := parse_version_dir(n)) is not None]

    def visible(self, name: str) -> list[int]:
        """Versions of ``name`` a reader may see: those whose manifest exists, ascending."""
        if self.local:
            return sorted(v for v in self.numbers(name) if self.has_manifest(name, v))
        base = self.path(name).rstrip("/")
        try:
            found = self.fs.find(base, maxdepth=2)
        except (FileNotFoundError, NotADirectoryError):
            return []
        parts = (p[len(base) + 1:].split("/") for p in found)
        return sorted({v for p in parts if len(p) == 2 and p[1] == MANIFEST
                       and (v := parse_version_dir(p[0])) is not None})

    def has_manifest(self, name: str, version: int) -> bool:
        path = self.path(name, version_dir(version), MANIFEST)
        return os.path.isfile(path) if self.local else self.fs.isfile(path)

    def read(self, name: str, version: int, filename: str) -> bytes:
        return self.fs.cat_file(self.path(name, version_dir(version), filename))

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, name: str, weights: bytes, manifest: Callable[[int], bytes]) -> int:
        """Store a new version; ``manifest(v)`` gives the manifest bytes for version ``v``. -> v."""
        base = self.path(name)
        self.fs.makedirs(base, exist_ok=True)
        self._clean_stale(name)
        tmp = self.path(name, f"{_TMP}{int(time.time())}-{uuid.uuid4().hex}")
        self.fs.makedirs(tmp, exist_ok=True)
        try:
            self._write(f"{tmp}/{WEIGHTS}", weights)
            claim = self._claim_local if self.local else self._claim_remote
            v = max(self.numbers(name), default=0) + 1
            for _ in range(100_000):
                if claim(tmp, name, v, manifest):
                    return v
                v = max(max(self.numbers(name), default=0), v) + 1
            raise LibraryError(f"could not claim a version number for '{name}'")
        finally:
            with contextlib.suppress(OSError):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp, recursive=True)

    def _claim_local(self, tmp: str, name: str, v: int, manifest: Callable[[int], bytes]) -> bool:
        self._write(f"{tmp}/{MANIFEST}", manifest(v))
        try:
            os.rename(tmp, self.path(name, version_dir(v)))
        except OSError as e:
            if isinstance(e, FileExistsError) or e.errno in _TAKEN:
                return False
            raise
        _fsync_dir(self.path(name))
        return True

    def _claim_remote(self, tmp: str, name: str, v: int, manifest: Callable[[int], bytes]) -> bool:
        target = self.path(name, version_dir(v))
        with _CLAIM_LOCK:
            if self.fs.exists(target):
                return False
            self._write(f"{tmp}/{MANIFEST}", manifest(v))
            self.fs.mv(f"{tmp}/{WEIGHTS}", f"{target}/{WEIGHTS}")
            self.fs.mv(f"{tmp}/{MANIFEST}", f"{target}/{MANIFEST}")  # last: now the version is visible
        return True

    def _write(self, path: str, data: bytes) -> None:
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def _clean_stale(self, name: str) -> None:
        """Delete temp dirs of publishers that died more than STALE_SECONDS ago."""
        now = time.time()
        for path in self.fs.ls(self.path(name), detail=False):
            base = path.rstrip("/").rsplit("/", 1)[-1]
            stamp = base[len(_TMP):].split("-", 1)[0]
            if base.startswith(_TMP) and stamp.isdigit() and now - int(stamp) > STALE_SECONDS:
                with contextlib.suppress(OSError):
                    self.fs.rm(path, recursive=True)

    # -- removing ------------------------------------------------------------------------------
    def remove(self, name: str, version: int) -> None:
        """Hide then delete a version, leaving a tombstone so that its number is never reused."""
        vdir = self.path(name, version_dir(version))
        stamp = json.dumps({"removed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
        self._write(f"{vdir}/{TOMBSTONE}", stamp)
        self.fs.rm_file(f"{vdir}/{MANIFEST}")  # the version disappears for readers here
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{vdir}/{WEIGHTS}")


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
