"""Adapters: turn one input record of any supported format into a list of plain messages.

A message here is ``{"role", "author", "text", "weight", "provenance", "name",
"tool_call_id", "field"}`` (plus ``suspect``: keys that look like train flags cag does not
read); ``field`` is the path used in error messages (``messages[3].role``). Gating (who
wrote it) happens later, in causal_agents.transcripts.provenance.

Formats, detected per record by their key field (``--format`` forces one):
- ``openai``: ``messages`` of ``{role, content, name, tool_calls, function_call,
  tool_call_id, weight, loss_weight}``; content a string or a list of parts ``{type, text}``
  or ``{type, value}`` (LLaMA-Factory v1: types text, reasoning, tool_call)
- ``sharegpt``: ``conversations`` of ``{from, value}`` (optional top-level ``system``)
- ``alpaca``: ``instruction``, ``input``, ``output``, optional ``system`` and ``history``
  (``[[query, response], ...]``)
- ``swe-agent``: OpenAI-style messages under ``history`` (SWE-agent ``.traj`` files), with
  ``thought``/``action``/``tool_calls``; an assistant message's ``agent`` names its author.
  A file with only ``trajectory`` (steps of ``response``, ``thought``, ``action``,
  ``observation``, maybe ``query``/``messages``) is read from its steps; ``history`` wins
  when both are present
- ``tau-bench``: OpenAI messages under ``traj`` (tau-bench results)
- ``text``: a ``text`` field of ``Role: content`` lines (roles matched case-insensitively);
  lines before the first turn are the context paragraph
- ``stream``: verifier-loop records: ``question``, ``attempts`` (or a single ``attempt`` +
  ``verdict``), ``correction``; an attempt that used a tool also has ``parts`` (``{role:
  attempt | tool, text}`` in order; tool parts are the world's) and a correction written in
  the same way ``correction_parts`` (roles oracle | tool)
- ``tagged``: ``segments`` already gated by ``cag tag`` (passed through unchanged)

Any other key holding OpenAI messages is read with ``--messages-key KEY``. A record that is
one message (``{role, text|content}``) belongs to a file of one message per line, read
with ``--group-by-file``. Reasoning (``reasoning_content``, ``reasoning``, ``thinking``
fields and parts, ``<think>`` blocks) is kept, as its author's content, in ``<think>`` tags.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from causal_agents.errors import InputError, location

FORMATS = ("openai", "sharegpt", "alpaca", "swe-agent", "tau-bench", "text", "stream", "tagged")
# The key field that identifies each format, in detection order.
KEY_FIELDS = {"tagged": "segments", "openai": "messages", "sharegpt": "conversations", "alpaca": "instruction",
              "swe-agent": "history", "tau-bench": "traj", "stream": "question", "text": "text"}
# Keys that also identify a format, tried only when no record key field above matched:
# `trajectory` is a common word, and a SWE-agent file that has `history` is read from it.
ALT_KEY_FIELDS = {"swe-agent": ("trajectory",)}
DEFAULT_TEXT_ROLES = ("User", "Agent", "Assistant", "Human", "AI", "System", "Tool", "Teacher",
                      "Verifier", "Oracle")
# Per-message train flags seen in the wild; `masked` is the inverted one. `loss_weight`
# (LLaMA-Factory) may be a fraction.
TRAIN_FLAGS = ("weight", "train", "trainable", "loss_mask", "loss_weight")
_FLAG_LIKE = re.compile(r"^train|mask|weight", re.IGNORECASE)
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
# Content-part types that carry no text: kept as a visible placeholder so positions stay honest.
MEDIA_PARTS = frozenset(["image", "image_url", "input_image", "audio", "input_audio", "video", "video_url", "file",
                         "input_file", "document"])


def detect_format(rec: dict) -> str:
    """The format of ``rec`` from its key field (``forced`` wins); a record of no known format is an InputError listing its keys and the formats cag reads."""
    for fmt, key in KEY_FIELDS.items():
        if key == "text" and _is_message_row(rec):
            break
        if key in rec:
            return fmt
    else:
        for fmt, keys in ALT_KEY_FIELDS.items():
            if any(k in rec for k in keys):
                return fmt
    if _is_message_row(rec):
        raise InputError("this record is one message ({role, text|content}), not a transcript: the file holds "
                         "one message per line; read the whole file as one transcript with --group-by-file")
    raise InputError(f"cannot tell the format: this record has the keys {', '.join(sorted(map(str, rec))) or '(none)'}; "
                     "cag reads " + ", ".join(f"{f} ({' or '.join(key_fields(f))})" for f in KEY_FIELDS)
                     + ", or OpenAI messages under any key with --messages-key KEY")


def key_fields(fmt: str) -> tuple[str, ...]:
    """The fields that identify format ``fmt``, its main key field first (a record needs one)."""
    return (KEY_FIELDS[fmt], *ALT_KEY_FIELDS.get(fmt, ()))


def _is_message_row(rec: dict) -> bool:
    return isinstance(rec.get("role"), str) and any(k in rec for k in ("text", "content", "value"))


def message_rows_record(rows: list[tuple[dict, Any]]) -> dict:
    """``--group-by-file``: the rows of a one-message-per-line file as one OpenAI record."""
    msgs = []
    for loc, row in rows:
        if not (isinstance(row, dict) and _is_message_row(row)):
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise InputError(f"--group-by-file expects one message {{role, text|content}} per record, got {keys}",
                             **location(loc))
        m = dict(row)
        if "content" not in m:
            m["content"] = m.pop("text") if "text" in m else m.pop("value")
        msgs.append(m)
    return {"messages": msgs}


def to_messages(rec: dict, fmt: str, text_roles: tuple[str, ...] = DEFAULT_TEXT_ROLES,
                messages_key: str | None = None) -> list[dict]:
    """The plain messages of one record of format ``fmt`` (see the module docstring)."""
    if messages_key is not None:
        return _openai(rec, messages_key)
    if fmt == "openai":
        return _openai(rec)
    if fmt == "tau-bench":
        return _openai(rec, "traj")
    if fmt == "swe-agent":
        return _swe_agent(rec)
    if fmt == "alpaca":
        return _alpaca(rec)
    if fmt == "sharegpt":
        return _sharegpt(rec)
    if fmt == "text":
        return _text(rec, text_roles)
    if fmt == "stream":
        return _stream(rec)
    raise ValueError(fmt)


def _msg(role, text, field, author=None, weight=1, provenance=None, name=None, tool_call_id=None, suspect=None):
    return {"role": role, "author": author, "text": text, "weight": weight, "provenance": provenance,
            "name": name, "tool_call_id": tool_call_id, "field": field, "suspect": suspect}


def suspect_flags(m: dict) -> list[str] | None:
    """Keys that look like a train flag (``train*``, ``*mask*``, ``*weight*``) but that cag
    does not read: the caller warns once per key, since the user probably meant a flag."""
    out = [k for k in m if isinstance(k, str) and k not in TRAIN_FLAGS and k != "masked" and _FLAG_LIKE.search(k)]
    return out or None


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


def _weight(m: dict, field: str) -> int | float:
    """1 = may be supervised, 0 = never supervised (both modes); a ``loss_weight`` between 0
    and 1 scales the message's loss (the token and message loss weightings honour it)."""
    for key in TRAIN_FLAGS:
        if key in m and m[key] is not None:
            return _flag(m[key], f"{field}.{key}", fraction=key == "loss_weight")
    if "masked" in m and m["masked"] is not None:
        return 1 - _flag(m["masked"], f"{field}.masked")
    return 1


