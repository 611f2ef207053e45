"""Gemini API / Vertex AI ``generateContent``: a request ``{systemInstruction, contents, tools}``
(the shape of Vertex AI Gemini tuning JSONL too) and a recorded response ``{candidates,
usageMetadata, modelVersion}``. Field names are read in the REST API's camelCase and in the
snake_case the Python SDK (google-genai) writes (``system_instruction``, ``function_call``,
``inline_data``...).

A content is ``{role: user | model | function, parts}``; a part holds one of ``text`` (with
``thought: true`` it is the model's reasoning), ``functionCall``, ``functionResponse``,
``inlineData``, ``fileData``, ``executableCode``, ``codeExecutionResult``. Who wrote a part is
not always the content's role: a function response or a code-execution result is the world's
even inside a ``model`` content (clients replay them there), so those parts become their own
segments. ``thoughtSignature`` is an opaque encrypted token: never rendered.

gemini-cli's replay files (``{method, response: [chunks]}``, its integration tests' ``.responses``)
are refused with a clear error: one streamed API answer per line and no request, so there is
no transcript to read.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import (Message, ReadOptions, join, msg, need_list, placeholder,
                                                 shape, think, tname, tool_call_text, tool_error)

NAME = "gemini"
ORDER = 35
KEYS = ("contents", "candidates")
RULES = ("Gemini API / Vertex AI (camelCase or the Python SDK's snake_case): `systemInstruction` → system "
         "(context); `tools[].functionDeclarations` → one `tools` segment (context); `contents[]` of role user → "
         "world, model → agent, function → world; parts: `text` (with `thought: true` → `<think>...</think>`), "
         "`functionCall` (→ `<tool_call>`), `executableCode` (→ a fenced code block) join into one message of the "
         "content's role; `functionResponse` (role `tool`, its `name`) and `codeExecutionResult` (role `tool`, "
         "name `code_execution`) are the world's own segments wherever they sit; `inlineData`/`fileData` → "
         "`<inline_data MIME>`/`<file_data MIME>`; `thoughtSignature` is never rendered (nor the data of "
         "Inspect AI's `<think redacted=\"true\">` text parts: `<redacted_thinking>`); any other part is an "
         "error. A recorded response `{candidates}` is its first candidate's content, one model turn (the "
         "other candidates are alternatives, left out). gemini-cli's `.responses` replay files are refused")
SAMPLES = ("gemini_contents.jsonl", "gemini_response.json")
CONSUMED = ("contents", "candidates", "systemInstruction", "system_instruction", "tools")

# Inspect AI replays Gemini's encrypted reasoning as a text part `<think redacted="true" ...>DATA</think>`:
# the data is an opaque token, so only a placeholder is rendered.
REDACTED_THINK = re.compile(r'\s*<think redacted="true"[^>]*>.*</think>\s*', re.DOTALL)
ROLES = {"user": "user", "model": "model", "function": "function"}
# Part fields that describe another field of the part (or are opaque): never text of their own.
PART_METADATA = frozenset(["thought", "thoughtSignature", "thought_signature", "videoMetadata", "video_metadata",
                           "partMetadata", "part_metadata", "mediaResolution", "media_resolution"])


def matches(rec: dict) -> bool:
    c = rec.get("contents")
    if isinstance(c, list):  # of Content objects (a list of strings is someone else's)
        if "messages" in rec:
            return False
        if not c:
            return "systemInstruction" in rec or "system_instruction" in rec
        return isinstance(c[0], dict) and ("parts" in c[0] or "role" in c[0])
    c = rec.get("candidates")
    if isinstance(c, list) and c and isinstance(c[0], dict) and ("content" in c[0] or "finishReason" in c[0]):
        return True
    return _is_cli_replay(rec)


def _is_cli_replay(rec: dict) -> bool:
    r = rec.get("response")
    return isinstance(rec.get("method"), str) and isinstance(r, list) and bool(r) and isinstance(r[0], dict) \
        and "candidates" in r[0]


def g(d: dict, camel: str) -> Any:
    """A field in camelCase (REST) or snake_case (Python SDK)."""
    if camel in d:
        return d[camel]
    return d.get(_snake(camel))


def _snake(camel: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in camel)


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    if "contents" not in rec and "candidates" not in rec and _is_cli_replay(rec):
        raise InputError("this is a gemini-cli replay record ({method, response: [streamed chunks]}): API answers "
                         "only, without the request, so there is no transcript to read; cag reads Gemini "
                         "requests ({contents}) and recorded responses ({candidates})", field="response")
    out: list[Message] = []
    tools = tool_schemas(rec.get("tools"))
    if tools:
        out.append(msg("tools", orjson.dumps(tools).decode(), "tools"))
    key = "systemInstruction" if "systemInstruction" in rec else "system_instruction"
    if rec.get(key) is not None:
        out += system_messages(rec[key], key)
    if "contents" in rec:
        for i, c in enumerate(need_list(rec, "contents", "contents")):
            out += content_messages(c, f"contents[{i}]", default_role="user")
    else:
        out += candidate_messages(rec)
    return out


def tool_schemas(tools: Any) -> list:
    """The function declarations of every ``Tool`` (and built-in tools such as ``codeExecution``
    or ``googleSearch`` as they are): what the model is told it may call."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InputError(f"expected a list of tools, got {tname(tools)}", field="tools")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            raise InputError(f"expected a Tool object, got {tname(t)}", field=f"tools[{i}]")
        decls = g(t, "functionDeclarations")
        if decls is not None:
            if not isinstance(decls, list):
                raise InputError(f"expected a list of function declarations, got {tname(decls)}",
                                 field=f"tools[{i}].functionDeclarations")
            out += decls
        rest = {k: v for k, v in t.items() if k not in ("functionDeclarations", "function_declarations")}
        if rest:
            out.append(rest)
    return out


