"""Inspect AI eval logs (UK AISI's ``inspect_ai``): a ``.json`` log (one object ``{version,
status, eval, plan, results, stats, samples}``) or a ``.eval`` log (a zip of ``header.json``,
``samples/<id>_epoch_<n>.json``, ``summaries.json``, ``reductions.json``, ``_journal/``). The
unit is the whole file: every sample (one per sample id and epoch) is one transcript.

A sample's ``messages`` are Inspect's ChatMessage objects: roles system, user, assistant and
tool; content a string or a list of content blocks (text, reasoning, image, audio, video,
document, data, tool_use); assistant ``tool_calls`` of ``{id, function: NAME, arguments}``;
tool messages with ``tool_call_id``, ``function`` and ``error``. A sample with no messages is
read from its last model call before scoring (that call's input and output): Inspect logs
the whole conversation the model saw there.
"""

from __future__ import annotations

import re
import zipfile
from typing import Any, Iterator

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import (Message, ReadOptions, join, msg, need_obj, nonempty, placeholder,
                                                 shape, str_field, think, tname, tool_call_text, tool_error)
from causal_agents.formats.adapters.openai import render_tool_call

NAME = "inspect"
ORDER = 45
KEYS = ("eval", "samples")
RULES = ("Inspect AI logs, `.json` or `.eval` (zip; its members read one at a time): one transcript per sample "
         "and epoch (id `SAMPLE#epochN`; `scores`, `target`, sample `metadata` and the eval's task, run and model "
         "in `meta`; `events`, `store`, `output` and `attachments` are not copied). `messages`: system → context, "
         "user → world, assistant → agent (its content blocks, then `tool_calls` `{function: NAME, arguments}` as "
         "`<tool_call>`), tool → world (with `error` set: `<error>content\\nmessage</error>`); blocks: text, "
         "reasoning → `<think>...</think>` (`redacted: true` → `<redacted_thinking>`, never its data), image/audio/"
         "video/document/data → placeholders, server-side `tool_use` → the call in the agent turn and its result a "
         "tool message (world); an assistant message with `source: \"input\"` came from the dataset, not the model: "
         "world (rule `demo-field`); `attachment://` references are resolved. Tool schemas: the last model call's "
         "`tools`. A sample with no `messages` is read from its last model event before scoring (`input` + "
         "`output`)")
SAMPLES = ("inspect_log.json",)
CONSUMED = ("messages", "tools", "at", "paths")

_MEMBER = re.compile(r"^samples/(.+)_epoch_(\d+)\.json$")
_REFS = ("attachment://", "tc://")  # tc:// is the older name Inspect still migrates
_MEDIA = {"image": None, "audio": "format", "video": "format", "document": "filename"}
_SAMPLE_META = ("target", "scores", "metadata", "error", "limit")
_EVAL_META = ("task", "task_id", "run_id", "model")


def matches(rec: dict) -> bool:
    """Never told from one record: an Inspect log is told from its file (``file_matches``)."""
    return False


def file_matches(first: dict) -> bool:
    return isinstance(first.get("eval"), dict) and ("samples" in first or ("version" in first and "status" in first))


def open_container(path: str, head: bytes) -> Iterator[tuple[dict, Any]] | None:
    """A ``.eval`` zip: the header first, then each sample member (read one at a time), in
    (sample id, epoch) order; None when the file is not an Inspect zip."""
    if not head.startswith(b"PK\x03\x04"):
        return None
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None
    names = zf.namelist()
    if "header.json" not in names and not any(n.startswith("samples/") for n in names):
        zf.close()
        return None
    return _members(zf, path, names)


def _members(zf: zipfile.ZipFile, path: str, names: list[str]) -> Iterator[tuple[dict, Any]]:
    with zf:
        head = "header.json" if "header.json" in names else "_journal/start.json" if "_journal/start.json" in names \
            else None
        if head is not None:
            yield {"file": path, "member": head}, _load(zf, path, head)
        samples = []
        for n in names:
            m = _MEMBER.match(n)
            if m:
                sid = m.group(1)
                samples.append(((0, int(sid), "") if sid.isdigit() else (1, 0, sid), int(m.group(2)), n))
        for row, (_, _, name) in enumerate(sorted(samples)):
            yield {"file": path, "row": row, "member": name}, _load(zf, path, name, row)


def _load(zf: zipfile.ZipFile, path: str, name: str, row: int | None = None) -> Any:
    try:
        return orjson.loads(zf.read(name))
    except (orjson.JSONDecodeError, zipfile.BadZipFile, OSError, ValueError) as e:
        return InputError(f"zip member {name} is not a readable JSON object ({e})", file=path, row=row)


