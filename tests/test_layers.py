"""Layering: core knows no screen, displays write nothing, no import cycles, nothing parses program text.

* a fresh process imports ``workbench.core``, builds one of each core object and displays it: no
  module of viz, widgets, library or server is imported and no file is created;
* the static import graph of ``workbench`` (every ``import`` statement, also inside functions) has no
  cycle between modules, and core imports nothing above it;
* at run time, importing every module of ``workbench`` records which workbench modules each one
  pulled in: core pulls in nothing outside core;
* no module under ``workbench/`` parses program source or read strings (``ast.parse``, regexes on reads).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "workbench"
ABOVE_CORE = ("workbench.viz", "workbench.widgets", "workbench.library", "workbench.server")

_DISPLAY = r'''
import json, os, sys
import torch
from torch import nn
import workbench.core as wb
D = wb.Domain("D", 4)
net = wb.NeuralFunction("digit", nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), input=wb.Image28, output=D)
@wb.sketch(inputs={"x": D, "img": wb.Image28}, output=D)
def sk(x, img):
    return wb.choose(wb.hole("h", wb.Bool), [x, net(img)])
inputs = {"x": torch.tensor([1, 2]), "img": torch.zeros(2, 28, 28)}
trace = sk.trace(None, inputs, assignment={"h": 1})
graph = sk.graph({"h": 1})
before = set(os.listdir("."))
bundles = [type(o).__name__ for o in (sk, net, trace) if "text/plain" in o._repr_mimebundle_()]
after = set(os.listdir("."))
loaded = [m for m in sys.modules if m.startswith(%r)]
print(json.dumps({"bundles": bundles, "loaded": loaded, "new_files": sorted(after - before),
                  "graph": str(graph).splitlines()[0]}))
'''


def test_core_objects_display_without_importing_higher_layers_or_writing(tmp_path):
    code = _DISPLAY % (ABOVE_CORE,)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["bundles"] == ["Sketch", "NeuralFunction", "Trace"]
    assert res["loaded"] == [], res["loaded"]
    assert res["new_files"] == [] and list(tmp_path.iterdir()) == []
    assert res["graph"].split() == ["name", "op", "target", "args", "domain"]


def test_viz_registers_its_renderer_with_core_on_import():
    code = ("import workbench.core as c, workbench.core.display as d; n0 = len(d._RENDERERS); "
            "import workbench.viz; print(n0, len(d._RENDERERS))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _static_imports() -> dict[str, set[str]]:
    """module -> workbench modules it imports (anywhere in the file), relative imports resolved."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            for name in names:
                while name and name not in modules:
                    name = name.rsplit(".", 1)[0] if "." in name else ""
                if name and name != mod and name.startswith("workbench"):
                    deps.add(name)
        graph[mod] = deps
    return graph


def _is_ancestor(a: str, b: str) -> bool:  # importing b runs a's __init__ first: not a cycle edge
    return b.startswith(a + ".")


def test_no_import_cycle_among_workbench_modules():
    graph = {m: {d for d in deps if not _is_ancestor(d, m) and not _is_ancestor(m, d)}
             for m, deps in _static_imports().items()}
    # package __init__ files re-export their children: treat a package and its children as one
    # level only when they are the same subpackage; a cycle is a path back to the start
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:10])


def test_core_imports_nothing_above_it_statically():
    bad = {m: sorted(d for d in deps if not d.startswith("workbench.core"))
           for m, deps in _static_imports().items() if m.startswith("workbench.core")}
    assert not {m: d for m, d in bad.items() if d}


def test_core_imports_nothing_above_it_at_run_time():
    # ``import workbench.core`` runs the package's __init__ (readout, train) first; beyond that,
    # importing every core module must pull in nothing outside core, and never a higher layer
    code = ("import sys, json, importlib, pkgutil, workbench\n"
            "base = set(sys.modules)\n"
            "import workbench.core as c\n"
            "for m in pkgutil.walk_packages(c.__path__, 'workbench.core.'): importlib.import_module(m.name)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if (m not in base and m.startswith('workbench.') "
            f"and not m.startswith('workbench.core')) or m.startswith({ABOVE_CORE!r}))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_no_module_parses_program_source_or_read_strings():
    bad = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "parse" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "ast":
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} ast.parse")
        text = path.read_text(encoding="utf-8")
        for needle in (r"(?<!\w)_cell\(", r"\.reads\.split", r"\(\?P<input>"):
            if re.search(needle, text):
                bad.append(f"{path.relative_to(ROOT)} contains {needle!r}")
    assert not bad, bad


def test_core_stays_within_its_line_budget():
    def code_lines(path: Path) -> int:
        src = path.read_text(encoding="utf-8")
        doc: set[int] = set()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                        and isinstance(first.value.value, str):
                    doc.update(range(first.lineno, first.end_lineno + 1))
        return sum(1 for i, line in enumerate(src.splitlines(), 1)
                   if line.strip() and not line.strip().startswith("#") and i not in doc)

    total = sum(code_lines(p) for p in (PKG / "core").rglob("*.py"))
    assert total <= 2000, f"workbench/core has {total} code lines (budget 2,000)"


def test_the_server_uses_only_the_librarys_public_api():
    graph = _static_imports()
    bad = {m: sorted(d for d in deps if d.startswith("workbench.library."))
           for m, deps in graph.items() if m.startswith("workbench.server")}
    assert not {m: d for m, d in bad.items() if d}, bad
