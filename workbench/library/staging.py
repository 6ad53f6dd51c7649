"""The staging area: hands a neural function from a kernel to the Jupyter server.

A notebook shows a neural function as a card; dragging that card onto the library panel publishes
it. No kernel object crosses the browser: when the card is rendered, the kernel writes the function
into the staging area (:func:`stage`), and the card carries only the staging *id*. The server's
publish endpoint looks the id up in its own staging area (:class:`StagingArea`), rebuilds the
function with the library's safe loader (an allow-listed architecture constructor + safetensors
weights; never unpickling) and publishes it.

Layout: ``<library location>/.staging/<id>/{draft.json, weights.safetensors}`` by default (the
leading dot keeps it out of the library's entries); ``id`` is a random 32-hex-digit uuid4. A staged
copy can be published once (:meth:`StagingArea.take` claims it atomically) and within its lifetime,
:data:`STAGING_TTL` seconds (``$WORKBENCH_STAGING_TTL`` or ``ttl=``); older copies are refused and
deleted by later calls. Staging the same weights of the same function twice returns the first id.
Reading refuses links and special files and checks sizes and the architecture's parameter count
(on the meta device) before allocating anything.

>>> import tempfile
>>> from workbench import nets
>>> from workbench.core.domains import Domain, TensorType
>>> from workbench.core.neural import NeuralFunction
>>> kw = {"in_shape": [4], "out": 2, "hidden": [3]}
>>> fn = NeuralFunction("bit", nets.build("mlp", **kw), input=TensorType("Vec4", (4,)),
...                     output=Domain("Bit", 2), arch=("mlp", kw))
>>> lib = tempfile.mkdtemp()
>>> info = stage(fn, library=lib)
>>> sorted(info)
['id', 'library', 'name', 'origin', 'signature']
>>> StagingArea(lib).load(info["id"]).function.signature
'Vec4 -> Bit[2]'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .. import nets
from ..core.domains import Domain, TensorType
from ..core.errors import LibraryError
from ..core.neural import NeuralFunction
from ..provenance import provenance_of, training_state
from .errors import IntegrityError, LimitExceeded, PublishError, UnsafePath
from .limits import (
    MAX_HEADER_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_PARAMETERS,
    MAX_WEIGHTS_BYTES,
    check_architecture,
    check_weights_header,
)
from .manifest import check_metrics
from .names import function_name
from .store import check_plain, resolve, storage_error

__all__ = [
    "stage", "StagingArea", "Staged", "StagingError", "InvalidStagingId", "StagedNotFound",
    "STAGING_DIR", "STAGING_TTL",
]

STAGING_DIR = ".staging"
STAGING_TTL = 3600  # seconds a staged copy can be published (override: $WORKBENCH_STAGING_TTL or ttl=)
DRAFT, WEIGHTS = "draft.json", "weights.safetensors"
KIND = "ntpt-staged-function"
_ID = re.compile(r"[0-9a-f]{32}")
_TAKEN = ".taken-"


def default_ttl() -> float:
    """The staging lifetime: ``$WORKBENCH_STAGING_TTL`` seconds when set to a positive number, else STAGING_TTL."""
    with contextlib.suppress(ValueError):
        value = float(os.environ.get("WORKBENCH_STAGING_TTL", ""))
        if math.isfinite(value) and value > 0:
            return value
    return float(STAGING_TTL)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"


def _typed(d: dict[str, Any], key: str, kind: type) -> Any:
    v = d.get(key)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise ValueError(f"'{key}' must be a JSON {kind.__name__}, got {type(v).__name__}")
    return v


class StagingError(LibraryError):
    """A staged function cannot be found or read."""


class InvalidStagingId(StagingError, ValueError):
    """A staging id is malformed (ids are 32 lowercase hex digits; paths are refused)."""


class StagedNotFound(StagingError, KeyError):
    """No staged function with that id (never staged here, or expired and cleaned)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


@dataclass
class Staged:
    """A function read back from the staging area, with its draft manifest's publishing data."""

    id: str
    function: NeuralFunction
    metrics: dict[str, float] = field(default_factory=dict)
    task: str | None = None
    dataset: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    draft: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # how it was trained (workbench.provenance)


def check_id(staging_id: object) -> str:
    """``staging_id`` if it is a well-formed id, else :class:`InvalidStagingId` (paths included)."""
    if isinstance(staging_id, str) and _ID.fullmatch(staging_id):
        return staging_id
    shown = staging_id if isinstance(staging_id, str) and len(staging_id) <= 80 else type(staging_id).__name__
    raise InvalidStagingId(f"invalid staging id {shown!r}",
                           hint="a staging id is the 32 hex digits the kernel returned from stage(); "
                                "paths are not accepted")


