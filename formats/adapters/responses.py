"""OpenAI Responses API items: a request ``{model, instructions, input, tools, ...}`` and/or a
response object ``{object: "response", output: [...], ...}``. ``input`` (a list of items, or a
string: one user message) is read before ``output``.

Items mostly have no role: who wrote one follows from its ``type``. The model wrote its
messages, its reasoning and its calls (``function_call``, ``custom_tool_call``,
``local_shell_call``, hosted tool calls); the environment wrote every ``*_output`` item and
the results a hosted tool call carries inside itself (``mcp_call.output``,
``code_interpreter_call.outputs``, ``file_search_call.results``, ``web_search_call.action.sources``,
``image_generation_call.result``): such an item becomes the agent's call plus a world tool
message. Consecutive agent items are one model turn, so they become ONE agent message, as one
Anthropic assistant message would. ``encrypted_content`` (reasoning, compaction) is never
rendered: a placeholder says it was there.

``Items`` is shared with the Codex CLI rollout reader (``codex``), whose ``response_item`` rows
are these items."""

from __future__ import annotations

from itertools import chain
from typing import Any, Callable

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import (Message, ReadOptions, join, msg, nonempty, placeholder, shape,
                                                 think, tname, tool_call_text, tool_error, weight)

NAME = "responses"
ORDER = 55  # before alpaca (60): both have `input` and `output`; shape decides
KEYS = ("input", "output")
RULES = ("OpenAI Responses API request (`instructions`, `input`: a string or a list of items) and/or response "
         "(`output` items); `instructions` → context. Items: `message` (or `{role, content}` without `type`; "
         "roles user → world, assistant → agent, system/developer → context; parts input_text/output_text, "
         "refusal, input_image/input_file/input_audio → `<type>` placeholders); the model's items (assistant "
         "messages, `reasoning` summary/content → `<think>...</think>`, encrypted-only reasoning → "
         "`<redacted_thinking>` and never its data, `function_call`, `custom_tool_call`, `local_shell_call` "
         "(named local_shell), `shell_call`, `apply_patch_call`, `web_search_call`, `file_search_call`, "
         "`computer_call`, `code_interpreter_call`, `image_generation_call`, `mcp_call`, `mcp_approval_request`, "
         "`tool_search_call`, all rendered `<tool_call>{\"name\":...,\"arguments\":...}</tool_call>`) in a row "
         "are ONE agent turn; every `*_output` item, `mcp_approval_response`, `mcp_list_tools` and the results a "
         "hosted call carries (`mcp_call.output`, `code_interpreter_call.outputs`, `file_search_call.results`, "
         "`web_search_call.action.sources`, `image_generation_call.result` as `<image generated>`) are world "
         "tool messages with the `call_id`; a `compaction` item is `<compaction encrypted>` (context), or, with "
         "readable summary text, an agent-written message (rule format-author); `item_reference` is an error "
         "(the item lives on OpenAI's servers, not in the record); any other item type is an error")
SAMPLES = ("responses_items.jsonl",)
CONSUMED = ("input", "output", "instructions", "tools")

MESSAGE_ROLES_AGENT = ("assistant",)
# The model's calls whose arguments sit in one field: item type -> (tool name, argument field).
_CALLS = {"local_shell_call": ("local_shell", "action"), "shell_call": ("shell", "action"),
          "apply_patch_call": ("apply_patch", "operation"), "tool_search_call": ("tool_search", "arguments")}
_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output", "shell_call_output",
            "computer_call_output", "apply_patch_call_output", "tool_search_output", "mcp_tool_call_output")


