"""Anthropic Messages API: a request body ``{model, system, messages, tools, ...}`` and a recorded
response ``{type: "message", role: "assistant", content: [...]}`` (read as one assistant turn).

Content blocks are read here once, for this format and for the Claude Code session logs (whose
rows hold Anthropic messages): a message becomes *pieces* (its own text, or a finished world
message such as a tool result), and ``assemble`` joins consecutive pieces of the message's own
role into one message, so a user message ``[tool_result, tool_result, text]`` gives tool, tool,
user, and one model turn's text, reasoning and tool calls give one agent message.

Detection is by shape (both this format and OpenAI's have ``messages``): a top-level
``system``, tool schemas with ``input_schema``, or a block of a type OpenAI does not have.
"""

from __future__ import annotations

from typing import Any

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import (Message, ReadOptions, author, join, msg, need_list, nonempty,
                                                 placeholder, provenance, shape, suspect_flags, think, tname,
                                                 tool_call_text, tool_error, weight)

NAME = "anthropic"
ORDER = 10
KEYS = ("messages", "content")
RULES = ("Anthropic Messages API request (`system`, `messages`, `tools`) or one recorded response "
         "(`type: \"message\"`, read as one assistant turn). `system` (string or text blocks) is context; `tools` "
         "(`name`, `description`, `input_schema`) one context segment; blocks: `text`; `thinking` → "
         "`<think>...</think>` and `redacted_thinking` → `<redacted_thinking>` (never its data), `tool_use`, "
         "`server_tool_use`, `mcp_tool_use` → `<tool_call>...</tool_call>`, all in the assistant's one agent "
         "message; a `tool_use` whose `caller` is code execution (programmatic tool calling) was issued by the "
         "model's program, not the model: role `tool`, world; `tool_result` (string or blocks, `is_error` → "
         "`<error>...</error>`) in a user message is its own segment of role `tool` (world, `tool_call_id`, `name` "
         "from its call), before/after the user's words in block order; server tool results "
         "(`*_tool_result`, `mcp_tool_result`) are role `tool` segments (world) splitting the assistant turn; "
         "`image`, `container_upload` and non-text `document` → placeholders (a text document keeps its text), "
         "`search_result` its title, source and text; `cache_control`, `citations`, `signature` are never "
         "rendered; any other block is an error naming it")
SAMPLES = ("anthropic_messages.jsonl",)
CONSUMED = ("messages", "system", "tools", "content", "role", "type")

ROLES = ("user", "assistant")
# Block types only Anthropic's API has (OpenAI parts use text/image_url/input_audio/file).
ONLY_ANTHROPIC = frozenset(["tool_use", "tool_result", "redacted_thinking", "server_tool_use", "document",
                            "search_result", "container_upload", "mcp_tool_use", "mcp_tool_result"])
# Keys that hold nothing the model reads as text (or secrets): dropped from rendered results.
UNRENDERED = frozenset(["cache_control", "citations", "signature"])


def matches(rec: dict) -> bool:
    """A recorded response, or ``messages`` with an Anthropic-only shape. The Messages API has
    only user and assistant messages, so the first message of another role (system, tool,
    developer...) or with an OpenAI-only key (``tool_calls``, ``tool_call_id``,
    ``function_call``) before any Anthropic-only block decides openai; a top-level ``system``
    with plain user/assistant messages is anthropic."""
    if rec.get("type") == "message" and isinstance(rec.get("content"), list):
        return True
    msgs = rec.get("messages")
    if type(msgs) is not list:
        return False
    tools = rec.get("tools")
    if type(tools) is list and _anthropic_tools(tools):
        return True
    # Hot: every OpenAI record passes here; most end at their first message (a system prompt).
    for m in msgs:
        if type(m) is not dict:
            return False
        role = m.get("role")
        if role != "user" and role != "assistant":
            return False
        c = m.get("content")
        if type(c) is list and _anthropic_blocks(m):
            return True
        if "tool_calls" in m or "tool_call_id" in m or "function_call" in m:
            return False
    return isinstance(rec.get("system"), (str, list))


def _anthropic_tools(tools: Any) -> bool:
    return isinstance(tools, list) and any(isinstance(t, dict) and "input_schema" in t for t in tools)


def _anthropic_blocks(m: Any) -> bool:
    content = m.get("content") if type(m) is dict else None
    if type(content) is not list:
        return False
    for b in content:
        if type(b) is dict:
            kind = b.get("type")
            if kind in ONLY_ANTHROPIC or (isinstance(kind, str) and kind.endswith("_tool_result")) \
                    or (kind == "thinking" and "signature" in b) or (kind == "image" and "source" in b):
                return True
    return False


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    names: dict = {}
    out = tools_message(rec.get("tools"))
    out += system_messages(rec.get("system"), "system")
    if rec.get("type") == "message" and "messages" not in rec:  # a recorded response: one assistant turn
        role = rec.get("role", "assistant")
        if role != "assistant":
            raise InputError(f"expected 'assistant' (a response), got {role!r}", field="role")
        return out + assemble("assistant", pieces("assistant", rec.get("content"), "content", names), "content")
    for i, m in enumerate(need_list(rec, "messages")):
        out += message(m, f"messages[{i}]", names)
    return out


