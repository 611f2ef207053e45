"""OpenAI / Hugging Face chat: ``messages`` of ``{role, content, name, tool_calls, function_call,
tool_call_id}``; content a string or a list of parts ``{type, text}`` or ``{type, value}``
(LLaMA-Factory v1: types text, reasoning, tool_call). ms-swift's roles ``tool_call`` (the
agent's) and ``tool_response`` (the world's) are ordinary roles here; its per-message ``loss``
is a train flag."""

from __future__ import annotations

from typing import Any

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import (MEDIA_PARTS, REASONING_FIELDS, Message, ReadOptions, author,
                                                 maybe_json, msg, need_list, provenance, shape, str_field,
                                                 suspect_flags, think, tname, tool_call_text, weight)

NAME = "openai"
ORDER = 20
KEYS = ("messages",)
RULES = ("`role` (system, developer, user, assistant, tool, function; ms-swift's tool_call → agent, its JSON call rendered as `<tool_call>`, "
         "tool_response → world), `content` (string or list of parts `{type, text}` or `{type, value}`: types "
         "text, reasoning (→ `<think>...</think>`), tool_call; image/audio/file parts become `<type>` "
         "placeholders; any other part is an error naming the record and part), `name`, `tool_calls` and the "
         "legacy `function_call: {name, arguments}` (both rendered into the assistant turn as "
         "`<tool_call>{\"name\":...,\"arguments\":...}</tool_call>`: the agent's action), `tool_call_id`, "
         "reasoning fields `reasoning_content`/`reasoning`/`thinking`")
SAMPLES = ("agent_tools.jsonl", "openai_functions.jsonl", "parts_value.jsonl", "hf_images.parquet",
           "ms_swift.jsonl")
CONSUMED = ("messages", "tools", "functions")


def matches(rec: dict) -> bool:
    return "messages" in rec


def read(rec: dict, opts: ReadOptions, key: str = "messages") -> list[Message]:
    return [openai_message(m, i, key) for i, m in enumerate(need_list(rec, key))]


def content_text(content: Any, field: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part_text(part, f"{field}.content[{j}]") for j, part in enumerate(content))
    raise InputError(f"expected a string or a list of parts, got {tname(content)}", field=f"{field}.content")


def part_text(part: Any, field: str) -> str:
    """One content part: ``{type, text}`` (OpenAI, HF) or ``{type, value}`` (LLaMA-Factory v1).
    A shape cag does not know is an error, never a silent placeholder."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise InputError(f"expected a content part {{type, text|value}}, got {shape(part)}", field=field)
    kind = part["type"]
    body = part.get("text", part.get("value"))
    if kind in ("text", "input_text", "output_text") and isinstance(body, str):
        return body
    if kind in ("reasoning", "thinking") and isinstance(body if body is not None else part.get(kind), str):
        return think(body if body is not None else part[kind])
    if kind == "tool_call" and body is not None:
        return render_tool_call(maybe_json(body), field=field)
    if kind in MEDIA_PARTS:
        return f"<{kind}>"
    raise InputError(f"unknown content part {shape(part)} (cag reads parts of type text, reasoning, tool_call "
                     f"with a 'text' or 'value' string, and media parts {', '.join(sorted(MEDIA_PARTS))})", field=field)


def reasoning(m: dict, field: str) -> str:
    for key in REASONING_FIELDS:
        v = m.get(key)
        if v:
            if not isinstance(v, str):
                raise InputError(f"expected a string, got {tname(v)}", field=f"{field}.{key}")
            return think(v)
    return ""


def render_tool_call(call: Any, i: int = 0, j: int = 0, field: str | None = None, key: str = "messages") -> str:
    """Message ``i``'s tool call ``j`` is the agent's action; render it as text the model
    conditions on. (Indices, not a field path: the path is only formatted for an error.) The
    legacy ``function_call: {name, arguments}`` renders exactly like a tool call, and so does
    Inspect's ``{function: NAME, arguments}``."""
    where = field or f"{key}[{i}].tool_calls[{j}]"
    if not isinstance(call, dict):
        raise InputError(f"expected an object, got {tname(call)}", field=where)
    fn = call.get("function", call)
    if isinstance(fn, str):  # Inspect AI: the function's name, arguments beside it
        return tool_call_text(fn, call.get("arguments", {}))
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InputError("expected a function name", field=f"{where}.function.name" if "function" in call
                         else f"{where}.name")
    return tool_call_text(fn["name"], fn.get("arguments", {}))


def plain_tool_calls(calls: list) -> str | None:
    """The text ``openai_message`` renders for ``tool_calls`` when every call has the plain
    shape ``{..., function: {name, arguments}}``; None otherwise (then ``openai_message``
    renders the call or names what is wrong with it). The tagger's fast path uses it to skip
    building the whole message."""
    parts = []
    for c in calls:
        fn = c.get("function") if type(c) is dict else None
        if type(fn) is not dict or type(fn.get("name")) is not str:
            return None
        parts.append(tool_call_text(fn["name"], fn.get("arguments", {})))
    return "\n".join(parts)


def openai_message(m: Any, i: int, key: str = "messages") -> Message:
    """One OpenAI-style message as cag's plain message (role, author, text, weight, provenance, tool fields)."""
    f = f"{key}[{i}]"
    if not isinstance(m, dict):
        raise InputError(f"expected an object, got {tname(m)}", field=f)
    role = str_field(m, "role", f)
    text = reasoning(m, f) + content_text(m.get("content"), f)
    if role == SWIFT_CALL_ROLE and text:
        text = swift_call(text)
    rendered = calls(m, i, key)
    if rendered:
        text = "\n".join(([text] if text else []) + rendered)
    name = str_field(m, "name", f, required=False)
    tcid = m.get("tool_call_id")
    if tcid is None and isinstance(m.get("tool_call_ids"), list) and m["tool_call_ids"]:
        tcid = m["tool_call_ids"][0]  # SWE-agent keeps a list
    if tcid is not None and not isinstance(tcid, str):
        raise InputError(f"expected a string, got {tname(tcid)}", field=f"{f}.tool_call_id")
    return msg(role, text, f, author=author(m, f) or name, weight=weight(m, f), provenance=provenance(m, f),
               name=name, tool_call_id=tcid, suspect=suspect_flags(m))


# ms-swift writes the agent's tool call as its own message of this role, its content the call as JSON.
SWIFT_CALL_ROLE = "tool_call"


def swift_call(text: str) -> str:
    """An ms-swift ``tool_call`` message's JSON ``{name, arguments}`` rendered like every other
    tool call; content that is not such a call is kept as written."""
    call = maybe_json(text)
    if isinstance(call, dict) and isinstance(call.get("name"), str):
        return tool_call_text(call["name"], call.get("arguments", {}))
    return text


def calls(m: dict, i: int, key: str) -> list[str]:
    """Rendered ``tool_calls`` and the legacy ``function_call`` (the same action, rendered alike)."""
    out = []
    tc = m.get("tool_calls")
    if tc:
        if not isinstance(tc, list):
            raise InputError(f"expected a list, got {tname(tc)}", field=f"{key}[{i}].tool_calls")
        out = [render_tool_call(c, i, j, key=key) for j, c in enumerate(tc)]
    fc = m.get("function_call")
    if fc:
        out.append(render_tool_call(maybe_json(fc), field=f"{key}[{i}].function_call"))
    return out