def matches(rec: dict) -> bool:
    """A Responses request or response, by shape: ``output`` a list whose first item is a typed
    object (or ``object: "response"``), or ``input`` a string or a list whose first item is an
    object with a ``type`` or ``role``, beside ``model`` or ``instructions``. An Alpaca row
    (``instruction`` + a string ``output``) never matches. (Only the first item is looked at:
    a bad later one is then an error naming it.)"""
    if "instruction" in rec and not isinstance(rec.get("output"), list):
        return False
    out = rec.get("output")
    if isinstance(out, list) and (rec.get("object") == "response" or _first_has(out, "type")):
        return True
    if "model" not in rec and "instructions" not in rec:
        return False
    inp = rec.get("input")
    return isinstance(inp, str) or _first_has(inp, "type", "role")


def _first_has(v, *keys: str) -> bool:
    return isinstance(v, list) and bool(v) and isinstance(v[0], dict) and any(k in v[0] for k in keys)


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    items = Items()
    instr = rec.get("instructions")
    if isinstance(instr, str):
        if instr:
            items.emit(msg("system", instr, "instructions"))
    elif isinstance(instr, list):  # a prompt template's instructions: input items
        for i, it in enumerate(instr):
            items.item(it, f"instructions[{i}]")
    elif instr is not None:
        raise InputError(f"expected a string or a list of items, got {tname(instr)}", field="instructions")
    for key in ("input", "output"):
        v = rec.get(key)
        if isinstance(v, str) and key == "input":
            items.emit(msg("user", v, "input"))
        elif isinstance(v, list):
            for i, it in enumerate(v):
                items.item(it, f"{key}[{i}]")
        elif v is not None:
            raise InputError(f"expected {'a string or ' if key == 'input' else ''}a list of items, got {tname(v)}",
                             field=key)
    out = items.messages()
    if not out:
        raise InputError("expected input or output items, got none", field="output" if "output" in rec else "input")
    return out


def sub(field: str, key: str | int) -> str:
    """``field.key`` (``field[i]`` for an index); a bare key where the item is the whole row."""
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


def dumps(v: Any) -> str:
    return orjson.dumps(v).decode()


