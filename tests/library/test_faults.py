"""Faults and hostile files: links, special files, huge manifests, a full disk, replayed staging ids.

Every refusal is a LibraryError naming the path or entry, with a hint; nothing outside the library
root is written, read or deleted; one broken entry never breaks a listing.
"""

from __future__ import annotations

import errno
import json
import math
import os
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from workbench.cli import main
from workbench.core.errors import LibraryError
from workbench.library import (
    IntegrityError,
    Library,
    LimitExceeded,
    PublishError,
    StorageError,
    UnsafePath,
    VersionNotFound,
)
from workbench.library.staging import StagedNotFound, StagingArea, StagingError, stage
from workbench.library.store import STALE_SECONDS


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (links not followed) -> file bytes (None for dirs and links)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out


@pytest.fixture
def outside(tmp_path) -> Path:
    """A directory outside the library with a file in it: must never change."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("keep me")
    return d


def _vdir(lib: Library, name: str, v: int) -> Path:
    return Path(lib.location) / name / f"{v:06d}"


# --------------------------------------------------------------------------- links and special files

def test_a_linked_entry_folder_is_refused_for_publish_load_and_rm(lib, tiny, outside):
    lib.publish(tiny("ok"))
    os.symlink(outside, Path(lib.location) / "digit")
    before = _tree(outside)
    with pytest.raises(UnsafePath, match="symbolic link") as e:
        lib.publish(tiny("digit"))
    assert e.value.path == str(Path(lib.location) / "digit") and "never follows" in e.value.hint
    assert _tree(outside) == before  # nothing written through the link


def test_a_linked_version_folder_is_refused_and_rm_deletes_nothing_outside(lib, tiny, outside):
    lib.publish(tiny(seed=1))
    lib.publish(tiny(seed=2))
    v2 = _vdir(lib, "digit", 2)
    # an attacker swaps version 2 for a link to a folder that looks like a version
    for f in v2.iterdir():
        (outside / f.name).write_bytes(f.read_bytes())
        f.unlink()
    v2.rmdir()
    os.symlink(outside, v2)
    before = _tree(outside)
    for call in (lambda: lib.info("digit", 2), lambda: lib.load("digit", 2), lambda: lib.remove("digit", 2)):
        with pytest.raises(UnsafePath, match=str(v2)):
            call()
    assert _tree(outside) == before  # rm did not delete or write the tombstone through the link
    entries, broken = lib.scan()
    assert [(s.name, s.latest) for s in entries] == [("digit", 1)]  # the readable version is still listed
    assert [(b.name, b.version) for b in broken] == [("digit", 2)] and "symbolic link" in broken[0].problem


@pytest.mark.parametrize("which", ["manifest.json", "weights.safetensors"])
def test_linked_manifest_or_weights_are_refused(lib, tiny, outside, which):
    lib.publish(tiny())
    target = _vdir(lib, "digit", 1) / which
    (outside / which).write_bytes(target.read_bytes())
    target.unlink()
    os.symlink(outside / which, target)
    with pytest.raises(UnsafePath, match=which) as e:
        lib.load("digit")
    assert e.value.entry == "digit" and e.value.version == 1


def test_weights_linked_to_dev_zero_are_refused_without_reading(lib, tiny):
    lib.publish(tiny())
    w = _vdir(lib, "digit", 1) / "weights.safetensors"
    w.unlink()
    os.symlink("/dev/zero", w)
    t0 = time.perf_counter()
    with pytest.raises(UnsafePath, match="symbolic link"):
        lib.load("digit")
    assert time.perf_counter() - t0 < 5


def test_a_fifo_as_weights_never_hangs_and_a_folder_as_weights_is_refused(lib, tiny):
    lib.publish(tiny(seed=1))
    lib.publish(tiny(seed=2))
    w1, w2 = _vdir(lib, "digit", 1) / "weights.safetensors", _vdir(lib, "digit", 2) / "weights.safetensors"
    w1.unlink()
    os.mkfifo(w1)
    w2.unlink()
    w2.mkdir()
    with pytest.raises(UnsafePath, match="a FIFO, not a regular file"):
        lib.load("digit", 1)
    with pytest.raises(UnsafePath, match="a directory, not a regular file"):
        lib.load("digit", 2)


def test_a_name_that_exists_as_a_plain_file_is_refused(lib, tiny):
    lib.publish(tiny("ok"))
    (Path(lib.location) / "digit").write_text("not a folder")
    with pytest.raises(UnsafePath, match="a regular file, not a directory"):
        lib.publish(tiny("digit"))
    assert (Path(lib.location) / "digit").read_text() == "not a folder"


# --------------------------------------------------------------------------- bounds before allocating

def _edit_manifest(lib: Library, name: str, v: int, edit) -> None:
    path = _vdir(lib, name, v) / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


def test_a_huge_architecture_is_refused_before_allocating(lib, tiny):
    lib.publish(tiny())
    _edit_manifest(lib, "digit", 1, lambda m: m["architecture"]["kwargs"].update(hidden=[200000, 200000]))
    t0 = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"40,\d{3},\d{3},\d{3} parameters") as e:  # 160 GB as float32
        lib.load("digit")
    assert time.perf_counter() - t0 < 5 and "max_parameters" in e.value.hint


@pytest.mark.parametrize("kwargs, needle", [({"bogus": 1}, "TypeError"), ({"out": -1}, "RuntimeError"),
                                            ({"hidden": "wide"}, "TypeError"), ({"hidden": [1] * 5000}, "items")])
def test_bad_architecture_kwargs_are_library_errors(lib, tiny, kwargs, needle):
    lib.publish(tiny())
    _edit_manifest(lib, "digit", 1, lambda m: m["architecture"]["kwargs"].update(kwargs))
    with pytest.raises(LibraryError, match=needle) as e:
        lib.load("digit")
    assert e.value.hint


def test_weights_whose_size_disagrees_with_their_header_are_refused(lib, tiny):
    import hashlib

    lib.publish(tiny())
    w = _vdir(lib, "digit", 1) / "weights.safetensors"
    data = w.read_bytes() + b"\0" * 1000  # extra bytes, sha256 updated: only the size check can tell
    w.write_bytes(data)
    _edit_manifest(lib, "digit", 1, lambda m: m["provenance"].update(weights_sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(IntegrityError, match="its header declares"):
        lib.load("digit")
    small = Library(lib.location, max_weights_bytes=100)
    with pytest.raises(LimitExceeded, match="more than the limit of 100"):
        small.load("digit")


def test_nan_metrics_are_refused_at_publish_and_a_stored_nan_is_flagged(lib, tiny):
    for bad in (math.nan, math.inf, -math.inf, "nan", True):
        with pytest.raises(PublishError, match="not a finite number"):
            lib.publish(tiny(), metrics={"accuracy": bad})
    lib.publish(tiny(seed=1), metrics={"accuracy": 0.5})
    lib.publish(tiny(seed=2), metrics={"accuracy": 0.6})
    path = _vdir(lib, "digit", 2) / "manifest.json"
    path.write_text(path.read_text().replace("0.6", "NaN"))
    entries, broken = lib.scan()
    assert [(s.name, s.latest, dict(s.metrics)) for s in entries] == [("digit", 1, {"accuracy": 0.5})]
    assert broken[0].version == 2 and "not a finite number" in broken[0].problem


def test_one_broken_entry_never_breaks_the_listing(lib, tiny, capsys):
    for n in ("a", "b", "c"):
        lib.publish(tiny(n))
    (_vdir(lib, "b", 1) / "manifest.json").write_text("{not json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [s.name for s in lib.list()] == ["a", "c"]
    assert any("'b'" in str(w.message) for w in caught)
    code = main(["library", "--library", lib.location, "ls"])
    out = capsys.readouterr().out
    assert code == 0 and "a " in out and "c " in out and "! b@1: unreadable:" in out


def test_tags_must_be_strings(lib, tiny):
    for bad in ("mnist", 5, [1, 2]):
        with pytest.raises(PublishError, match="tags"):
            lib.publish(tiny(), tags=bad)
    assert lib.list() == []


# --------------------------------------------------------------------------- a full disk

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_at_publish_is_a_storage_error_with_a_hint_and_leaves_nothing(lib, tiny, monkeypatch):
    lib.publish(tiny(seed=1))
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(StorageError, match="no space left") as e:
        lib.publish(tiny(seed=2))
    assert e.value.errno == errno.ENOSPC and "disk is full" in e.value.hint and "rm" in e.value.hint
    monkeypatch.undo()
    assert [v.version for v in lib.history("digit")] == [1]
    assert not list((Path(lib.location) / "digit").glob(".tmp-*"))  # the temp dir was removed


def test_a_version_can_be_removed_on_a_full_disk(lib, tiny, monkeypatch):
    lib.publish(tiny(seed=1))
    lib.publish(tiny(seed=2))
    real_open = os.open

    def full_open(path, flags, *args, **kwargs):  # any file creation or write fails: the disk is full
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            _enospc()
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_open)
    monkeypatch.setattr(os, "fsync", _enospc)
    monkeypatch.setattr("builtins.open", lambda *a, **k: _enospc())
    lib.remove("digit", 2)
    monkeypatch.undo()
    assert [v.version for v in lib.history("digit")] == [1]
    assert sorted(p.name for p in _vdir(lib, "digit", 2).iterdir()) == ["removed.json"]  # the weights are freed
    assert lib.publish(tiny(seed=3)).version == 3  # the number 2 is never reused
    with pytest.raises(VersionNotFound):
        lib.load("digit", 2)


def test_a_full_disk_when_staging_is_a_storage_error(tmp_path, tiny, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    monkeypatch.setattr(LocalFileSystem, "pipe_file", _enospc)
    with pytest.raises(StorageError, match="no space left") as e:
        stage(tiny(), library=tmp_path)
    assert "disk is full" in e.value.hint
    monkeypatch.undo()
    assert StagingArea(tmp_path).ids() == [] and not list((tmp_path / ".staging").glob(".tmp-*"))


def test_stale_temp_folders_of_killed_publishers_are_cleaned_everywhere(tmp_path, tiny, outside):
    lib = Library(tmp_path / "lib", stale_seconds=60)
    lib.publish(tiny("a"))
    lib.publish(tiny("b"))
    now = int(time.time())
    old_a, old_b = Path(lib.location) / "a" / f".tmp-{now - 120}-x", Path(lib.location) / "b" / f".tmp-{now - 999}-y"
    fresh = Path(lib.location) / "a" / f".tmp-{now}-z"
    for d in (old_a, old_b, fresh):
        d.mkdir()
        (d / "weights.safetensors").write_bytes(b"half")
    os.symlink(outside, Path(lib.location) / "b" / f".tmp-{now - 999}-link")
    before = _tree(outside)
    assert sorted(Path(p).name for p in lib.clean_stale()) == sorted([old_a.name, old_b.name])
    assert fresh.exists() and not old_a.exists() and not old_b.exists() and _tree(outside) == before
    assert STALE_SECONDS == 30 * 60 and Library(tmp_path / "x")._store.stale_seconds == STALE_SECONDS


def test_an_unknown_url_protocol_is_a_storage_error():
    with pytest.raises(StorageError, match="Protocol not known") as e:
        Library("nosuchproto://x")
    assert "fsspec" in e.value.hint


@pytest.mark.parametrize("argv, needle", [
    (["show", "digit@" + "9" * 5000], "invalid version"),
    (["rm", "digit@" + "1" * 4301], "invalid version"),
    (["--library", "nosuchproto://lib", "ls"], "Protocol not known"),
])
def test_the_cli_never_prints_a_traceback_for_bad_arguments(lib, tiny, capsys, argv, needle):
    lib.publish(tiny())
    if argv[0] != "--library":
        argv = ["--library", lib.location, *argv]
    code = main(["library", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert len(err) < 3000


# --------------------------------------------------------------------------- the staging area

def test_a_staging_id_publishes_once_even_when_two_publishers_race(tmp_path, tiny):
    from workbench.server import service

    root = tmp_path / "lib"
    info = stage(tiny("fresh"), library=root)
    results, errors = [], []

    def publish():
        try:
            results.append(service.publish_staged(str(root), info["id"]))
        except LibraryError as e:
            errors.append(e)

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 3 and all(isinstance(e, StagedNotFound) for e in errors)
    assert "already published" in str(errors[0])
    assert [v.version for v in Library(root).history("fresh")] == [1]
    with pytest.raises(StagedNotFound):
        service.publish_staged(str(root), info["id"])


def test_a_failed_publish_gives_the_staging_id_back(tmp_path, tiny):
    from workbench.server import service

    root = tmp_path / "lib"
    info = stage(tiny("fresh"), library=root)
    (root / "taken").parent.mkdir(parents=True, exist_ok=True)
    (root / "taken").write_text("a plain file where the entry would go")
    with pytest.raises(UnsafePath):
        service.publish_staged(str(root), info["id"], "taken")
    assert service.publish_staged(str(root), info["id"], "other")["entry"]["ref"] == "other@1"


def test_staging_ids_expire_after_a_short_configurable_lifetime(tmp_path, tiny, monkeypatch):
    area = StagingArea(tmp_path, ttl=60)
    sid = area.stage(tiny())["id"]
    assert area.load(sid).function.name == "digit"
    old = time.time() - 120
    os.utime(tmp_path / ".staging" / sid / "digest", (old, old))
    with pytest.raises(StagedNotFound, match="expired"):
        area.load(sid)
    monkeypatch.setenv("WORKBENCH_STAGING_TTL", "5")
    assert StagingArea(tmp_path).ttl == 5
    monkeypatch.setenv("WORKBENCH_STAGING_TTL", "nonsense")
    assert StagingArea(tmp_path).ttl == 3600


def test_a_linked_draft_never_returns_an_outside_file(tmp_path, tiny, outside):
    area = StagingArea(tmp_path)
    sid = area.stage(tiny())["id"]
    draft = tmp_path / ".staging" / sid / "draft.json"
    (outside / "draft.json").write_text(json.dumps({**json.loads(draft.read_text()), "description": "OUTSIDE"}))
    draft.unlink()
    os.symlink(outside / "draft.json", draft)
    for call in (area.info, area.load):
        with pytest.raises(StagingError, match="symbolic link") as e:
            call(sid)
        assert "OUTSIDE" not in str(e.value)


def test_a_linked_staging_folder_is_refused_when_staging(tmp_path, tiny, outside):
    os.symlink(outside, tmp_path / ".staging")
    before = _tree(outside)
    with pytest.raises(UnsafePath, match=".staging"):
        stage(tiny(), library=tmp_path)
    assert _tree(outside) == before


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", None, b'{"kind": "ntpt-staged-function"}'])
def test_malformed_drafts_are_staging_errors(tmp_path, tiny, content):
    area = StagingArea(tmp_path)
    sid = area.stage(tiny())["id"]
    draft = tmp_path / ".staging" / sid / "draft.json"
    draft.unlink()
    if content is None:
        draft.mkdir()  # a folder
    else:
        draft.write_bytes(content)
    with pytest.raises(StagingError) as e:
        area.load(sid)
    assert e.value.hint


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d.update(metrics=[1, 2]), "'metrics' must be an object"),
    (lambda d: d.update(tags=5), "'tags' must be a list"),
    (lambda d: d["architecture"]["kwargs"].update(hidden=[12000, 12000]), "parameters, more than the limit"),
    (lambda d: d["signature"]["input"].update(shape=[10**12]), "input shape"),
])
def test_type_checked_and_bounded_drafts(tmp_path, tiny, edit, needle):
    area = StagingArea(tmp_path)
    sid = area.stage(tiny())["id"]
    path = tmp_path / ".staging" / sid / "draft.json"
    d = json.loads(path.read_text())
    edit(d)
    path.write_text(json.dumps(d))
    t0 = time.perf_counter()
    with pytest.raises(LibraryError, match=needle):
        area.load(sid)
    assert time.perf_counter() - t0 < 5  # 144M parameters refused on the meta device, not built


# --------------------------------------------------------------------------- fuzzed manifests

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=8)
_PATHS = [("name",), ("version",), ("schema",), ("signature",), ("signature", "input", "shape"),
          ("signature", "output", "size"), ("signature", "output", "labels"), ("architecture", "constructor"),
          ("architecture", "kwargs"), ("architecture", "kwargs", "hidden"), ("architecture", "kwargs", "in_shape"),
          ("architecture", "kwargs", "out"), ("metrics",), ("metrics", "accuracy"), ("provenance",),
          ("provenance", "parent"), ("provenance", "weights_sha256"), ("tags",), ("description",)]


@pytest.fixture(scope="module")
def fuzz_lib(tmp_path_factory):
    from workbench import nets
    from workbench.core.domains import Domain, TensorType
    from workbench.core.neural import NeuralFunction

    kwargs = {"in_shape": [8, 8], "out": 3, "hidden": [6]}
    lib = Library(tmp_path_factory.mktemp("fuzz") / "lib")
    lib.publish(NeuralFunction("digit", nets.build("mlp", **kwargs), input=TensorType("Vec8x8", (8, 8)),
                               output=Domain("Three", 3), arch=("mlp", kwargs)))
    return lib


@settings(max_examples=300, deadline=5000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(_PATHS), _JSON), min_size=1, max_size=3), raw=st.booleans())
def test_fuzzed_manifests_are_library_errors_or_load(fuzz_lib, edits, raw):
    path = _vdir(fuzz_lib, "digit", 1) / "manifest.json"
    original = path.read_bytes()
    try:
        m = json.loads(original)
        for keys, value in edits:
            d = m
            for k in keys[:-1]:
                d = d.get(k) if isinstance(d, dict) else None
            if isinstance(d, dict):
                d[keys[-1]] = value
        text = json.dumps(m)  # NaN and Infinity allowed: a stored manifest may contain them
        if raw:  # also cut it anywhere
            text = text[: len(text) * 3 // 4]
        path.write_text(text)
        try:
            fn = fuzz_lib.load("digit")
            assert isinstance(fn.module, torch.nn.Module)
            event("loaded")  # --hypothesis-show-statistics
        except LibraryError as e:
            assert e.hint and e.entry == "digit", e
            event(f"refused: {type(e).__name__}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entries, broken = fuzz_lib.scan()
        assert len(entries) + len(broken) >= 1  # never a broken listing
        for s in entries:
            json.dumps(s.to_dict(), allow_nan=False)  # a listed summary is always valid JSON
    finally:
        path.write_bytes(original)
