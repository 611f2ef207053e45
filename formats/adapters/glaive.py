"""Glaive function calling v2 (``glaiveai/glaive-function-calling-v2``): ``{system, chat}``.
``system`` is ``"SYSTEM: ..."`` (the prompt, with the functions' JSON schemas in its text);
``chat`` is one string of turns ``USER: ...``, ``ASSISTANT: ...`` and ``FUNCTION RESPONSE:
...``, assistant turns ending in ``<|endoftext|>``. An assistant turn may hold ``<functioncall>
{"name": ..., "arguments": '{...}'}``: the agent's tool call, with its arguments as a JSON
object inside single quotes (not JSON itself), so it is parsed leniently."""

from __future__ import annotations

import re

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import Message, ReadOptions, msg, need_str, tool_call_text

NAME = "glaive"
ORDER = 62
KEYS = ("chat",)
RULES = ("Glaive function calling v2 `{system, chat}`: `system` (its `SYSTEM: ` marker dropped; the function JSON "
         "stays in the text) → context; `chat` split at `USER:` (world), `ASSISTANT:` (agent) and `FUNCTION "
         "RESPONSE:` (a tool message, world), `<|endoftext|>` dropped; `<functioncall> {\"name\", \"arguments\": "
         "'{...}'}` in an assistant turn → `<tool_call>` (arguments that do not parse are kept as written; a call "
         "with no readable name stays as its raw text)")
SAMPLES = ("glaive_v2.jsonl",)
CONSUMED = ("system", "chat")

_TURN = re.compile(r"(?:^|\n)[ \t]*(USER|ASSISTANT|FUNCTION RESPONSE):[ \t]?")
_ROLES = {"USER": "user", "ASSISTANT": "assistant", "FUNCTION RESPONSE": "tool"}
_EOT = "<|endoftext|>"
_CALL = "<functioncall>"
_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ARGS = re.compile(r'"arguments"\s*:\s*(.*?)\s*\}\s*$', re.DOTALL)


def matches(rec: dict) -> bool:
    return isinstance(rec.get("chat"), str)


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    out = []
    system = rec.get("system")
    if system is not None:
        system = need_str(system, "system")
        text = system[len("SYSTEM:"):].lstrip(" ") if system.startswith("SYSTEM:") else system
        if text.strip():
            out.append(msg("system", text.strip(), "system"))
    chat = need_str(rec.get("chat"), "chat")
    marks = list(_TURN.finditer(chat))
    if not marks or chat[:marks[0].start()].strip():
        head = chat[:marks[0].start()] if marks else chat
        raise InputError(f"expected the chat to start with USER:, ASSISTANT: or FUNCTION RESPONSE:, got {head.strip()[:40]!r}",
                         field="chat")
    called = None  # the last call's name: the function whose response follows
    for k, mk in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(chat)
        body = chat[mk.end():end].strip()
        if body.endswith(_EOT):
            body = body[:-len(_EOT)].rstrip()
        role = _ROLES[mk.group(1)]
        field = f"chat[{k}]"
        if role == "assistant" and _CALL in body:
            before, _, call = body.partition(_CALL)
            rendered, called = _render_call(call.strip())
            body = "\n".join(x for x in (before.strip(), rendered) if x)
        out.append(msg(role, body, field, name=called if role == "tool" else None))
    return out


def _render_call(raw: str) -> tuple[str, str | None]:
    """``{"name": "f", "arguments": '{"a": 1}'}`` as cag's tool call. Glaive quotes the
    arguments object in single quotes; plain JSON is read too. A call whose name cannot be
    read stays as the agent wrote it. Returns the text and the function's name."""
    try:
        call = orjson.loads(raw)
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            return tool_call_text(call["name"], call.get("arguments", {})), call["name"]
    except orjson.JSONDecodeError:
        pass
    name = _NAME.search(raw)
    if name is None:
        return f"{_CALL} {raw}", None
    args = _ARGS.search(raw)
    text = args.group(1) if args else "{}"
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    try:
        fname = orjson.loads(f'"{name.group(1)}"')
    except orjson.JSONDecodeError:
        fname = name.group(1)
    return tool_call_text(fname, text), fname  # arguments that are not JSON are kept as written