class Items:
    """Reads Responses items in order into plain messages: consecutive agent items gather into
    one open agent turn, which any other message closes. ``user_role(text)`` may rename a user
    message's role (Codex marks the messages its harness injects); ``skipped`` counts items
    that are not part of the model's context (Codex's ``ghost_snapshot``)."""

    def __init__(self, user_role: Callable[[str], str] | None = None):
        self.out: list[Message] = []
        self.turn: list[str] = []
        self.turn_field = ""
        self.turn_weight: int | float | None = None
        self.names: dict[str, str] = {}  # call_id -> tool name, for the outputs
        self.approvals: set[str] = set()  # mcp_approval_request ids: their mcp_call repeats the call
        self.user_role = user_role
        self.skipped: dict[str, int] = {}

    # -- building -----------------------------------------------------------------------
    def agent(self, text: str, field: str, item: dict | None = None) -> None:
        if not text:
            return
        w = weight(item, field) if item is not None else 1
        if not self.turn:
            self.turn_field, self.turn_weight = field, w
        elif w != self.turn_weight:
            raise InputError(f"this item of one model turn has train flag {w}, an earlier one {self.turn_weight}",
                             field=field)
        self.turn.append(text)

    def flush(self) -> None:
        if self.turn:
            w = 1 if self.turn_weight is None else self.turn_weight
            self.out.append(msg("assistant", join(self.turn), self.turn_field, weight=w))
            self.turn = []

    def emit(self, m: Message) -> None:
        self.flush()
        self.out.append(m)

    def tool(self, text: str, field: str, call_id: Any, name: str | None = None) -> None:
        cid = call_id if isinstance(call_id, str) else None
        self.emit(msg("tool", text, field, name=name or self.names.get(cid or ""), tool_call_id=cid))

    def call(self, name: str, args: Any, field: str, item: dict, call_id: Any = None) -> None:
        if isinstance(call_id, str):
            self.names[call_id] = name
        self.agent(tool_call_text(name, args), field, item)

    def messages(self) -> list[Message]:
        self.flush()
        return self.out

    # -- items --------------------------------------------------------------------------
    def item(self, it: Any, field: str) -> None:
        if not isinstance(it, dict):
            raise InputError(f"expected an item object, got {tname(it)}", field=field)
        kind = it.get("type")
        if kind is None and "role" in it:
            kind = "message"
        if not isinstance(kind, str):
            raise InputError(f"expected an item with a 'type' (or a message with a 'role'), got {shape(it)}",
                             field=field)
        handler = _HANDLERS.get(kind)
        if handler is None:
            if kind in _OUTPUTS:
                return self.output(it, field)
            raise InputError(f"unknown item type {shape(it)} (cag reads {', '.join(sorted(_KNOWN))})",
                             field=field)
        handler(self, it, field)

    def message(self, it: dict, field: str) -> None:
        role = it.get("role")
        if not isinstance(role, str):
            raise InputError(f"expected a string, got {tname(role)}", field=sub(field, "role"))
        content = it.get("content")
        text = nonempty(content_text(content, sub(field, "content")), content, sub(field, "content"))
        if role in MESSAGE_ROLES_AGENT:
            return self.agent(text, field, it)
        if role == "user" and self.user_role is not None:
            role = self.user_role(text)
        self.emit(msg(role, text, field, weight=weight(it, field)))

    def reasoning(self, it: dict, field: str) -> None:
        parts = []
        for key, kinds in (("summary", ("summary_text",)), ("content", ("reasoning_text", "text"))):
            v = it.get(key)
            if v is None:
                continue
            if not isinstance(v, list):
                raise InputError(f"expected a list of {'/'.join(kinds)} parts, got {tname(v)}", field=sub(field, key))
            texts = []
            for j, p in enumerate(v):
                pf = sub(sub(field, key), j)
                if not (isinstance(p, dict) and p.get("type") in kinds and isinstance(p.get("text"), str)):
                    raise InputError(f"expected a {{type: {' | '.join(kinds)}, text}} part, got {shape(p)}", field=pf)
                texts.append(p["text"])
            if any(texts):
                parts.append(think("\n\n".join(t for t in texts if t)))
        if not parts and it.get("encrypted_content"):
            parts.append(placeholder("redacted_thinking"))  # never the encrypted data
        self.agent(join(parts), field, it)

    def function_call(self, it: dict, field: str) -> None:
        name = need(it, "name", field)
        self.call(name, it.get("arguments", {}), field, it, it.get("call_id"))

    def custom_tool_call(self, it: dict, field: str) -> None:
        name = need(it, "name", field)
        self.call(name, it.get("input", ""), field, it, it.get("call_id"))

    def simple_call(self, it: dict, field: str) -> None:
        name, key = _CALLS[it["type"]]
        self.call(name, it.get(key, {}), field, it, it.get("call_id") or it.get("id"))

    def computer_call(self, it: dict, field: str) -> None:
        args = it["actions"] if "actions" in it and "action" not in it else it.get("action", {})
        self.call("computer", args, field, it, it.get("call_id"))

    def web_search_call(self, it: dict, field: str) -> None:
        action = it.get("action")
        if action is not None and not isinstance(action, dict):
            raise InputError(f"expected an action object, got {tname(action)}", field=sub(field, "action"))
        action = action or {}
        self.call("web_search", {k: v for k, v in action.items() if k != "sources"}, field, it, it.get("id"))
        if action.get("sources"):  # what the search returned: the world's
            self.tool(dumps(action["sources"]), sub(sub(field, "action"), "sources"), it.get("id"), "web_search")

    def file_search_call(self, it: dict, field: str) -> None:
        self.call("file_search", {"queries": it.get("queries", [])}, field, it, it.get("id"))
        if it.get("results"):
            self.tool(dumps(it["results"]), sub(field, "results"), it.get("id"), "file_search")

    def code_interpreter_call(self, it: dict, field: str) -> None:
        args = {"code": it.get("code")}
        if it.get("container_id"):
            args["container_id"] = it["container_id"]
        self.call("code_interpreter", args, field, it, it.get("id"))
        outputs = it.get("outputs")
        if outputs:
            if not isinstance(outputs, list):
                raise InputError(f"expected a list of outputs, got {tname(outputs)}", field=sub(field, "outputs"))
            texts = []
            for j, o in enumerate(outputs):
                if isinstance(o, dict) and o.get("type") == "logs" and isinstance(o.get("logs"), str):
                    texts.append(o["logs"])
                elif isinstance(o, dict) and o.get("type") == "image":
                    texts.append(placeholder("image"))
                else:
                    raise InputError(f"expected a {{type: logs, logs}} or {{type: image, url}} output, got {shape(o)}",
                                     field=sub(sub(field, "outputs"), j))
            self.tool("\n".join(texts), sub(field, "outputs"), it.get("id"), "code_interpreter")

    def image_generation_call(self, it: dict, field: str) -> None:
        rp = it.get("revised_prompt")
        self.call("image_generation", {"prompt": rp} if rp else {}, field, it, it.get("id"))
        if it.get("result"):  # base64 image data: a placeholder, never the bytes
            self.tool(placeholder("image", "generated"), sub(field, "result"), it.get("id"), "image_generation")

    def mcp_call(self, it: dict, field: str) -> None:
        name = need(it, "name", field)
        if it.get("approval_request_id") not in self.approvals:  # else the approval request was the call
            self.call(name, it.get("arguments", {}), field, it, it.get("id"))
        if it.get("error"):
            err = it["error"] if isinstance(it["error"], str) else dumps(it["error"])
            self.tool(tool_error(err), sub(field, "error"), it.get("approval_request_id") or it.get("id"), name)
        elif it.get("output") is not None:
            out = it["output"] if isinstance(it["output"], str) else dumps(it["output"])
            self.tool(out, sub(field, "output"), it.get("approval_request_id") or it.get("id"), name)

    def mcp_approval_request(self, it: dict, field: str) -> None:
        name = need(it, "name", field)
        if isinstance(it.get("id"), str):
            self.approvals.add(it["id"])
        self.call(name, it.get("arguments", {}), field, it, it.get("id"))

    def mcp_approval_response(self, it: dict, field: str) -> None:
        body = {k: it[k] for k in ("approve", "reason") if it.get(k) is not None}
        self.tool(dumps(body), field, it.get("approval_request_id"))

    def mcp_list_tools(self, it: dict, field: str) -> None:
        body = {k: it[k] for k in ("server_label", "tools") if k in it}
        text = dumps(body)
        if it.get("error"):
            text = tool_error(it["error"] if isinstance(it["error"], str) else dumps(it["error"]))
        self.tool(text, field, it.get("id"), "mcp_list_tools")

    def output(self, it: dict, field: str) -> None:
        """Any ``*_output`` item: what the environment returned for the call ``call_id``."""
        cid = it.get("call_id", it.get("id"))
        kind = it["type"]
        f = sub(field, "output")
        if kind == "computer_call_output":
            v = it.get("output")
            if not (isinstance(v, dict) and isinstance(v.get("type"), str)):
                raise InputError(f"expected a {{type: computer_screenshot, image_url}} object, got {shape(v)}", field=f)
            return self.tool(placeholder(v["type"]), f, cid)
        if kind == "tool_search_output":
            return self.tool(dumps(it.get("tools", [])), sub(field, "tools"), cid)
        if kind == "shell_call_output" and isinstance(it.get("output"), list):
            return self.tool(dumps(it["output"]), f, cid)
        if kind == "apply_patch_call_output":
            text = it.get("output") if isinstance(it.get("output"), str) else it.get("status", "")
            return self.tool(tool_error(text) if it.get("status") == "failed" else text, f, cid)
        if "output" not in it:
            raise InputError(f"expected an 'output', got {shape(it)}", field=field)
        self.tool(output_text(it["output"], f), f, cid)

    def compaction(self, it: dict, field: str) -> None:
        text = summary_text(it, field)
        if text:  # readable: the model wrote this summary of its own history
            m = msg("user", text, field)
            m["written_by"] = "agent"
            return self.emit(m)
        self.emit(msg("context", placeholder("compaction", "encrypted"), field))  # never its data

    def item_reference(self, it: dict, field: str) -> None:
        raise InputError(f"an item_reference ({it.get('id')!r}) names an item stored by OpenAI, not in this record, "
                         "so cag cannot tell what it held nor who wrote it; expand it first (GET /v1/responses/"
                         "{id}/input_items)", field=field)

    def ghost_snapshot(self, it: dict, field: str) -> None:
        # Codex's undo checkpoint (a git commit): kept in its history, never sent to the model.
        self.skipped["ghost_snapshot"] = self.skipped.get("ghost_snapshot", 0) + 1


