"""The server extension's REST endpoints (``/ntpt/library/...``), through a real Jupyter server.

pytest-jupyter starts the server in-process (``jp_fetch``); the library is a temporary directory
set with ``NTPTWorkbench.library``. Also covers the staging area the publish endpoint reads.

pytest-jupyter's fixtures are imported into this module (not registered with ``pytest_plugins``,
which would put its autouse fixtures on every test of the suite); coroutine tests run on its
event loop through :func:`on_loop`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from pathlib import Path

import pytest
import torch

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp, http_server_client, ...), local to this module.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from tornado.httpclient import HTTPClientError

from workbench import nets
from workbench.core.domains import Domain, TensorType
from workbench.core.neural import NeuralFunction
from workbench.library import Library, PublishError
from workbench.library.staging import STAGING_DIR, InvalidStagingId, StagedNotFound, StagingArea, stage
from workbench.server import service


def on_loop(test):
    """Run a coroutine test on pytest-jupyter's event loop (the loop its server and client use)."""
    sig = inspect.signature(test)
    own = "jp_asyncio_loop" in sig.parameters
    params = list(sig.parameters.values())
    if not own:
        params.append(inspect.Parameter("jp_asyncio_loop", inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(test)
    def wrapper(**kwargs):
        loop = kwargs["jp_asyncio_loop"] if own else kwargs.pop("jp_asyncio_loop")
        return loop.run_until_complete(test(**kwargs))

    wrapper.__signature__ = sig.replace(parameters=params)
    del wrapper.__wrapped__
    return wrapper

BASE = ("ntpt", "library")


def tiny(name: str = "digit", seed: int = 0, hidden: int = 6) -> NeuralFunction:
    torch.manual_seed(seed)
    kwargs = {"in_shape": [8, 8], "out": 3, "hidden": [hidden]}
    return NeuralFunction(name, nets.build("mlp", **kwargs), input=TensorType("Vec8x8", (8, 8)),
                          output=Domain("Three", 3, ("a", "b", "c")), arch=("mlp", kwargs))


@pytest.fixture
def libdir(tmp_path) -> Path:
    path = tmp_path / "lib"
    lib = Library(path)
    lib.publish(tiny("digit"), metrics={"accuracy": 0.91}, task="add2x2/top", tags=["mnist"])
    lib.publish(tiny("op", seed=1), metrics={"accuracy": 0.8}, task="calc")
    again = lib.load("digit")
    lib.publish(again, metrics={"accuracy": 0.95}, task="add2x2/left")
    return path


@pytest.fixture
def jp_server_config(libdir):
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}},
            "NTPTWorkbench": {"library": str(libdir)}}


async def call(jp_fetch, *parts, method="GET", body=None, headers=None):
    """(status, JSON body) of a request; errors do not raise."""
    kwargs = {"method": method, "headers": headers}
    if body is not None:
        kwargs["body"] = body if isinstance(body, str) else json.dumps(body)
    elif method == "POST":
        kwargs["body"] = ""
    try:
        r = await jp_fetch(*BASE, *parts, **kwargs)
    except HTTPClientError as e:
        r = e.response
        assert r is not None, e
    return r.code, (json.loads(r.body) if r.body else None)


async def raw(http_server_client, jp_base_url, path, *, method="GET", token=None, body=None):
    """A request with an exact (already URL-encoded) path, for path-traversal attempts."""
    headers = {"Authorization": f"token {token}"} if token else {}
    r = await http_server_client.fetch(f"{jp_base_url.rstrip('/')}/ntpt/library/{path}", method=method,
                                       headers=headers, body=body, raise_error=False,
                                       allow_nonstandard_methods=True)
    return r.code, (json.loads(r.body) if r.body else None)


