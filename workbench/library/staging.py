"""The staging area: hands a neural function from a kernel to the Jupyter server.

A notebook shows a neural function as a card; dragging that card onto the library panel publishes
it. No kernel object crosses the browser: when the card is rendered, the kernel writes the function
into the staging area (:func:`stage`), and the card carries only the staging *id*. The server's
publish endpoint looks the id up in its own staging area (:class:`StagingArea`), rebuilds the
function with the library's safe loader (an allow-listed architecture constructor + safetensors
weights; never unpickling) and publishes it.

Layout: ``<library location>/.staging/<id>/{draft.json, weights.safetensors}`` by default (the
leading dot keeps it out of the library's entries); ``id`` is a random 32-hex-digit uuid4. Staged
copies older than :data:`STAGING_TTL` are deleted by later calls. Staging the same weights of the
same function twice returns the first id.

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
['id', 'library', 'name', 'signature']
>>> StagingArea(lib).load(info["id"]).function.signature
'Vec4 -> Bit[2]'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .. import nets
from ..core.domains import Domain, TensorType
from ..core.errors import LibraryError
from ..core.neural import NeuralFunction
from .errors import PublishError, UnknownArchitecture
from .manifest import check_metrics
from .names import function_name
from .store import resolve

__all__ = [
    "stage", "StagingArea", "Staged", "StagingError", "InvalidStagingId", "StagedNotFound",
    "STAGING_DIR", "STAGING_TTL",
]

STAGING_DIR = ".staging"
STAGING_TTL = 7 * 24 * 3600  # seconds a staged copy is kept (cards in saved notebooks stay usable a while)
DRAFT, WEIGHTS = "draft.json", "weights.safetensors"
KIND = "ntpt-staged-function"
_ID = re.compile(r"[0-9a-f]{32}")


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
                 staging_dir: str | os.PathLike[str] | None = None, ttl: float = STAGING_TTL):
        self.library_location: str | None = None  # the library it belongs to (None: an explicit staging_dir)
        if staging_dir is not None:
            self.fs, self.root, self.location = resolve(staging_dir)
        else:
            self.fs, lib_root, self.library_location = resolve(location)
            self.root = f"{lib_root.rstrip('/')}/{STAGING_DIR}"
            self.location = f"{self.library_location.rstrip('/')}/{STAGING_DIR}"
        self.ttl = ttl

    def path(self, staging_id: str, *parts: str) -> str:
        return "/".join((self.root.rstrip("/"), check_id(staging_id), *parts))

    # -- writing (the kernel's side) -------------------------------------------------------------
    def stage(self, fn: NeuralFunction, *, metrics: Mapping[str, Any] | None = None, task: str | None = None,
              dataset: str | None = None, description: str = "", tags: Iterable[str] = ()) -> dict[str, Any]:
        """Write ``fn`` (weights + draft manifest) and return ``{"id", "name", "signature", "library"}``."""
        if not isinstance(fn, NeuralFunction):
            raise PublishError(f"only neural functions can be staged, not {type(fn).__name__}")
        arch = getattr(fn, "arch", None)
        if not arch or not isinstance(arch[0], str) or not isinstance(arch[1], Mapping):
            raise PublishError(f"neural function '{fn.name}' has no architecture spec, so it cannot be published",
                               entry=fn.name, hint="pass arch=(constructor, kwargs) to NeuralFunction, "
                                                   "e.g. arch=('mlp', {'out': 10})")
        if metrics is None:
            metrics = getattr(fn, "metrics", None)
        state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in fn.module.state_dict().items()}
        weights = st_save(state)
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
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
        }
        try:
            text = json.dumps(draft, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise PublishError(f"the draft manifest of '{fn.name}' is not JSON data: {e}", entry=fn.name,
                               hint="architecture kwargs must be numbers, strings, lists and dicts") from e
        digest = hashlib.sha256(text.encode()).hexdigest()
        self.clean()
        staging_id = self._find(digest) or self._write(text, weights, digest)
        return {"id": staging_id, "name": fn.name, "signature": fn.signature, "library": self.library_location}

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
        """Rebuild the staged function: allow-listed constructor + safetensors weights (no pickle)."""
        staging_id = check_id(staging_id)
        try:
            raw = self.fs.cat_file(self.path(staging_id, DRAFT))
            weights = self.fs.cat_file(self.path(staging_id, WEIGHTS))
        except (FileNotFoundError, NotADirectoryError) as e:
            raise StagedNotFound(
                f"no staged function {staging_id} in {self.location}",
                hint="re-run the cell that displays the function (staged copies expire after "
                     f"{self.ttl / 86400:g} days), and check that the kernel and the server use the same "
                     "library (WORKBENCH_LIBRARY)") from e
        try:
            draft = json.loads(raw)
            if draft.get("kind") != KIND:
                raise ValueError("not a staged function")
            sig, arch = draft["signature"], draft["architecture"]
            out = sig["output"]
            input_type = TensorType(str(sig["input"]["name"]), tuple(int(s) for s in sig["input"]["shape"]))
            output = Domain(str(out["name"]), int(out["size"]), out.get("labels"))
            constructor, kwargs = str(arch["constructor"]), dict(arch["kwargs"])
            name = str(draft["name"])
        except Exception as e:
            raise StagingError(f"the staged function {staging_id} is malformed: {type(e).__name__}: {e}",
                               hint="re-run the cell that displays the function") from e
        if hashlib.sha256(weights).hexdigest() != draft.get("weights_sha256"):
            raise StagingError(f"the weights of staged function {staging_id} do not match its draft manifest",
                               hint="re-run the cell that displays the function")
        if constructor not in nets.ARCHITECTURES:
            raise UnknownArchitecture(
                f"staged function '{name}' needs architecture constructor '{constructor}', which is not "
                "registered in the Jupyter server", entry=name,
                hint=f"publish it from the notebook with Library().publish(...) instead (registered here: "
                     f"{', '.join(sorted(nets.ARCHITECTURES))})")
        try:
            state = st_load(weights)
            with torch.random.fork_rng(devices=[]):
                module = nets.build(constructor, **kwargs)
            dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
            if len(dtypes) == 1:
                module.to(dtypes.pop())
            module.load_state_dict(state, strict=True)
            fn = NeuralFunction(function_name(name), module, input=input_type, output=output,
                                arch=(constructor, kwargs), origin=draft.get("origin") or None)
        except LibraryError:
            raise
        except Exception as e:
            raise StagingError(f"staged function '{name}' ({staging_id}) could not be rebuilt: "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                               hint="re-run the cell that displays the function") from e
        metrics = draft.get("metrics") or {}
        return Staged(id=staging_id, function=fn, metrics=dict(check_metrics(metrics, entry=name)),
                      task=_opt(draft.get("task")), dataset=_opt(draft.get("dataset")),
                      description=str(draft.get("description") or ""),
                      tags=tuple(str(t) for t in draft.get("tags") or ()), draft=draft)

    def info(self, staging_id: str) -> dict[str, Any]:
        """The draft manifest of a staged function (no weights read)."""
        try:
            return json.loads(self.fs.cat_file(self.path(staging_id, DRAFT)))
        except (FileNotFoundError, NotADirectoryError) as e:
            raise StagedNotFound(f"no staged function {staging_id} in {self.location}",
                                 hint="re-run the cell that displays the function") from e

    def ids(self) -> list[str]:
        return sorted(i for i, _ in self._entries())

    def remove(self, staging_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(staging_id), recursive=True)

    # -- housekeeping ----------------------------------------------------------------------------
    def clean(self, now: float | None = None) -> list[str]:
        """Delete staged copies (and leftovers of killed writers) older than the TTL; -> removed ids."""
        now = time.time() if now is None else now
        removed = []
        try:
            listing = self.fs.ls(self.root, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return removed
        for entry in listing:
            base = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if not (_ID.fullmatch(base) or base.startswith(".tmp-")):
                continue
            age = now - self._mtime(entry["name"], base)
            if age > self.ttl:
                with contextlib.suppress(OSError):
                    self.fs.rm(entry["name"], recursive=True)
                    removed.append(base)
        return removed

    def _entries(self) -> list[tuple[str, str]]:
        try:
            listing = self.fs.ls(self.root, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [(b, p) for p in listing if _ID.fullmatch(b := p.rstrip("/").rsplit("/", 1)[-1])]

    def _mtime(self, path: str, base: str) -> float:
        probe = f"{path.rstrip('/')}/digest" if _ID.fullmatch(base) else path
        for candidate in (probe, path):
            with contextlib.suppress(Exception):
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
    """Write ``fn`` into the staging area and return ``{"id", "name", "signature", "library"}``.

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