def _flag(v: Any, field: str, fraction: bool = False) -> int | float:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)) and v in (0, 1):
        return int(v)
    if fraction and isinstance(v, (int, float)) and 0 < v < 1:
        return float(v)
    raise InputError(f"expected {'a number from 0 to 1' if fraction else '0, 1, true or false'}, got {v!r}",
                     field=field)


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
        return "".join(_part_text(part, f"{field}.content[{j}]") for j, part in enumerate(content))
    raise InputError(f"expected a string or a list of parts, got {_tname(content)}", field=f"{field}.content")


def _part_text(part: Any, field: str) -> str:
    """One content part: ``{type, text}`` (OpenAI, HF) or ``{type, value}`` (LLaMA-Factory v1).
    A shape cag does not know is an error, never a silent placeholder."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise InputError(f"expected a content part {{type, text|value}}, got {_shape(part)}", field=field)
    kind = part["type"]
    body = part.get("text", part.get("value"))
    if kind in ("text", "input_text", "output_text") and isinstance(body, str):
        return body
    if kind in ("reasoning", "thinking") and isinstance(body if body is not None else part.get(kind), str):
        return think(body if body is not None else part[kind])
    if kind == "tool_call" and body is not None:
        return render_tool_call(_maybe_json(body), field=field)
    if kind in MEDIA_PARTS:
        return f"<{kind}>"
    raise InputError(f"unknown content part {_shape(part)} (cag reads parts of type text, reasoning, tool_call "
                     f"with a 'text' or 'value' string, and media parts {', '.join(sorted(MEDIA_PARTS))})", field=field)


def _shape(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {v[k]!r}" if k == "type" else str(k) for k in v) + "}"
    return _tname(v)


def _maybe_json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def think(text: str) -> str:
    """Reasoning, rendered as the content its author wrote."""
    return f"<think>{text}</think>\n"


def _reasoning(m: dict, field: str) -> str:
    for key in REASONING_FIELDS:
        v = m.get(key)
        if v:
            if not isinstance(v, str):
                raise InputError(f"expected a string, got {_tname(v)}", field=f"{field}.{key}")
            return think(v)
    return ""


def render_tool_call(call: Any, i: int = 0, j: int = 0, field: str | None = None, key: str = "messages") -> str:
    """Message ``i``'s tool call ``j`` is the agent's action; render it as text the model
    conditions on. (Indices, not a field path: the path is only formatted for an error.) The
    legacy ``function_call: {name, arguments}`` renders exactly like a tool call."""
    where = field or f"{key}[{i}].tool_calls[{j}]"
    if not isinstance(call, dict):
        raise InputError(f"expected an object, got {_tname(call)}", field=where)
    fn = call.get("function", call)
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InputError("expected a function name", field=f"{where}.function.name" if "function" in call
                         else f"{where}.name")
    return _tool_call_text(fn["name"], fn.get("arguments", {}))


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
        parts.append(_tool_call_text(fn["name"], fn.get("arguments", {})))
    return "\n".join(parts)


def _tool_call_text(name: str, args: Any) -> str:
    if isinstance(args, str):
        try:
            args = orjson.loads(args)
        except orjson.JSONDecodeError:
            pass  # keep the raw string: the agent wrote it, malformed or not
    return "<tool_call>" + orjson.dumps({"name": name, "arguments": args}).decode() + "</tool_call>"


def _openai(rec: dict, key: str = "messages") -> list[dict]:
    return [openai_message(m, i, key) for i, m in enumerate(_need_list(rec, key))]


def openai_message(m: Any, i: int, key: str = "messages") -> dict:
    """One OpenAI-style message as cag's plain message (role, author, text, weight, provenance, tool fields)."""
    f = f"{key}[{i}]"
    if not isinstance(m, dict):
        raise InputError(f"expected an object, got {_tname(m)}", field=f)
    role = _str_field(m, "role", f)
    text = _reasoning(m, f) + _content_text(m.get("content"), f)
    rendered = _calls(m, i, key)
    if rendered:
        text = "\n".join(([text] if text else []) + rendered)
    name = _str_field(m, "name", f, required=False)
    tcid = m.get("tool_call_id")
    if tcid is None and isinstance(m.get("tool_call_ids"), list) and m["tool_call_ids"]:
        tcid = m["tool_call_ids"][0]  # SWE-agent keeps a list
    if tcid is not None and not isinstance(tcid, str):
        raise InputError(f"expected a string, got {_tname(tcid)}", field=f"{f}.tool_call_id")
    return _msg(role, text, f, author=_author(m, f) or name, weight=_weight(m, f),
                provenance=_provenance(m, f), name=name, tool_call_id=tcid, suspect=suspect_flags(m))


