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
    StagingArea,
    Store,
    check_name,
    check_version,
    function_name,
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


def version_dict(ev: EntryVersion) -> dict[str, Any]:
    data = ev.to_manifest()
    data.update(ref=ev.ref, signature_text=ev.signature, architecture_text=ev.architecture,
                task=ev.task, parent=ev.parent, created=ev.created)
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
        row.update(
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
    return {"name": name, "location": lib.location, "variable": function_name(name),
            "versions": [version_dict(ev) for ev in history]}


def publish_staged(location: str, staging_id: str, name: str | None = None) -> dict[str, Any]:
    """Publish the staged function ``staging_id`` under ``name`` (default: its own name), once: the
    staged copy is claimed atomically and deleted when published (put back when publishing fails)."""
    if name not in (None, ""):
        check_name(name)
    area = StagingArea(location)
    lib = Library(location)
    with area.take(staging_id) as staged:
        target = check_name(name if name not in (None, "") else staged.draft.get("name"))
        ev = lib.publish(staged.function, name=target, metrics=staged.metrics, task=staged.task,
                         dataset=staged.dataset, description=staged.description, tags=staged.tags)
    area.clean()
    return {"entry": version_dict(ev), "stamp": stamp(location)}


def staged_info(location: str, staging_id: str) -> dict[str, Any]:
    """The draft manifest of a staged function, plus whether its default name is taken."""
    draft = StagingArea(location).info(staging_id)
    lib = Library(location)
    name = draft.get("name")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exists = isinstance(name, str) and name in lib.names()
    return {"id": staging_id, "draft": draft, "exists": exists}


def remove_version(location: str, name: str, version: Any) -> dict[str, Any]:
    name = check_name(name)
    version = check_version(version, entry=name)
    Library(location).remove(name, version)
    return {"removed": f"{name}@{version}", "stamp": stamp(location)}
