"""Every command has help text and is documented in the README."""

import pathlib

import typer

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _commands():
    from causal_agents.cli.main import app

    group = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append((" ".join(path), cmd))

    walk(group, [])
    return out


def test_every_command_has_help_and_a_readme_line():
    readme = (ROOT / "README.md").read_text()
    cmds = _commands()
    assert len(cmds) >= 2
    for path, cmd in cmds:
        assert (cmd.help or "").strip(), f"`cag {path}` has no help text"
        assert f"cag {path}" in readme, f"`cag {path}` is missing from README.md"


def test_help_runs_for_every_command(cag):
    for path, _ in _commands():
        code, out, err = cag(*path.split(), "--help")
        assert code == 0, (path, err)


def test_version_and_module_entry(cag):
    import subprocess
    import sys

    code, out, _ = cag("--version")
    assert code == 0 and out.startswith(b"cag ")
    r = subprocess.run([sys.executable, "-m", "causal_agents.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "tag" in r.stdout


def test_usage_error_exits_2(cag):
    code, _, err = cag("stats", "--by", "colour", "x.jsonl")
    assert code == 2


def test_no_help_text_is_eaten_as_rich_markup():
    """Typer renders help with rich, which silently drops anything shaped like a style tag:
    '[default: --seed]' vanished from `cag reproduce truth --help`. Escape or rephrase."""
    import re

    from rich.text import Text

    for path, cmd in _commands():
        for text in [cmd.help or ""] + [p.help or "" for p in cmd.params if getattr(p, "help", None)]:
            shown = Text.from_markup(text).plain
            assert shown == text.replace("\\[", "["), (path, re.findall(r"\[[^\]]*\]", text))
