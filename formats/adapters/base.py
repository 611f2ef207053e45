"""What every format adapter shares: the plain message, train flags, content parts, tool calls.

A message here is ``{"role", "author", "text", "weight", "provenance", "name",
"tool_call_id", "field"}`` (plus ``suspect``: keys that look like train flags cag does not
read; ``demo``: a demonstration its format marks; ``written_by``: ``"agent"`` where the
format itself says the logged agent wrote a message whatever slot it sits in, such as a
compaction summary placed in the user slot). ``field`` is the path used in error messages
(``messages[3].role``). Gating (who wrote it) happens later, in
causal_agents.transcripts.provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson

from causal_agents.errors import InputError

DEFAULT_TEXT_ROLES = ("User", "Agent", "Assistant", "Human", "AI", "System", "Tool", "Teacher", "Verifier",
                      "Oracle")
# Per-message train flags seen in the wild; `masked` is the inverted one. `loss_weight`
# (LLaMA-Factory) and `loss_scale` (ms-swift) may be fractions; `loss` is ms-swift's, XTuner's
# and AgentInstruct's bool.
TRAIN_FLAGS = ("weight", "train", "trainable", "loss_mask", "loss_weight", "loss", "loss_scale")
FRACTION_FLAGS = ("loss_weight", "loss_scale")
_FLAG_LIKE = re.compile(r"^train|mask|weight|^loss", re.IGNORECASE)
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
# Content-part types that carry no text: kept as a visible placeholder so positions stay honest.
MEDIA_PARTS = frozenset(["image", "image_url", "input_image", "audio", "input_audio", "video", "video_url", "file",
                         "input_file", "document"])


class Message(TypedDict, total=False):
    """One message of a transcript as an adapter reads it (before gating)."""
    role: str
    author: str | None
    text: str
    weight: int | float
    provenance: str | None
    name: str | None
    tool_call_id: str | None
    field: str
    suspect: list[str] | None
    demo: bool
    written_by: str


@dataclass(frozen=True)
class ReadOptions:
    """How adapters read records: the `text` format's turn roles and key, and which branches
    of a branching session log (Claude Code) become transcripts."""
    text_roles: tuple[str, ...] = DEFAULT_TEXT_ROLES
    text_key: str = "text"
    branches: str = "last"  # last: the chain to the last leaf; all: every leaf's chain


BRANCHES = ("last", "all")


def msg(role: str, text: str, field: str, author: str | None = None, weight: int | float = 1,
        provenance: str | None = None, name: str | None = None, tool_call_id: str | None = None,
        suspect: list[str] | None = None) -> Message:
    """A plain message (see the module docstring)."""
    return {"role": role, "author": author, "text": text, "weight": weight, "provenance": provenance,
            "name": name, "tool_call_id": tool_call_id, "field": field, "suspect": suspect}


def tname(v: Any) -> str:
    """A value's type name for error messages."""
    return "null" if v is None else type(v).__name__


def is_message_row(rec: dict) -> bool:
    """One message ``{role, text|content|value}``: a row of a one-message-per-line file."""
    return isinstance(rec.get("role"), str) and any(k in rec for k in ("text", "content", "value"))


