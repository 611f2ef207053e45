"""Provenance inference: who wrote each segment, and so whether it is an intervention.

Gates: ``agent`` (the model being trained wrote it: kept in context, no loss under ``do``),
``world`` (users, tools, verifiers, teachers, other agents: evidence, supervised),
``context`` (system prompts, questions framing a stream: never supervised).

Rules, first match wins; each segment records the rule that decided it:
1. ``provenance-field``: an explicit per-message ``provenance``.
   ``demo-field``: a message its format marks as a demonstration (SWE-agent's ``is_demo``)
   is world-written: a human or another run wrote it.
2. ``self`` / ``other-author``: with ``--self NAME``, a message whose author (``author``,
   else ``name``) is set is agent-written if the author is a self, else world-written,
   whatever its role: another agent's or a teacher's action is evidence.
3. ``format-author``: the format says the logged agent wrote it whatever its slot (a
   compaction summary the model wrote, placed in the user slot): agent, or world under
   ``--demonstrations``.
4. ``role-map`` (``--role-map ROLE=GATE``), then ``demonstrations`` (``--demonstrations``:
   roles whose default is agent are world-written, since another model or a human wrote
   them), then ``role-default`` (ROLE_DEFAULTS).
5. Anything else is an error naming the role.

Tool schemas (top-level ``tools`` or ``functions``, a list or a JSON string, or what a
format reads as role ``tools``) become one context segment of role ``tools`` (rule
``tools-field``): the model sees them at inference,
so it must see them in training; renderers render them (the chat-template renderer passes
them as ``tools=``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

from causal_agents.errors import InputError, UsageError, location
import orjson

from causal_agents.formats.adapters import (BY_NAME, DEFAULT_TEXT_ROLES, TRAIN_FLAGS, ReadOptions,
                                           detect_format, get, openai_message, plain_tool_calls, to_messages)
from causal_agents.formats.adapters.base import BRANCHES
from causal_agents.formats.adapters.openai import SWIFT_CALL_ROLE, read as read_openai

GATES = ("agent", "world", "context")

ROLE_DEFAULTS = {
    # the agent's own actions
    "assistant": "agent", "gpt": "agent", "agent": "agent", "function_call": "agent",
    "attempt": "agent", "model": "agent", "ai": "agent", "tool_call": "agent",
    # the world: evidence
    "user": "world", "human": "world", "tool": "world", "function": "world", "ipython": "world",
    "observation": "world", "verifier": "world", "oracle": "world", "teacher": "world", "tool_response": "world",
    "harness": "world", "environment": "world",
    # framing: never supervised
    "system": "context", "developer": "context", "question": "context", "context": "context",
}


@dataclass(frozen=True)
class TagOptions:
    """How `cag tag` decides who wrote each segment: selves, role map, text roles, a forced format, the messages key, grouping and demonstrations."""
    selves: tuple[str, ...] = ()
    role_map: dict = field(default_factory=dict)  # lower-cased role -> gate
    text_roles: tuple[str, ...] = DEFAULT_TEXT_ROLES
    format: str | None = None  # None: detect per record
    text_key: str = "text"  # the field holding a `text` transcript
    branches: str = "last"  # branching session logs: the last leaf's chain, or every leaf's
    redact: tuple[str, ...] = ()  # "secrets": detected keys and tokens replaced before anything is written
    messages_key: str | None = None  # read OpenAI messages under this key (any format name)
    group_by_file: bool = False  # a file of one message per line is one transcript
    demonstrations: bool = False  # assistant turns were written by someone else: evidence
    # role string -> the segment the OpenAI fast path copies for it, filled as roles are met
    # (tagging a big log asks millions of times; see _openai_segments)
    segment_templates: dict = field(default_factory=dict, compare=False, repr=False)
    # train-flag-looking keys cag does not read -> the first field that had one (one warning each)
    noticed: dict = field(default_factory=dict, compare=False, repr=False)
    # the redactor, built on first use (detectors are compiled once per process)
    _redactor: list = field(default_factory=list, compare=False, repr=False)

    @staticmethod
    def build(selves: Iterable[str] = (), role_map: Iterable[str] = (), text_roles: Iterable[str] = (),
              format: str | None = None, messages_key: str | None = None, group_by_file: bool = False,
              demonstrations: bool = False, text_key: str | None = None, branches: str = "last",
              redact: Iterable[str] = ()) -> "TagOptions":
        """TagOptions from the CLI's flag values (role-map entries parsed, bad values a UsageError).
        ``text_roles`` add to the default turn roles; ``text_key`` reads a `text` transcript under
        another key (and so implies ``--format text`` when no format is forced)."""
        if format is not None:
            get(format)  # an unknown name is a usage error listing the formats
        if branches not in BRANCHES:
            raise UsageError(f"--branches expects one of {', '.join(BRANCHES)}, got {branches!r}")
        if text_key is not None and format not in (None, "text"):
            raise UsageError(f"--text-key reads the text format; it cannot be combined with --format {format}")
        from causal_agents.transcripts.redact import check_redact

        roles = tuple(dict.fromkeys((*DEFAULT_TEXT_ROLES, *text_roles)))
        return TagOptions(selves=tuple(selves), role_map=parse_role_map(role_map), text_roles=roles,
                          format="text" if text_key is not None else format, text_key=text_key or "text",
                          branches=branches, messages_key=messages_key, group_by_file=group_by_file,
                          demonstrations=demonstrations, redact=check_redact(redact))

    def redactor(self):
        """The secret redactor of ``--redact secrets`` (None without it)."""
        if not self.redact:
            return None
        if not self._redactor:
            from causal_agents.transcripts.redact import SecretRedactor

            self._redactor.append(SecretRedactor())
        return self._redactor[0]

    @property
    def reading(self) -> ReadOptions:
        """What the format adapters need of these options."""
        return ReadOptions(text_roles=self.text_roles, text_key=self.text_key, branches=self.branches)

    def as_dict(self) -> dict:
        """The options as a JSON-ready dict (recorded in cag_config.json)."""
        return {"selves": list(self.selves), "role_map": dict(self.role_map),
                "text_roles": list(self.text_roles), "format": self.format, "messages_key": self.messages_key,
                "group_by_file": self.group_by_file, "demonstrations": self.demonstrations,
                "text_key": self.text_key, "branches": self.branches, "redact": list(self.redact)}

    def warnings(self) -> list[str]:
        """One line per train-flag-looking key that cag did not read."""
        return [f"warning: {where}: key {key!r} looks like a train flag, but cag reads only "
                f"{', '.join(TRAIN_FLAGS)} and masked; it was ignored" for key, where in self.noticed.items()]


def parse_role_map(items: Iterable[str]) -> dict:
    """``ROLE=GATE`` strings as {role: gate}; a bad entry is a UsageError naming --role-map."""
    out = {}
    for item in items:
        role, sep, gate = item.partition("=")
        if not sep or not role or gate not in GATES:
            raise UsageError(f"--role-map expects ROLE=GATE with GATE one of {', '.join(GATES)}, got {item!r}")
        out[role.strip().lower()] = gate
    return out


class AgentGateRules:
    """Tallies the rule behind every agent gate, so that a run where every one came from the
    role default (a public SFT file read as this model's own rollouts) is pointed out."""

    def __init__(self):
        self.counts: dict = {}

    def watch(self, records: Iterable[dict]) -> Iterable[dict]:
        for r in records:
            for s in r["segments"]:
                if s["gate"] == "agent":
                    self.counts[s.get("rule")] = self.counts.get(s.get("rule"), 0) + 1
            yield r

    def hint(self, opts: TagOptions) -> str | None:
        """One line when every agent gate came from ``role-default`` and no ``--self`` was given."""
        n = sum(self.counts.values())
        if not n or opts.selves or set(self.counts) != {"role-default"}:
            return None
        return (f"note: all {n:,} agent-gated segments were gated by the role default: the assistant turns are "
                "treated as this model's own actions, so --mask do trains on none of them. If another model or "
                "a human wrote them (public SFT data are demonstrations), pass --demonstrations; if this model "
                "wrote them, say so with --self NAME or --role-map assistant=agent.")


def gate_of(msg: dict, opts: TagOptions) -> tuple[str, str]:
    """(gate, rule) for one adapted message."""
    if msg.get("provenance"):
        return msg["provenance"], "provenance-field"
    if msg.get("demo"):
        return "world", "demo-field"
    author = msg.get("author")
    if opts.selves and author:
        return ("agent", "self") if author in opts.selves else ("world", "other-author")
    if msg.get("written_by") == "agent":  # the format says the logged agent wrote it, whatever its slot
        return ("world", "demonstrations") if opts.demonstrations else ("agent", "format-author")
    role = msg["role"]
    if role == TOOLS_ROLE:  # tool schemas a format reads itself
        return "context", "tools-field"
    # hot (every message of every transcript): the role's cached template holds its gate
    tmpl = opts.segment_templates.get(role) or _template(role, opts)
    hit = (tmpl["gate"], tmpl["rule"]) if tmpl is not None else _role_gate(role, opts)
    if hit is not None:
        return hit
    raise InputError(f"unknown role {msg['role']!r} (known: {', '.join(sorted(ROLE_DEFAULTS))}; "
                     f"map it with --role-map {msg['role']}=agent|world|context)", field=f"{msg['field']}.role"
                     if not msg["field"].startswith("text") else "text")


def tag_record(rec: dict, loc: dict, opts: TagOptions, fmt: str | None = None) -> dict:
    """One input record -> one tagged record. Raises InputError (with location) on bad input.
    ``fmt``: the format the file reader already knows (a whole-file format's transcripts)."""
    detected = False
    try:
        key = opts.messages_key
        if fmt is None:
            fmt = "openai" if key is not None else opts.format
        if fmt is None:
            fmt, detected = detect_format(rec), True
        if fmt == "tagged":
            return _redacted(_check_tagged(rec, loc), opts)
        spec = BY_NAME[fmt]
        if not detected and not spec.whole_file:
            fields = (key,) if key else (opts.text_key,) if fmt == "text" else spec.keys
            if not any(k in rec for k in fields):
                raise InputError(f"{'--messages-key' if key else '--format ' + fmt} needs this field "
                                 f"(the record has {', '.join(sorted(map(str, rec)))})", field=fields[0])
        try:
            if fmt == "openai" and key is None:
                segments = _openai_segments(rec, opts)
            else:
                fast = spec.fast_segments if key is None else None
                segments = fast(rec, _template_of(opts)) if fast is not None else None
                if segments is None:  # no fast path, or the record is off it
                    msgs = to_messages(rec, fmt, opts.reading) if key is None else read_openai(rec, opts.reading, key)
                    segments = [_segment(m, opts) for m in msgs]
        except InputError as e:
            if detected and not spec.refuses:  # say what cag assumed, and how to say otherwise
                raise InputError(f"{e.detail} (read as {fmt}, told from the record's shape; --format NAME "
                                 "reads it as another)", file=e.file, line=e.line, row=e.row, field=e.field) from e
            raise
        if ("tools" in rec or "functions" in rec) and not (segments and segments[0]["role"] == TOOLS_ROLE):
            tools = tools_segment(rec)
            if tools is not None:
                segments.insert(0, tools)
    except InputError as e:
        raise e.at(**location(loc))
    rid = rec.get("id")
    consumed = {"id", "tools", "functions", key} if key is not None else \
        spec.consumed | {opts.text_key} if fmt == "text" else spec.consumed
    meta = {k: v for k, v in rec.items() if k not in consumed} if len(rec) > 2 or rid is None else {}
    if isinstance(rec.get("meta"), dict) and spec.whole_file:  # a whole-file format's own meta
        meta = {**meta.pop("meta"), **meta}
    if key is None and spec.record_meta is not None:
        meta.update(spec.record_meta(rec))
    return _redacted({"id": rid if type(rid) is str else str(rid) if rid is not None else _default_id(loc),
                      "source": loc if len(loc) == 2 else _source(loc), "format": fmt, "segments": segments,
                      "meta": meta}, opts)


def _redacted(out: dict, opts: TagOptions) -> dict:
    """A tagged record with ``--redact secrets`` applied (unchanged without it)."""
    if opts.redact:
        from causal_agents.transcripts.redact import redact_record

        redact_record(out, opts.redactor())
    return out


TOOLS_ROLE = "tools"


def tools_segment(rec: dict) -> dict | None:
    """Top-level tool schemas (``tools``, or the legacy ``functions``) as one context segment:
    the schemas the model sees at inference. A JSON string is parsed; text is compact JSON."""
    for key in ("tools", "functions"):
        v = rec.get(key)
        if v in (None, "", [], "[]"):
            continue
        if isinstance(v, str):
            try:
                v = orjson.loads(v)
            except orjson.JSONDecodeError as e:
                raise InputError(f"expected a list of tool schemas or a JSON string of one ({e})", field=key) from e
        if not isinstance(v, list):
            raise InputError(f"expected a list of tool schemas, got {type(v).__name__}", field=key)
        return {"role": TOOLS_ROLE, "author": None, "text": orjson.dumps(v).decode(), "gate": "context",
                "rule": "tools-field", "weight": 1}
    return None


def _default_id(loc: dict) -> str:
    base = os.path.basename(loc["file"])
    return f"{base}:{loc['line']}" if "line" in loc else f"{base}:row{loc['row']}"


def _segment(m: dict, opts: TagOptions) -> dict:
    gate, rule = gate_of(m, opts)
    seg = {"role": m["role"], "author": m["author"], "text": m["text"], "gate": gate, "rule": rule,
           "weight": m["weight"]}
    for key in m.get("suspect") or ():
        opts.noticed.setdefault(key, f"{m['field']}.{key}")
    if m.get("name"):
        seg["name"] = m["name"]
    if m.get("tool_call_id"):
        seg["tool_call_id"] = m["tool_call_id"]
    return seg


def _openai_segments(rec: dict, opts: TagOptions) -> list[dict]:
    """OpenAI messages, with a fast path for the common plain message (``{role, content}``,
    plus ``tool_call_id``, or an assistant turn that is only tool calls): tagging a 1 GB log
    is dominated by this loop. A segment is a copy of its role's template (about 40% cheaper
    than a dict display); anything off the fast path goes through ``openai_message``, which
    gives the same segment or the precise error."""
    msgs = rec["messages"]
    if not isinstance(msgs, list) or not msgs:
        return [_segment(m, opts) for m in to_messages(rec, "openai")]  # raises the precise error
    out = []
    add = out.append
    templates = opts.segment_templates
    for i, m in enumerate(msgs):
        if type(m) is dict:
            role = m.get("role")
            tmpl = templates.get(role) if type(role) is str else None
            if tmpl is None and type(role) is str:
                tmpl = _template(role, opts)
            if tmpl is not None:
                n = len(m)
                text = m.get("content")
                if type(text) is str:
                    if n == 2:
                        seg = tmpl.copy()
                        seg["text"] = text
                        add(seg)
                        continue
                    tcid = m.get("tool_call_id")
                    if n == 3 and type(tcid) is str:
                        seg = tmpl.copy()
                        seg["text"] = text
                        seg["tool_call_id"] = tcid  # after weight, as _segment puts it
                        add(seg)
                        continue
                elif text is None and n == 3 and "content" in m:  # not {role, tool_calls, name|weight}
                    calls = m.get("tool_calls")
                    text = plain_tool_calls(calls) if type(calls) is list else None
                    if text is not None:
                        seg = tmpl.copy()
                        seg["text"] = text
                        add(seg)
                        continue
        add(_segment(openai_message(m, i), opts))
    return out


def _template_of(opts: TagOptions):
    """``template(role)`` for a format's fast path: the segment to copy for a plain message of
    ``role`` (author, provenance, train flag, name and tool call id unset), or None where
    ``gate_of`` must decide (an unknown role, or tool schemas)."""
    templates = opts.segment_templates

    def template(role: str) -> dict | None:
        t = templates.get(role)
        if t is None and role != TOOLS_ROLE:
            t = _template(role, opts)
        return t
    return template


def _template(role: str, opts: TagOptions) -> dict | None:
    """The fast path's segment for ``role`` with its text still to fill (None: unknown role, or
    a role whose content is rendered, never copied: ms-swift's tool_call)."""
    if role == SWIFT_CALL_ROLE:
        return None
    hit = _role_gate(role, opts)
    if hit is None:
        return None
    tmpl = {"role": role, "author": None, "text": "", "gate": hit[0], "rule": hit[1], "weight": 1}
    opts.segment_templates[role] = tmpl
    return tmpl


def _role_gate(role: str, opts: TagOptions) -> tuple[str, str] | None:
    key = role.lower()
    if key in opts.role_map:
        hit = opts.role_map[key], "role-map"
    else:
        g = ROLE_DEFAULTS.get(key)
        if g == "agent" and opts.demonstrations:
            hit = ("world", "demonstrations")
        else:
            hit = (g, "role-default") if g is not None else None
    return hit


def _source(loc: dict) -> dict:
    return {k: loc[k] for k in ("file", "line", "row") if loc.get(k) is not None}


def _check_tagged(rec: dict, loc: dict) -> dict:
    """Tagging is idempotent: a tagged record passes through, after validation."""
    segs = rec.get("segments")
    if not isinstance(segs, list) or not segs:
        raise InputError("expected a non-empty list of segments", field="segments")
    for i, s in enumerate(segs):
        if not isinstance(s, dict):
            raise InputError("expected an object", field=f"segments[{i}]")
        if s.get("gate") not in GATES:
            raise InputError(f"expected gate one of {', '.join(GATES)}, got {s.get('gate')!r}",
                             field=f"segments[{i}].gate")
        for k in ("text", "role"):
            if not isinstance(s.get(k), str):
                raise InputError(f"expected a string, got {type(s.get(k)).__name__}", field=f"segments[{i}].{k}")
        for k in ("name", "tool_call_id"):  # Parquet brings absent optional fields back as nulls
            if k in s and s[k] is None:
                del s[k]
        w = s.setdefault("weight", 1)
        if isinstance(w, float) and w.is_integer():  # Parquet stores weights as floats
            s["weight"] = int(w)
        s.setdefault("author", None)
        s.setdefault("rule", "tagged")
    out = dict(rec)
    out.setdefault("id", _default_id(loc))
    out["source"] = _source(out["source"]) if isinstance(out.get("source"), dict) else _source(loc)
    out.setdefault("format", "tagged")
    meta = out.get("meta")
    if isinstance(meta, str):  # Parquet stores meta as a JSON string
        import orjson
        try:
            out["meta"] = orjson.loads(meta) if meta else {}
        except orjson.JSONDecodeError as e:
            raise InputError(f"a tagged record's meta must be a JSON object or JSON text ({e})",
                             **location(loc), field="meta") from e
    out.setdefault("meta", {})
    return out