def _calls(m: dict, i: int, key: str) -> list[str]:
    """Rendered ``tool_calls`` and the legacy ``function_call`` (the same action, rendered alike)."""
    out = []
    calls = m.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise InputError(f"expected a list, got {_tname(calls)}", field=f"{key}[{i}].tool_calls")
        out = [render_tool_call(c, i, j, key=key) for j, c in enumerate(calls)]
    fc = m.get("function_call")
    if fc:
        out.append(render_tool_call(fc, field=f"{key}[{i}].function_call"))
    return out


# ---------------------------------------------------------------- swe-agent


def _swe_agent(rec: dict) -> list[dict]:
    """A SWE-agent ``.traj`` record: its ``history`` when it has one (the messages exactly as
    the model was shown them, preferred over ``trajectory`` when a file has both), else its
    ``trajectory`` steps (see ``_swe_steps``)."""
    if "history" not in rec and "trajectory" in rec:
        return _swe_steps(rec)
    return _swe_history(rec)


def _swe_history(rec: dict) -> list[dict]:
    """SWE-agent ``history``: OpenAI-style messages. An assistant message whose content is
    empty is its ``thought`` then its ``action``. Every message carries ``agent`` (the name
    of the agent whose history it is, on observations too), so it names the author of
    assistant messages only: the environment wrote the rest."""
    return [_swe_message(m, i, "history") for i, m in enumerate(_need_list(rec, "history"))]