def need(it: dict, key: str, field: str) -> str:
    v = it.get(key)
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {tname(v)}", field=sub(field, key))
    return v


def content_text(content: Any, field: str) -> str:
    """A message's ``content``: a string or a list of parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InputError(f"expected a string or a list of parts, got {tname(content)}", field=field)
    return "".join(part_text(p, sub(field, j)) for j, p in enumerate(content))


def part_text(p: Any, field: str) -> str:
    kind = p.get("type") if isinstance(p, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(p.get("text"), str):
        return p["text"]
    if kind == "refusal" and isinstance(p.get("refusal"), str):
        return p["refusal"]
    if kind in ("input_image", "input_audio"):
        return placeholder(kind)
    if kind == "input_file":
        return placeholder(kind, p["filename"] if isinstance(p.get("filename"), str) else None)
    raise InputError(f"unknown content part {shape(p)} (cag reads input_text, output_text, refusal, and "
                     "input_image, input_file, input_audio as placeholders)", field=field)


def output_text(v: Any, field: str) -> str:
    """A tool output: a string, a list of content parts, or Codex's older ``{content, success}``."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "".join(part_text(p, sub(field, j)) for j, p in enumerate(v))
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return tool_error(v["content"]) if v.get("success") is False else v["content"]
    raise InputError(f"expected a string or a list of content parts, got {shape(v)}", field=field)


