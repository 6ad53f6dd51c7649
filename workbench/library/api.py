"""The :class:`Library`: publish, load, list, inspect and remove neural functions."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import html
import json
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .. import nets
from ..core.errors import LibraryError, WorkbenchError
from ..core.neural import NeuralFunction
from ..provenance import note_stored, provenance_of, run_provenance, training_state
from .errors import (
    DuplicateWeights,
    EntryNotFound,
    IntegrityError,
    PublishError,
    StorageError,
    UnknownArchitecture,
    VersionNotFound,
)
from .limits import (
    MAX_MANIFEST_BYTES,
    MAX_PARAMETERS,
    MAX_WEIGHTS_BYTES,
    check_architecture,
    check_weights_header,
)
from .manifest import BrokenEntry, EntrySummary, EntryVersion, _freeze, _thaw, check_metrics, format_metrics
from .names import check_name, check_version, function_name
from .store import MANIFEST, STALE_SECONDS, WEIGHTS, Store, resolve


class Library:
    """A library of neural functions at a local path (default ``$WORKBENCH_LIBRARY`` or ``./library``)
    or any fsspec URL (``memory://lib``, ``file:///shared/lib``, ...). See :mod:`.store` for the
    atomicity guarantee of each backend.

    Limits checked before anything is allocated (see :mod:`.limits`): ``max_parameters`` of an
    architecture (counted on the meta device), ``max_weights_bytes`` of a weights file,
    ``max_manifest_bytes`` of a manifest; ``stale_seconds``: age after which temp directories of
    killed publishers are deleted."""

    def __init__(self, location: str | os.PathLike[str] | None = None, *, max_parameters: int = MAX_PARAMETERS,
                 max_weights_bytes: int = MAX_WEIGHTS_BYTES, max_manifest_bytes: int = MAX_MANIFEST_BYTES,
                 stale_seconds: float = STALE_SECONDS):
        try:
            self._store = Store(location, stale_seconds=stale_seconds)
        except (ValueError, ImportError, TypeError) as e:  # unknown fsspec protocol, missing backend, ...
            raise StorageError(f"cannot open library location {str(location)[:200]!r}: {type(e).__name__}: {e}",
                               hint="use a local path or an fsspec URL whose protocol is installed "
                                    "(e.g. file:///path, memory://name)") from e
        self.location = self._store.location
        self.max_parameters, self.max_weights_bytes = max_parameters, max_weights_bytes
        self.max_manifest_bytes = max_manifest_bytes

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, fn: NeuralFunction, *, name: str | None = None, metrics: Mapping[str, Any] | None = None,
                task: str | None = None, dataset: str | None = None, description: str = "",
                tags: Iterable[str] = (), run: Any = None, allow_duplicate: bool = True) -> EntryVersion:
        """Store ``fn`` as a new version (1 + the highest so far) of entry ``name`` (default ``fn.name``).

        The parent version is recorded when ``fn`` was loaded from (or published to) this entry;
        afterwards ``fn.origin`` points at the new version.

        Provenance comes by default: a function trained by ``fit`` carries its run (task, data set,
        training config, steps, seconds, its restart's held-out metrics; see :mod:`workbench.provenance`),
        used for ``task``, ``dataset`` and ``metrics`` when they are not given. ``run`` overrides it: a
        ``FitResult`` (its best restart) or a mapping (``source``, ``config``, ``steps``, ``seconds``, ...).
        Whether the net was ever trained is recorded as ``run["trained"]``.

        With ``allow_duplicate=False`` (what the server and the panel use), weights identical (same
        sha256) to a version of the entry are refused with :class:`DuplicateWeights` naming that
        version. The default stays ``True`` so that scripts which publish a loaded function again (to
        record a new parent/metrics) keep working; :meth:`duplicate_of` checks beforehand.
        """
        if not isinstance(fn, NeuralFunction):
            raise PublishError(f"only neural functions can be published, not {type(fn).__name__}",
                               hint="wrap the module: NeuralFunction(name, module, input=..., output=..., arch=...)")
        name = check_name(fn.name if name is None else name)
        tags = _check_tags(tags, name)
        constructor, kwargs = self._check_arch(fn, name)
        state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in fn.module.state_dict().items()}
        _check_rebuild(constructor, kwargs, state, name)
        weights = st_save(state)
        sha = hashlib.sha256(weights).hexdigest()
        prov = _run_of(run, fn, name)
        if not prov.get("trained"):
            prov["trained"] = training_state(fn, sha)
        if metrics is None and isinstance(prov.get("metrics"), Mapping):
            metrics = prov["metrics"]
        task = prov.get("task") if task is None and isinstance(prov.get("task"), str) else task
        dataset = prov.get("dataset") if dataset is None and isinstance(prov.get("dataset"), str) else dataset
        run_record = {k: v for k, v in prov.items() if k not in ("metrics", "task", "dataset") and v is not None}
        if not allow_duplicate:
            self._refuse_duplicate(name, sha)
        draft = EntryVersion(
            name=name, version=1, input=fn.input, output=fn.output, constructor=constructor,
            kwargs=_freeze(kwargs), metrics=check_metrics(metrics, entry=name),
            task=_opt_text(task, "task", name), dataset=_opt_text(dataset, "dataset", name),
            parent=self._parent_of(fn, name), created="", weights_sha256=sha,
            description=str(description), tags=tags, location=self.location, run=_freeze(run_record),
        )
        draft.to_json()  # fail early (before writing anything) on non-JSON data
        stamped: dict[int, EntryVersion] = {}

        def manifest(version: int) -> bytes:
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            stamped[version] = ev = replace(draft, version=version, created=created)
            return ev.to_json()

        version = self._store.publish(name, weights, manifest)
        fn.origin = {"library": self.location, "name": name, "version": version}
        note_stored(fn.module, sha)
        return stamped[version]

    def duplicate_of(self, name: str, sha256: str) -> EntryVersion | None:
        """The version of ``name`` whose weights have this sha256, if any (None: no such entry/version)."""
        name = check_name(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                history = self.history(name)
        except EntryNotFound:
            return None
        return next((ev for ev in history if ev.weights_sha256 == sha256), None)

    def _refuse_duplicate(self, name: str, sha: str) -> None:
        same = self.duplicate_of(name, sha)
        if same is not None:
            raise DuplicateWeights(
                f"'{name}' already has these weights as {same.ref} (same sha256 {sha[:12]}...): nothing to publish",
                existing=same.ref, entry=name, version=same.version,
                hint=f"use the existing version: Library().load({name!r}, version={same.version}); "
                     "train the function further before publishing it again")

    def _check_arch(self, fn: NeuralFunction, name: str) -> tuple[str, dict[str, Any]]:
        arch = getattr(fn, "arch", None)
        if not arch or not isinstance(arch[0], str) or not isinstance(arch[1], Mapping):
            raise PublishError(
                f"neural function '{fn.name}' has no architecture spec, so '{name}' could not be rebuilt",
                entry=name, hint="build it with workbench.nets.build(...) and pass arch=(constructor, kwargs) "
                                 "to NeuralFunction, e.g. arch=('mlp', {'out': 10})")
        try:
            kwargs = json.loads(json.dumps(dict(arch[1]), allow_nan=False))
        except (TypeError, ValueError) as e:
            raise PublishError(f"architecture kwargs of '{name}' are not JSON data: {e}", entry=name,
                               hint="use numbers, strings, lists and dicts only") from e
        return arch[0], kwargs

    def _parent_of(self, fn: NeuralFunction, name: str) -> int | None:
        origin = fn.origin or {}
        if origin.get("name") != name or not isinstance(origin.get("version"), int):
            return None
        try:
            same = resolve(origin.get("library"))
            same_key = same[0].unstrip_protocol(same[1]) == self._store.key
        except Exception:  # an origin we cannot even parse is not this library
            return None
        return origin["version"] if same_key else None

    # -- reading -------------------------------------------------------------------------------
    def load(self, name: str, version: int | None = None) -> NeuralFunction:
        """The neural function of ``name@version``, ready to call and to train. Default: the entry's
        current version (:meth:`current`: the pinned one, else the latest not deprecated)."""
        ev = self.info(name, version)
        # bounds first: architecture on the meta device, then the weights' header and size
        shapes = check_architecture(ev.constructor, _thaw(ev.kwargs), entry=ev.name, version=ev.version,
                                    max_parameters=self.max_parameters)
        try:
            head = self._store.read(ev.name, ev.version, WEIGHTS, limit=self.max_weights_bytes, prefix=65536)
            size = self._store.size(ev.name, ev.version, WEIGHTS)
            if len(head) >= 8 and int.from_bytes(head[:8], "little") + 8 > len(head):  # a long header
                head = self._store.read(ev.name, ev.version, WEIGHTS, limit=self.max_weights_bytes,
                                        prefix=min(size, 8 + int.from_bytes(head[:8], "little")))
            check_weights_header(head, size, shapes, entry=ev.name, version=ev.version)
            weights = self._store.read(ev.name, ev.version, WEIGHTS, limit=self.max_weights_bytes)
        except FileNotFoundError as e:
            raise VersionNotFound(f"the weights of '{ev.ref}' are gone (removed meanwhile?)",
                                  entry=ev.name, version=ev.version, hint=self._versions_hint(ev.name)) from e
        except OSError as e:
            raise StorageError(f"the weights of '{ev.ref}' cannot be read: {e}", entry=ev.name, version=ev.version,
                               errno=e.errno, hint="check the library's storage") from e
        if hashlib.sha256(weights).hexdigest() != ev.weights_sha256:
            raise IntegrityError(
                f"the weights of library entry '{ev.ref}' do not match the sha256 in its manifest "
                f"(in {self.location})", entry=ev.name, version=ev.version,
                hint="the file was modified or corrupted; remove this version and publish it again")
        try:
            state = st_load(weights)
        except Exception as e:
            raise IntegrityError(f"the weights of library entry '{ev.ref}' are not a safetensors file: {e}",
                                 entry=ev.name, version=ev.version, hint="remove this version") from e
        module = _rebuild(ev)
        _load_state(module, state, ev)
        origin = {"library": self.location, "name": ev.name, "version": ev.version}
        note_stored(module, ev.weights_sha256)
        try:
            return NeuralFunction(function_name(ev.name), module, input=ev.input, output=ev.output,
                                  arch=(ev.constructor, _thaw(ev.kwargs)), origin=origin)
        except WorkbenchError as e:  # the manifest's signature does not fit its architecture
            raise IntegrityError(f"the signature {ev.signature} in the manifest of '{ev.ref}' does not fit its "
                                 f"architecture {ev.architecture}: {e.args[0] if e.args else e}", entry=ev.name,
                                 version=ev.version, hint="the manifest was edited; remove this version") from e

    def info(self, name: str, version: int | None = None) -> EntryVersion:
        """The manifest of ``name@version`` (default: the current version, see :meth:`current`)."""
        name = check_name(name)
        if version is None:
            version = self.current(name)
        version = check_version(version, entry=name)
        if not self._store.has_manifest(name, version):
            versions = self._visible(name)  # EntryNotFound if there is no such entry at all
            raise VersionNotFound(f"library entry '{name}' has no version {version}", entry=name,
                                  version=version, hint=self._versions_hint(name, versions))
        return self._manifest(name, version)

    # -- versions: pin, deprecate -----------------------------------------------------------------
    def aliases(self, name: str) -> dict[str, Any]:
        """``{"pinned": version or None, "deprecated": {version: reason}}`` of entry ``name`` (its
        ``aliases.json``; a malformed one counts as empty, with a warning)."""
        name = check_name(name)
        try:
            raw = self._store.read_aliases(name)
        except OSError as e:
            raise StorageError(f"the aliases of '{name}' cannot be read: {e}", entry=name, errno=e.errno) from e
        out: dict[str, Any] = {"pinned": None, "deprecated": {}}
        if raw is None:
            return out
        try:
            data = json.loads(raw)
            pinned = data.get("pinned")
            if pinned is not None:
                out["pinned"] = check_version(pinned, entry=name)
            out["deprecated"] = {check_version(int(k), entry=name): str(v)
                                 for k, v in dict(data.get("deprecated") or {}).items()}
        except (ValueError, TypeError, AttributeError, LibraryError) as e:
            warnings.warn(f"the aliases file of library entry '{name}' is malformed and ignored: {e}", stacklevel=2)
            return {"pinned": None, "deprecated": {}}
        return out

    def _write_aliases(self, name: str, aliases: dict[str, Any]) -> None:
        data = {"pinned": aliases["pinned"], "deprecated": {str(k): v for k, v in sorted(aliases["deprecated"].items())}}
        self._store.write_aliases(name, json.dumps(data, indent=2).encode())

    def current(self, name: str) -> int:
        """The version ``load(name)`` returns: the pinned one (if still there), else the latest that is
        not deprecated, else the latest."""
        name = check_name(name)
        versions = self._visible(name)
        aliases = self.aliases(name)
        if aliases["pinned"] in versions:
            return aliases["pinned"]
        fresh = [v for v in versions if v not in aliases["deprecated"]]
        return (fresh or versions)[-1]

    def pin(self, name: str, version: int | None) -> int:
        """Make ``name@version`` the one ``load(name)`` returns (``None``: unpin, back to the latest).
        The entry's alias file is replaced atomically. -> the current version afterwards."""
        name = check_name(name)
        aliases = self.aliases(name)
        if version is not None:
            version = self.info(name, check_version(version, entry=name)).version  # must exist
        aliases["pinned"] = version
        self._write_aliases(name, aliases)
        return self.current(name)

    def deprecate(self, name: str, version: int, reason: str = "deprecated", *, undo: bool = False) -> dict[int, str]:
        """Mark ``name@version`` deprecated (``load(name)`` skips it unless pinned; it still loads by
        number), or ``undo`` that. -> the deprecated versions with their reasons."""
        name = check_name(name)
        version = self.info(name, check_version(version, entry=name)).version
        if not isinstance(reason, str) or len(reason) > 500:
            raise PublishError("a deprecation reason must be a string of at most 500 characters", entry=name)
        aliases = self.aliases(name)
        if undo:
            aliases["deprecated"].pop(version, None)
        else:
            aliases["deprecated"][version] = reason or "deprecated"
        self._write_aliases(name, aliases)
        return dict(aliases["deprecated"])

    def history(self, name: str) -> list[EntryVersion]:
        """Every visible version of ``name``, oldest first (malformed manifests are skipped, with a warning)."""
        name = check_name(name)
        self._store.guard(name, missing_ok=True)  # a linked entry or a plain file: UnsafePath
        return [ev for v in self._visible(name) if (ev := self._manifest(name, v, warn=True)) is not None]

    def list(self) -> list[EntrySummary]:
        """One summary per entry with at least one readable version, by name (problems: a warning each;
        :meth:`scan` returns them)."""
        entries, broken = self.scan()
        for b in broken:
            warnings.warn(f"library entry '{b.name}' skipped: {b.problem}", stacklevel=2)
        return entries

    def scan(self) -> tuple[list[EntrySummary], list[BrokenEntry]]:
        """``(summaries, broken)``: every readable entry, and every entry or version that could not be
        read (a link, a malformed manifest, ...) with the reason. One broken entry never hides the others."""
        out, broken = [], []
        for name in self._store.names():
            try:
                check_name(name)
            except LibraryError:
                continue  # not an entry: temp and staging dirs, stray files
            try:
                self._store.guard(name)
                versions = self._store.visible(name)
                found = None
                for v in reversed(versions):  # latest readable manifest
                    try:
                        found = self._manifest(name, v)
                        break
                    except VersionNotFound:
                        continue
                    except LibraryError as e:
                        broken.append(BrokenEntry(name, v, _one_line(e)))
                if found is not None:
                    out.append(EntrySummary(found.name, found.version, len(versions), found.signature, found.metrics))
            except (LibraryError, OSError) as e:
                broken.append(BrokenEntry(name, None, _one_line(e)))
        return out, broken

    def clean_stale(self) -> list[str]:
        """Delete temp directories of publishers killed more than ``stale_seconds`` ago; -> their paths."""
        return self._store.clean_stale()

    def names(self) -> list[str]:
        return [s.name for s in self.list()]

    def remove(self, name: str, version: int) -> None:
        """Remove one version; its number is never reused."""
        ev = self.info(name, check_version(version, entry=check_name(name)))
        try:
            self._store.remove(ev.name, ev.version)
        except FileNotFoundError as e:
            raise VersionNotFound(f"'{ev.ref}' was removed meanwhile", entry=ev.name, version=ev.version) from e

    # -- helpers -------------------------------------------------------------------------------
    def _names(self) -> list[str]:
        out = []
        for n in self._store.names():
            with contextlib.suppress(LibraryError):
                out.append(check_name(n))
        return out

    def _visible(self, name: str) -> list[int]:
        versions = self._store.visible(name)
        if not versions:
            names = self._names()
            close = difflib.get_close_matches(name, names, n=3)
            hint = (f"did you mean {', '.join(map(repr, close))}? " if close else "") + (
                f"entries: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}" if names
                else "the library is empty; publish a function first")
            raise EntryNotFound(f"no entry '{name}' in library {self.location}", entry=name, hint=hint)
        return versions

    def _versions_hint(self, name: str, versions: list[int] | None = None) -> str:
        versions = self._store.visible(name) if versions is None else versions
        return f"versions of '{name}': {', '.join(map(str, versions)) or 'none'}"

    def _manifest(self, name: str, version: int, *, warn: bool = False) -> EntryVersion | None:
        try:
            try:
                data = self._store.read(name, version, MANIFEST, limit=self.max_manifest_bytes)
            except FileNotFoundError as e:
                raise VersionNotFound(f"'{name}@{version}' was removed meanwhile", entry=name,
                                      version=version, hint=self._versions_hint(name)) from e
            except OSError as e:
                raise StorageError(f"the manifest of '{name}@{version}' cannot be read: {e}", entry=name,
                                   version=version, errno=e.errno, hint="check the library's storage") from e
            return EntryVersion.from_manifest(data, name=name, version=version, location=self.location)
        except LibraryError as e:
            if not warn:
                raise
            if not isinstance(e, VersionNotFound):
                warnings.warn(str(e), stacklevel=3)
            return None

    def __repr__(self) -> str:
        try:
            entries = self.list()
        except Exception as e:
            return f"Library({self.location!r}) <unreadable: {e}>"
        head = f"Library({self.location!r}): {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        return "\n".join([head] + [f"  {s.name}@{s.latest} ({s.versions} version(s)) {s.signature}"
                                   + (f"  {format_metrics(s.metrics)}" if s.metrics else "") for s in entries])

    def _repr_html_(self) -> str:
        cells = ("name", "latest", "versions", "signature", "metrics")
        rows = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in (
            s.name, s.latest, s.versions, s.signature, format_metrics(s.metrics))) + "</tr>" for s in self.list())
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in cells)
        return (f"<table><caption style='text-align:left'>Library <code>{html.escape(self.location)}</code>"
                f"</caption><tr>{head}</tr>{rows}</table>")


