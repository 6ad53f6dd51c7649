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

Removal renames the version's ``manifest.json`` to a ``removed.json`` tombstone (a rename needs no
free space, so removing works on a full disk) and then deletes the weights; the directory stays, so
a version number is never reused. Temp directories older than :data:`STALE_SECONDS` (configurable
per store) are deleted by later publishes and by :meth:`Store.clean_stale`.

Local paths are never followed out of the library: an entry directory, version directory, manifest
or weights file that is a symbolic link or a special file (FIFO, device, socket) is refused with
:class:`~workbench.library.errors.UnsafePath` naming the path, before anything is read, written or
deleted; files are opened with ``O_NOFOLLOW`` (and ``O_NONBLOCK``, so a FIFO cannot hang a reader).
Operating-system errors (disk full, read-only, permissions) become
:class:`~workbench.library.errors.StorageError` with a hint.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .errors import LibraryError, LimitExceeded, StorageError, UnsafePath
from .names import parse_version_dir, version_dir

MANIFEST, WEIGHTS, TOMBSTONE = "manifest.json", "weights.safetensors", "removed.json"
ALIASES = "aliases.json"  # per entry: {"pinned": version or null, "deprecated": {"3": "reason"}}
STALE_SECONDS = 30 * 60
_TMP = ".tmp-"
_CLAIM_LOCK = threading.Lock()
_TAKEN = {errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _kind(mode: int) -> str:
    for test, word in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISREG, "a regular file"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return "a special file"


def check_plain(path: str, kind: str, *, entry: str | None = None, version: int | None = None,
                missing_ok: bool = False) -> os.stat_result | None:
    """``lstat`` of ``path`` if it is a real ``kind`` ("file" or "dir"), never following a link.

    A symbolic link, a special file or the wrong kind raises :class:`UnsafePath` naming the path;
    a missing path returns None with ``missing_ok``, else raises ``FileNotFoundError``.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    want = stat.S_ISDIR if kind == "dir" else stat.S_ISREG
    if not want(st.st_mode):
        what = _kind(st.st_mode)
        expected = "a directory" if kind == "dir" else "a regular file"
        hint = ("the library never follows symbolic links out of its root: replace the link by the real "
                f"{'directory' if kind == 'dir' else 'file'}, or remove it" if stat.S_ISLNK(st.st_mode)
                else f"move {path} out of the library (it should be {expected})")
        raise UnsafePath(f"refused: {path} is {what}, not {expected}", path=path, entry=entry, version=version,
                         hint=hint)
    return st


def storage_error(e: OSError, path: str, doing: str, *, entry: str | None = None,
                  version: int | None = None) -> StorageError:
    """An OSError of the storage as a :class:`StorageError` naming the path, with a hint by errno."""
    if e.errno in _FULL:
        hint = ("the disk is full: free some space (old versions can be removed with "
                "`workbench library rm NAME@VERSION`, which works on a full disk) and try again")
        what = "no space left on the device"
    elif e.errno in (errno.EACCES, errno.EPERM):
        hint, what = "check the permissions of the library directory", "permission denied"
    elif e.errno == errno.EROFS:
        hint, what = "the library is on a read-only filesystem; use a writable location", "read-only filesystem"
    else:
        hint, what = "check the library's storage", e.strerror or type(e).__name__
    return StorageError(f"could not {doing} {path}: {what} ({type(e).__name__} errno {e.errno})", errno=e.errno,
                        entry=entry, version=version, hint=hint)


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

    def __init__(self, location: str | os.PathLike[str] | None = None, *, stale_seconds: float = STALE_SECONDS):
        self.fs, self.root, self.location = resolve(location)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.stale_seconds = stale_seconds
        self.key = self.fs.unstrip_protocol(self.root)  # one spelling per place: compares locations

    def path(self, *parts: str) -> str:
        return "/".join((self.root.rstrip("/"), *parts))

    # -- reading -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Directory names directly under the root (not yet validated as entry names).

        Locally, symbolic links are listed too (not followed), so that readers can flag them."""
        if self.local:
            try:
                with os.scandir(self.root) as it:
                    return sorted(d.name for d in it if d.is_symlink() or d.is_dir(follow_symlinks=False))
            except (FileNotFoundError, NotADirectoryError):
                return []
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
        """Whether ``name@version`` has a manifest (locally: any directory entry of that name, so
        that a link in its place is seen, and then refused by :meth:`read`)."""
        path = self.path(name, version_dir(version), MANIFEST)
        return os.path.lexists(path) if self.local else self.fs.isfile(path)

    def guard(self, name: str, version: int | None = None, filename: str | None = None, *,
              missing_ok: bool = False) -> None:
        """Refuse (:class:`UnsafePath`) a link or special file on the way to ``name[/version[/filename]]``."""
        if not self.local:
            return
        parts = [(self.path(name), "dir")]
        if version is not None:
            parts.append((self.path(name, version_dir(version)), "dir"))
            if filename is not None:
                parts.append((self.path(name, version_dir(version), filename), "file"))
        for path, kind in parts:
            if check_plain(path, kind, entry=name, version=version, missing_ok=missing_ok) is None:
                return

    def read(self, name: str, version: int, filename: str, *, limit: int | None = None,
             prefix: int | None = None) -> bytes:
        """The bytes of a version's file (at most ``prefix`` first bytes); refuses links, special files
        and files larger than ``limit`` (:class:`LimitExceeded`) before reading them."""
        path = self.path(name, version_dir(version), filename)
        if not self.local:
            size = self.fs.info(path).get("size")
            if limit is not None and size is not None and size > limit:
                raise _too_big(path, size, limit, name, version)
            return self.fs.cat_file(path, start=0, end=prefix) if prefix is not None else self.fs.cat_file(path)
        self.guard(name, version)
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        except OSError as e:
            if e.errno == errno.ELOOP or os.path.islink(path):
                check_plain(path, "file", entry=name, version=version)
            if isinstance(e, FileNotFoundError):
                raise
            raise storage_error(e, path, "read", entry=name, version=version) from e
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise UnsafePath(f"refused: {path} is {_kind(st.st_mode)}, not a regular file", path=path,
                             entry=name, version=version, hint=f"move {path} out of the library")
        with os.fdopen(fd, "rb") as f:
            if limit is not None and st.st_size > limit:
                raise _too_big(path, st.st_size, limit, name, version)
            n = st.st_size if prefix is None else min(prefix, st.st_size)
            return f.read(n)

    def size(self, name: str, version: int, filename: str) -> int:
        path = self.path(name, version_dir(version), filename)
        if not self.local:
            return int(self.fs.info(path)["size"])
        self.guard(name, version, filename)
        return os.lstat(path).st_size

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, name: str, weights: bytes, manifest: Callable[[int], bytes]) -> int:
        """Store a new version; ``manifest(v)`` gives the manifest bytes for version ``v``. -> v."""
        base = self.path(name)
        tmp = self.path(name, f"{_TMP}{int(time.time())}-{uuid.uuid4().hex}")
        try:
            self.guard(name, missing_ok=True)  # an entry that is a link or a plain file: refused
            self.fs.makedirs(base, exist_ok=True)
            self.guard(name)
            self._clean_stale(name)
            self.fs.makedirs(tmp, exist_ok=True)
            return self._publish(tmp, name, weights, manifest)
        except OSError as e:
            raise storage_error(e, base, f"publish '{name}' to", entry=name) from e
        finally:
            with contextlib.suppress(OSError):
                if self.local:
                    if os.path.isdir(tmp) and not os.path.islink(tmp):
                        shutil.rmtree(tmp)
                elif self.fs.exists(tmp):
                    self.fs.rm(tmp, recursive=True)

    def _publish(self, tmp: str, name: str, weights: bytes, manifest: Callable[[int], bytes]) -> int:
        self._write(f"{tmp}/{WEIGHTS}", weights)
        claim = self._claim_local if self.local else self._claim_remote
        v = max(self.numbers(name), default=0) + 1
        for _ in range(100_000):
            if claim(tmp, name, v, manifest):
                return v
            v = max(max(self.numbers(name), default=0), v) + 1
        raise LibraryError(f"could not claim a version number for '{name}'")

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
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def _clean_stale(self, name: str) -> list[str]:
        """Delete temp dirs of publishers that died more than STALE_SECONDS ago."""
        now = time.time()
        removed = []
        if self.local:
            with contextlib.suppress(OSError), os.scandir(self.path(name)) as it:
                listing = [d.path for d in it if d.name.startswith(_TMP) and d.is_dir(follow_symlinks=False)]
        else:
            listing = self.fs.ls(self.path(name), detail=False)
        for path in listing:
            base = path.rstrip("/").rsplit("/", 1)[-1]
            stamp = base[len(_TMP):].split("-", 1)[0]
            if base.startswith(_TMP) and stamp.isdigit() and now - int(stamp) > self.stale_seconds:
                with contextlib.suppress(OSError):
                    if self.local:
                        shutil.rmtree(path)  # refuses to follow a link
                    else:
                        self.fs.rm(path, recursive=True)
                    removed.append(path)
        return removed

    def clean_stale(self) -> list[str]:
        """Delete every entry's temp dirs left by publishers killed more than ``stale_seconds`` ago."""
        removed = []
        for name in self.names():
            if self.local and (os.path.islink(self.path(name)) or not os.path.isdir(self.path(name))):
                continue
            removed += self._clean_stale(name)
        return removed

    # -- the entry's alias file (pin, deprecations) -----------------------------------------------
    def read_aliases(self, name: str, *, limit: int = 65536) -> bytes | None:
        """The bytes of ``<name>/aliases.json`` or None when there is none (a link: UnsafePath)."""
        path = self.path(name, ALIASES)
        if not self.local:
            return self.fs.cat_file(path) if self.fs.isfile(path) else None
        self.guard(name, missing_ok=True)
        if check_plain(path, "file", entry=name, missing_ok=True) is None:
            return None
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise LimitExceeded(f"refused: {path} has more than {limit} bytes", entry=name)
        return data

    def write_aliases(self, name: str, data: bytes) -> None:
        """Replace ``<name>/aliases.json`` atomically (a temp file in the entry, fsync, rename over)."""
        path = self.path(name, ALIASES)
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        self.guard(name)
        check_plain(path, "file", entry=name, missing_ok=True)  # a link in its place: refused
        tmp = self.path(name, f".aliases-{uuid.uuid4().hex}.part")
        try:
            self._write(tmp, data)
            os.replace(tmp, path)
            _fsync_dir(self.path(name))
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise storage_error(e, path, "write", entry=name) from e

    # -- removing ------------------------------------------------------------------------------
    def remove(self, name: str, version: int) -> None:
        """Hide then delete a version: its manifest is renamed to the tombstone (no free space needed:
        works on a full disk), then the weights are deleted; the number is never reused."""
        vdir = self.path(name, version_dir(version))
        self.guard(name, version, MANIFEST)
        weights = f"{vdir}/{WEIGHTS}"
        if self.local:
            with contextlib.suppress(FileNotFoundError):
                check_plain(weights, "file", entry=name, version=version)  # a link: refused, nothing done
        try:
            if self.local:
                os.rename(f"{vdir}/{MANIFEST}", f"{vdir}/{TOMBSTONE}")  # the version disappears for readers here
                _fsync_dir(vdir)
            else:
                self.fs.mv(f"{vdir}/{MANIFEST}", f"{vdir}/{TOMBSTONE}")
            with contextlib.suppress(FileNotFoundError):
                if self.local:
                    os.unlink(weights)
                else:
                    self.fs.rm_file(weights)
        except FileNotFoundError:
            raise
        except OSError as e:
            raise storage_error(e, vdir, "remove", entry=name, version=version) from e


def _too_big(path: str, size: int, limit: int, name: str, version: int) -> LimitExceeded:
    return LimitExceeded(f"refused: {path} has {size} bytes, more than the limit of {limit}", entry=name,
                         version=version, hint="raise the limit (Library(..., max_weights_bytes=...)) if you "
                                               "trust this file")


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
