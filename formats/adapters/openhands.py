"""OpenHands (formerly OpenDevin) event streams: a saved trajectory (a JSON array, or JSON lines,
of events: the whole file is one transcript) and evaluation ``output.jsonl`` rows
(``{instance_id, instruction, history, metrics, test_result, ...}``; the resolver's older rows
``{issue, instruction, history, ...}``), whose ``history`` holds the events, or, in older
OpenDevin rows, ``[action, observation]`` pairs.

An event is an action (``action``: message, run, run_ipython, read, edit, write, browse, think,
finish, system, recall...) or an observation (``observation``: run, read, edit, error...).
Who wrote it is decided by its kind, not by ``source``: every observation is the world's even
though OpenHands stamps ``source: "agent"`` on the ones that answer the agent's actions; an
action is the agent's when ``source`` is ``agent`` (or absent, as in the resolver's flat events,
whose ``message`` actions are told apart by ``wait_for_response``: the agent waits for the user,
the user's task does not). An agent action is rendered as the model wrote it: its
``tool_call_metadata.model_response`` (the LLM's reply: its text and the tool call with this
action's ``tool_call_id``) when present, else the action's ``thought`` and its name and
arguments. UI and state events (agent state changes, ``observation: "null"``, hidden events,
the memory's ``recall`` lookups, condensations without a summary) were never shown to the model:
skipped, and counted in ``meta.skipped_events``. A condensation's ``summary`` (written by the
condenser, a separate LLM call, not by the agent's policy) is the harness's (world).
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Iterator

import orjson

from causal_agents.errors import InputError, location
from causal_agents.formats.adapters.base import (Message, ReadOptions, join, maybe_json, msg, placeholder, shape,
                                                 think, tname, tool_call_text)
from causal_agents.formats.adapters.openai import content_text

NAME = "openhands"
ORDER = 45
KEYS = ("history",)
RULES = ("OpenHands: a trajectory file (a JSON array or JSON lines of events: one transcript) or evaluation "
         "`output.jsonl` rows (`history` of events or older `[action, observation]` pairs; id `instance_id`; "
         "`instruction`, `metrics`, `test_result`... in meta, `instruction` also a user turn when `history` has "
         "no user message). Gated by event kind, not `source`: the `system` action → system (context, its "
         "`tools` a `tools` segment); a `message` action from the user → user (world), from the agent → "
         "assistant; every other agent action → assistant: the LLM reply in `tool_call_metadata` (its text, "
         "then `<tool_call>` with this action's tool call), else `thought` then `<tool_call>` of the action "
         "and its args; actions from the environment → environment (world); every observation → world, role "
         "`tool` (with `tool_call_id`) or `observation`, name its kind, text its `content`; state and UI "
         "events (agent_state_changed, change_agent_state, `null`, hidden, the user's `recall`) are skipped "
         "and counted in `meta.skipped_events`; a `condensation` summary → harness (world); any other event "
         "shape is an error")
SAMPLES = ("openhands_events.json", "openhands_output.jsonl")
CONSUMED = ("history",)

# Events the harness or UI emits that the model never reads.
SKIP_ACTIONS = frozenset(["change_agent_state", "null", "condensation_request"])
SKIP_OBSERVATIONS = frozenset(["agent_state_changed", "null"])
# Event fields that are not the action's arguments (the flat events of older rows keep
# arguments at the top level), and argument fields that are OpenHands' bookkeeping.
EVENT_FIELDS = frozenset(["id", "timestamp", "source", "message", "action", "observation", "cause", "timeout",
                          "llm_metrics", "tool_call_metadata", "args", "extras", "success", "hidden"])
INTERNAL_ARGS = frozenset(["thought", "is_confirmed", "confirmation_state", "security_risk", "action_risk",
                           "keep_prompt", "blocking", "hidden", "impl_source", "translated_ipython_code",
                           "kernel_init_code", "wait_for_response", "image_urls", "images_urls", "file_urls"])


def is_event(e: Any) -> bool:
    """An action or an observation (never both: a step record of another format has both)."""
    return isinstance(e, dict) and (isinstance(e.get("action"), str) != isinstance(e.get("observation"), str)) \
        and "role" not in e


def file_matches(first: dict) -> bool:
    """A trajectory's first event (with OpenHands' ``source``, ``args`` or ``extras``), or an
    evaluation row (read through ``transcripts`` too, so that its ``instance_id`` is its id)."""
    return (is_event(first) and (first.get("source") in ("agent", "user", "environment") or "args" in first
                                 or "extras" in first)) or matches(first)


def matches(rec: dict) -> bool:
    h = rec.get("history")
    if not (isinstance(h, list) and h):
        return False
    first = h[0]
    if isinstance(first, list) and first:  # older OpenDevin: [action, observation] pairs
        first = first[0]
    return is_event(first)


def transcripts(records: Iterator[tuple[dict, Any]], opts: ReadOptions) -> Iterator[tuple[dict, Any]]:
    """A trajectory file's events as one transcript, or an evaluation file's rows each as one
    (id ``instance_id``, or the resolver's ``owner/repo#number``)."""
    first = None
    events: list = []
    for loc, rec in records:
        if first is None:
            first = loc
            if isinstance(rec, dict) and not is_event(rec):
                yield from _rows([(loc, rec)], records)
                return
        if isinstance(rec, InputError):
            yield loc, rec  # a malformed line: this file's one transcript cannot be read
            return
        if not is_event(rec):  # named at its own line or row
            yield loc, InputError("expected an OpenHands event with 'action' or 'observation', got "
                                  f"{shape(rec)}", field=f"history[{len(events)}]", **location(loc))
            return
        events.append(rec)
    if first is None:
        return
    name = os.path.basename(str(first.get("file", "")))
    n = skipped(events)
    yield first, {"id": name, "history": events, **({"meta": {"skipped_events": n}} if n else {})}


def _rows(head: list, rest: Iterator[tuple[dict, Any]]) -> Iterator[tuple[dict, Any]]:
    """Evaluation rows, one transcript each (a row that is not one is that row's error)."""
    for loc, rec in itertools.chain(head, rest):
        if isinstance(rec, InputError):
            yield loc, rec
        elif not (isinstance(rec, dict) and matches(rec)):
            yield loc, InputError("expected an OpenHands evaluation row with a `history` of events, got "
                                  f"{shape(rec) if isinstance(rec, dict) else tname(rec)}", field="history",
                                  **location(loc))
        else:
            out = {**rec, "id": row_id(rec)}
            n = skipped(rec["history"])
            if n:
                out["meta"] = {**(rec["meta"] if isinstance(rec.get("meta"), dict) else {}), "skipped_events": n}
            yield loc, out


def row_id(rec: dict) -> Any:
    if rec.get("instance_id") is not None:
        return rec["instance_id"]
    issue = rec.get("issue")
    if isinstance(issue, dict) and all(k in issue for k in ("owner", "repo", "number")):
        return f"{issue['owner']}/{issue['repo']}#{issue['number']}"
    return rec.get("id")


def skipped(history: list) -> dict:
    """How many events of each kind were skipped as UI/state events."""
    out: dict = {}
    for _, e in flat(history):
        kind = skip_kind(e) if isinstance(e, dict) else None
        if kind:
            out[kind] = out.get(kind, 0) + 1
    return out


def flat(history: list) -> Iterator[tuple[str, Any]]:
    """``(field, event)`` in order; an ``[action, observation]`` pair gives both."""
    for i, e in enumerate(history):
        if isinstance(e, list):
            for j, x in enumerate(e):
                yield f"history[{i}][{j}]", x
        else:
            yield f"history[{i}]", e


def skip_kind(e: dict) -> str | None:
    """The kind of a UI/state event the model never read, else None."""
    args = e.get("args") if isinstance(e.get("args"), dict) else e
    if e.get("hidden") is True or args.get("hidden") is True:
        return f"hidden {e.get('action', e.get('observation'))}"
    a, o = e.get("action"), e.get("observation")
    if a in SKIP_ACTIONS or o in SKIP_OBSERVATIONS:
        return a or o
    if a == "recall" and e.get("source") != "agent":
        return "recall"  # the memory's lookup of the user's message (its observation is kept)
    if a == "condensation" and not args.get("summary"):
        return "condensation"  # events dropped from the model's view, no text of its own
    return None


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    h = rec.get("history")
    if not isinstance(h, list) or not h:
        raise InputError(f"expected a non-empty list of OpenHands events, got {tname(h)}", field="history")
    out: list[Message] = []
    for f, e in flat(h):
        if not is_event(e):
            raise InputError(f"expected an OpenHands event with 'action' or 'observation', got {shape(e)}", field=f)
        if skip_kind(e):
            continue
        out += observation(e, f) if isinstance(e.get("observation"), str) else action(e, f)
    instruction = rec.get("instruction")
    if isinstance(instruction, str) and instruction and not any(m["role"] == "user" for m in out):
        # the task prompt the agent was given, not in its history: its first user turn
        at = next((k for k, m in enumerate(out) if m["role"] not in ("tools", "system")), len(out))
        out.insert(at, msg("user", instruction, "instruction"))
    return out


def args_of(e: dict, f: str) -> tuple[dict, str]:
    """The action's arguments (``args``, or the flat event's own fields) and their path."""
    if "args" in e:
        a = maybe_json(e["args"])
        if not isinstance(a, dict):
            raise InputError(f"expected an object of arguments, got {tname(a)}", field=f"{f}.args")
        return a, f"{f}.args"
    return {k: v for k, v in e.items() if k not in EVENT_FIELDS}, f


def text_field(d: dict, key: str, f: str) -> str:
    v = d.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {tname(v)}", field=f"{f}.{key}")
    return v


def action(e: dict, f: str) -> list[Message]:
    kind, src = e["action"], e.get("source")
    args, af = args_of(e, f)
    if kind == "system":  # the system prompt and the tools it offers: context
        out = []
        tools = maybe_json(args.get("tools"))
        if tools:
            out.append(msg("tools", orjson.dumps(tools).decode(), f"{af}.tools"))
        return out + [msg("system", text_field(args, "content", af), f"{af}.content")]
    if kind == "condensation":  # the condenser's summary of forgotten events: the harness wrote it
        return [msg("harness", text_field(args, "summary", af), f"{af}.summary", name="condensation")]
    if kind == "message":
        text = join([text_field(args, "content", af), *media(args)])
        if src is None:  # the resolver's flat events: the agent's messages wait for the user's reply
            src = "agent" if args.get("wait_for_response") is True else "user"
        if src == "agent":
            return [msg("assistant", agent_text(e, f, args, af, kind, with_call=False) or text, f)]
        return [msg("user" if src == "user" else "environment", text, f)]
    if src in (None, "agent"):
        return [msg("assistant", agent_text(e, f, args, af, kind), f)]
    if src not in ("user", "environment"):
        raise InputError(f"expected 'agent', 'user' or 'environment', got {src!r}", field=f"{f}.source")
    # an action the user (in the UI) or the environment took: the world's
    text = e["message"] if isinstance(e.get("message"), str) and e["message"] else tool_call_text(kind, clean(args))
    return [msg("user" if src == "user" else "environment", text, f)]


def media(args: dict) -> list[str]:
    out = [placeholder("image") for _ in args.get("image_urls") or args.get("images_urls") or []]
    return out + [placeholder("file") for _ in args.get("file_urls") or []]


def clean(args: dict) -> dict:
    return {k: v for k, v in args.items() if k not in INTERNAL_ARGS}


def agent_text(e: dict, f: str, args: dict, af: str, kind: str, with_call: bool = True) -> str:
    """What the model wrote for this action: from the LLM reply kept in ``tool_call_metadata``
    (its text goes with the reply's first tool call only: later calls of the same reply are
    later actions), else the action's ``thought`` then its name and arguments."""
    meta = maybe_json(e.get("tool_call_metadata"))
    if meta is not None and not isinstance(meta, dict):
        raise InputError(f"expected an object, got {tname(meta)}", field=f"{f}.tool_call_metadata")
    if meta:
        reply = model_reply(meta)
        if reply is not None:
            message, k, call = reply
            text = (think(message["reasoning_content"]) if isinstance(message.get("reasoning_content"), str)
                    and message["reasoning_content"] else "") + \
                content_text(message.get("content"), f"{f}.tool_call_metadata.model_response.choices[0].message")
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            return join([text if k == 0 else "",
                         tool_call_text(fn.get("name") or meta.get("function_name") or kind, fn.get("arguments", {}))])
        if isinstance(meta.get("function_name"), str) and with_call:
            return join([thought(args, af), tool_call_text(meta["function_name"], clean(args))])
    if not with_call:
        return ""
    return join([thought(args, af), tool_call_text(kind, clean(args))])


def thought(args: dict, af: str) -> str:
    return text_field(args, "thought", af)


def model_reply(meta: dict) -> tuple[dict, int, dict] | None:
    """(the LLM's reply message, the index of this action's call in it, the call), when the
    reply is kept and holds the call with this action's ``tool_call_id``."""
    resp, tcid = meta.get("model_response"), meta.get("tool_call_id")
    try:
        message = resp["choices"][0]["message"]
        for k, call in enumerate(message.get("tool_calls") or []):
            if isinstance(call, dict) and call.get("id") == tcid:
                return message, k, call
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return None


def observation(e: dict, f: str) -> list[Message]:
    """The world's answer, whatever ``source`` OpenHands stamped on it."""
    kind = e["observation"]
    meta = maybe_json(e.get("tool_call_metadata"))
    tcid = meta.get("tool_call_id") if isinstance(meta, dict) and isinstance(meta.get("tool_call_id"), str) else None
    return [msg("tool" if tcid else "observation", text_field(e, "content", f), f"{f}.content", name=kind,
                tool_call_id=tcid)]
