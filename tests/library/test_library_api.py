"""Publish / load / list / history / info / remove, locations, parents, names and typed errors."""

from __future__ import annotations

import math
import textwrap
import uuid

import pytest
import torch
from safetensors.torch import load_file, save_file

from workbench import nets
from workbench.core.neural import NeuralFunction
from workbench.library import (
    EntryNotFound,
    EntryVersion,
    InvalidName,
    Library,
    LibraryError,
    PublishError,
    UnknownArchitecture,
    VersionNotFound,
)


def test_round_trip_in_a_fresh_process_is_bitwise_identical(tmp_path, lib, tiny, python):
    fn = tiny(seed=3)
    ev = lib.publish(fn, metrics={"accuracy": 0.75}, task="add2x2", dataset="mnist-1k",
                     description="digit net", tags=("v1", "shared"))
    x = torch.randn(32, 8, 8, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same kernels in both processes: outputs compare bitwise
    try:
        with torch.no_grad():
            want = fn.module(x)
    finally:
        torch.set_num_threads(threads)
    save_file({"x": x}, tmp_path / "x.safetensors")
    save_file({k: v.detach().contiguous() for k, v in fn.module.state_dict().items()}, tmp_path / "w.safetensors")
    script = textwrap.dedent(f"""
        import torch
        from safetensors.torch import load_file, save_file
        from workbench.library import Library
        torch.set_num_threads(1)
        fn = Library({str(lib.location)!r}).load("digit")
        w = load_file({str(tmp_path / "w.safetensors")!r})
        assert all(torch.equal(fn.module.state_dict()[k], v) for k, v in w.items()), "weights differ"
        assert fn.origin == {{"library": {str(lib.location)!r}, "name": "digit", "version": 1}}, fn.origin
        with torch.no_grad():
            # a fresh (aligned) copy: a tensor viewing the file's bytes can take another kernel path
            y = fn.module(load_file({str(tmp_path / "x.safetensors")!r})["x"].clone())
        save_file({{"y": y}}, {str(tmp_path / "y.safetensors")!r})
    """)
    assert python("-c", script).wait(timeout=60) == 0
    got = load_file(tmp_path / "y.safetensors")["y"]
    assert torch.equal(got, want)
    assert got.numpy().tobytes() == want.numpy().tobytes()
    assert (ev.name, ev.version, ev.parent, ev.task, ev.dataset) == ("digit", 1, None, "add2x2", "mnist-1k")
    assert dict(ev.metrics) == {"accuracy": 0.75} and ev.tags == ("v1", "shared")
    assert len(ev.weights_sha256) == 64 and ev.created.endswith("Z")


def test_loaded_function_is_ready_to_call_and_train(lib, tiny):
    lib.publish(tiny(seed=1))
    fn = lib.load("digit")
    assert isinstance(fn, NeuralFunction) and fn.arch == ("mlp", {"in_shape": [8, 8], "out": 3, "hidden": [6]})
    assert fn.output.labels == ("a", "b", "c") and fn.input.shape == (8, 8)
    x = torch.randn(4, 8, 8)
    before = fn.module(x).detach()
    opt = torch.optim.SGD(fn.module.parameters(), lr=0.5)
    torch.nn.functional.cross_entropy(fn.module(x), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    assert not torch.equal(fn.module(x).detach(), before)
    assert fn.predict(x).shape == (4,)


@pytest.mark.parametrize("url", ["memory://wb-test-{id}", "file://{tmp}/lib"])
def test_memory_and_file_urls(url, tmp_path, tiny):
    location = url.format(id=uuid.uuid4().hex, tmp=tmp_path)
    lib = Library(location)
    assert lib.location == location and lib.list() == []
    f, g = tiny("digit", seed=1), tiny("op", seed=2)
    assert lib.publish(f, metrics={"acc": 0.5}).version == 1
    assert lib.publish(f, metrics={"acc": 0.6}).version == 2
    lib.publish(g)
    assert [(s.name, s.latest, s.versions, dict(s.metrics)) for s in lib.list()] == [
        ("digit", 2, 2, {"acc": 0.6}), ("op", 1, 1, {})]
    assert [e.version for e in lib.history("digit")] == [1, 2]
    assert lib.history("digit")[1].parent == 1
    x = torch.randn(5, 8, 8)
    assert torch.equal(lib.load("op").module(x), g.module(x))
    lib.remove("digit", 2)
    assert [e.version for e in lib.history("digit")] == [1]
    assert lib.publish(f).version == 3  # a removed number is never reused
    if url.startswith("file"):  # the same directory, spelled as a path
        assert [s.name for s in Library(tmp_path / "lib").list()] == ["digit", "op"]


def test_default_location_and_env_var(tmp_path, monkeypatch, tiny):
    monkeypatch.delenv("WORKBENCH_LIBRARY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Library().location == str(tmp_path / "library")
    Library().publish(tiny())
    assert (tmp_path / "library" / "digit" / "000001" / "manifest.json").is_file()
    assert (tmp_path / "library" / "digit" / "000001" / "weights.safetensors").is_file()
    monkeypatch.setenv("WORKBENCH_LIBRARY", str(tmp_path / "elsewhere"))
    assert Library().location == str(tmp_path / "elsewhere") and Library().list() == []


def test_parent_version_is_recorded(tmp_path, lib, tiny):
    f = tiny()
    assert lib.publish(f).parent is None
    assert f.origin == {"library": lib.location, "name": "digit", "version": 1}
    g = lib.load("digit", 1)
    with torch.no_grad():
        next(g.module.parameters()).add_(1.0)
    assert lib.publish(g, metrics={"acc": 0.9}).parent == 1
    assert lib.publish(lib.load("digit", 1)).parent == 1
    assert lib.publish(lib.load("digit")).parent == 3
    assert lib.publish(lib.load("digit"), name="digit-copy").parent is None  # another entry
    other = Library(f"memory://parent-test-{uuid.uuid4().hex}")
    assert other.publish(lib.load("digit")).parent is None  # another library
    same = Library(f"file://{lib.location}")  # this library, spelled as a URL
    assert same.publish(lib.load("digit", 2)).parent == 2


def test_info_and_reprs(lib, tiny):
    lib.publish(tiny(), metrics={"accuracy": 0.5}, task="t1", description="first", tags=["x"])
    ev = lib.info("digit")
    assert isinstance(ev, EntryVersion) and ev == lib.info("digit", 1) == lib.history("digit")[0]
    with pytest.raises(AttributeError):
        ev.version = 2  # frozen
    with pytest.raises(TypeError):
        ev.metrics["accuracy"] = 1.0  # read-only mapping
    assert ev.signature == "Vec8x8 -> Three[3]" and ev.architecture.startswith("mlp(")
    text = repr(ev)
    assert "digit@1" in text and "Vec8x8 -> Three[3]" in text and "accuracy=0.5" in text and "t1" in text
    assert "<table>" in ev._repr_html_() and "digit@1" in ev._repr_html_()
    assert "digit@1" in repr(lib) and "1 entry" in repr(lib)
    assert "<table>" in lib._repr_html_() and "digit" in lib._repr_html_()
    assert "digit@1" in repr(lib.list()[0])
    assert lib.list()[0].to_dict() == {"name": "digit", "latest": 1, "versions": 1,
                                       "signature": "Vec8x8 -> Three[3]", "metrics": {"accuracy": 0.5}}
    assert "from digit@1" in repr(lib.load("digit"))


@pytest.mark.parametrize("bad", ["../x", "a/b", "a\\b", "", "a" * 65, "a\x00b", "a\nb", "..", ".hidden",
                                 "a..b", "-x", "a b", "é", 7])
def test_bad_names_are_refused_with_a_hint(bad, tmp_path, lib, tiny):
    f = tiny()
    for call in (lambda: lib.publish(f, name=bad), lambda: lib.load(bad), lambda: lib.info(bad),
                 lambda: lib.history(bad), lambda: lib.remove(bad, 1)):
        with pytest.raises(InvalidName) as e:
            call()
        assert isinstance(e.value, ValueError) and isinstance(e.value, LibraryError)
        assert e.value.hint and "[A-Za-z0-9_.-]" in str(e.value)
    assert [p.name for p in tmp_path.rglob("*")] in ([], ["lib"])  # nothing written, nowhere


@pytest.mark.parametrize("good", ["a", "a" * 64, "net_0", "v1.2-x", "0digit", "A.b_c-d"])
def test_good_names(good, lib, tiny):
    assert lib.publish(tiny(), name=good).name == good
    assert lib.load(good).name.isidentifier()


def test_bad_versions(lib, tiny):
    lib.publish(tiny())
    for bad in (0, -1, True, 1.5, "x"):
        with pytest.raises(InvalidName):
            lib.load("digit", bad)
    assert lib.info("digit", "1").version == 1


def test_missing_entries_and_versions_have_hints(lib, tiny):
    with pytest.raises(EntryNotFound, match="no entry 'digit'") as e:
        lib.load("digit")
    assert "empty" in e.value.hint
    lib.publish(tiny())
    lib.publish(tiny("op"))
    with pytest.raises(EntryNotFound) as e:
        lib.load("digt")
    assert isinstance(e.value, KeyError) and "did you mean 'digit'" in e.value.hint
    assert "digit" in e.value.hint and "op" in e.value.hint and str(e.value).startswith("no entry 'digt'")
    for call in (lambda: lib.load("digit", 5), lambda: lib.info("digit", 5), lambda: lib.remove("digit", 5)):
        with pytest.raises(VersionNotFound) as e:
            call()
        assert e.value.entry == "digit" and e.value.version == 5 and "versions of 'digit': 1" in e.value.hint
    lib.remove("digit", 1)
    with pytest.raises(EntryNotFound):
        lib.load("digit")
    assert [s.name for s in lib.list()] == ["op"]


def test_unknown_architecture_names_the_constructor(lib, tiny, monkeypatch):
    monkeypatch.setitem(nets.ARCHITECTURES, "tiny_linear_tmp", lambda out=3: torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, out)))
    f = tiny()
    f = NeuralFunction("lin", nets.build("tiny_linear_tmp"), input=f.input, output=f.output,
                       arch=("tiny_linear_tmp", {}))
    lib.publish(f)
    monkeypatch.delitem(nets.ARCHITECTURES, "tiny_linear_tmp")
    assert lib.info("lin").constructor == "tiny_linear_tmp"  # inspecting still works
    with pytest.raises(UnknownArchitecture, match="tiny_linear_tmp") as e:
        lib.load("lin")
    assert "register_architecture" in str(e.value) and "lin@1" in str(e.value)
    with pytest.raises(UnknownArchitecture, match="tiny_linear_tmp"):
        lib.publish(f)


def test_publish_refuses_what_it_could_not_load_back(lib, tiny):
    f = tiny()
    no_arch = NeuralFunction("digit", f.module, input=f.input, output=f.output)
    with pytest.raises(PublishError, match="no architecture") as e:
        lib.publish(no_arch)
    assert "arch=" in e.value.hint
    wrong = NeuralFunction("digit", f.module, input=f.input, output=f.output,
                           arch=("mlp", {"in_shape": [8, 8], "out": 3, "hidden": [7]}))
    with pytest.raises(PublishError, match="does not match its architecture"):
        lib.publish(wrong)
    with pytest.raises(PublishError, match="finite"):
        lib.publish(f, metrics={"loss": math.nan})
    with pytest.raises(PublishError, match="not a finite number"):
        lib.publish(f, metrics={"loss": "low"})
    bad_kwargs = NeuralFunction("digit", f.module, input=f.input, output=f.output, arch=("mlp", {"x": object()}))
    with pytest.raises(PublishError, match="JSON"):
        lib.publish(bad_kwargs)
    assert lib.list() == [] and f.origin is None


def test_published_precision_is_kept(lib, tiny):
    f = tiny()
    f.module.double()
    lib.publish(f)
    g = lib.load("digit")
    x = torch.randn(3, 8, 8, dtype=torch.float64)
    assert next(g.module.parameters()).dtype == torch.float64
    assert torch.equal(g.module(x), f.module(x))


def test_publish_and_load_leave_the_random_stream_alone(lib, tiny):
    f = tiny()
    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    lib.publish(f)
    lib.load("digit")
    assert torch.equal(torch.rand(3), want)