class StagingArea:
    """The staging area of library ``location`` (``<location>/.staging``), or ``staging_dir``."""

    def __init__(self, location: str | os.PathLike[str] | None = None, *,
                 staging_dir: str | os.PathLike[str] | None = None, ttl: float | None = None,
                 max_parameters: int = MAX_PARAMETERS, max_weights_bytes: int = MAX_WEIGHTS_BYTES,
                 max_draft_bytes: int = MAX_MANIFEST_BYTES):
        self.library_location: str | None = None  # the library it belongs to (None: an explicit staging_dir)
        if staging_dir is not None:
            self.fs, self.root, self.location = resolve(staging_dir)
        else:
            self.fs, lib_root, self.library_location = resolve(location)
            self.root = f"{lib_root.rstrip('/')}/{STAGING_DIR}"
            self.location = f"{self.library_location.rstrip('/')}/{STAGING_DIR}"
        self.local = isinstance(self.fs, LocalFileSystem)
        self.ttl = default_ttl() if ttl is None else float(ttl)
        self.max_parameters, self.max_weights_bytes = max_parameters, max_weights_bytes
        self.max_draft_bytes = max_draft_bytes

    def path(self, staging_id: str, *parts: str) -> str:
        return "/".join((self.root.rstrip("/"), check_id(staging_id), *parts))

    # -- writing (the kernel's side) -------------------------------------------------------------
    def stage(self, fn: NeuralFunction, *, metrics: Mapping[str, Any] | None = None, task: str | None = None,
              dataset: str | None = None, description: str = "", tags: Iterable[str] = ()) -> dict[str, Any]:
        """Write ``fn`` (weights + draft manifest) and return ``{"id", "name", "signature", "library", "origin"}``."""
        if not isinstance(fn, NeuralFunction):
            raise PublishError(f"only neural functions can be staged, not {type(fn).__name__}")
        arch = getattr(fn, "arch", None)
        if not arch or not isinstance(arch[0], str) or not isinstance(arch[1], Mapping):
            raise PublishError(f"neural function '{fn.name}' has no architecture spec, so it cannot be published",
                               entry=fn.name, hint="pass arch=(constructor, kwargs) to NeuralFunction, "
                                                   "e.g. arch=('mlp', {'out': 10})")
        state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in fn.module.state_dict().items()}
        weights = st_save(state)
        sha = hashlib.sha256(weights).hexdigest()
        run = provenance_of(fn)  # a net trained by fit carries its run (workbench.provenance)
        run["trained"] = run.get("trained") or training_state(fn, sha)
        if metrics is None:
            metrics = getattr(fn, "metrics", None)
        if metrics is None and isinstance(run.get("metrics"), dict):
            metrics = run["metrics"]
        task = run.get("task") if task is None and isinstance(run.get("task"), str) else task
        dataset = run.get("dataset") if dataset is None and isinstance(run.get("dataset"), str) else dataset
        run = {k: v for k, v in run.items() if k not in ("metrics", "task", "dataset") and v is not None}
        if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
            raise PublishError(f"tags of '{fn.name}' must be a list of strings, got {type(tags).__name__}",
                               entry=fn.name, hint="e.g. tags=['mnist']")
        for what, value in (("task", task), ("dataset", dataset)):
            if value is not None and not isinstance(value, str):
                raise PublishError(f"{what} of '{fn.name}' must be a string or None, got {type(value).__name__}",
                                   entry=fn.name)
        draft = {
            "kind": KIND,
            "schema": 1,
            "name": fn.name,
            "signature": {
                "input": {"name": fn.input.name, "shape": list(fn.input.shape)},
                "output": {"name": fn.output.name, "size": fn.output.size,
                           "labels": list(fn.output.labels) if fn.output.labels is not None else None},
                "text": fn.signature,
            },
            "architecture": {"constructor": arch[0], "kwargs": dict(arch[1])},
            "origin": _plain(fn.origin),
            "metrics": dict(check_metrics(metrics, entry=fn.name)),
            "task": task, "dataset": dataset, "description": str(description),
            "tags": [str(t) for t in tags],
            "weights_sha256": sha,
            "run": run,
        }
        try:
            text = json.dumps(draft, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise PublishError(f"the draft manifest of '{fn.name}' is not JSON data: {e}", entry=fn.name,
                               hint="architecture kwargs must be numbers, strings, lists and dicts") from e
        digest = hashlib.sha256(text.encode()).hexdigest()
        try:
            if self.local:
                check_plain(self.root, "dir", missing_ok=True)  # a linked .staging: refused
            self.clean()
            staging_id = self._find(digest) or self._write(text, weights, digest)
        except OSError as e:
            raise storage_error(e, self.root, f"stage '{fn.name}' in") from e
        return {"id": staging_id, "name": fn.name, "signature": fn.signature, "library": self.library_location,
                "origin": _plain(fn.origin)}

    def _write(self, text: str, weights: bytes, digest: str) -> str:
        staging_id = uuid.uuid4().hex
        final = self.path(staging_id)
        tmp = f"{self.root.rstrip('/')}/.tmp-{staging_id}"
        self.fs.makedirs(tmp, exist_ok=True)
        try:
            self.fs.pipe_file(f"{tmp}/{WEIGHTS}", weights)
            self.fs.pipe_file(f"{tmp}/{DRAFT}", text.encode())
            self.fs.pipe_file(f"{tmp}/digest", digest.encode())
            self.fs.mv(tmp, final, recursive=True)  # the id appears complete or not at all
        finally:
            with contextlib.suppress(OSError):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp, recursive=True)
        return staging_id

    def _find(self, digest: str) -> str | None:
        """The id of a staged copy with this exact draft (same weights, same function), if any."""
        for staging_id, _ in self._entries():
            with contextlib.suppress(OSError):
                if self.fs.cat_file(self.path(staging_id, "digest")).decode() == digest:
                    with contextlib.suppress(Exception):
                        self.fs.touch(self.path(staging_id, "digest"), truncate=False)  # keep it fresh
                    return staging_id
        return None

    # -- reading (the server's side) -------------------------------------------------------------
    def load(self, staging_id: str) -> Staged:
        """Rebuild the staged function: allow-listed constructor + safetensors weights (no pickle).

        Bounds come first: the draft's size, the architecture's parameter count (on the meta
        device), the weights' size and safetensors header; links and special files are refused."""
        staging_id = check_id(staging_id)
        return self._load_dir(self.path(staging_id), staging_id)

    @contextlib.contextmanager
    def take(self, staging_id: str) -> Iterator[Staged]:
        """Claim a staged function for publishing: single use. The id's directory is renamed away
        atomically (a second ``take`` of the same id, even concurrent, gets :class:`StagedNotFound`);
        deleted when the ``with`` block succeeds, put back when it raises."""
        staging_id = check_id(staging_id)
        src = self.path(staging_id)
        if self.local:
            try:
                check_plain(self.root, "dir")
            except FileNotFoundError as e:
                raise self._not_found(staging_id) from e
            except UnsafePath as e:
                raise StagingError(str(e.args[0]), hint=e.hint) from e
        claimed = f"{self.root.rstrip('/')}/{_TAKEN}{staging_id}-{uuid.uuid4().hex}"
        try:
            if self.local:
                os.rename(src, claimed)
            else:
                self.fs.mv(src, claimed, recursive=True)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise self._not_found(staging_id, "already published or expired") from e
        except OSError as e:
            raise storage_error(e, src, "claim the staged function") from e
        ok = False
        try:
            yield self._load_dir(claimed, staging_id)
            ok = True
        finally:
            with contextlib.suppress(OSError):
                if ok:
                    self._rm(claimed)
                elif self.local:
                    os.rename(claimed, src)
                else:
                    self.fs.mv(claimed, src, recursive=True)

    def _not_found(self, staging_id: str, why: str = "never staged here, or expired") -> StagedNotFound:
        return StagedNotFound(
            f"no staged function {staging_id} in {self.location} ({why})",
            hint="re-run the cell that displays the function (staged copies expire after "
                 f"{_duration(self.ttl)} and can be published once), and check that the kernel and the "
                 "server use the same library (WORKBENCH_LIBRARY)")

    def _check_dir(self, path: str, staging_id: str) -> None:
        """The staged copy's directory: no link, present, not expired."""
        try:
            if self.local:
                check_plain(self.root, "dir")
                check_plain(path, "dir")
            elif not self.fs.isdir(path):
                raise FileNotFoundError(path)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise self._not_found(staging_id) from e
        except UnsafePath as e:
            raise StagingError(str(e.args[0]), hint=e.hint) from e
        if time.time() - self._mtime(path, staging_id) > self.ttl:
            raise self._not_found(staging_id, f"expired: staged more than {_duration(self.ttl)} ago")

    def _read(self, path: str, limit: int) -> bytes:
        """A file of a staged copy: a regular file (no link, FIFO, device, folder) of at most ``limit`` bytes."""
        if not self.local:
            info = self.fs.info(path)
            if info.get("type") != "file":
                raise StagingError(f"refused: {path} is not a file", hint="re-run the cell that displays the function")
            if (info.get("size") or 0) > limit:
                raise LimitExceeded(f"refused: {path} has {info['size']} bytes, more than the limit of {limit}",
                                    hint="staged functions this large cannot be published from the panel")
            return self.fs.cat_file(path)
        try:
            check_plain(path, "file")
        except UnsafePath as e:
            raise StagingError(str(e.args[0]), hint=e.hint) from e
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise StagingError(f"refused: {path} is not a regular file", hint="re-run the cell")
        with os.fdopen(fd, "rb") as f:
            if st.st_size > limit:
                raise LimitExceeded(f"refused: {path} has {st.st_size} bytes, more than the limit of {limit}",
                                    hint="staged functions this large cannot be published from the panel; "
                                         "publish it from the notebook with Library().publish(...)")
            return f.read(st.st_size)

    def _draft(self, path: str, staging_id: str) -> dict[str, Any]:
        self._check_dir(path, staging_id)
        try:
            raw = self._read(f"{path}/{DRAFT}", self.max_draft_bytes)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise self._not_found(staging_id) from e
        except OSError as e:
            raise storage_error(e, f"{path}/{DRAFT}", "read") from e
        try:
            draft = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise StagingError(f"the staged function {staging_id} is malformed: its draft is not JSON ({e})"[:300],
                               hint="re-run the cell that displays the function") from e
        if not isinstance(draft, dict) or draft.get("kind") != KIND:
            raise StagingError(f"the staged function {staging_id} is malformed: its draft is not a staged function "
                               f"(a JSON {type(draft).__name__})", hint="re-run the cell that displays the function")
        return draft

    def _load_dir(self, path: str, staging_id: str) -> Staged:
        draft = self._draft(path, staging_id)
        try:
            name = _typed(draft, "name", str)
            sig, arch = _typed(draft, "signature", dict), _typed(draft, "architecture", dict)
            sig_in, out = _typed(sig, "input", dict), _typed(sig, "output", dict)
            shape = _typed(sig_in, "shape", list)
            if len(shape) > 16 or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2**31
                                          for d in shape):
                raise ValueError(f"input shape {shape[:16]!r} is not a short list of positive ints")
            input_type = TensorType(_typed(sig_in, "name", str), tuple(shape))
            size = _typed(out, "size", int)
            labels = out.get("labels")
            if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
                raise ValueError("output labels must be a list of strings or null")
            if not 0 < size < 2**31:
                raise ValueError(f"output size {size} is not a positive int")
            output = Domain(_typed(out, "name", str), size, labels)
            constructor, kwargs = _typed(arch, "constructor", str), _typed(arch, "kwargs", dict)
            metrics = draft.get("metrics") or {}
            if not isinstance(metrics, dict):
                raise ValueError(f"'metrics' must be an object, got {type(metrics).__name__}")
            tags = draft.get("tags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValueError(f"'tags' must be a list of strings, got {type(tags).__name__}")
            for key in ("task", "dataset"):
                if draft.get(key) is not None and not isinstance(draft[key], str):
                    raise ValueError(f"'{key}' must be a string or null")
            description = draft.get("description") or ""
            if not isinstance(description, str):
                raise ValueError("'description' must be a string")
            origin = draft.get("origin")
            if origin is not None and not isinstance(origin, dict):
                raise ValueError("'origin' must be an object or null")
            if not isinstance(draft.get("weights_sha256"), str):
                raise ValueError("'weights_sha256' must be a string")
            run = draft.get("run") or {}
            if not isinstance(run, dict):
                raise ValueError("'run' must be an object or null")
        except LibraryError:
            raise
        except Exception as e:
            raise StagingError(f"the staged function {staging_id} is malformed: {type(e).__name__}: {e}"[:400],
                               hint="re-run the cell that displays the function") from e
        metrics = dict(check_metrics(metrics, entry=name))
        try:
            shapes = check_architecture(constructor, kwargs, entry=name, max_parameters=self.max_parameters)
        except IntegrityError as e:
            raise StagingError(f"staged function '{name}' ({staging_id}): {e.args[0]}", hint=e.hint) from e
        try:
            weights = self._read(f"{path}/{WEIGHTS}", self.max_weights_bytes)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise self._not_found(staging_id, "its weights are missing") from e
        except OSError as e:
            raise storage_error(e, f"{path}/{WEIGHTS}", "read") from e
        if hashlib.sha256(weights).hexdigest() != draft["weights_sha256"]:
            raise StagingError(f"the weights of staged function {staging_id} do not match its draft manifest",
                               hint="re-run the cell that displays the function")
        try:
            check_weights_header(weights[:MAX_HEADER_BYTES + 8], len(weights), shapes, entry=name)
        except IntegrityError as e:
            raise StagingError(f"staged function '{name}' ({staging_id}): {e.args[0]}",
                               hint="re-run the cell that displays the function") from e
        try:
            state = st_load(weights)
            with torch.random.fork_rng(devices=[]):
                module = nets.build(constructor, **kwargs)
            dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
            if len(dtypes) == 1:
                module.to(dtypes.pop())
            module.load_state_dict(state, strict=True)
            fn = NeuralFunction(function_name(name), module, input=input_type, output=output,
                                arch=(constructor, kwargs), origin=origin or None)
        except LibraryError:
            raise
        except Exception as e:
            raise StagingError(f"staged function '{name}' ({staging_id}) could not be rebuilt: "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                               hint="re-run the cell that displays the function") from e
        return Staged(id=staging_id, function=fn, metrics=metrics, task=draft.get("task"),
                      dataset=draft.get("dataset"), description=description, tags=tuple(tags), draft=draft,
                      run=run)

    def info(self, staging_id: str) -> dict[str, Any]:
        """The draft manifest of a staged function (no weights read)."""
        staging_id = check_id(staging_id)
        return self._draft(self.path(staging_id), staging_id)

    def ids(self) -> list[str]:
        return sorted(i for i, _ in self._entries())

    def remove(self, staging_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._rm(self.path(staging_id))

    def _rm(self, path: str) -> None:
        if self.local:
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)  # a link itself is removed, never what it points to
            else:
                shutil.rmtree(path)
        else:
            self.fs.rm(path, recursive=True)

    # -- housekeeping ----------------------------------------------------------------------------
    def clean(self, now: float | None = None) -> list[str]:
        """Delete staged copies (and leftovers of killed writers) older than the TTL; -> removed ids."""
        now = time.time() if now is None else now
        removed = []
        try:
            if self.local:
                check_plain(self.root, "dir")
            listing = self.fs.ls(self.root, detail=True)
        except (FileNotFoundError, NotADirectoryError, UnsafePath):
            return removed
        for entry in listing:
            base = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if not (_ID.fullmatch(base) or base.startswith((".tmp-", _TAKEN))):
                continue
            age = now - self._mtime(entry["name"], base)
            if age > self.ttl:
                with contextlib.suppress(OSError):
                    self._rm(entry["name"])
                    removed.append(base)
        return removed

    def _entries(self) -> list[tuple[str, str]]:
        try:
            listing = self.fs.ls(self.root, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [(b, p) for p in listing if _ID.fullmatch(b := p.rstrip("/").rsplit("/", 1)[-1])
                and not (self.local and (os.path.islink(p) or not os.path.isdir(p)))]

    def _mtime(self, path: str, base: str) -> float:
        probe = f"{path.rstrip('/')}/digest" if _ID.fullmatch(base) else path
        for candidate in (probe, path):
            with contextlib.suppress(Exception):
                if self.local:
                    return os.lstat(candidate).st_mtime
                info = self.fs.info(candidate)
                stamp = info.get("mtime") or info.get("created") or info.get("LastModified")
                if hasattr(stamp, "timestamp"):
                    return float(stamp.timestamp())
                if stamp is not None:
                    return float(stamp)
        return time.time()  # unknown age: keep it


def stage(fn: NeuralFunction, *, staging_dir: str | os.PathLike[str] | None = None,
          library: str | os.PathLike[str] | None = None, metrics: Mapping[str, Any] | None = None,
          task: str | None = None, dataset: str | None = None, description: str = "",
          tags: Iterable[str] = ()) -> dict[str, Any]:
    """Write ``fn`` into the staging area and return ``{"id", "name", "signature", "library", "origin"}``.

    The staging area is ``<library>/.staging`` (``library`` defaults to the library's default
    location: ``$WORKBENCH_LIBRARY`` or ``./library``), or ``staging_dir`` when given. Raises
    :class:`~workbench.library.PublishError` when ``fn`` has no architecture spec.
    """
    area = StagingArea(library, staging_dir=staging_dir)
    return area.stage(fn, metrics=metrics, task=task, dataset=dataset, description=description, tags=tags)


def _plain(value: Any) -> Any:
    """JSON-safe copy of an origin dict (drops what JSON cannot hold)."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