def _rebuild(ev: EntryVersion) -> torch.nn.Module:
    if ev.constructor not in nets.ARCHITECTURES:
        raise UnknownArchitecture(
            f"library entry '{ev.ref}' needs architecture constructor '{ev.constructor}', which is not "
            "registered in this process", entry=ev.name, version=ev.version,
            hint=f"call workbench.nets.register_architecture('{ev.constructor}', ctor) before loading "
                 f"(registered: {', '.join(sorted(nets.ARCHITECTURES))})")
    try:
        with torch.random.fork_rng(devices=[]):  # building must not move the caller's random stream
            return nets.build(ev.constructor, **_thaw(ev.kwargs))
    except Exception as e:  # kwargs the constructor rejects (checked on meta before; kept as a guard)
        raise IntegrityError(f"architecture {ev.architecture} of '{ev.ref}' cannot be built: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}", entry=ev.name, version=ev.version,
                             hint="the manifest may have been edited; remove this version") from e


def _load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], ev: EntryVersion) -> None:
    dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
    if len(dtypes) == 1:
        module.to(dtypes.pop())  # keep the published precision (load_state_dict would cast)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise IntegrityError(
            f"the weights of '{ev.ref}' do not fit architecture {ev.architecture} as registered in this "
            f"process: {str(e).splitlines()[0]}", entry=ev.name, version=ev.version,
            hint=f"register the constructor '{ev.constructor}' that was used when publishing") from e