def transcripts(records: Iterator[tuple[dict, Any]], opts: ReadOptions) -> Iterator[tuple[dict, Any]]:
    """Each sample of the log as ``(location, transcript record)``; a bad sample is yielded as
    an InputError (``--on-error skip`` skips it), a log with no samples is an error."""
    header: dict = {}
    row, path = 0, None
    for loc, rec in records:
        path = loc.get("file")
        if isinstance(rec, InputError):
            if "row" not in loc:
                raise rec  # the header or the log itself
            yield {"file": path, "row": row}, rec
            row += 1
            continue
        if not isinstance(rec, dict):
            raise InputError(f"expected an Inspect log object, got {tname(rec)}", file=path, row=loc.get("row"),
                             line=loc.get("line"))
        if "member" in loc and "row" in loc:  # one sample of a .eval zip
            yield {"file": path, "row": row}, _transcript(rec, header, f"{loc['member']}:", loc["member"])
            row += 1
            continue
        if not file_matches(rec):
            raise InputError(f"expected an Inspect log {{version, status, eval, samples}}, got {shape(rec)}",
                             file=path, line=loc.get("line"), row=loc.get("row"))
        header = rec
        samples = rec.get("samples")
        if samples is None:
            continue
        if not isinstance(samples, list):
            raise InputError(f"expected a list of samples, got {tname(samples)}", file=path, field="samples")
        for j, s in enumerate(samples):
            yield {"file": path, "row": row}, _transcript(s, header, f"samples[{j}].")
            row += 1
    if row == 0:
        raise InputError("this Inspect log holds no samples (was it written with --no-log-samples, or is the eval "
                         "still running?): there is no transcript to read", file=path)


def _transcript(s: Any, header: dict, at: str, member: str | None = None) -> dict | InputError:
    """One sample as a transcript record: its messages (attachments resolved), the last model
    call's tool schemas, and the sample's scores and the eval's identity as ``meta``."""
    try:
        s = need_obj(s, at.rstrip(".:") or "sample", "an Inspect sample object")
        att = s.get("attachments") if isinstance(s.get("attachments"), dict) else {}
        events = s.get("events") if isinstance(s.get("events"), list) else []
        last = _last_model_event(events)
        rec: dict = {"id": f"{s.get('id')}#epoch{s.get('epoch', 1)}"}
        msgs = s.get("messages")
        if msgs:
            rec["messages"], rec["at"] = _resolve(msgs, att), f"{at}messages"
        elif last is not None:
            i, ev = last
            out = _output_message(ev)
            rec["messages"] = _resolve(ev["input"] + ([out] if out is not None else []), att)
            rec["paths"] = [f"{at}events[{i}].input[{k}]" for k in range(len(ev["input"]))] + \
                ([f"{at}events[{i}].output.choices[0].message"] if out is not None else [])
        else:
            raise InputError("this sample has no messages and no model event with an input: nothing to read",
                             field=f"{at}messages")
        if last is not None and isinstance(last[1].get("tools"), list) and last[1]["tools"]:
            rec["tools"] = _resolve(last[1]["tools"], att)
        ev = header.get("eval") if isinstance(header.get("eval"), dict) else {}
        meta = {"sample_id": s.get("id"), "epoch": s.get("epoch")}
        meta.update({k: s[k] for k in _SAMPLE_META if s.get(k) is not None})
        meta["eval"] = {k: ev[k] for k in _EVAL_META if k in ev}
        if member:
            meta["member"] = member
        rec["meta"] = meta
        return rec
    except InputError as e:
        return e


def _last_model_event(events: list) -> tuple[int, dict] | None:
    """The last model call of the solver: the events before scoring begins (a model-graded
    scorer's calls come after and are not the agent's conversation)."""
    last = None
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            continue
        kind = e.get("event")
        if kind == "score" or (kind in ("step", "span_begin") and e.get("type") in ("scorer", "scorers")):
            break
        if kind == "model" and isinstance(e.get("input"), list):
            last = (i, e)
    return last


def _output_message(ev: dict) -> dict | None:
    out = ev.get("output")
    choices = out.get("choices") if isinstance(out, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict) and isinstance(choices[0].get("message"), dict):
        return choices[0]["message"]
    return None


def _resolve(v: Any, att: dict) -> Any:
    """Inspect stores long strings once in the sample's ``attachments`` and refers to them as
    ``attachment://HASH``: put the text back where it was."""
    if not att:
        return v
    if isinstance(v, str):
        for p in _REFS:
            if v.startswith(p):
                return att.get(v[len(p):], v)
        return v
    if isinstance(v, list):
        return [_resolve(x, att) for x in v]
    if isinstance(v, dict):
        return {k: _resolve(x, att) for k, x in v.items()}
    return v


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    """A transcript record made by ``transcripts``: its Inspect messages, in order."""
    msgs = rec.get("messages")
    at = rec.get("at", "messages")
    if not isinstance(msgs, list) or not msgs:
        raise InputError(f"expected a non-empty list of messages, got {tname(msgs)}", field=at)
    paths = rec.get("paths")
    out: list[Message] = []
    for i, m in enumerate(msgs):
        out += inspect_message(m, paths[i] if paths else f"{at}[{i}]")
    return out


