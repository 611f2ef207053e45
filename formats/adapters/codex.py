"""Codex CLI rollouts (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``): one file, one session.

Rows are ``{timestamp, type, payload}``. The first is ``session_meta`` (its ``instructions``,
or since 2026 ``base_instructions.text``, is the system prompt; the rest is metadata); the
model's context is the ``response_item`` rows, OpenAI Responses items read by
``responses.Items`` (consecutive agent items stay one turn). ``event_msg`` rows repeat those
messages for the UI, so they are dropped (counted in meta) and every message appears once;
``turn_context`` rows are per-turn settings (the last one's cwd, model and policies go to
meta). A ``compacted`` row's ``message`` is a summary the model wrote of its history, placed
by Codex in the user slot: role user, written by the agent. Its ``replacement_history`` (the
context that replaced the history) is not rendered: it repeats items already read plus the
summary; its length goes to meta. User messages Codex itself injects (environment context,
AGENTS.md, permissions, turn-aborted notices...) are told by the tag they start with and get
role ``harness`` (world).

The 2025 layout is read too: a first row ``{id, timestamp, instructions, git}``, then bare
Responses items and ``{record_type: "state"}`` rows (skipped).

A file's rows become one transcript; a ``session_meta`` row after the first is the parent
session of a fork (before any item: recorded in meta) or, after items, the start of the next
rollout in a concatenated file."""

from __future__ import annotations

from typing import Any, Iterator

from causal_agents.errors import InputError, location
from causal_agents.formats.adapters.base import Message, ReadOptions, msg, nonempty, placeholder, shape, tname
from causal_agents.formats.adapters.responses import Items, fast_items

NAME = "codex"
ORDER = 56
KEYS = ("payload",)
RULES = ("Codex CLI rollout (a whole `rollout-*.jsonl` file is one transcript; its first row is `session_meta`): "
         "`session_meta.instructions` / `base_instructions.text` → context, the rest → meta; `response_item` "
         "payloads are read as in `responses` (consecutive agent items one turn); user messages Codex injects "
         "(starting `<environment_context>`, `<user_instructions>`, `# AGENTS.md instructions`, "
         "`<permissions instructions>`, `<turn_aborted>`, `<user_shell_command>`, `<skill`, "
         "`<subagent_notification>`...) → role harness (world); `compacted.message` → role user written by the "
         "agent (rule format-author; its `replacement_history` is not rendered); `event_msg` rows (UI copies) "
         "are dropped and counted in meta, `turn_context` → meta (the last one). The 2025 layout (first row "
         "`{id, timestamp, instructions}`, bare items, `record_type: state` rows) reads too; any other row type "
         "is an error naming file:line and type")
SAMPLES = ("codex_rollout.jsonl",)
CONSUMED = ("rollout", "instructions", "tools")

ROW_TYPES = ("session_meta", "response_item", "event_msg", "turn_context", "compacted", "world_state",
             "inter_agent_communication", "inter_agent_communication_metadata")
# Rows that hold no message of the model's context: counted in meta.
# (world_state: AGENTS.md baselines for resume; inter_agent_communication*: multi-agent mail,
# which reaches the model as a response_item.)
_COUNTED = ("world_state", "inter_agent_communication", "inter_agent_communication_metadata")
# Openings of the user messages the Codex harness writes, not the user.
HARNESS_PREFIXES = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions",
                    "<permissions instructions>", "<collaboration_mode>", "<turn_aborted>", "<user_shell_command>",
                    "<skill", "<subagent_notification>", "<realtime_conversation>", "<model_switch>",
                    "<personality_spec>")
_TURN_KEYS = ("cwd", "model", "approval_policy", "sandbox_policy", "effort", "summary")


def matches(rec: dict) -> bool:
    """A rollout row read on its own (its file did not start with ``session_meta``): ``read``
    then says why it cannot be read alone."""
    return rec.get("type") in ROW_TYPES and "payload" in rec and "timestamp" in rec


def file_matches(first: dict) -> bool:
    return (first.get("type") == "session_meta" and "payload" in first) or legacy_header(first)