def _check_rebuild(constructor: str, kwargs: dict[str, Any], state: dict[str, torch.Tensor], name: str) -> None:
    """Refuse to publish weights that the recorded architecture could not load back."""
    if constructor not in nets.ARCHITECTURES:
        raise UnknownArchitecture(f"'{name}' uses architecture constructor '{constructor}', which is not "
                                  "registered", entry=name,
                                  hint=f"call workbench.nets.register_architecture('{constructor}', ctor) first")
    try:
        shapes = check_architecture(constructor, kwargs, entry=name, max_parameters=2**62)
    except LibraryError as e:
        raise PublishError(str(e.args[0]) if e.args else str(e), entry=name, hint=e.hint) from e
    if shapes != {k: tuple(v.shape) for k, v in state.items()}:
        raise PublishError(f"the module of '{name}' does not match its architecture spec {constructor}({kwargs})",
                           entry=name, hint="pass the same arch=(constructor, kwargs) the module was built with")


def _check_tags(tags: Any, name: str) -> tuple[str, ...]:
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable) or isinstance(tags, Mapping):
        raise PublishError(f"tags of '{name}' must be a list of strings, got {type(tags).__name__}", entry=name,
                           hint="e.g. tags=['mnist', 'digits']")
    tags = tuple(tags)
    if not all(isinstance(t, str) for t in tags):
        raise PublishError(f"tags of '{name}' must be strings, got {[type(t).__name__ for t in tags][:5]}",
                           entry=name, hint="e.g. tags=['mnist', 'digits']")
    return tags


def _run_of(run: Any, fn: NeuralFunction, name: str) -> dict[str, Any]:
    """The run provenance to record: ``run`` (a FitResult or a mapping), else what ``fn`` carries."""
    if run is None:
        return provenance_of(fn)
    if hasattr(run, "restarts") and hasattr(run, "config"):  # a FitResult: its best restart
        restart = next((r for r in run.restarts if any(nf is fn for nf in r.neural.values())), run.best)
        return run_provenance(run, restart)
    if not isinstance(run, Mapping):
        raise PublishError(f"run of '{name}' must be a FitResult or a mapping, got {type(run).__name__}", entry=name)
    try:
        return json.loads(json.dumps(dict(run), allow_nan=False, default=str))
    except (TypeError, ValueError) as e:
        raise PublishError(f"run of '{name}' is not JSON data: {e}", entry=name) from e


def _one_line(e: BaseException) -> str:
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__


def _opt_text(value: Any, what: str, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise PublishError(f"{what} of '{name}' must be a string or None, got {value!r}", entry=name)
    return value

