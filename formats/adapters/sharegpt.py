"""ShareGPT: ``conversations`` of ``{from, value}`` (optional top-level ``system``)."""

from __future__ import annotations


from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import ReadOptions, author, msg, need_list, provenance, str_field, suspect_flags, weight
from causal_agents.formats.adapters.openai import reasoning

NAME = "sharegpt"
ORDER = 30
KEYS = ("conversations",)
RULES = "`from` (human, gpt, system, function_call, observation), `value`; optional top-level `system`; per-message train flags as in openai (AgentInstruct's `loss`)"
SAMPLES = ("sharegpt.jsonl",)
CONSUMED = ("conversations", "system", "tools", "functions")


def matches(rec: dict) -> bool:
    return "conversations" in rec


def read(rec: dict, opts: ReadOptions) -> list[dict]:
    out = []
    if isinstance(rec.get("system"), str) and rec["system"]:
        out.append(msg("system", rec["system"], "system"))
    for i, m in enumerate(need_list(rec, "conversations")):
        f = f"conversations[{i}]"
        if not isinstance(m, dict):
            raise InputError(f"expected an object, got {tname(m)}", field=f)
        role = str_field(m, "from", f)
        text = reasoning(m, f) + str_field(m, "value", f)
        name = str_field(m, "name", f, required=False)
        out.append(msg(role, text, f, author=author(m, f) or name, weight=weight(m, f),
                        provenance=provenance(m, f), name=name, suspect=suspect_flags(m)))
    return out