def token_of(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


def assert_error(body, error: str | None = None):
    assert isinstance(body, dict) and {"error", "message", "hint"} <= set(body), body
    assert body["message"], body
    if error is not None:
        assert body["error"] == error, body


# --------------------------------------------------------------------------- authentication

ENDPOINTS = [
    ("GET", "", None),
    ("GET", "stamp", None),
    ("GET", "entries/digit", None),
    ("GET", f"staging/{'0' * 32}", None),
    ("POST", "publish", json.dumps({"staging_id": "0" * 32})),
    ("DELETE", "entries/digit/versions/1", None),
]


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
@pytest.mark.parametrize("token", [None, "wrong-token"])
@on_loop
async def test_every_endpoint_refuses_requests_without_a_valid_token(
        http_server_client, jp_base_url, jp_serverapp, libdir, method, path, body, token):
    code, reply = await raw(http_server_client, jp_base_url, path, method=method, token=token, body=body)
    assert code == 403, (method, path, code, reply)
    assert_error(reply)
    assert Library(libdir).info("digit", 1).version == 1  # nothing was removed


@on_loop
async def test_a_valid_token_is_accepted(http_server_client, jp_base_url, jp_serverapp):
    code, reply = await raw(http_server_client, jp_base_url, "stamp", token=token_of(jp_serverapp))
    assert code == 200 and reply["stamp"]


# --------------------------------------------------------------------------- reading


@on_loop
async def test_list_gives_entries_with_provenance_and_a_stamp(jp_fetch, libdir):
    code, body = await call(jp_fetch)
    assert code == 200
    assert body["location"] == str(libdir)
    assert body["load_location"] == str(libdir)  # WORKBENCH_LIBRARY is not set for the test server
    by_name = {e["name"]: e for e in body["entries"]}
    assert sorted(by_name) == ["digit", "op"]
    digit = by_name["digit"]
    assert digit["latest"] == 2 and digit["versions"] == 2
    assert digit["signature"] == "Vec8x8 -> Three[3]"
    assert digit["metrics"] == {"accuracy": 0.95}
    assert digit["task"] == "add2x2/left" and digit["parent"] == 1
    assert digit["tasks"] == ["add2x2/left", "add2x2/top"]
    assert digit["variable"] == "digit"
    assert by_name["op"]["tags"] == [] and by_name["op"]["task"] == "calc"
    code, stamp = await call(jp_fetch, "stamp")
    assert code == 200 and stamp["stamp"] == body["stamp"]


@on_loop
async def test_stamp_changes_when_the_library_changes_on_disk(jp_fetch, libdir):
    _, first = await call(jp_fetch, "stamp")
    _, same = await call(jp_fetch, "stamp")
    assert first["stamp"] == same["stamp"]
    Library(libdir).publish(tiny("new"))
    _, after_publish = await call(jp_fetch, "stamp")
    assert after_publish["stamp"] != first["stamp"]
    Library(libdir).remove("new", 1)
    _, after_remove = await call(jp_fetch, "stamp")
    assert after_remove["stamp"] not in (first["stamp"], after_publish["stamp"])
    assert after_remove["stamp"] != after_publish["stamp"]


@on_loop
async def test_detail_gives_the_history_with_metrics(jp_fetch):
    code, body = await call(jp_fetch, "entries", "digit")
    assert code == 200
    versions = body["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert [v["metrics"] for v in versions] == [{"accuracy": 0.91}, {"accuracy": 0.95}]
    assert versions[1]["parent"] == 1 and versions[0]["tags"] == ["mnist"]
    assert versions[1]["ref"] == "digit@2" and versions[1]["signature_text"] == "Vec8x8 -> Three[3]"
    assert versions[0]["architecture"]["constructor"] == "mlp"


@on_loop
async def test_unknown_entry_is_a_404_with_a_json_body(jp_fetch):
    code, body = await call(jp_fetch, "entries", "digti")
    assert code == 404
    assert_error(body, "EntryNotFound")
    assert "digit" in body["hint"]  # did you mean


# --------------------------------------------------------------------------- path traversal

TRAVERSALS = ["..", "..%2F..%2Fetc", "%2e%2e", "a%2Fb", "a%5Cb", ".staging", "..%5C..%5Cwindows", "%00x",
              "x" * 65]


@pytest.mark.parametrize("name", TRAVERSALS)
@on_loop
async def test_names_with_path_traversal_are_refused(http_server_client, jp_base_url, jp_serverapp, name):
    token = token_of(jp_serverapp)
    code, body = await raw(http_server_client, jp_base_url, f"entries/{name}", token=token)
    assert code == 400, (name, code, body)
    assert_error(body, "InvalidName")
    code, body = await raw(http_server_client, jp_base_url, f"entries/{name}/versions/1", method="DELETE",
                           token=token)
    assert code == 400, (name, code, body)
    assert_error(body, "InvalidName")


@pytest.mark.parametrize("version", ["0", "-1", "abc", "1.5", "%2e%2e"])
@on_loop
async def test_bad_versions_are_refused(http_server_client, jp_base_url, jp_serverapp, libdir, version):
    code, body = await raw(http_server_client, jp_base_url, f"entries/digit/versions/{version}",
                           method="DELETE", token=token_of(jp_serverapp))
    assert code == 400
    assert_error(body, "InvalidName")
    assert [v.version for v in Library(libdir).history("digit")] == [1, 2]


# --------------------------------------------------------------------------- publishing


@on_loop
async def test_publish_a_staged_function_as_a_new_version(jp_fetch, libdir):
    fn = Library(libdir).load("digit")  # digit@2
    with torch.no_grad():
        for p in fn.module.parameters():
            p.add_(0.5)
    info = stage(fn, library=libdir, metrics={"accuracy": 0.99}, task="add2x2/right")
    assert set(info) >= {"id", "name", "signature"} and info["name"] == "digit"
    assert info["signature"] == "Vec8x8 -> Three[3]" and info["library"] == str(libdir)
    assert (libdir / STAGING_DIR / info["id"] / "weights.safetensors").is_file()

    code, staged = await call(jp_fetch, "staging", info["id"])
    assert code == 200 and staged["draft"]["name"] == "digit" and staged["exists"] is True

    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"]})
    assert code == 201, body
    entry = body["entry"]
    assert entry["ref"] == "digit@3" and entry["parent"] == 2
    assert entry["metrics"] == {"accuracy": 0.99} and entry["task"] == "add2x2/right"
    assert (libdir / "digit" / "000003" / "manifest.json").is_file()
    back = Library(libdir).load("digit", 3)
    for a, b in zip(fn.module.state_dict().values(), back.module.state_dict().values()):
        assert torch.equal(a, b)
    _, listing = await call(jp_fetch)
    assert {e["name"]: e["latest"] for e in listing["entries"]}["digit"] == 3
    assert listing["stamp"] == body["stamp"]


@on_loop
async def test_publish_under_another_name(jp_fetch, libdir):
    info = stage(tiny("fresh", seed=3), library=libdir)
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"], "name": "my-net.v2"})
    assert code == 201 and body["entry"]["ref"] == "my-net.v2@1" and body["entry"]["parent"] is None
    assert Library(libdir).info("my-net.v2").version == 1


@pytest.mark.parametrize("name", ["../evil", "..", "/abs", "a/b", "a\\b", "_x", "", "x" * 65, ".staging"])
@on_loop
async def test_publish_refuses_invalid_names(jp_fetch, libdir, name):
    info = stage(tiny("fresh"), library=libdir)
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"], "name": name})
    if name == "":  # empty means "the function's own name"
        assert code == 201 and body["entry"]["name"] == "fresh"
        return
    assert code == 400, body
    assert_error(body, "InvalidName")
    assert "[A-Za-z0-9_.-]" in body["hint"]
    assert not (libdir.parent / "evil").exists() and not Path("/abs").exists()


@pytest.mark.parametrize("staging_id", [
    "../../etc", "/etc/passwd", "..", "ABCDEF0123456789ABCDEF0123456789", "0" * 31, "0" * 33,
    "0" * 32 + "/../" + "0" * 32, 12, None, ["0" * 32],
])
@on_loop
async def test_publish_refuses_staging_ids_that_are_not_ids(jp_fetch, libdir, staging_id):
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": staging_id})
    assert code == 400, body
    assert_error(body, "InvalidStagingId")
    assert "paths are not accepted" in body["hint"]


@on_loop
async def test_publish_refuses_paths_even_to_real_staged_functions(jp_fetch, libdir):
    info = stage(tiny("fresh"), library=libdir)
    real = libdir / STAGING_DIR / info["id"]
    for staging_id in (str(real), f"{STAGING_DIR}/{info['id']}", f"./{info['id']}"):
        code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": staging_id})
        assert code == 400 and body["error"] == "InvalidStagingId", body
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"], "path": str(real)})
    assert code == 400 and body["error"] == "BadRequest" and "paths are not" in body["hint"]
    assert Library(libdir).names() == ["digit", "op"]


@on_loop
async def test_a_function_staged_outside_the_servers_staging_area_is_not_found(jp_fetch, libdir, tmp_path):
    info = stage(tiny("elsewhere"), staging_dir=tmp_path / "other-staging")
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"]})
    assert code == 404
    assert_error(body, "StagedNotFound")
    assert "WORKBENCH_LIBRARY" in body["hint"]
    code, body = await call(jp_fetch, "staging", info["id"])
    assert code == 404 and body["error"] == "StagedNotFound"


@on_loop
async def test_publish_never_unpickles(jp_fetch, libdir, tmp_path):
    """A staged 'weights' file that is a pickle is refused, even with a matching sha256."""
    info = stage(tiny("fresh"), library=libdir)
    folder = libdir / STAGING_DIR / info["id"]
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    import pickle

    payload = pickle.dumps({"0.weight": Evil()})
    (folder / "weights.safetensors").write_bytes(payload)
    draft = json.loads((folder / "draft.json").read_text())
    draft["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    (folder / "draft.json").write_text(json.dumps(draft))
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"]})
    assert code == 422, body
    assert_error(body, "StagingError")
    assert not marker.exists()
    assert Library(libdir).names() == ["digit", "op"]


@on_loop
async def test_publish_refuses_tampered_weights(jp_fetch, libdir):
    info = stage(tiny("fresh"), library=libdir)
    weights = libdir / STAGING_DIR / info["id"] / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"]})
    assert code == 422 and body["error"] == "StagingError" and "do not match" in body["message"]


@on_loop
async def test_publish_with_an_unregistered_architecture_says_so(jp_fetch, libdir):
    info = stage(tiny("fresh"), library=libdir)
    draft_path = libdir / STAGING_DIR / info["id"] / "draft.json"
    draft = json.loads(draft_path.read_text())
    draft["architecture"]["constructor"] = "not_registered"
    draft_path.write_text(json.dumps(draft))
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": info["id"]})
    assert code == 422 and body["error"] == "UnknownArchitecture" and body["hint"]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "{}", json.dumps({"staging_id": "0" * 32, "name": 3})])
@on_loop
async def test_malformed_publish_requests_are_400_with_json(jp_fetch, body):
    code, reply = await call(jp_fetch, "publish", method="POST", body=body)
    assert code == 400
    assert_error(reply, "BadRequest")


@on_loop
async def test_unknown_staging_id_is_404(jp_fetch):
    code, body = await call(jp_fetch, "publish", method="POST", body={"staging_id": "f" * 32})
    assert code == 404
    assert_error(body, "StagedNotFound")


# --------------------------------------------------------------------------- removing


@on_loop
async def test_remove_a_version(jp_fetch, libdir):
    code, body = await call(jp_fetch, "entries", "digit", "versions", "1", method="DELETE")
    assert code == 200 and body["removed"] == "digit@1"
    assert [v.version for v in Library(libdir).history("digit")] == [2]
    code, body = await call(jp_fetch, "entries", "digit", "versions", "1", method="DELETE")
    assert code == 404
    assert_error(body, "VersionNotFound")
    code, body = await call(jp_fetch, "entries", "nope", "versions", "1", method="DELETE")
    assert code == 404 and body["error"] == "EntryNotFound"


# --------------------------------------------------------------------------- staging area, unit level


def test_staging_the_same_function_twice_reuses_the_id(tmp_path):
    fn = tiny("digit")
    a = stage(fn, library=tmp_path)
    b = stage(fn, library=tmp_path)
    assert a["id"] == b["id"]
    with torch.no_grad():
        next(fn.module.parameters()).add_(1.0)
    assert stage(fn, library=tmp_path)["id"] != a["id"]
    assert len(StagingArea(tmp_path).ids()) == 2


def test_stale_staged_copies_are_cleaned(tmp_path):
    area = StagingArea(tmp_path, ttl=60)
    old = area.stage(tiny("old"))["id"]
    (tmp_path / STAGING_DIR / ".tmp-deadbeef").mkdir()  # a writer killed mid-way
    assert area.clean(now=time.time() + 30) == []
    removed = area.clean(now=time.time() + 120)
    assert sorted(removed) == sorted([old, ".tmp-deadbeef"])
    assert area.ids() == []
    with pytest.raises(StagedNotFound):
        area.load(old)


def test_staging_ids_are_checked_before_any_file_access(tmp_path):
    area = StagingArea(tmp_path)
    for bad in ("../x", "/etc", "", "g" * 32):
        with pytest.raises(InvalidStagingId):
            area.load(bad)


def test_functions_without_an_architecture_cannot_be_staged(tmp_path):
    fn = tiny("x")
    fn.arch = None
    with pytest.raises(PublishError, match="architecture"):
        stage(fn, library=tmp_path)


def test_the_staging_area_is_not_an_entry(tmp_path):
    stage(tiny("x"), library=tmp_path)
    assert Library(tmp_path).list() == []
    assert service.list_entries(str(tmp_path))["entries"] == []


def test_default_location_is_the_python_apis(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_LIBRARY", str(tmp_path / "envlib"))
    assert service.location_of("") == str(tmp_path / "envlib") == Library().location
    assert service.load_location(str(tmp_path / "envlib")) is None  # kernels inherit the variable
    assert service.load_location(str(tmp_path / "other")) == str(tmp_path / "other")
    monkeypatch.delenv("WORKBENCH_LIBRARY")
    monkeypatch.chdir(tmp_path)
    assert service.location_of(None) == str(tmp_path / "library") == Library().location