def summary_text(it: dict, field: str) -> str:
    """A compaction item's readable summary, if it has one (``summary``: a string or a list of
    ``{type: summary_text, text}`` parts; or ``text``); the encrypted part is never read."""
    for key in ("summary", "text"):
        v = it.get(key)
        if isinstance(v, str):
            return v
        if isinstance(v, list):
            texts = []
            for j, p in enumerate(v):
                if not (isinstance(p, dict) and isinstance(p.get("text"), str)):
                    raise InputError(f"expected a {{type: summary_text, text}} part, got {shape(p)}",
                                     field=sub(sub(field, key), j))
                texts.append(p["text"])
            return "\n\n".join(texts)
    return ""


_HANDLERS: dict[str, Callable[[Items, dict, str], None]] = {
    "message": Items.message, "reasoning": Items.reasoning, "function_call": Items.function_call,
    "custom_tool_call": Items.custom_tool_call, "computer_call": Items.computer_call,
    "web_search_call": Items.web_search_call, "file_search_call": Items.file_search_call,
    "code_interpreter_call": Items.code_interpreter_call, "image_generation_call": Items.image_generation_call,
    "mcp_call": Items.mcp_call, "mcp_approval_request": Items.mcp_approval_request,
    "mcp_approval_response": Items.mcp_approval_response, "mcp_list_tools": Items.mcp_list_tools,
    "compaction": Items.compaction, "compaction_summary": Items.compaction, "item_reference": Items.item_reference,
    "ghost_snapshot": Items.ghost_snapshot, **{k: Items.simple_call for k in _CALLS},
}
_KNOWN = frozenset(_HANDLERS) | frozenset(_OUTPUTS)