def system_messages(si: Any, field: str) -> list[Message]:
    """``systemInstruction``: a Content (its role, if any, is ignored: it is the system prompt)
    or, as the SDK accepts, a plain string."""
    if isinstance(si, str):
        return [msg("system", si, field)]
    if not isinstance(si, dict) or not isinstance(si.get("parts"), list):
        raise InputError(f"expected a Content {{parts}} or a string, got {shape(si)}", field=field)
    texts = []
    for j, p in enumerate(si["parts"]):
        pf = f"{field}.parts[{j}]"
        if not (isinstance(p, dict) and isinstance(p.get("text"), str)):
            raise InputError(f"expected a text part {{text}} in the system instruction, got {shape(p)}", field=pf)
        texts.append(p["text"])
    return [msg("system", join(texts), f"{field}.parts")]


def record_meta(rec: dict) -> dict:
    """What a recorded response says beside its read turn: how many alternative candidates it
    holds (not read); the tagger merges it into ``meta``."""
    c = rec.get("candidates")
    if "contents" in rec or not isinstance(c, list) or len(c) < 2:
        return {}
    return {"alternative_candidates": len(c) - 1}


def candidate_messages(rec: dict) -> list[Message]:
    """A recorded response: the first candidate's content is the model's turn (a response
    asked for several candidates holds alternatives to it, not later turns)."""
    cands = need_list(rec, "candidates", "candidates")
    c = cands[0]
    if not isinstance(c, dict):
        raise InputError(f"expected a candidate object, got {tname(c)}", field="candidates[0]")
    content = c.get("content")
    if not (isinstance(content, dict) and content.get("parts")):
        reason = c.get("finishReason", c.get("finish_reason"))
        raise InputError("this candidate has no content parts" + (f" (finishReason {reason})" if reason else ""),
                         field="candidates[0].content")
    return content_messages(content, "candidates[0].content", default_role="model")


def content_messages(c: Any, field: str, default_role: str) -> list[Message]:
    """One Content: its parts joined into one message of its role, except the world's parts
    (function responses, code-execution results), which become their own segments in order."""
    if not isinstance(c, dict):
        raise InputError(f"expected a Content {{role, parts}}, got {tname(c)}", field=field)
    role = c.get("role", default_role)
    if role not in ROLES:
        raise InputError(f"expected 'user', 'model' or 'function', got {role!r}", field=f"{field}.role")
    parts = c.get("parts")
    if not isinstance(parts, list):
        raise InputError(f"expected a list of parts, got {tname(parts)}", field=f"{field}.parts")
    out: list[Message] = []
    buf: list[str] = []
    first = 0  # index of the buffer's first part

    def flush() -> None:
        text = join(buf)
        if text or any(isinstance(p, dict) and set(p) - PART_METADATA for p in parts[first:first + len(buf)]):
            out.append(msg(ROLES[role], text, f"{field}.parts[{first}]"))
        buf.clear()

    for j, p in enumerate(parts):
        pf = f"{field}.parts[{j}]"
        world = world_part(p, pf)
        if world is not None:
            if buf:
                flush()
            out.append(world)
            first = j + 1
        else:
            buf.append(part_text(p, pf))
    if buf:
        flush()
    return out


