"""`cag data`: generators of training and evaluation data. This group module registers each
generator module's commands on ``data_app`` (the commands never import their group)."""

from __future__ import annotations

import typer

from causal_agents.cli import data_dialogues, data_stem

data_app = typer.Typer(help="Generate datasets: STEM problem splits, synthetic dialogues.", no_args_is_help=True)
data_app.command("dialogues")(data_dialogues.dialogues)
data_app.command("stem")(data_stem.stem)
data_app.command("stem-grade")(data_stem.stem_grade)