def tools_message(tools: Any) -> list[Message]:
    """Tool schemas as one context message (``cache_control`` dropped: it is not shown to the
    model); nothing when there are none. A value that is not a list is left to the generic
    top-level ``tools`` reader, which names what is wrong."""
    if not isinstance(tools, list) or not tools:
        return []
    schemas = [{k: v for k, v in t.items() if k != "cache_control"} if isinstance(t, dict) else t for t in tools]
    return [msg("tools", orjson.dumps(schemas).decode(), "tools")]


def system_messages(system: Any, field: str) -> list[Message]:
    """Top-level ``system``: a string or a list of text blocks, one context message."""
    if system is None or system == "" or system == []:
        return []
    if isinstance(system, str):
        return [msg("system", system, field)]
    if not isinstance(system, list):
        raise InputError(f"expected a string or a list of text blocks, got {tname(system)}", field=field)
    parts = []
    for j, b in enumerate(system):
        if not (isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)):
            raise InputError(f"expected a text block {{type: 'text', text}}, got {shape(b)}", field=f"{field}[{j}]")
        parts.append(b["text"])
    return [msg("system", "\n".join(parts), field)]


def message(m: Any, field: str, names: dict) -> list[Message]:
    """One Anthropic message ``{role, content}`` as cag messages (see ``assemble``)."""
    if not isinstance(m, dict):
        raise InputError(f"expected an object {{role, content}}, got {tname(m)}", field=field)
    role = m.get("role")
    if role == "system":  # not the API's shape, but some logs put the system prompt here
        return system_messages(m.get("content"), f"{field}.content")
    if role not in ROLES:
        raise InputError(f"expected 'user' or 'assistant', got {role!r}", field=f"{field}.role")
    out = assemble(role, pieces(role, m.get("content"), f"{field}.content", names), f"{field}.content",
                   author=author(m, field), provenance=provenance(m, field), suspect=suspect_flags(m))
    w = weight(m, field)
    if w != 1:
        for x in out:
            x["weight"] = w
    return out


def assemble(role: str, parts: list, field: str, **own) -> list[Message]:
    """Pieces in order: consecutive strings join into one message of ``role`` (with ``own``
    fields: author, provenance, ...); finished messages (tool results) stand on their own."""
    out: list[Message] = []
    run: list[str] = []
    for p in parts:
        if isinstance(p, str):
            run.append(p)
            continue
        if run:
            out.append(msg(role, join(run), field, **own))
            run = []
        if p is not None:
            out.append(p)
    if run:
        out.append(msg(role, join(run), field, **own))
    return out