# -- the fast path ----------------------------------------------------------------------------
# Tagging a big log of Responses records spends most of its time here, so the common item
# shapes go straight to tagged segments (copies of a per-role template) without the plain
# messages in between. Each shape is accepted only where ``Items`` gives exactly that segment:
# an item's keys must be among those listed (so it has no train flag, whose weight would
# differ); anything else (another item type, a part other than text, an empty text that had
# content, an unknown role, no items at all) gives up on the whole record, which then goes
# through ``read``: the same segments, or the precise error.
_FAST_KEYS = {
    "message": frozenset(("type", "role", "content", "id", "status", "phase")),
    "reasoning": frozenset(("type", "id", "summary", "content", "encrypted_content", "status")),
    "function_call": frozenset(("type", "id", "call_id", "name", "arguments", "status")),
    "function_call_output": frozenset(("type", "id", "call_id", "output", "status")),
}
_FAST_MESSAGE = _FAST_KEYS["message"]
_FAST_REASONING = _FAST_KEYS["reasoning"]
_FAST_CALL = _FAST_KEYS["function_call"]
_FAST_OUTPUT = _FAST_KEYS["function_call_output"]
_TEXT_PARTS = ("input_text", "output_text", "text")  # tuples: a part's type may be unhashable
_REASONING_PARTS = ("reasoning_text", "text")
# First characters no JSON text starts with (JSON begins with whitespace, {, [, ", -, a digit,
# true, false or null): such arguments are kept as written without trying to parse them.
_NOT_JSON = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdeghijklmopqrsuvwxyz_/.<>()!?$%&*=+|\\:;,'`#@~^")


def _join_turn(turn: list[str]) -> str:
    """``join(turn)`` for parts that are all non-empty (as the fast path's are)."""
    pieces = [turn[0]]
    prev = turn[0]
    for p in turn[1:]:
        if prev[-1] != "\n":
            pieces.append("\n")
        pieces.append(p)
        prev = p
    return "".join(pieces)


def fast_segments(rec: dict, template: Callable[[str], dict | None]) -> list[dict] | None:
    """The tagged segments of a request/response record ``rec`` made of the common item
    shapes, or None (then ``read`` it). ``template(role)`` is the segment to copy for a
    message of that role, its text to fill (None: the role needs the general path)."""
    out: list[dict] = []
    instr = rec.get("instructions")
    if type(instr) is str:
        if instr:
            t = template("system")
            if t is None:
                return None
            seg = t.copy()
            seg["text"] = instr
            out.append(seg)
    elif instr is not None:
        return None
    inp = rec.get("input")
    lists = []
    if type(inp) is str:
        t = template("user")
        if t is None:
            return None
        seg = t.copy()
        seg["text"] = inp
        out.append(seg)
    elif type(inp) is list:
        lists.append(inp)
    elif inp is not None:
        return None
    outp = rec.get("output")
    if type(outp) is list:
        lists.append(outp)
    elif outp is not None:
        return None
    if len(lists) == 2:
        lists = [chain(lists[0], lists[1])]
    if lists and not fast_items(lists[0], out, template):
        return None
    return out or None


