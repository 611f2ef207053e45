"""Renderers: tagged segments -> one string plus character spans, each span carrying the
token class its characters get and the segment it belongs to.

A span is ``(start, end, cls, seg, trainable)``; spans tile the text exactly.

Policies (documented in README "Labels"):
- ``plain``: a context segment renders as ``text + "\n"`` (class context; tool schemas as
  ``Tools: [...]``). Every other segment renders as ``Role + ": "`` (class protocol:
  supervised in both modes, as in the truth experiment) then ``text + "\n"`` with the
  segment's gate class. An agent-gated segment's header never says what the agent chose:
  ``function_call`` (a tool call) gets the same header as ``gpt`` (text), so under ``do``
  no supervised token depends on the agent's choice (the kind is in the content, which is
  agent class).
- ``chat-template``: the tokenizer's own template, given the tool schemas as ``tools=``; each
  message's span is found by rendering the conversation one message longer each time. The header before the content is protocol;
  the first message's header, with any preamble the template injects, is context (nothing
  before it can predict it).
- End of turn: the terminator after a turn's content (``\n``, ``<|im_end|>``...) takes the
  class of the content it closes. The agent ending its own turn is the agent's action, so it
  is not supervised under ``do``.
- A segment with ``weight: 0`` is untrainable in both modes, prefix and terminator included.
"""

from __future__ import annotations

from typing import Callable

from causal_agents.errors import CagError, UsageError
from causal_agents.transcripts.render_stream import render_stream
from causal_agents.transcripts.spans import AGENT, CONTEXT, GATE_CLASS, PROTOCOL, WORLD, Span, display_role  # noqa: F401


# Roles that say which kind of action the agent chose, and the header they share with the
# agent's plain turns (see the module docstring: headers are supervised under do).
AGENT_HEADER = {"function_call": "gpt", "tool_call": "gpt"}
TOOLS_ROLE = "tools"  # the context segment of tool schemas (causal_agents.transcripts.provenance)


def header(s: dict) -> str:
    """The role header the plain renderer writes before a segment's content."""
    role = s["role"]
    if s["gate"] == "agent":
        role = AGENT_HEADER.get(role.lower(), role)
    return display_role(role) + ": "


def render_plain(segments: list[dict], tokenizer=None) -> tuple[str, list[Span]]:
    """The plain renderer: context as ``text`` plus a newline, every other segment as ``Role: text`` plus a newline; returns (text, spans)."""
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    for i, s in enumerate(segments):
        cls = GATE_CLASS[s["gate"]]
        trainable = s.get("weight", 1) != 0
        if cls != CONTEXT or s["role"] == TOOLS_ROLE:
            prefix = header(s) if cls != CONTEXT else "Tools: "
            parts.append(prefix)
            spans.append((pos, pos + len(prefix), PROTOCOL if cls != CONTEXT else CONTEXT, i, trainable))
            pos += len(prefix)
        body = s["text"] + "\n"
        parts.append(body)
        spans.append((pos, pos + len(body), cls, i, trainable))
        pos += len(body)
    return "".join(parts), spans


# Template role names for cag's roles; templates know system/user/assistant/tool.
TEMPLATE_ROLE = {
    "human": "user", "gpt": "assistant", "agent": "assistant", "function_call": "assistant",
    "attempt": "assistant", "model": "assistant", "ai": "assistant", "teacher": "assistant",
    "observation": "tool", "function": "tool", "ipython": "tool", "verifier": "user",
    "oracle": "user", "question": "user", "context": "system", "developer": "system",
    # agent-log roles (Claude Code, Codex, OpenHands, ms-swift): harness and environment text
    # reaches the model in the user slot; ms-swift's tool turns are the assistant's call and the tool's reply
    "harness": "user", "environment": "user", "tool_call": "assistant", "tool_response": "tool",
}