def legacy_header(rec: Any) -> bool:
    """The 2025 layout's first row ``{id, timestamp, instructions, git?}``."""
    return (isinstance(rec, dict) and "type" not in rec and {"id", "timestamp", "instructions"} <= set(rec)
            and set(rec) <= {"id", "timestamp", "instructions", "git"})


def harness_role(text: str) -> str:
    return "harness" if text.lstrip().startswith(HARNESS_PREFIXES) else "user"


def transcripts(records: Iterator[tuple[dict, Any]], opts: ReadOptions) -> Iterator[tuple[dict, Any]]:
    cur: _Rollout | None = None
    failed = False  # the current rollout had a bad row: its remaining rows are skipped
    for loc, rec in records:
        if cur is None:
            if isinstance(rec, InputError):
                raise rec
            cur = _Rollout.start(loc, rec)
            continue
        if type(rec) is dict and rec.get("type") == "response_item" and not cur.legacy:  # most rows: add's case, inline
            p = rec.get("payload")
            if type(p) is dict:
                cur.rows.append((loc, "response_item", p, "payload"))
                continue
        try:
            if isinstance(rec, InputError):
                raise rec
            nxt = cur.add(loc, rec)
        except InputError as e:
            if not failed:
                yield cur.loc, e.at(**location(loc))
            failed = True
            continue
        if nxt is not None:  # a concatenated file: the next rollout begins
            if not failed:
                yield cur.done()
            cur, failed = nxt, False
    if cur is not None and not failed:
        yield cur.done()


class _Rollout:
    """One rollout as its rows are read: the rows the transcript needs (response items and
    compactions, with their locations) and the metadata; nothing else is kept."""

    def __init__(self, loc: dict, meta: dict, legacy: bool):
        self.loc, self.legacy = loc, legacy
        self.id = meta.get("id")
        self.instructions, self.tools = instructions(meta, loc), meta.get("dynamic_tools")
        rest = {k: v for k, v in meta.items() if k not in ("instructions", "base_instructions", "dynamic_tools")}
        self.meta: dict = {"session_meta": rest}
        self.rows: list[tuple[dict, str, dict, str]] = []  # (location, row type, payload, field)

    @staticmethod
    def start(loc: dict, rec: Any) -> "_Rollout":
        if legacy_header(rec):
            return _Rollout(loc, rec, legacy=True)
        if isinstance(rec, dict) and rec.get("type") == "session_meta":
            return _Rollout(loc, payload(rec, loc), legacy=False)
        got = f"type {rec.get('type')!r}" if isinstance(rec, dict) and "type" in rec else shape(rec)
        raise InputError(f"a Codex CLI rollout starts with a session_meta row (or, in 2025 rollouts, "
                         f"{{id, timestamp, instructions}}), got {got}: this is not a whole rollout (a usage "
                         "log of token_count events holds no messages)", **location(loc),
                         field="type" if isinstance(rec, dict) and "type" in rec else None)

    def count(self, key: str, sub: str | None = None) -> None:
        if sub is None:
            self.meta[key] = self.meta.get(key, 0) + 1
        else:
            d = self.meta.setdefault(key, {})
            d[sub] = d.get(sub, 0) + 1

    def add(self, loc: dict, rec: Any) -> "_Rollout | None":
        """Take one row; returns the next rollout when this row begins one."""
        if not isinstance(rec, dict):
            raise InputError(f"expected a rollout row object, got {tname(rec)}")
        if self.legacy:
            if rec.get("record_type") == "state":
                return None
            if "type" not in rec and "role" not in rec:
                raise InputError(f"expected a Responses item or {{record_type: state}}, got {shape(rec)}")
            self.rows.append((loc, "response_item", rec, ""))  # the row is the item
            return None
        kind = rec.get("type")
        if kind == "response_item":
            self.rows.append((loc, kind, payload(rec, loc), "payload"))
        elif kind == "compacted":
            p = payload(rec, loc)
            if not isinstance(p.get("message"), str):
                raise InputError(f"expected a string, got {tname(p.get('message'))}", field="payload.message")
            if isinstance(p.get("replacement_history"), list):
                self.meta["replacement_history_items"] = len(p["replacement_history"])
            self.rows.append((loc, kind, {"message": p["message"]}, "payload"))
        elif kind == "event_msg":
            p = payload(rec, loc)
            self.count("event_msgs", str(p.get("type")))
        elif kind == "turn_context":
            p = payload(rec, loc)
            self.count("turn_contexts")
            self.meta["turn_context"] = {k: p[k] for k in _TURN_KEYS if k in p}
        elif kind == "session_meta":
            p = payload(rec, loc)
            if self.rows:
                return _Rollout(loc, p, legacy=False)
            self.meta.setdefault("forked_from", []).append(p.get("id"))
        elif kind in _COUNTED:
            self.count("other_rows", kind)
        else:
            raise InputError(f"unknown rollout row type {kind!r} (cag reads {', '.join(ROW_TYPES)})",
                             field="type")
        return None

    def done(self) -> tuple[dict, Any]:
        if not self.rows:
            return self.loc, InputError("this Codex rollout has no response_item rows (the messages the model saw); "
                                        f"its other rows were {self.meta.get('event_msgs') or 'metadata only'}",
                                        **location(self.loc))
        rec = {"id": self.id, "rollout": self.rows, "meta": self.meta}
        if self.instructions is not None:
            rec["instructions"] = self.instructions
        if self.tools:
            rec["tools"] = self.tools
        return self.loc, rec


