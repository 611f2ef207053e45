"""`cag data`: generators of training and evaluation data. Each generator module adds its
command to ``data_app``; keep this file to the sub-app and its registration."""

from __future__ import annotations

import typer

from causal_agents.cli.main import app

data_app = typer.Typer(help="Generate datasets: STEM problem splits, synthetic dialogues.", no_args_is_help=True)
app.add_typer(data_app, name="data")
