"""Integrity, no unpickling, atomic publishing under concurrency and SIGKILL-ed publishers."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import signal
import subprocess
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest
import torch

from workbench.library import IntegrityError, Library
from workbench.library.store import STALE_SECONDS


class Boom:
    """Unpickling this creates the file ``path`` (as a malicious pickle would run code)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').close()",))


def _files(lib: Library, name: str, version: int) -> tuple[Path, Path]:
    vdir = Path(lib.location) / name / f"{version:06d}"
    return vdir / "manifest.json", vdir / "weights.safetensors"


def test_tampered_weights_are_refused_naming_the_entry(lib, tiny):
    lib.publish(tiny(seed=1))
    lib.publish(tiny(seed=2))
    _, weights = _files(lib, "digit", 2)
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="digit@2") as e:
        lib.load("digit")
    assert (e.value.entry, e.value.version) == ("digit", 2) and "sha256" in str(e.value)
    assert lib.load("digit", 1).name == "digit"  # other versions are unaffected


def test_no_library_operation_ever_unpickles(tmp_path, lib, tiny):
    marker = tmp_path / "marker"
    evil = pickle.dumps(Boom(str(marker)))
    sanity = tmp_path / "sanity"
    pickle.loads(pickle.dumps(Boom(str(sanity))))
    assert sanity.exists()  # the payload does run code when unpickled
    for seed in (1, 2, 3):
        lib.publish(tiny(seed=seed))
    root = tmp_path / "lib"
    (root / "evil.pkl").write_bytes(evil)
    (root / "digit" / "evil.pkl").write_bytes(evil)
    (root / "digit" / "000001" / "evil.pkl").write_bytes(evil)
    # version 2: pickle bytes as weights, manifest's sha256 updated so that only the format check stops it
    manifest, weights = _files(lib, "digit", 2)
    weights.write_bytes(evil)
    m = json.loads(manifest.read_text())
    m["provenance"]["weights_sha256"] = hashlib.sha256(evil).hexdigest()
    manifest.write_text(json.dumps(m))
    # version 3: a torch.save (zip + pickle) file as weights
    _, weights3 = _files(lib, "digit", 3)
    torch.save(Boom(str(marker)), weights3)
    # an entry whose manifest and weights are both pickles
    (root / "evil" / "000001").mkdir(parents=True)
    (root / "evil" / "000001" / "manifest.json").write_bytes(evil)
    (root / "evil" / "000001" / "weights.safetensors").write_bytes(evil)

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert [s.name for s in lib.list()] == ["digit"]
        assert [e.version for e in lib.history("digit")] == [1, 2, 3]
        assert lib.history("evil") == []
    for v in (1, 2, 3):
        lib.info("digit", v)
    lib.load("digit", 1)
    for v in (2, 3):
        with pytest.raises(IntegrityError, match=f"digit@{v}"):
            lib.load("digit", v)
    for call in (lambda: lib.info("evil"), lambda: lib.load("evil")):
        with pytest.raises(IntegrityError, match="evil@1"):
            call()
    lib.remove("digit", 2)
    lib.remove("digit", 3)
    assert not marker.exists()


def test_half_written_versions_and_temp_dirs_are_invisible(tmp_path, lib, tiny):
    lib.publish(tiny(seed=1))
    root = tmp_path / "lib" / "digit"
    (root / "000002").mkdir()
    (root / "000002" / "weights.safetensors").write_bytes(b"half")  # a publisher died here
    fresh = root / f".tmp-{int(time.time())}-abc"
    stale = root / f".tmp-{int(time.time()) - STALE_SECONDS - 5}-def"
    for d in (fresh, stale):
        d.mkdir()
        (d / "manifest.json").write_text("{}")
    assert [(s.name, s.latest, s.versions) for s in lib.list()] == [("digit", 1, 1)]
    assert [e.version for e in lib.history("digit")] == [1] and lib.info("digit").version == 1
    assert lib.load("digit").origin["version"] == 1
    assert lib.publish(tiny(seed=2)).version == 3  # 2 is taken by the half-written directory
    assert fresh.exists() and not stale.exists()  # only stale temp dirs are cleaned


def test_threads_publishing_to_memory_never_collide(tmp_path, tiny):
    lib = Library(f"memory://threads-{uuid.uuid4().hex}")
    errors = []

    def work(k: int) -> None:
        try:
            f = tiny(seed=k)
            for i in range(10):
                f.origin = None
                lib.publish(f, metrics={"k": k, "i": i})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    history = lib.history("digit")
    assert [e.version for e in history] == list(range(1, 41))
    assert sorted((e.metrics["k"], e.metrics["i"]) for e in history) == [(k, i) for k in range(4) for i in range(10)]


def _start(python, publisher, location, n, count, go, hidden):
    procs = [python(publisher, location, "f", str(w), str(count), str(go), str(hidden),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(n)]
    for p in procs:  # every worker has imported torch and built its net
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    go.touch()
    return procs


def _check_all_versions(lib: Library, expected: int | None = None) -> list[int]:
    history = lib.history("f")
    versions = [e.version for e in history]
    assert versions == list(range(1, len(versions) + 1))  # no gaps, no duplicates
    if expected is not None:
        assert len(versions) == expected
    for e in history:
        fn = lib.load("f", e.version)  # checks the sha256 of the weights
        assert fn.origin["version"] == e.version
    return versions


def test_eight_processes_publish_200_versions(tmp_path, python, publisher):
    location = str(tmp_path / "lib")
    procs = _start(python, publisher, location, n=8, count=25, go=tmp_path / "go", hidden=4)
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    lib = Library(location)
    _check_all_versions(lib, expected=200)
    pairs = sorted((int(e.metrics["worker"]), int(e.metrics["i"])) for e in lib.history("f"))
    assert pairs == [(w, i) for w in range(8) for i in range(25)]  # nothing lost, nothing twice
    assert len({e.weights_sha256 for e in lib.history("f")}) == 200
    assert not list((tmp_path / "lib" / "f").glob(".tmp-*"))


def test_publishers_killed_at_random_moments_leave_no_half_version(tmp_path, python, publisher):
    location = str(tmp_path / "lib")
    rng = random.Random(1234)
    procs = _start(python, publisher, location, n=20, count=0, go=tmp_path / "go", hidden=256)
    start = time.monotonic()
    for at, p in sorted(zip((rng.uniform(0.05, 2.0) for _ in procs), procs), key=lambda t: t[0]):
        time.sleep(max(0.0, start + at - time.monotonic()))
        p.send_signal(signal.SIGKILL)
    for p in procs:
        assert p.wait(timeout=30) == -signal.SIGKILL
        p.stdout.close()
        p.stderr.close()
    lib = Library(location)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a malformed manifest is seen
        versions = _check_all_versions(lib)
        assert versions, "no publisher got to publish anything before being killed"
        summary = lib.list()
    assert [(s.name, s.latest, s.versions) for s in summary] == [("f", len(versions), len(versions))]
    on_disk = sorted(p.name for p in (tmp_path / "lib" / "f").iterdir() if not p.name.startswith("."))
    assert on_disk == [f"{v:06d}" for v in versions]  # every version directory is complete and listed
    for d in on_disk:
        assert sorted(p.name for p in (tmp_path / "lib" / "f" / d).iterdir()) == [
            "manifest.json", "weights.safetensors"]
    nxt = lib.publish(lib.load("f"))  # the library still works
    assert nxt.version == len(versions) + 1 and nxt.parent == len(versions)
    assert lib.load("f").origin["version"] == nxt.version