def shape(v: Any) -> str:
    """A value's shape for an error: an object's keys (its ``type`` quoted), else its JSON type."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {v[k]!r}" if k == "type" else str(k) for k in v) + "}"
    return tname(v)


def keys_of(rec: dict) -> str:
    return ", ".join(sorted(map(str, rec))) or "(none)"


def need_list(rec: dict, key: str, what: str = "messages", field: str | None = None) -> list:
    v = rec.get(key)
    where = field or key
    if not isinstance(v, list):
        raise InputError(f"expected a list of {what}, got {tname(v)}", field=where)
    if not v:
        raise InputError("expected at least one message, got an empty list" if what == "messages"
                         else f"expected a non-empty list of {what}, got an empty list", field=where)
    return v


def need_str(v: Any, field: str) -> str:
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {tname(v)}", field=field)
    return v


def need_obj(v: Any, field: str, what: str = "an object") -> dict:
    if not isinstance(v, dict):
        raise InputError(f"expected {what}, got {tname(v)}", field=field)
    return v


def str_field(m: dict, key: str, field: str, required: bool = True) -> str | None:
    v = m.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {tname(v)}", field=f"{field}.{key}")
    return v


def suspect_flags(m: dict) -> list[str] | None:
    """Keys that look like a train flag (``train*``, ``*mask*``, ``*weight*``, ``loss*``) but
    that cag does not read: the caller warns once per key, since the user probably meant a flag."""
    out = [k for k in m if isinstance(k, str) and k not in TRAIN_FLAGS and k != "masked" and _FLAG_LIKE.search(k)]
    return out or None


def weight(m: dict, field: str) -> int | float:
    """1 = may be supervised, 0 = never supervised (both modes); a ``loss_weight`` or
    ``loss_scale`` between 0 and 1 scales the message's loss (the token and message loss
    weightings honour it)."""
    for key in TRAIN_FLAGS:
        if key in m and m[key] is not None:
            return flag(m[key], f"{field}.{key}", fraction=key in FRACTION_FLAGS)
    if "masked" in m and m["masked"] is not None:
        return 1 - flag(m["masked"], f"{field}.masked")
    return 1


def flag(v: Any, field: str, fraction: bool = False) -> int | float:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)) and v in (0, 1):
        return int(v)
    if fraction and isinstance(v, (int, float)) and 0 < v < 1:
        return float(v)
    raise InputError(f"expected {'a number from 0 to 1' if fraction else '0, 1, true or false'}, got {v!r}",
                     field=field)


def provenance(m: dict, field: str) -> str | None:
    p = m.get("provenance")
    if p is None:
        return None
    if p not in ("agent", "world", "context"):
        raise InputError(f"expected 'agent', 'world' or 'context', got {p!r}", field=f"{field}.provenance")
    return p


def author(m: dict, field: str) -> str | None:
    a = m.get("author")
    if a is not None and not isinstance(a, str):
        raise InputError(f"expected a string, got {tname(a)}", field=f"{field}.author")
    return a


def think(text: str) -> str:
    """Reasoning, rendered as the content its author wrote."""
    return f"<think>{text}</think>\n"


def placeholder(kind: str, detail: str | None = None) -> str:
    """Media and redacted content: a visible placeholder (never the bytes or the secret), so
    the transcript says something was there."""
    return f"<{kind} {detail}>" if detail else f"<{kind}>"


def maybe_json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def tool_call_text(name: str, args: Any) -> str:
    """The one rendering of an agent's tool call, whatever format it came from."""
    if isinstance(args, str):
        try:
            args = orjson.loads(args)
        except orjson.JSONDecodeError:
            pass  # keep the raw string: the agent wrote it, malformed or not
    return "<tool_call>" + orjson.dumps({"name": name, "arguments": args}).decode() + "</tool_call>"


def tool_error(text: str) -> str:
    """A tool result the tool flagged as an error (Anthropic ``is_error``, Inspect ``error``):
    the flag is part of what the model was shown, so it stays visible in the text."""
    return f"<error>{text}</error>"


def join(parts: list[str]) -> str:
    """Blocks of one message, one per line (a block's own trailing newline is kept once)."""
    out = ""
    for p in parts:
        if not p:
            continue
        out += p if not out or out.endswith("\n") else "\n" + p
    return out


def nonempty(text: str, source: Any, field: str) -> str:
    """Never an empty segment whose source had content: that would exit 0 having lost it."""
    if not text and source not in (None, "", [], {}):
        raise InputError(f"this {shape(source)} gave no text: cag does not know how to read it", field=field)
    return text


def message_rows_record(rows: list[tuple[dict, Any]]) -> dict:
    """``--group-by-file``: the rows of a one-message-per-line file as one OpenAI record."""
    msgs = []
    for loc, row in rows:
        if not (isinstance(row, dict) and is_message_row(row)):
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise InputError(f"--group-by-file expects one message {{role, text|content}} per record, got {keys}",
                             file=loc.get("file"), line=loc.get("line"), row=loc.get("row"))
        m = dict(row)
        if "content" not in m:
            m["content"] = m.pop("text") if "text" in m else m.pop("value")
        msgs.append(m)
    return {"messages": msgs}