def pieces(role: str, content: Any, field: str, names: dict) -> list:
    """A message's ``content`` (a string or a list of blocks) as pieces. ``names`` maps tool-use
    ids to tool names (filled by calls, read by results) across one transcript."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise InputError(f"expected a string or a list of content blocks, got {tname(content)}", field=field)
    out = []
    add = out.append
    # Hot (every block of a long session log): the common shapes are rendered here as ``block``
    # renders them; anything else, or anything malformed, goes to ``block`` (the one reference).
    for j, b in enumerate(content):
        if type(b) is dict:
            kind = b.get("type")
            if kind == "text":
                v = b.get("text")
                if type(v) is str:
                    add(v)
                    continue
            elif kind == "tool_use":
                name = b.get("name")
                if type(name) is str and b.get("caller") is None:
                    tid = b.get("id")
                    if type(tid) is str:
                        names[tid] = name
                    add(tool_call_text(name, b.get("input", {})))
                    continue
            elif kind == "tool_result":
                tid = b.get("tool_use_id")
                v = b.get("content")
                if type(v) is str and (tid is None or type(tid) is str):
                    add(msg("tool", tool_error(v) if b.get("is_error") else v, f"{field}[{j}]", name=names.get(tid),
                            tool_call_id=tid))
                    continue
            elif kind == "thinking":
                v = b.get("thinking")
                if type(v) is str:
                    add(think(v) if v else placeholder("redacted_thinking"))
                    continue
        add(block(role, b, f"{field}[{j}]", names))
    return out


def block(role: str, b: Any, f: str, names: dict):
    """One content block: a string piece, or a finished world message."""
    if not isinstance(b, dict) or not isinstance(b.get("type"), str):
        raise InputError(f"expected a content block {{type, ...}}, got {shape(b)}", field=f)
    kind = b["type"]
    if kind == "text":
        return _str(b, "text", f)
    if kind == "thinking":
        text = _str(b, "thinking", f)
        return think(text) if text else placeholder("redacted_thinking")  # display "omitted": no text kept
    if kind == "redacted_thinking":
        return placeholder("redacted_thinking")
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        name = _str(b, "name", f)
        if isinstance(b.get("id"), str):
            names[b["id"]] = name
        text = tool_call_text(name, b.get("input", {}))
        caller = b.get("caller")
        if isinstance(caller, dict) and caller.get("type") not in (None, "direct"):
            # programmatic tool calling: the model's code issued this call, the model did not write it
            return msg("tool", text, f, name=name, tool_call_id=caller.get("tool_id"))
        return text
    if kind == "tool_result" or kind == "mcp_tool_result" or kind.endswith("_tool_result"):
        return tool_result(b, f, names)
    if kind == "image":
        return placeholder("image")
    if kind == "document":
        return document(b, f)
    if kind == "search_result":
        return join([x for x in (b.get("title"), b.get("source")) if isinstance(x, str)]
                    + [content_text(b.get("content"), f"{f}.content")])
    if kind == "container_upload":
        return placeholder("container_upload", b.get("file_id") if isinstance(b.get("file_id"), str) else None)
    if kind == "tool_reference":
        return placeholder("tool_reference", b.get("tool_name") if isinstance(b.get("tool_name"), str) else None)
    raise InputError(f"unknown content block {shape(b)} (cag reads text, thinking, redacted_thinking, tool_use, "
                     "server_tool_use, mcp_tool_use, tool_result, *_tool_result, image, document, search_result, "
                     "container_upload)", field=f)


def _str(b: dict, key: str, f: str) -> str:
    v = b.get(key)
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {tname(v)}", field=f"{f}.{key}")
    return v


def tool_result(b: dict, f: str, names: dict) -> Message:
    """A tool's result (client ``tool_result``, a server tool's ``*_tool_result``): its own
    world message of role ``tool``, with the id and (when its call was seen) name of its call."""
    tid = b.get("tool_use_id")
    if tid is not None and not isinstance(tid, str):
        raise InputError(f"expected a string, got {tname(tid)}", field=f"{f}.tool_use_id")
    content = b.get("content")
    if b["type"] in ("tool_result", "mcp_tool_result"):
        text = nonempty(content_text(content, f"{f}.content"), content, f"{f}.content")
        if b.get("is_error"):
            text = tool_error(text)
    else:
        text = server_result(content, f"{f}.content")
    return msg("tool", text, f, name=names.get(tid), tool_call_id=tid)


def content_text(content: Any, field: str) -> str:
    """A tool result's or search result's ``content``: a string or blocks (text, image, ...)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InputError(f"expected a string or a list of content blocks, got {tname(content)}", field=field)
    parts = []
    for j, b in enumerate(content):
        p = block("user", b, f"{field}[{j}]", {})
        if not isinstance(p, str):
            raise InputError(f"a {b['type']} block cannot be nested here", field=f"{field}[{j}]")
        parts.append(p)
    return join(parts)


def document(b: dict, f: str) -> str:
    """A document: a placeholder (its title); a plain-text document's text is what the model read."""
    title = b.get("title") if isinstance(b.get("title"), str) else None
    src = b.get("source")
    head = placeholder("document", title)
    if isinstance(src, dict) and src.get("type") == "text" and isinstance(src.get("data"), str):
        return join([head, src["data"]])
    if isinstance(src, dict) and src.get("type") == "content":
        return join([head, content_text(src.get("content"), f"{f}.source.content")])
    return head


def server_result(content: Any, field: str) -> str:
    """A server tool's result (web search, web fetch, code execution, ...): code output as
    stdout/stderr, an error as ``<error>CODE</error>``, anything else as compact JSON with its
    encrypted fields, signatures and cache/citation markers dropped."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if "error_code" in content:
            return tool_error(str(content["error_code"]))
        if "stdout" in content or "stderr" in content:
            out = [content.get("stdout") or "", content.get("stderr") or ""]
            rc = content.get("return_code")
            if rc not in (None, 0):
                out.append(f"return code {rc}")
            out += [placeholder("file", x.get("file_id")) for x in content.get("content") or ()
                    if isinstance(x, dict) and isinstance(x.get("file_id"), str)]
            return join([x for x in out if x])
    if content in (None, [], {}):
        return ""
    return orjson.dumps(_scrub(content)).decode()


def _scrub(v: Any) -> Any:
    if isinstance(v, dict):
        if v.get("type") in ("base64", "file") and "media_type" in v or v.get("type") == "image":
            return placeholder(v.get("type"))
        return {k: _scrub(x) for k, x in v.items() if k not in UNRENDERED and not k.startswith("encrypted")}
    if isinstance(v, list):
        return [_scrub(x) for x in v]
    return v
