"""Hostile and fuzzed requests to the server extension: always JSON, 4xx with a message, never a 500.

The hostile cases of the fault pass are explicit tests; then Hypothesis sends random request shapes
(methods, paths under the prefix, bodies) and checks every reply: a status below 500, a JSON body
without bare NaN, an error body with a message for every 4xx, and no file of the library changed
by a refused request. pytest-jupyter's fixtures are imported into this module, as in test_endpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp, http_server_client, ...), local to this module.
from pytest_jupyter.jupyter_server import *  # noqa: F403

from workbench import nets
from workbench.core.domains import Domain, TensorType
from workbench.core.neural import NeuralFunction
from workbench.library import Library
from workbench.library.staging import STAGING_DIR, stage


def tiny(name: str = "digit", seed: int = 0) -> NeuralFunction:
    torch.manual_seed(seed)
    kwargs = {"in_shape": [8, 8], "out": 3, "hidden": [6]}
    return NeuralFunction(name, nets.build("mlp", **kwargs), input=TensorType("Vec8x8", (8, 8)),
                          output=Domain("Three", 3, ("a", "b", "c")), arch=("mlp", kwargs))


@pytest.fixture
def libdir(tmp_path) -> Path:
    path = tmp_path / "lib"
    lib = Library(path)
    lib.publish(tiny("digit"), metrics={"accuracy": 0.91}, task="add2x2/top", tags=["mnist"])
    lib.publish(tiny("digit", seed=1), metrics={"accuracy": 0.95})
    lib.publish(tiny("op", seed=2), metrics={"accuracy": 0.8}, task="calc")
    return path


@pytest.fixture
def jp_server_config(libdir):
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}},
            "NTPTWorkbench": {"library": str(libdir)}}


@pytest.fixture
def send(http_server_client, jp_base_url, jp_serverapp, jp_asyncio_loop):
    """``send(path, method, body)`` -> (status, raw body bytes), authenticated, path already URL-encoded."""
    token = jp_serverapp.identity_provider.token

    def run(path: str, method: str = "GET", body: bytes | str | None = None):
        async def go():
            r = await http_server_client.fetch(
                f"{jp_base_url.rstrip('/')}/ntpt/library/{path}", method=method,
                headers={"Authorization": f"token {token}"},
                body=(b"" if body is None and method in ("POST", "PUT", "PATCH") else body),
                raise_error=False, allow_nonstandard_methods=True, request_timeout=20)
            return r.code, r.body

        return jp_asyncio_loop.run_until_complete(go())

    return run


def _strict_json(raw: bytes):
    def refuse(c):
        raise ValueError(f"bare {c} in a reply")

    return json.loads(raw, parse_constant=refuse)


def _check(code: int, raw: bytes, what) -> object:
    assert code < 500, (what, code, raw[:300])
    body = _strict_json(raw) if raw else None
    if code >= 400:
        assert isinstance(body, dict) and {"error", "message", "hint"} <= set(body), (what, body)
        assert isinstance(body["message"], str) and body["message"], (what, body)
    return body


def _tree(root: Path) -> dict[str, bytes | None]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out


# --------------------------------------------------------------------------- the fault pass, case by case

def test_a_version_with_4301_digits_is_400(send, libdir):
    for version in ("1" * 4301, "9" * 5000):
        code, raw = send(f"entries/digit/versions/{version}", "DELETE")
        assert code == 400 and _check(code, raw, version)["error"] == "InvalidName"
    assert [v.version for v in Library(libdir).history("digit")] == [1, 2]


def test_a_deeply_nested_or_huge_body_is_4xx(send):
    code, raw = send("publish", "POST", "[" * 50_000 + "]" * 50_000)
    assert code == 413 and "bytes" in _check(code, raw, "huge")["message"]
    code, raw = send("publish", "POST", '{"a":' * 10_000 + "1" + "}" * 10_000)
    assert code == 400 and "nested too deeply" in _check(code, raw, "deep")["message"]
    code, raw = send("publish", "POST", json.dumps({"staging_id": "0" * 32, "name": [[[[[[[[[[1]]]]]]]]]]}))
    assert code == 400 and "nested too deeply" in _check(code, raw, "deep")["message"]


def _staged(libdir: Path) -> tuple[str, Path]:
    info = stage(tiny("fresh", seed=5), library=libdir)
    return info["id"], libdir / STAGING_DIR / info["id"]


@pytest.mark.parametrize("how", ["not json", "a list", "a folder", "metrics a list", "tags a number",
                                 "weights a folder", "huge architecture"])
def test_malformed_staged_drafts_are_4xx_for_get_and_publish(send, libdir, how):
    sid, folder = _staged(libdir)
    draft = folder / "draft.json"
    d = json.loads(draft.read_text())
    if how == "not json":
        draft.write_text("{oops")
    elif how == "a list":
        draft.write_text("[1, 2, 3]")
    elif how == "a folder":
        draft.unlink()
        draft.mkdir()
    elif how == "metrics a list":
        draft.write_text(json.dumps({**d, "metrics": [0.9]}))
    elif how == "tags a number":
        draft.write_text(json.dumps({**d, "tags": 7}))
    elif how == "weights a folder":
        (folder / "weights.safetensors").unlink()
        (folder / "weights.safetensors").mkdir()
    elif how == "huge architecture":  # 144M parameters: refused on the meta device, nothing built
        draft.write_text(json.dumps({**d, "architecture": {"constructor": "mlp",
                                                           "kwargs": {"in_shape": [8, 8], "hidden": [12000, 12000]}}}))
    before = _tree(libdir)
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid}))
    assert 400 <= code < 500, (how, code, raw)
    _check(code, raw, how)
    code, raw = send(f"staging/{sid}")
    assert code in (200, 404, 409, 413, 422), (how, code, raw)
    _check(code, raw, how)
    assert _tree(libdir) == before
    assert Library(libdir).names() == ["digit", "op"]


def test_a_name_that_exists_as_a_plain_file_is_409(send, libdir):
    sid, _ = _staged(libdir)
    (libdir / "taken").write_text("a plain file")
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid, "name": "taken"}))
    assert code == 409 and _check(code, raw, "plain file")["error"] == "UnsafePath"
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid, "name": "fresh"}))  # the id was given back
    assert code == 201 and _check(code, raw, "retry")["entry"]["ref"] == "fresh@1"
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid, "name": "again"}))  # ... and is single-use
    assert code == 404 and "already published" in _check(code, raw, "replay")["message"]


def test_a_linked_draft_is_refused_without_its_content(send, libdir, tmp_path):
    sid, folder = _staged(libdir)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"kind": "ntpt-staged-function", "name": "SECRET-CONTENT"}))
    (folder / "draft.json").unlink()
    os.symlink(secret, folder / "draft.json")
    code, raw = send(f"staging/{sid}")
    assert 400 <= code < 500 and b"SECRET-CONTENT" not in raw
    assert "symbolic link" in _check(code, raw, "link")["message"]


@pytest.mark.filterwarnings("ignore:the manifest of library entry 'digit@2' is malformed")
def test_a_nan_metric_on_disk_never_breaks_the_listing(send, libdir):
    path = libdir / "digit" / "000002" / "manifest.json"
    path.write_text(path.read_text().replace("0.95", "NaN"))
    code, raw = send("")
    body = _check(code, raw, "list")
    assert code == 200
    assert [(e["name"], e["latest"]) for e in body["entries"]] == [("digit", 1), ("op", 1)]
    assert [(b["name"], b["version"]) for b in body["broken"]] == [("digit", 2)]
    code, raw = send("entries/digit")
    assert code == 200 and [v["version"] for v in _check(code, raw, "detail")["versions"]] == [1]


@pytest.mark.parametrize("path", ["nope", "entries", "entries/digit/versions", "entries/digit/x/y",
                                  "staging", "publish/extra", "stamp/x", "%ff%fe"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT"])
def test_unknown_subpaths_are_json_404(send, path, method):
    code, raw = send(path, method)
    assert code in (404, 405), (path, method, code)
    _check(code, raw, path)


def test_weights_tampered_to_a_pickle_with_matching_sha_are_refused(send, libdir):
    sid, folder = _staged(libdir)
    import pickle

    payload = pickle.dumps({"x": 1})
    (folder / "weights.safetensors").write_bytes(payload)
    d = json.loads((folder / "draft.json").read_text())
    (folder / "draft.json").write_text(json.dumps({**d, "weights_sha256": hashlib.sha256(payload).hexdigest()}))
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid}))
    assert code == 422 and _check(code, raw, "pickle")["error"] == "StagingError"


# --------------------------------------------------------------------------- fuzzed request shapes

_SEG = st.one_of(
    st.sampled_from(["digit", "op", "..", ".staging", "%2e%2e", "a%2Fb", "%00", "x" * 65, "digit@1", "NaN",
                     "1" * 4301, "-1", "0", "1", "2", "99", "0" * 32, "f" * 32, "%F0%9F%92%A9", ""]),
    st.text(min_size=1, max_size=12).map(lambda s: urllib.parse.quote(s, safe="")),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
)
_PATH = st.one_of(
    st.just(""), st.just("stamp"), st.just("publish"),
    _SEG.map(lambda s: f"entries/{s}"), _SEG.map(lambda s: f"staging/{s}"),
    st.tuples(_SEG, _SEG).map(lambda t: f"entries/{t[0]}/versions/{t[1]}"),
    st.lists(_SEG, min_size=1, max_size=4).map("/".join),
)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                     max_leaves=10)
_PUBLISH = st.fixed_dictionaries({}, optional={"staging_id": _JSON | _SEG, "name": _JSON | _SEG, "path": _JSON})
_BODY = st.one_of(st.none(), _PUBLISH.map(json.dumps), _JSON.map(json.dumps), st.binary(max_size=64),
                  st.integers(1, 40).map(lambda n: "[" * (n * 100) + "]" * (n * 100)))

_REQUEST = st.one_of(
    st.tuples(st.just("POST"), st.just("publish"), _BODY),
    st.tuples(st.just("DELETE"), st.tuples(_SEG, _SEG).map(lambda t: f"entries/{t[0]}/versions/{t[1]}"), st.none()),
    st.tuples(st.just("GET"), _PATH, st.none()),
    st.tuples(st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]), _PATH, _BODY),
)


@settings(max_examples=500, deadline=5000, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=_REQUEST)
def test_fuzzed_requests_are_answered_with_json_and_never_500(send, libdir, request):
    method, path, body = request
    before = _tree(libdir)
    if method in ("GET", "DELETE") and body is not None:
        body = None  # tornado refuses bodies on these before any handler runs
    code, raw = send(path, method, body)
    reply = _check(code, raw, (method, path, body))
    event(f"status {code}" + (f" {reply['error']}" if code >= 400 else ""))  # --hypothesis-show-statistics
    if code >= 400:
        assert _tree(libdir) == before, (method, path, body)  # a refused request changed nothing


def test_a_full_disk_on_the_server_is_507_json(send, libdir, monkeypatch):
    sid, _ = _staged(libdir)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid}))
    body = _strict_json(raw)
    assert code == 507 and body["error"] == "StorageError" and "disk is full" in body["hint"]
    monkeypatch.undo()
    code, raw = send("publish", "POST", json.dumps({"staging_id": sid}))  # the id was given back
    assert code == 201