def _template_messages(segments: list[dict]) -> list[dict]:
    out = []
    for s in segments:
        if s["role"] == TOOLS_ROLE:
            continue
        role = s["role"].lower()
        m = {"role": TEMPLATE_ROLE.get(role, role), "content": s["text"]}
        if s.get("name") and m["role"] == "tool":
            m["name"] = s["name"]
        if s.get("tool_call_id"):
            m["tool_call_id"] = s["tool_call_id"]
        out.append(m)
    return out


def render_chat_template(segments: list[dict], tokenizer) -> tuple[str, list[Span]]:
    """Render with the tokenizer's own chat template, one message longer each time to find each message's span; a template that is not prefix-stable or rewrites content is a CagError, never a silent misalignment."""
    if not getattr(tokenizer, "chat_template", None):
        raise CagError("the tokenizer has no chat template; use --renderer plain or a chat model's tokenizer")
    tools = _tools(segments)
    index = [k for k, s in enumerate(segments) if s["role"] != TOOLS_ROLE]  # message -> segment
    segments = [segments[k] for k in index]
    msgs = _template_messages(segments)
    if tools and msgs and _render(tokenizer, msgs[:1], tools) == _render(tokenizer, msgs[:1], None):
        raise CagError("the chat template ignores the tool schemas (tools=), so the model would train without the "
                       "schemas it sees at inference; use --renderer plain or a template that renders tools")
    spans: list[Span] = []
    prev = ""
    for i in range(len(msgs)):
        try:
            cur = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False, **({"tools": tools} if tools else {}))
        except Exception as e:  # templates raise their own errors (e.g. role alternation)
            raise CagError(f"the chat template rejects message {i} (role {msgs[i]['role']!r}): {e}") from e
        if not cur.startswith(prev):
            raise CagError(f"the chat template is not prefix-stable at message {i}: rendering one more "
                           "message rewrote earlier text, so token classes cannot be placed; use --renderer plain")
        chunk = cur[len(prev):]
        content = segments[i]["text"]
        at = chunk.find(content) if content else len(chunk)
        if at < 0:
            raise CagError(f"the chat template changes the content of message {i}; use --renderer plain")
        cls = GATE_CLASS[segments[i]["gate"]]
        trainable = segments[i].get("weight", 1) != 0
        base = len(prev)
        head_cls = CONTEXT if i == 0 else PROTOCOL
        if at > 0:
            spans.append((base, base + at, head_cls, index[i], trainable))
        if len(chunk) > at:
            spans.append((base + at, base + len(chunk), cls, index[i], trainable))
        prev = cur
    return prev, spans


def _render(tokenizer, msgs: list[dict], tools: list | None) -> str:
    try:
        return tokenizer.apply_chat_template(msgs, tokenize=False, **({"tools": tools} if tools else {}))
    except Exception as e:  # templates raise their own errors
        raise CagError(f"the chat template rejects the first message: {e}") from e


def _tools(segments: list[dict]) -> list | None:
    """The tool schemas of a transcript, for ``apply_chat_template(tools=...)``: real templates
    render them themselves (inside the first message's header, which is context)."""
    import orjson

    out = []
    for s in segments:
        if s["role"] == TOOLS_ROLE:
            try:
                out.extend(orjson.loads(s["text"]))
            except (orjson.JSONDecodeError, TypeError) as e:
                raise CagError(f"the tool schemas are not a JSON list ({e})") from e
    return out or None


def _render_stream(segments: list[dict], tokenizer=None) -> tuple[str, list[Span]]:
    return render_stream(segments)


# Every renderer takes (segments, tokenizer) and returns (text, spans).
RENDERERS: dict[str, Callable] = {"plain": render_plain, "chat-template": render_chat_template,
                                  "stream": _render_stream}


def get_renderer(name: str) -> Callable:
    """The renderer registered as ``name``; an unknown name is an error listing the others."""
    try:
        return RENDERERS[name]
    except KeyError:
        raise UsageError(f"--renderer expects one of {', '.join(RENDERERS)}, got {name!r}") from None