def _swe_message(m: Any, i: int, key: str) -> dict:
    msg = openai_message(m, i, key)
    if isinstance(m, dict) and m.get("is_demo"):
        # A demonstration trajectory that SWE-agent's config puts in the prompt: a human or
        # another run wrote it, so it is evidence (rule `demo-field`), whatever its role.
        msg["demo"] = True
    if m.get("role") == "assistant":
        if not msg["text"].strip():
            parts = [m.get(k) for k in ("thought", "action") if isinstance(m.get(k), str) and m.get(k)]
            msg["text"] = "\n".join(parts)
        if isinstance(m.get("agent"), str) and msg["author"] is None:
            msg["author"] = m["agent"]
    return msg


SWE_STEP_FIELDS = ("response", "thought", "action", "observation")


def _swe_steps(rec: dict) -> list[dict]:
    """SWE-agent ``trajectory`` steps, for files without ``history``. The model wrote each
    step's ``response`` (its raw output; ``thought`` and ``action`` are parsed from it), so
    that is one assistant message; the environment wrote the ``observation``, one message of
    role ``observation`` (world). A step without a response is its thought then its action;
    an action missing from the response (function calling sends it as a tool call, outside
    the text) is appended to it. The first step's ``query`` (SWE-agent >= 1.1: the model's
    input at that step) or ``messages`` (older: the input of the next step) holds the system
    prompt and the task: its messages before the first assistant message that is not a
    demonstration come first."""
    steps = _need_list(rec, "trajectory")
    key, prompt = _prompt_list(steps[0])
    out = _swe_prompt(prompt, key)
    # The prompt's `agent` names the agent whose run this is: the author of every response.
    author = next((m["agent"] for m in prompt if isinstance(m, dict) and isinstance(m.get("agent"), str)), None)
    for i, st in enumerate(steps):
        f = f"trajectory[{i}]"
        if not isinstance(st, dict):
            raise InputError(f"expected a step object, got {_tname(st)}", field=f)
        if not any(k in st for k in SWE_STEP_FIELDS):
            raise InputError("expected a SWE-agent step with response, thought, action or observation; this step "
                             f"has the keys {', '.join(sorted(map(str, st))) or '(none)'}", field=f)
        text = {k: _str_field(st, k, f, required=False) or "" for k in SWE_STEP_FIELDS}
        agent = text["response"] or "\n".join(x for x in (text["thought"], text["action"]) if x)
        if text["response"] and text["action"].strip() and text["action"].strip() not in text["response"]:
            agent = agent.rstrip("\n") + "\n" + text["action"]
        out.append(_msg("assistant", agent, f"{f}.response", author=author))
        if st.get("observation") is not None:  # "" is kept: the command printed nothing
            out.append(_msg("observation", text["observation"], f"{f}.observation"))
    return out


def _swe_prompt(msgs: list, key: str) -> list[dict]:
    """The leading messages of the first step's ``query`` (or ``messages``): the prompt."""
    out = []
    for j, m in enumerate(msgs):
        if isinstance(m, dict) and m.get("role") == "assistant" and not m.get("is_demo"):
            break
        out.append(_swe_message(m, j, f"trajectory[0].{key}"))
    return out


def _prompt_list(step: Any) -> tuple[str, list]:
    if isinstance(step, dict):
        for key in ("query", "messages"):
            if isinstance(step.get(key), list):
                return key, step[key]
    return "query", []


# ------------------------------------------------------------------ alpaca


