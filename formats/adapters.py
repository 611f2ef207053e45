"""Adapters: turn one input record of any supported format into a list of plain messages.

A message here is ``{"role", "author", "text", "weight", "provenance", "name",
"tool_call_id", "field"}``; ``field`` is the path used in error messages
(``messages[3].role``). Gating (who wrote it) happens later, in causal_agents.transcripts.provenance.

Formats, detected per record by their key field (``--format`` forces one):
- ``openai``: ``messages`` of ``{role, content, name, tool_calls, tool_call_id, weight}``
- ``sharegpt``: ``conversations`` of ``{from, value}`` (optional top-level ``system``)
- ``text``: a ``text`` field of ``Role: content`` lines; lines before the first turn are the
  context paragraph
- ``stream``: verifier-loop records: ``question``, ``attempts`` (or a single ``attempt`` +
  ``verdict``), ``correction``
- ``tagged``: ``segments`` already gated by ``cag tag`` (passed through unchanged)
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from causal_agents.errors import InputError

FORMATS = ("openai", "sharegpt", "text", "stream", "tagged")
# The key field that identifies each format, in detection order.
KEY_FIELDS = {"tagged": "segments", "openai": "messages", "sharegpt": "conversations",
              "stream": "question", "text": "text"}
DEFAULT_TEXT_ROLES = ("User", "Agent", "Assistant", "Human", "AI", "System", "Tool", "Teacher",
                      "Verifier", "Oracle")
# Per-message train flags seen in the wild; `masked` is the inverted one.
TRAIN_FLAGS = ("weight", "train", "trainable", "loss_mask")


def detect_format(rec: dict) -> str:
    for fmt, key in KEY_FIELDS.items():
        if key in rec:
            return fmt
    raise InputError("cannot tell the format: expected one of the fields "
                     + ", ".join(KEY_FIELDS.values()), field=None)


def to_messages(rec: dict, fmt: str, text_roles: tuple[str, ...] = DEFAULT_TEXT_ROLES) -> list[dict]:
    if fmt == "openai":
        return _openai(rec)
    if fmt == "sharegpt":
        return _sharegpt(rec)
    if fmt == "text":
        return _text(rec, text_roles)
    if fmt == "stream":
        return _stream(rec)
    raise ValueError(fmt)


def _msg(role, text, field, author=None, weight=1, provenance=None, name=None, tool_call_id=None):
    return {"role": role, "author": author, "text": text, "weight": weight, "provenance": provenance,
            "name": name, "tool_call_id": tool_call_id, "field": field}


def _need_list(rec: dict, key: str) -> list:
    v = rec.get(key)
    if not isinstance(v, list):
        raise InputError(f"expected a list of messages, got {_tname(v)}", field=key)
    if not v:
        raise InputError("expected at least one message, got an empty list", field=key)
    return v


def _tname(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _str_field(m: dict, key: str, field: str, required: bool = True) -> str | None:
    v = m.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {_tname(v)}", field=f"{field}.{key}")
    return v


def _weight(m: dict, field: str) -> int:
    """1 = may be supervised, 0 = never supervised (both modes)."""
    for key in TRAIN_FLAGS:
        if key in m and m[key] is not None:
            return _flag(m[key], f"{field}.{key}")
    if "masked" in m and m["masked"] is not None:
        return 1 - _flag(m["masked"], f"{field}.masked")
    return 1


def _flag(v: Any, field: str) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)) and v in (0, 1):
        return int(v)
    raise InputError(f"expected 0, 1, true or false, got {v!r}", field=field)


def _provenance(m: dict, field: str) -> str | None:
    p = m.get("provenance")
    if p is None:
        return None
    if p not in ("agent", "world", "context"):
        raise InputError(f"expected 'agent', 'world' or 'context', got {p!r}", field=f"{field}.provenance")
    return p


def _author(m: dict, field: str) -> str | None:
    a = m.get("author")
    if a is not None and not isinstance(a, str):
        raise InputError(f"expected a string, got {_tname(a)}", field=f"{field}.author")
    return a


# ------------------------------------------------------------------ openai


def _content_text(content: Any, field: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict) and isinstance(part.get("type"), str):
                # Non-text parts (images, audio) keep a visible placeholder so positions stay honest.
                parts.append(f"<{part['type']}>")
            else:
                raise InputError("expected a content part {type, text}", field=f"{field}.content[{j}]")
        return "".join(parts)
    raise InputError(f"expected a string or a list of parts, got {_tname(content)}", field=f"{field}.content")


def render_tool_call(call: Any, i: int, j: int) -> str:
    """Message ``i``'s tool call ``j`` is the agent's action; render it as text the model
    conditions on. (Indices, not a field path: the path is only formatted for an error.)"""
    if not isinstance(call, dict):
        raise InputError(f"expected an object, got {_tname(call)}", field=f"messages[{i}].tool_calls[{j}]")
    fn = call.get("function", call)
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InputError("expected a function name", field=f"messages[{i}].tool_calls[{j}].function.name")
    args = fn.get("arguments", {})
    if isinstance(args, str):
        try:
            args = orjson.loads(args)
        except orjson.JSONDecodeError:
            pass  # keep the raw string: the agent wrote it, malformed or not
    return "<tool_call>" + orjson.dumps({"name": fn["name"], "arguments": args}).decode() + "</tool_call>"


def _openai(rec: dict) -> list[dict]:
    return [openai_message(m, i) for i, m in enumerate(_need_list(rec, "messages"))]


def openai_message(m: Any, i: int) -> dict:
    f = f"messages[{i}]"
    if not isinstance(m, dict):
        raise InputError(f"expected an object, got {_tname(m)}", field=f)
    role = _str_field(m, "role", f)
    text = _content_text(m.get("content"), f)
    calls = m.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise InputError(f"expected a list, got {_tname(calls)}", field=f"{f}.tool_calls")
        rendered = [render_tool_call(c, i, j) for j, c in enumerate(calls)]
        text = "\n".join(([text] if text else []) + rendered)
    name = _str_field(m, "name", f, required=False)
    return _msg(role, text, f, author=_author(m, f) or name, weight=_weight(m, f),
                provenance=_provenance(m, f), name=name,
                tool_call_id=_str_field(m, "tool_call_id", f, required=False))


# ---------------------------------------------------------------- sharegpt


def _sharegpt(rec: dict) -> list[dict]:
    out = []
    if isinstance(rec.get("system"), str) and rec["system"]:
        out.append(_msg("system", rec["system"], "system"))
    for i, m in enumerate(_need_list(rec, "conversations")):
        f = f"conversations[{i}]"
        if not isinstance(m, dict):
            raise InputError(f"expected an object, got {_tname(m)}", field=f)
        role = _str_field(m, "from", f)
        text = _str_field(m, "value", f)
        name = _str_field(m, "name", f, required=False)
        out.append(_msg(role, text, f, author=_author(m, f) or name, weight=_weight(m, f),
                        provenance=_provenance(m, f), name=name))
    return out


# -------------------------------------------------------------------- text


def _text(rec: dict, roles: tuple[str, ...]) -> list[dict]:
    text = rec.get("text")
    if not isinstance(text, str):
        raise InputError(f"expected a string, got {_tname(text)}", field="text")
    pat = re.compile(r"^(" + "|".join(re.escape(r) for r in roles) + r"): ?(.*)$")
    out: list[dict] = []
    context: list[str] = []
    for line in text.split("\n"):
        m = pat.match(line)
        if m:
            out.append(_msg(m.group(1), m.group(2), f"text (turn {len(out) + 1})"))
        elif out:
            out[-1]["text"] += "\n" + line  # continuation of a multi-line turn
        else:
            context.append(line)
    if not out:
        raise InputError(f"expected lines starting with one of {', '.join(r + ':' for r in roles)}",
                         field="text")
    # Blank lines between turns are layout, not content.
    for m in out:
        m["text"] = m["text"].rstrip("\n")
    ctx = "\n".join(context).strip("\n")
    if ctx:
        out.insert(0, _msg("context", ctx, "text (context)"))
    return out


# ------------------------------------------------------------------ stream


def _stream(rec: dict) -> list[dict]:
    q = rec.get("question")
    if not isinstance(q, str):
        raise InputError(f"expected a string, got {_tname(q)}", field="question")
    out = [_msg("question", q, "question")]
    attempts = rec.get("attempts")
    if attempts is None:
        if "attempt" not in rec:
            raise InputError("expected 'attempts' (a list) or 'attempt' (a string)", field="attempts")
        attempts = [{k: rec[k] for k in ("attempt", "verdict", "author") if k in rec}]
    if not isinstance(attempts, list):
        raise InputError(f"expected a list, got {_tname(attempts)}", field="attempts")
    for i, a in enumerate(attempts):
        f = f"attempts[{i}]"
        if isinstance(a, str):
            a = {"text": a}
        if not isinstance(a, dict):
            raise InputError(f"expected an object or a string, got {_tname(a)}", field=f)
        text = a.get("text", a.get("attempt"))
        if not isinstance(text, str):
            raise InputError(f"expected a string, got {_tname(text)}", field=f"{f}.text")
        out.append(_msg("attempt", text, f"{f}.text", author=_author(a, f), weight=_weight(a, f),
                        provenance=_provenance(a, f)))
        verdict = a.get("verdict")
        if verdict is not None:
            if not isinstance(verdict, str):
                raise InputError(f"expected a string, got {_tname(verdict)}", field=f"{f}.verdict")
            out.append(_msg("verifier", verdict, f"{f}.verdict"))
        corr = a.get("correction")
        if corr is not None:
            out.append(_msg("oracle", _need_str(corr, f"{f}.correction"), f"{f}.correction"))
    corr = rec.get("correction")
    if corr is not None:
        out.append(_msg("oracle", _need_str(corr, "correction"), "correction"))
    return out


def _need_str(v: Any, field: str) -> str:
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {_tname(v)}", field=field)
    return v
