"""xLAM / APIGen function-calling rows (Salesforce's ``xlam-function-calling-60k``):
``{id, query, tools, answers}``, ``tools`` and ``answers`` each a JSON string (or a list);
``answers`` is the list of calls ``{name, arguments}`` that answer the query in one turn."""

from __future__ import annotations

from typing import Any

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import Message, ReadOptions, msg, need_str, shape, tname, tool_call_text

NAME = "xlam"
ORDER = 64
KEYS = ("answers", "query")
RULES = ("xLAM/APIGen function calling `{id, query, tools, answers}`: `query` → user (world); `answers` (a list of "
         "`{name, arguments}`, or a JSON string of one) → one assistant turn (agent by role default: public data are "
         "demonstrations, pass `--demonstrations`) of `<tool_call>`s; `tools` (list or JSON string) → the tool "
         "schemas (context)")
SAMPLES = ("xlam.jsonl",)
CONSUMED = ("query", "answers", "tools")


def matches(rec: dict) -> bool:
    return "answers" in rec and isinstance(rec.get("query"), str)


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    query = need_str(rec.get("query"), "query")
    calls = _json_list(rec.get("answers"), "answers")
    parts = []
    for j, c in enumerate(calls):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise InputError(f"expected a call {{name, arguments}}, got {shape(c)}", field=f"answers[{j}]")
        parts.append(tool_call_text(c["name"], c.get("arguments", {})))
    return [msg("user", query, "query"), msg("assistant", "\n".join(parts), "answers")]


def _json_list(v: Any, field: str) -> list:
    """A list, or a JSON string of one (xLAM stores both columns as JSON text)."""
    if isinstance(v, str):
        try:
            v = orjson.loads(v)
        except orjson.JSONDecodeError as e:
            raise InputError(f"expected a JSON list of calls, got a string that is not JSON ({e})", field=field) from e
    if not isinstance(v, list) or not v:
        raise InputError(f"expected a non-empty list of calls {{name, arguments}}, got {tname(v) if v != [] else 'an empty list'}",
                         field=field)
    return v
