"""The packages list in pyproject does not recurse: every package directory must be listed."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_package_dir_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    pkg_dir = cfg["package-dir"]
    found = set()
    for name, rel in pkg_dir.items():
        base = ROOT / rel
        for init in base.rglob("__init__.py"):
            sub = init.parent.relative_to(base)
            parts = [] if str(sub) == "." else list(sub.parts)
            found.add(".".join([name, *parts]))
    assert found == listed, f"pyproject packages {sorted(listed)} != tree {sorted(found)}"


def test_no_generic_top_level_modules():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "causal_agents" or p.startswith("causal_agents.") for p in cfg["packages"])


def test_readme_layout_names_every_subpackage():
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    subs = sorted(p.parent.name for p in (ROOT / "causal_agents").glob("*/__init__.py"))
    assert subs, "no subpackages found"
    missing = [s for s in subs if f"{s}/" not in layout]
    assert missing == [], f"README Layout does not name {missing}"
