"""tau-bench results: ``{task_id, reward, info, traj}`` with OpenAI messages under ``traj``."""

from __future__ import annotations

from causal_agents.formats.adapters.base import Message, ReadOptions
from causal_agents.formats.adapters.openai import read as read_openai

NAME = "tau-bench"
ORDER = 70
KEYS = ("traj",)
RULES = ("tau-bench results `{task_id, reward, info, traj}`: OpenAI messages under `traj` (its "
         "`messages_display` text reads with `--format text --text-key messages_display`)")
SAMPLES = ("tau_bench.json",)
CONSUMED = ("traj", "tools", "functions")


def matches(rec: dict) -> bool:
    return "traj" in rec


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    return read_openai(rec, opts, "traj")