def fast_items(items, out: list[dict], template: Callable[[str], dict | None],
               user_role: Callable[[str], str] | None = None) -> bool:
    """Appends to ``out`` the segments of ``items`` (an iterable of Responses items) as
    ``Items`` would read them, as long as every item has a common shape; False when one has
    not (``out`` is then partly filled: discard it)."""
    agent_t = template("assistant")
    tool_t = template("tool")
    if agent_t is None or tool_t is None:
        return False
    names: dict = {}  # call_id -> tool name, for the outputs
    turn: list[str] = []  # the open agent turn's texts
    for it in items:
        if type(it) is not dict:
            return False
        kind = it.get("type")
        if kind == "function_call":
            if not it.keys() <= _FAST_CALL:
                return False
            name = it.get("name")
            if type(name) is not str:
                return False
            cid = it.get("call_id")
            if type(cid) is str:
                names[cid] = name
            args = it.get("arguments", {})
            if type(args) is str and args and (args[0] in _NOT_JSON or args[0] == "[" and args[1:2] in _NOT_JSON):
                turn.append('<tool_call>{"name":' + orjson.dumps(name).decode() + ',"arguments":'
                            + orjson.dumps(args).decode() + "}</tool_call>")
            else:
                turn.append(tool_call_text(name, args))
        elif kind == "function_call_output":
            if not it.keys() <= _FAST_OUTPUT or "output" not in it:
                return False
            text = it["output"]
            if type(text) is not str:
                return False
            if turn:
                seg = agent_t.copy()
                seg["text"] = turn[0] if len(turn) == 1 else _join_turn(turn)
                out.append(seg)
                turn = []
            cid = it.get("call_id", it.get("id"))
            seg = tool_t.copy()
            seg["text"] = text
            if type(cid) is str:
                name = names.get(cid)
                if name:
                    seg["name"] = name
                if cid:
                    seg["tool_call_id"] = cid
            else:
                name = names.get("")
                if name:
                    seg["name"] = name
            out.append(seg)
        elif kind == "reasoning":
            if not it.keys() <= _FAST_REASONING:
                return False
            text = ""
            v = it.get("summary")
            if type(v) is list and len(v) == 1:  # the usual one summary part
                p = v[0]
                if type(p) is not dict or p.get("type") != "summary_text":
                    return False
                t = p.get("text")
                if type(t) is not str:
                    return False
                if t:
                    text = "<think>" + t + "</think>\n"
            elif v is not None:
                if type(v) is not list:
                    return False
                texts = []
                for p in v:
                    if type(p) is not dict or p.get("type") != "summary_text":
                        return False
                    t = p.get("text")
                    if type(t) is not str:
                        return False
                    if t:
                        texts.append(t)
                if texts:
                    text = "<think>" + "\n\n".join(texts) + "</think>\n"
            v = it.get("content")
            if v is not None:
                if type(v) is not list:
                    return False
                texts = []
                for p in v:
                    if type(p) is not dict or p.get("type") not in _REASONING_PARTS:
                        return False
                    t = p.get("text")
                    if type(t) is not str:
                        return False
                    if t:
                        texts.append(t)
                if texts:
                    text += "<think>" + "\n\n".join(texts) + "</think>\n"
            if text:
                turn.append(text)
            elif it.get("encrypted_content"):
                turn.append("<redacted_thinking>")  # never the encrypted data
        elif kind == "message" or (kind is None and "role" in it):
            if not it.keys() <= _FAST_MESSAGE:
                return False
            role = it.get("role")
            if type(role) is not str:
                return False
            content = it.get("content")
            if type(content) is list:
                if len(content) == 1:
                    p = content[0]
                    if type(p) is not dict or p.get("type") not in _TEXT_PARTS:
                        return False
                    text = p.get("text")
                    if type(text) is not str:
                        return False
                else:
                    texts = []
                    for p in content:
                        if type(p) is not dict or p.get("type") not in _TEXT_PARTS:
                            return False
                        t = p.get("text")
                        if type(t) is not str:
                            return False
                        texts.append(t)
                    text = "".join(texts)
                if not text and content:  # content that gave no text: the general path's error
                    return False
            elif type(content) is str:
                text = content
            elif content is None:
                text = ""
            else:
                return False
            if role in MESSAGE_ROLES_AGENT:
                if text:
                    turn.append(text)
                continue
            if role == "user" and user_role is not None:
                role = user_role(text)
            t = template(role)
            if t is None:
                return False
            if turn:
                seg = agent_t.copy()
                seg["text"] = turn[0] if len(turn) == 1 else _join_turn(turn)
                out.append(seg)
                turn = []
            seg = t.copy()
            seg["text"] = text
            out.append(seg)
        else:
            return False
    if turn:
        seg = agent_t.copy()
        seg["text"] = turn[0] if len(turn) == 1 else _join_turn(turn)
        out.append(seg)
    return True
