"""scm's own layering: no import cycle inside scm (imports in functions count), the config is
torch-free, and the --hard preset is written once."""

import ast
import os
import subprocess
import sys

SCM = os.path.join(os.path.dirname(__file__), "..", "..", "causal_agents", "scm")


def _imports(path: str) -> set[str]:
    """Every causal_agents.scm module a file imports, at top level or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("causal_agents.scm."):
            out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith("causal_agents.scm.")}
    return out


def _graph() -> dict[str, set[str]]:
    return {f[:-3]: _imports(os.path.join(SCM, f)) for f in os.listdir(SCM) if f.endswith(".py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(n, path):
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path + [n, m]
            if m not in state:
                c = visit(m, path + [n])
                if c:
                    return c
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n, [])
            if c:
                return c
    return None


def test_no_import_cycle_in_scm():
    assert _cycle(_graph()) is None


def test_cycle_finder_sees_a_back_import():
    g = _graph()
    g["fused"] = g["fused"] | {"models"}  # the back-import the actions module removed
    assert _cycle(g) is not None


def test_config_and_cli_import_no_torch():
    code = ("import sys, causal_agents.scm.config, causal_agents.cli.scm\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def test_hard_preset_written_once():
    root = os.path.join(SCM, "..", "..")
    for rel in ("cli/scm.py", "causal_agents/scm/bench.py"):
        src = open(os.path.join(root, rel)).read()
        assert "no_safe_frac=0.5" not in src and "0.5 if hard" not in src, rel