def payload(rec: dict, loc: dict) -> dict:
    p = rec.get("payload")
    if not isinstance(p, dict):
        raise InputError(f"expected an object, got {tname(p)}", **location(loc), field="payload")
    return p


def instructions(meta: dict, loc: dict) -> str | None:
    """The session's system prompt and where it was: ``instructions`` (a string or null) or,
    since 2026, ``base_instructions: {text}``."""
    v = meta.get("instructions")
    if isinstance(v, str) and v:
        return v
    b = meta.get("base_instructions")
    if isinstance(b, dict) and isinstance(b.get("text"), str) and b["text"]:
        return b["text"]
    if v is not None and not isinstance(v, str):
        raise InputError(f"expected a string or null, got {tname(v)}", **location(loc), field="payload.instructions")
    return None


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    if "rollout" not in rec:
        raise InputError("this is one row of a Codex CLI rollout, read on its own because its file does not start "
                         "with a session_meta row; cag reads a rollout as a whole file (a usage log of "
                         "token_count events holds no messages)", field="type")
    items = Items(user_role=harness_role)
    if rec.get("instructions"):
        items.emit(msg("system", rec["instructions"], "payload.instructions"))
    for loc, kind, p, field in rec["rollout"]:
        try:
            if kind == "response_item":
                items.item(p, field)
            else:  # compacted
                compacted(items, p)
        except InputError as e:
            raise e.at(**location(loc)) from None
    if items.skipped:  # read after this returns: the tagged record's meta says what was left out
        rec["meta"]["skipped_items"] = items.skipped
    return items.messages()


def fast_segments(rec: dict, template) -> list[dict] | None:
    """The tagged segments of a rollout whose rows are all common Responses items (see
    ``responses.fast_segments``), or None: then ``read`` it (compactions, skipped items, errors)."""
    rows = rec.get("rollout")
    if rows is None:
        return None
    out: list[dict] = []
    if rec.get("instructions"):
        t = template("system")
        if t is None:
            return None
        seg = t.copy()
        seg["text"] = rec["instructions"]
        out.append(seg)
    items = (p if kind == "response_item" else None for _, kind, p, _ in rows)  # None: off the fast path
    if not fast_items(items, out, template, harness_role):
        return None
    return out


def compacted(items: Items, p: dict) -> None:
    if p["message"]:
        m = msg("user", nonempty(p["message"], p["message"], "payload.message"), "payload.message")
        m["written_by"] = "agent"  # the model's summary of its own history, in the user slot
        items.emit(m)
    else:  # remote compaction: the summary is encrypted inside the replacement history
        items.emit(msg("context", placeholder("compaction", "encrypted"), "payload.replacement_history"))
