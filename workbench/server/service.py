"""What the server's endpoints do, as plain functions of a library location (no tornado here).

Each function calls the library API and returns JSON-ready data; the handlers in
:mod:`workbench.server.handlers` only parse requests and map errors to HTTP statuses.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Any

from ..core.errors import LibraryError
from ..library import (
    BrokenEntry,
    EntryVersion,
    Library,
    PublishError,
    StagingArea,
    Store,
    check_name,
    check_version,
    function_name,
    parameter_count,
    resolve,
)


def location_of(setting: str | None) -> str:
    """The library location for a server setting (None/empty: the Python API's default)."""
    return resolve(setting or None)[2]


def stamp(location: str) -> str:
    """A cheap change stamp: changes whenever a version is published or removed.

    Versions are immutable, so the set of visible versions per entry describes the library's
    state; computing it lists directories and checks for manifests, without reading any file.
    """
    store = Store(location)
    h = hashlib.sha256()
    for name in store.names():
        if name.startswith("."):
            continue
        try:
            versions = ",".join(map(str, store.visible(name)))
        except OSError as e:  # unreadable entry directory: still a state
            versions = f"!{e.errno}"
        h.update(f"{name}:{versions};".encode())
    return h.hexdigest()[:20]


def load_location(location: str) -> str | None:
    """What to pass to ``Library(...)`` in a kernel started by this server: None when the default
    (``$WORKBENCH_LIBRARY``, inherited by kernels) already points at ``location``."""
    env = os.environ.get("WORKBENCH_LIBRARY")
    return None if env and resolve(env)[2] == location else location


def parameters_of(constructor: str, kwargs: Any) -> int | None:
    """Parameter count of an architecture, counted on the meta device (None: cannot be built here)."""
    return parameter_count(constructor, kwargs)


def version_dict(ev: EntryVersion, aliases: dict[str, Any] | None = None) -> dict[str, Any]:
    data = ev.to_manifest()
    aliases = aliases or {"pinned": None, "deprecated": {}}
    data.update(ref=ev.ref, signature_text=ev.signature, architecture_text=ev.architecture,
                task=ev.task, dataset=ev.dataset, parent=ev.parent, created=ev.created,
                weights_sha256=ev.weights_sha256, run=_plain(ev.run),
                parameters=parameters_of(ev.constructor, ev.kwargs),
                pinned=aliases["pinned"] == ev.version, deprecated=aliases["deprecated"].get(ev.version))
    return data


def list_entries(location: str) -> dict[str, Any]:
    """Every entry: its latest version's summary, provenance and tags, and which tasks use it."""
    lib = Library(location)
    st = stamp(location)
    entries = []
    summaries, broken = lib.scan()
    for summary in summaries:
        row = summary.to_dict()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # broken versions are reported in "broken"
                history = lib.history(summary.name)
        except LibraryError as e:
            history = []
            broken.append(BrokenEntry(summary.name, None, str(e.args[0]) if e.args else str(e)))
        latest = next((ev for ev in reversed(history) if ev.version == summary.latest), None)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                aliases, current = lib.aliases(summary.name), lib.current(summary.name)
        except LibraryError:
            aliases, current = {"pinned": None, "deprecated": {}}, summary.latest
        row.update(
            current=current, pinned=aliases["pinned"],
            deprecated=sorted(aliases["deprecated"]),
            parameters=parameters_of(latest.constructor, latest.kwargs) if latest else None,
            weights_sha256=latest.weights_sha256 if latest else None,
            run=_plain(latest.run) if latest else {},
            variable=function_name(summary.name),
            task=latest.task if latest else None,
            dataset=latest.dataset if latest else None,
            parent=latest.parent if latest else None,
            created=latest.created if latest else None,
            description=latest.description if latest else "",
            tags=list(latest.tags) if latest else [],
            tasks=sorted({ev.task for ev in history if ev.task}),
            architecture=latest.architecture if latest else None,
        )
        entries.append(row)
    return {"location": lib.location, "load_location": load_location(lib.location), "stamp": st,
            "entries": entries, "broken": [b.to_dict() for b in broken]}


def entry_detail(location: str, name: str) -> dict[str, Any]:
    lib = Library(location)
    history = lib.history(check_name(name))
    aliases = lib.aliases(name)
    return {"name": name, "location": lib.location, "variable": function_name(name),
            "current": lib.current(name) if history else None, "pinned": aliases["pinned"],
            "versions": [version_dict(ev, aliases) for ev in history]}


def pin_version(location: str, name: str, version: Any) -> dict[str, Any]:
    """Pin ``name@version`` as what ``Library().load(name)`` returns (``None``: unpin)."""
    name = check_name(name)
    version = None if version is None else check_version(version, entry=name)
    current = Library(location).pin(name, version)
    return {"name": name, "pinned": version, "current": current, "stamp": stamp(location)}


def deprecate_version(location: str, name: str, version: Any, reason: Any = "deprecated",
                      undo: bool = False) -> dict[str, Any]:
    name = check_name(name)
    version = check_version(version, entry=name)
    if not isinstance(reason, str):
        raise PublishError("'reason' must be a string", entry=name)
    lib = Library(location)
    deprecated = lib.deprecate(name, version, reason, undo=bool(undo))
    return {"name": name, "deprecated": {str(k): v for k, v in deprecated.items()},
            "current": lib.current(name), "stamp": stamp(location)}


def publish_staged(location: str, staging_id: str, name: str | None = None, description: str | None = None,
                   tags: Any = None) -> dict[str, Any]:
    """Publish the staged function ``staging_id`` under ``name`` (default: its own name), once: the
    staged copy is claimed atomically and deleted when published (put back when publishing fails)."""
    if name not in (None, ""):
        check_name(name)
    area = StagingArea(location)
    lib = Library(location)
    with area.take(staging_id) as staged:
        target = check_name(name if name not in (None, "") else staged.draft.get("name"))
        ev = lib.publish(staged.function, name=target, metrics=staged.metrics, task=staged.task,
                         dataset=staged.dataset, description=description if description is not None
                         else staged.description, tags=staged.tags if tags is None else tags,
                         run=staged.run or None, allow_duplicate=False)
    area.clean()
    return {"entry": version_dict(ev), "stamp": stamp(location)}


def staged_info(location: str, staging_id: str, name: str | None = None) -> dict[str, Any]:
    """The draft manifest of a staged function, whether its default name is taken, and what publishing
    it as ``name`` (default: its own name) changes against that entry's latest version."""
    draft = StagingArea(location).info(staging_id)
    lib = Library(location)
    own = draft.get("name")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exists = isinstance(own, str) and own in lib.names()
    target = name if name not in (None, "") else own
    return {"id": staging_id, "draft": draft, "exists": exists,
            "preview": preview(lib, draft, target) if isinstance(target, str) else None}


def preview(lib: Library, draft: dict[str, Any], name: str) -> dict[str, Any]:
    """What publishing ``draft`` as ``name`` changes against the entry's latest version, and warnings:
    a never-trained net, an architecture change, identical weights (refused), a new lineage."""
    name = check_name(name)
    arch = draft.get("architecture") or {}
    run = draft.get("run") if isinstance(draft.get("run"), dict) else {}
    new = {"architecture": _arch_text(arch.get("constructor"), arch.get("kwargs") or {}),
           "parameters": parameters_of(str(arch.get("constructor")), arch.get("kwargs") or {}),
           "metrics": draft.get("metrics") or {}, "trained": run.get("trained") or "unknown",
           "task": draft.get("task"), "dataset": draft.get("dataset"),
           "signature": (draft.get("signature") or {}).get("text"), "run": run}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            history = lib.history(name)
        except LibraryError:
            history = []
    latest = history[-1] if history else None
    origin = draft.get("origin") if isinstance(draft.get("origin"), dict) else {}
    same_entry = origin.get("name") == name and origin.get("library") in (None, lib.location)
    parent = origin.get("version") if same_entry and isinstance(origin.get("version"), int) else None
    warnings_: list[dict[str, str]] = []
    duplicate = next((ev.ref for ev in history if ev.weights_sha256 == draft.get("weights_sha256")), None)
    if duplicate:
        warnings_.append({"kind": "duplicate", "message": f"these weights are already {duplicate} (same sha256): "
                          f"publishing is refused; load it with Library().load({name!r}, "
                          f"version={duplicate.split('@')[1]})"})
    if new["trained"] == "untrained":
        warnings_.append({"kind": "untrained", "message": "this net was never trained: its weights are the "
                          "random ones it was built with"})
    elif new["trained"] == "unchanged":
        warnings_.append({"kind": "unchanged", "message": "this net has not changed since it was loaded "
                          "from the library"})
    old = None
    if latest is not None:
        old = {"ref": latest.ref, "version": latest.version, "architecture": latest.architecture,
               "parameters": parameters_of(latest.constructor, latest.kwargs), "metrics": dict(latest.metrics),
               "trained": (latest.run or {}).get("trained"), "task": latest.task, "signature": latest.signature}
        if old["architecture"] != new["architecture"]:
            warnings_.append({"kind": "architecture", "message": f"the architecture changes: {old['architecture']} "
                              f"-> {new['architecture']}; code that loads '{name}' gets a different net"})
        if old["signature"] != new["signature"]:
            warnings_.append({"kind": "signature", "message": f"the signature changes: {old['signature']} -> "
                              f"{new['signature']}"})
        if parent is None:
            warnings_.append({"kind": "lineage", "message": f"not derived from any version of '{name}': it "
                              f"starts a new lineage on top of {latest.ref}"})
    return {"name": name, "version": (latest.version + 1) if latest else 1, "new": new, "latest": old,
            "parent": parent, "duplicate": duplicate, "warnings": warnings_}


def _arch_text(constructor: Any, kwargs: dict[str, Any]) -> str:
    return f"{constructor}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def remove_version(location: str, name: str, version: Any) -> dict[str, Any]:
    name = check_name(name)
    version = check_version(version, entry=name)
    Library(location).remove(name, version)
    return {"removed": f"{name}@{version}", "stamp": stamp(location)}


def _plain(value: Any) -> Any:
    """A manifest's frozen mapping as plain JSON data."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