def _alpaca(rec: dict) -> list[dict]:
    out = []
    system = rec.get("system")
    if system:
        out.append(_msg("system", _need_str(system, "system"), "system"))
    history = rec.get("history") or []
    if not isinstance(history, list):
        raise InputError(f"expected a list of [query, response] pairs, got {_tname(history)}", field="history")
    for i, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise InputError("expected a [query, response] pair of strings", field=f"history[{i}]")
        out.append(_msg("user", pair[0], f"history[{i}][0]"))
        out.append(_msg("assistant", pair[1], f"history[{i}][1]"))
    query = _need_str(rec.get("instruction"), "instruction")
    extra = rec.get("input")
    if extra:
        query += "\n" + _need_str(extra, "input")
    out.append(_msg("user", query, "instruction"))
    out.append(_msg("assistant", _need_str(rec.get("output"), "output"), "output"))
    return out


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
        text = _reasoning(m, f) + _str_field(m, "value", f)
        name = _str_field(m, "name", f, required=False)
        out.append(_msg(role, text, f, author=_author(m, f) or name, weight=_weight(m, f),
                        provenance=_provenance(m, f), name=name, suspect=suspect_flags(m)))
    return out


# -------------------------------------------------------------------- text


def _text(rec: dict, roles: tuple[str, ...]) -> list[dict]:
    text = rec.get("text")
    if not isinstance(text, str):
        raise InputError(f"expected a string, got {_tname(text)}", field="text")
    # Role names match case-insensitively (`user:` is User); the role keeps the file's spelling.
    pat = re.compile(r"^(" + "|".join(re.escape(r) for r in roles) + r"): ?(.*)$", re.IGNORECASE)
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
        raise InputError(f"expected lines starting with one of {', '.join(r + ':' for r in roles)} (any case); "
                         "name other turn prefixes with --text-role ROLE", field="text")
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
        written = dict(author=_author(a, f), weight=_weight(a, f), provenance=_provenance(a, f),
                       suspect=suspect_flags(a))
        if a.get("parts") is None:
            out.append(_msg("attempt", text, f"{f}.text", **written))
        else:
            out += _stream_parts(a["parts"], text, f"{f}.parts", "attempt", written)
        verdict = a.get("verdict")
        if verdict is not None:
            if not isinstance(verdict, str):
                raise InputError(f"expected a string, got {_tname(verdict)}", field=f"{f}.verdict")
            out.append(_msg("verifier", verdict, f"{f}.verdict"))
        corr = a.get("correction")
        if a.get("correction_parts") is not None:
            corr = _need_str(corr, f"{f}.correction")  # the text the parts make, for people and the verifier
            out += _stream_parts(a["correction_parts"], corr, f"{f}.correction_parts", "oracle", {})
        elif corr is not None:
            out.append(_msg("oracle", _need_str(corr, f"{f}.correction"), f"{f}.correction"))
    corr = rec.get("correction")
    if corr is not None:
        out.append(_msg("oracle", _need_str(corr, "correction"), "correction"))
    return out


def _stream_parts(parts: Any, text: str, field: str, role: str, written: dict) -> list[dict]:
    """A solution written in parts: pieces of ``role`` (with the writer's ``written`` fields)
    and tool results (the world's: role ``tool``, never the writer's author or provenance).
    Each part's text must appear in ``text``, in order (``text`` is what the parts render to)."""
    if not isinstance(parts, list) or not parts:
        raise InputError(f"expected a non-empty list of {{role, text}} parts, got {_tname(parts)}", field=field)
    out, pos = [], 0
    for j, p in enumerate(parts):
        pf = f"{field}[{j}]"
        if not isinstance(p, dict):
            raise InputError(f"expected an object {{role, text}}, got {_tname(p)}", field=pf)
        if p.get("role") not in (role, "tool"):
            raise InputError(f"expected '{role}' or 'tool', got {p.get('role')!r}", field=f"{pf}.role")
        body = _need_str(p.get("text"), f"{pf}.text")
        at = text.find(body, pos)
        if at < 0:
            raise InputError(f"this part is not in the text (at or after character {pos}): the parts and the "
                             "text disagree", field=f"{pf}.text")
        pos = at + len(body)
        if p["role"] == "tool":
            out.append(_msg("tool", body, f"{pf}.text", provenance=_provenance(p, pf)))
        else:
            out.append(_msg(role, body, f"{pf}.text", **written))
    return out


def _need_str(v: Any, field: str) -> str:
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {_tname(v)}", field=field)
    return v