def world_part(p: Any, field: str) -> Message | None:
    """A function response or a code-execution result: the world's segment (role ``tool``)."""
    if not isinstance(p, dict):
        raise InputError(f"expected a part object, got {tname(p)}", field=field)
    fr = g(p, "functionResponse")
    if fr is not None:
        if not (isinstance(fr, dict) and isinstance(fr.get("name"), str)):
            raise InputError(f"expected a functionResponse {{name, response}}, got {shape(fr)}", field=field)
        text = response_text(fr.get("response"), f"{field}.functionResponse.response")
        extra = [media(x, f"{field}.functionResponse.parts[{k}]") for k, x in enumerate(fr.get("parts") or [])]
        tcid = fr.get("id")
        return msg("tool", join([text, *extra]), f"{field}.functionResponse", name=fr["name"],
                   tool_call_id=tcid if isinstance(tcid, str) else None)
    cr = g(p, "codeExecutionResult")
    if cr is not None:
        if not isinstance(cr, dict):
            raise InputError(f"expected a codeExecutionResult {{outcome, output}}, got {tname(cr)}", field=field)
        output = cr.get("output") or ""
        outcome = cr.get("outcome", "OUTCOME_OK")
        text = output if outcome == "OUTCOME_OK" else tool_error(output or str(outcome))
        return msg("tool", text, f"{field}.codeExecutionResult", name="code_execution")
    return None


def response_text(r: Any, field: str) -> str:
    """A function's response as the model reads it: ``output`` (and ``error``, flagged) when the
    response uses the API's documented keys, else the whole response object as JSON."""
    if r is None:
        return ""
    if isinstance(r, dict) and r and set(r) <= {"output", "error"}:
        out = r.get("output")
        text = out if isinstance(out, str) else orjson.dumps(out).decode() if out is not None else ""
        if r.get("error") is not None:
            err = r["error"] if isinstance(r["error"], str) else orjson.dumps(r["error"]).decode()
            text = join([text, tool_error(err)])
        return text
    if isinstance(r, str):
        return r
    try:
        return orjson.dumps(r).decode()
    except TypeError as e:
        raise InputError(f"expected a JSON object, got {tname(r)} ({e})", field=field) from e


def part_text(p: dict, field: str) -> str:
    """A part of the content's own author: text, reasoning, a function call, generated code, media."""
    text = p.get("text")
    if isinstance(text, str):
        if REDACTED_THINK.fullmatch(text):
            return placeholder("redacted_thinking")
        return think(text) if p.get("thought") is True else text
    fc = g(p, "functionCall")
    if fc is not None:
        if not (isinstance(fc, dict) and isinstance(fc.get("name"), str)):
            raise InputError(f"expected a functionCall {{name, args}}, got {shape(fc)}", field=f"{field}.functionCall")
        return tool_call_text(fc["name"], fc.get("args", {}))
    code = g(p, "executableCode")
    if code is not None:
        if not (isinstance(code, dict) and isinstance(code.get("code"), str)):
            raise InputError(f"expected an executableCode {{language, code}}, got {shape(code)}",
                             field=f"{field}.executableCode")
        lang = str(code.get("language") or "").lower()
        return f"```{lang}\n{code['code'].rstrip(chr(10))}\n```"
    if g(p, "inlineData") is not None or g(p, "fileData") is not None:
        return media(p, field)
    if set(p) and set(p) <= PART_METADATA:
        return ""  # a lone thoughtSignature (streaming): opaque, never rendered
    raise InputError(f"unknown part {shape(p)} (cag reads parts with text, functionCall, functionResponse, "
                     "inlineData, fileData, executableCode, codeExecutionResult)", field=field)


def media(p: Any, field: str) -> str:
    """Inline bytes or a file reference: a placeholder with the MIME type, never the data."""
    if isinstance(p, dict):
        for key, kind in (("inlineData", "inline_data"), ("fileData", "file_data")):
            d = g(p, key)
            if isinstance(d, dict):
                mime = g(d, "mimeType")
                return placeholder(kind, mime if isinstance(mime, str) else None)
    raise InputError(f"expected an inlineData or fileData part, got {shape(p)}", field=field)