def inspect_message(m: Any, f: str) -> list[Message]:
    """One ChatMessage: usually one message; an assistant turn holding a server-side tool use
    is split around the tool's result (the world wrote that)."""
    if not isinstance(m, dict):
        raise InputError(f"expected a message object, got {tname(m)}", field=f)
    role = str_field(m, "role", f)
    if role == "tool":
        return [_tool_message(m, f)]
    pieces: list = []  # strings of this message's author, or tool-result messages between them
    if isinstance(m.get("reasoning"), str) and m["reasoning"]:  # logs before content blocks held reasoning
        pieces.append(think(m["reasoning"]))
    content = m.get("content")
    if isinstance(content, str):
        pieces.append(content)
    elif isinstance(content, list):
        for j, b in enumerate(content):
            pieces += _block(b, f"{f}.content[{j}]")
    elif content is not None:
        raise InputError(f"expected a string or a list of content blocks, got {tname(content)}", field=f"{f}.content")
    calls = m.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise InputError(f"expected a list, got {tname(calls)}", field=f"{f}.tool_calls")
        pieces += [render_tool_call(c, field=f"{f}.tool_calls[{j}]") for j, c in enumerate(calls)]
    tcid = m.get("tool_call_id")
    if isinstance(tcid, list):  # a user message carrying tool calls' payload (images) names them in a list
        tcid = tcid[0] if tcid and isinstance(tcid[0], str) else None
    if tcid is not None and not isinstance(tcid, str):
        raise InputError(f"expected a string or a list of strings, got {tname(tcid)}", field=f"{f}.tool_call_id")
    out: list[Message] = []
    run: list[str] = []
    for p in pieces:
        if isinstance(p, str):
            run.append(p)
            continue
        if run:
            out.append(_own(role, join(run), f, m, tcid))
            run = []
        out.append(p)  # a server-side tool's result, between the turn's parts
    if run or not out:
        out.append(_own(role, join(run), f, m, tcid))
    return out


def _own(role: str, text: str, f: str, m: dict, tcid: str | None) -> Message:
    out = msg(role, text, f, tool_call_id=tcid)
    if role == "assistant" and m.get("source") == "input":
        out["demo"] = True  # a few-shot turn from the dataset's input: the model did not write it
    return out


def _block(b: Any, f: str) -> list:
    """One content block as text pieces (and, for a server-side tool use, its result message)."""
    if not isinstance(b, dict) or not isinstance(b.get("type"), str):
        raise InputError(f"expected a content block {{type, ...}}, got {shape(b)}", field=f)
    kind = b["type"]
    if kind == "text" and isinstance(b.get("text"), str):
        return [b["text"]]
    if kind == "reasoning":
        if b.get("redacted"):
            return [placeholder("redacted_thinking")]  # the data is encrypted: never copied
        text = b.get("reasoning") or b.get("summary")
        if isinstance(text, str):
            return [think(text)]
    if kind in _MEDIA:
        detail = b.get(_MEDIA[kind]) if _MEDIA[kind] else None
        return [placeholder(kind, detail if isinstance(detail, str) and detail else None)]
    if kind == "data":
        return [placeholder("data")]  # a provider's internal payload
    if kind == "tool_use" and isinstance(b.get("name"), str):
        result = b.get("result")
        text = result if isinstance(result, str) else orjson.dumps(result).decode() if result is not None else ""
        if isinstance(b.get("error"), str) and b["error"]:
            text = tool_error(join([text, b["error"]]))
        tid = b.get("id") if isinstance(b.get("id"), str) else None
        return [tool_call_text(b["name"], b.get("arguments", {})),
                msg("tool", text, f"{f}.result", name=b["name"], tool_call_id=tid)]
    raise InputError(f"unknown content block {shape(b)} (cag reads Inspect blocks text, reasoning, image, audio, "
                     "video, document, data and tool_use)", field=f)


def _tool_message(m: dict, f: str) -> Message:
    """A tool's result (world). An ``error`` (``{type, message}``; older logs: ``tool_error``)
    is what the model was shown instead of a plain result: rendered with ``tool_error``."""
    content = m.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = [p for j, b in enumerate(content) for p in _block(b, f"{f}.content[{j}]")]
        if not all(isinstance(p, str) for p in parts):
            raise InputError("a tool message holds a tool_use block: cag reads tool_use in assistant messages only",
                             field=f"{f}.content")
        text = join(parts)
    elif content is None:
        text = ""
    else:
        raise InputError(f"expected a string or a list of content blocks, got {tname(content)}", field=f"{f}.content")
    err = m.get("error")
    if err is None and isinstance(m.get("tool_error"), str):
        err = {"type": "unknown", "message": m["tool_error"]}
    if err is not None:
        if not isinstance(err, dict) or not isinstance(err.get("message"), str):
            raise InputError(f"expected an error {{type, message}}, got {shape(err)}", field=f"{f}.error")
        text = tool_error(text if err["message"] in (text, "") else join([text, err["message"]]))
    name = str_field(m, "function", f, required=False)
    tcid = str_field(m, "tool_call_id", f, required=False)
    return msg("tool", nonempty(text, content, f), f, name=name, tool_call_id=tcid)
