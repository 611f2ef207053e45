"""The package layout's rules, read from the source (imports inside functions count too).

errors <- formats <- transcripts <- lm <- training <- {truth, stem}; scm uses only errors and
formats; nothing in the library imports cli; truth and stem never import each other; no
import cycle among the project's modules; transcripts imports no torch.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Source folder -> the package it installs as (pyproject's package-dir).
ROOTS = {"causal_agents": "causal_agents", "cli": "causal_agents.cli", "formats": "causal_agents.formats"}
# What each concern may import (besides itself). cli is the top: it may import anything.
ALLOWED = {
    "errors": set(),
    "formats": {"errors"},
    "transcripts": {"errors", "formats"},
    "lm": {"errors", "formats", "transcripts"},
    "training": {"errors", "formats", "transcripts", "lm"},
    "truth": {"errors", "formats", "transcripts", "lm", "training"},
    "stem": {"errors", "formats", "transcripts", "lm", "training"},
    "scm": {"errors", "formats"},
    "root": {"errors"},
}


def project_modules() -> dict[str, pathlib.Path]:
    mods = {}
    for folder, pkg in ROOTS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mods[".".join([pkg, *parts])] = path
    return mods


MODULES = project_modules()


def imports_of(path: pathlib.Path, name: str) -> set[str]:
    """Project modules ``path`` imports, at module level or inside functions."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([mod] if mod else []))
            # `from pkg import sub` imports the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports_of(path, name) for name, path in MODULES.items()}


def concern(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "root"
    return parts[1]


def violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in graph.items():
        src = concern(mod)
        if src == "cli":
            continue
        for dep in deps:
            dst = concern(dep)
            if dst != src and dst != "root" and dst not in ALLOWED[src]:
                bad.append(f"{mod} imports {dep} ({src} may not import {dst})")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_every_concern_is_known():
    assert {concern(m) for m in MODULES} - {"cli"} <= set(ALLOWED)


def test_imports_go_one_way():
    assert violations(GRAPH) == []


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_checks_catch_a_back_import():
    # A deliberate back-import (transcripts -> training, and a cycle with it) must be caught.
    graph = {k: set(v) for k, v in GRAPH.items()}
    graph["causal_agents.transcripts.labels"].add("causal_agents.training.data")
    assert any("transcripts.labels imports causal_agents.training.data" in v for v in violations(graph))
    assert any("causal_agents.transcripts.labels" in c for c in cycles(graph))
    graph = {k: set(v) for k, v in GRAPH.items()}
    graph["causal_agents.stem.sample"].add("causal_agents.truth.probes")
    assert violations(graph)


@pytest.mark.parametrize("forbidden", ["torch"])
def test_transcripts_imports_no_torch(forbidden):
    mods = sorted(m for m in MODULES if concern(m) in ("transcripts", "formats"))
    code = ("import sys\n" + "".join(f"import {m}\n" for m in mods)
            + f"assert {forbidden!r} not in sys.modules, sorted(m for m in sys.modules if m.startswith({forbidden!r}))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    # ...and not lazily either: no transcripts module mentions it in an import (formats may,
    # inside a function: its checkpoint reader is torch's by nature)
    for m in (m for m in mods if concern(m) == "transcripts"):
        tree = ast.parse(MODULES[m].read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [x for x in names if x.split(".")[0] == forbidden], m
