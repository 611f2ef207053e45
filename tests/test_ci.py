"""CI runs the README's two set-up commands verbatim."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Set up and run", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    readme_cmds = [x for x in block.strip().splitlines() if x.strip()]
    ci_cmds = [x for x in (ROOT / ".ci" / "run").read_text().splitlines()
               if x.strip() and not x.startswith(("#", "set ", "cd "))]
    assert len(readme_cmds) == 2
    assert ci_cmds == readme_cmds
