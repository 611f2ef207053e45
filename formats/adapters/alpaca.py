"""Alpaca: ``instruction``, ``input``, ``output``, optional ``system`` and ``history``
(``[[query, response], ...]``)."""

from __future__ import annotations


from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import ReadOptions, msg, need_str, tname

NAME = "alpaca"
ORDER = 60
KEYS = ("instruction",)
RULES = "`instruction` + `input` (user turn), `output` (assistant turn), optional `system`, `history` (`[[query, response], ...]`); recognised by shape: `instruction` a string and `output` present (OpenHands' `instruction` with a `history` of events is openhands)"
SAMPLES = ("alpaca.json",)
CONSUMED = ("instruction", "input", "output", "system", "history", "tools", "functions")


def matches(rec: dict) -> bool:
    return isinstance(rec.get("instruction"), str) and "output" in rec


def read(rec: dict, opts: ReadOptions) -> list[dict]:
    out = []
    system = rec.get("system")
    if system:
        out.append(msg("system", need_str(system, "system"), "system"))
    history = rec.get("history") or []
    if not isinstance(history, list):
        raise InputError(f"expected a list of [query, response] pairs, got {tname(history)}", field="history")
    for i, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise InputError("expected a [query, response] pair of strings", field=f"history[{i}]")
        out.append(msg("user", pair[0], f"history[{i}][0]"))
        out.append(msg("assistant", pair[1], f"history[{i}][1]"))
    query = need_str(rec.get("instruction"), "instruction")
    extra = rec.get("input")
    if extra:
        query += "\n" + need_str(extra, "input")
    out.append(msg("user", query, "instruction"))
    out.append(msg("assistant", need_str(rec.get("output"), "output"), "output"))
    return out


