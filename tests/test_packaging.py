"""Packaging invariants: environment.yml mirrors pyproject.toml, core stays free of UI/Jupyter
imports, and the Makefile / CI entry point offer the README's commands."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "workbench" / "core"

# PyPI name -> conda-forge name, where they differ. Keep this explicit: a new dependency of
# pyproject.toml must be added to environment.yml (under this name if listed here).
PYPI_TO_CONDA = {
    "torch": "pytorch",
    "graphviz": "python-graphviz",
}

# Modules that workbench/core must never import (directly or through anything it imports).
FORBIDDEN_IN_CORE = (
    "matplotlib",
    "ipywidgets",
    "graphviz",
    "jupyter_server",
    "traitlets",
    "anywidget",
    "IPython",
)

_NAME = re.compile(r"^\s*(?:[A-Za-z0-9_.\-]+::)?([A-Za-z0-9][A-Za-z0-9_.\-]*)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """Project name of a PEP 508 requirement ('torch>=2.4; python_version>"3"' -> 'torch')."""
    match = _NAME.match(requirement)
    assert match, f"cannot read a name from requirement {requirement!r}"
    return _normalise(match.group(1))


def lower_bound(spec: str) -> str | None:
    match = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", spec)
    return match.group(1) if match else None


def parse_environment(text: str) -> tuple[dict[str, str], list[str]]:
    """A tolerant reader for environment.yml's simple structure (no PyYAML needed).

    Returns ({conda package name: full spec}, [pip entries]). Comments and quotes are ignored;
    list items nested under ``- pip:`` are pip entries, the other items of ``dependencies:`` are
    conda packages.
    """
    conda: dict[str, str] = {}
    pip: list[str] = []
    in_deps = False
    deps_indent: int | None = None
    pip_indent: int | None = None
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw).rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_deps = line.startswith("dependencies:")
            deps_indent = pip_indent = None
            continue
        if not in_deps:
            continue
        item = re.match(r"^(\s*)-\s*(.*)$", line)
        if not item:
            continue
        item_indent, value = len(item.group(1)), item.group(2).strip().strip("'\"")
        if deps_indent is None:
            deps_indent = item_indent
        if pip_indent is not None and item_indent > pip_indent:
            pip.append(value)
            continue
        pip_indent = None
        if item_indent != deps_indent:
            continue
        if value.rstrip() == "pip:":
            pip_indent = item_indent
            continue
        conda[_normalise(_NAME.match(value).group(1))] = value
    return conda, pip


def runtime_dependencies() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["dependencies"]


def environment_problems(requirements: list[str], env_text: str) -> list[str]:
    """What environment.yml lacks relative to pyproject's runtime requirements (empty = in sync)."""
    conda, _ = parse_environment(env_text)
    problems = []
    for requirement in requirements:
        name = requirement_name(requirement)
        conda_name = _normalise(PYPI_TO_CONDA.get(name, name))
        if conda_name not in conda:
            problems.append(f"{name} (conda-forge: {conda_name}) is missing from environment.yml")
            continue
        wanted, have = lower_bound(requirement), lower_bound(conda[conda_name])
        if have is not None and wanted is not None and have != wanted:
            problems.append(f"{conda_name}: environment.yml asks >={have}, pyproject.toml >={wanted}")
    return problems


# --------------------------------------------------------------------------- (a) environment.yml


def test_parse_environment_reader():
    text = """
name: x
channels:
  - conda-forge
dependencies:
  - python=3.11
  - "pytorch >=2.4 cpu_*"   # comment
  - conda-forge::numpy>=1.24
  # - commented-out
  - pip
  - pip:
      - -e .[test]
      - some-pip-only
  - nodejs
"""
    conda, pip = parse_environment(text)
    assert set(conda) == {"python", "pytorch", "numpy", "pip", "nodejs"}
    assert pip == ["-e .[test]", "some-pip-only"]
    assert lower_bound(conda["pytorch"]) == "2.4"


def test_environment_names_every_runtime_dependency():
    problems = environment_problems(runtime_dependencies(), (ROOT / "environment.yml").read_text())
    assert not problems, "environment.yml is out of sync with pyproject.toml:\n" + "\n".join(problems)


def test_a_new_pyproject_dependency_is_caught():
    env_text = (ROOT / "environment.yml").read_text()
    problems = environment_problems([*runtime_dependencies(), "some-new-package>=1.0"], env_text)
    assert problems == ["some-new-package (conda-forge: some-new-package) is missing from environment.yml"]
    # A mapped name is looked up under its conda-forge name, not the PyPI one.
    assert environment_problems(["torch>=2.4"], "dependencies:\n  - torch>=2.4\n")
    assert not environment_problems(["torch>=2.4"], "dependencies:\n  - pytorch>=2.4\n")


def test_environment_extras():
    conda, pip = parse_environment((ROOT / "environment.yml").read_text())
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^name:\s*ntpt-workbench\s*$", text, re.M)
    assert re.search(r"^\s*-\s*conda-forge\s*$", text, re.M)
    assert conda["python"].replace(" ", "").startswith("python=3.11")
    for extra in ("graphviz", "nodejs", "pip"):
        assert extra in conda, f"environment.yml should install {extra}"
    assert "cpuonly" not in conda, "conda-forge's pytorch needs no `cpuonly` (that is the pytorch channel's)"
    assert any(re.fullmatch(r"-e\s+\.(\[[a-z,]*test[a-z,]*\])?", entry) for entry in pip), pip


# --------------------------------------------------------------------------- (b) core's imports


def _core_files() -> list[Path]:
    files = sorted(CORE.rglob("*.py"))
    assert files, f"no Python files under {CORE}"
    return files


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    package = list(path.relative_to(ROOT).with_suffix("").parts)[:-1]  # the package holding the file
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def test_core_imports_no_ui_or_jupyter_module():
    bad = []
    for path in _core_files():
        for line, module in _imports(path):
            if module.split(".")[0] in FORBIDDEN_IN_CORE:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "workbench/core must stay free of UI/Jupyter imports:\n" + "\n".join(bad)


def test_core_depends_only_on_torch_stdlib_and_itself():
    """DESIGN.md: core is torch + stdlib only, and dependencies flow one way (nothing above core)."""
    allowed = set(sys.stdlib_module_names) | {"torch", "__future__"}
    bad = []
    for path in _core_files():
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top == "workbench":
                if not (module == "workbench.core" or module.startswith("workbench.core.")):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (outside core)")
            elif top not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (not torch/stdlib)")
    assert not bad, "workbench/core's imports break the layout rule:\n" + "\n".join(bad)


def test_importing_core_loads_no_ui_or_jupyter_module():
    code = f"import workbench.core; import sys; print([m for m in {FORBIDDEN_IN_CORE!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"`import workbench.core` failed:\n{result.stderr}"
    loaded = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing workbench.core pulled in {loaded}"


# --------------------------------------------------------------------------- (c) Makefile and CI


def test_makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", makefile, re.M))
    missing = {"demo", "test", "lint"} - targets
    assert not missing, f"Makefile lacks targets {sorted(missing)}"
    phony = " ".join(re.findall(r"^\.PHONY\s*:(.*)$", makefile, re.M)).split()
    assert {"demo", "test", "lint"} <= set(phony)


def test_ci_runs_make_test():
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.fail(".ci/run is missing")
    commands = [line.split("#")[0].strip() for line in ci.read_text().splitlines()]
    assert any(re.search(r"(^|[;&|]\s*)make\s+(.*\s)?test\b", c) for c in commands), (
        ".ci/run must call `make test`"
    )
