"""``workbench library ls | show | history | rm`` through ``workbench.cli.main``."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main


@pytest.fixture
def published(lib, tiny):
    lib.publish(tiny("digit", seed=1), metrics={"accuracy": 0.91}, task="add2x2")
    lib.publish(lib.load("digit"), metrics={"accuracy": 0.95}, task="apply2x2")
    lib.publish(tiny("op", seed=2))
    return lib


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ls(published, capsys):
    code, out, err = run(capsys, "library", "--library", published.location, "ls")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "LATEST", "VERSIONS", "SIGNATURE", "METRICS"]
    assert lines[1].split()[:3] == ["digit", "2", "2"] and "accuracy=0.95" in lines[1]
    assert "Vec8x8 -> Three[3]" in lines[1] and lines[2].split()[:3] == ["op", "1", "1"]


def test_library_option_after_the_verb_and_env_var(published, capsys, monkeypatch, tmp_path):
    assert "digit" in run(capsys, "library", "ls", "--library", published.location)[1]
    monkeypatch.setenv("WORKBENCH_LIBRARY", published.location)
    assert "digit" in run(capsys, "library", "ls")[1]
    code, out, _ = run(capsys, "library", "ls", "--library", str(tmp_path / "empty"))
    assert code == 0 and "empty" in out


def test_show_and_show_json(published, capsys):
    code, out, _ = run(capsys, "library", "--library", published.location, "show", "digit")
    assert code == 0 and "digit@2" in out and "parent:" in out and "digit@1" in out and "apply2x2" in out
    code, out, _ = run(capsys, "library", "--library", published.location, "show", "digit@1", "--json")
    manifest = json.loads(out)
    assert code == 0 and manifest["version"] == 1 and manifest["metrics"] == {"accuracy": 0.91}
    assert manifest["provenance"]["task"] == "add2x2" and manifest["architecture"]["constructor"] == "mlp"


def test_history(published, capsys):
    code, out, _ = run(capsys, "library", "--library", published.location, "history", "digit")
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and rows[0][:3] == ["VERSION", "PARENT", "CREATED"]
    assert [r[:2] for r in rows[1:]] == [["1", "-"], ["2", "1"]]


def test_rm(published, capsys):
    code, out, _ = run(capsys, "library", "--library", published.location, "rm", "digit@2")
    assert code == 0 and "removed digit@2" in out
    assert [e.version for e in published.history("digit")] == [1]


@pytest.mark.parametrize("argv, needle", [
    (["show", "../x"], "invalid library entry name '../x'"),
    (["history", "a/b"], "invalid library entry name 'a/b'"),
    (["show", "nope"], "no entry 'nope'"),
    (["show", "digit@9"], "has no version 9"),
    (["rm", "digit"], "explicit version"),
    (["rm", "digit@x"], "invalid version"),
])
def test_errors_exit_2_with_one_line(published, capsys, argv, needle):
    code, out, err = run(capsys, "library", "--library", published.location, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("workbench: error: ") and needle in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "library")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "--help")[0] == 0
