"""Verifier-loop records (the stream paper's x → ŷ → v → y*): ``question``, ``attempts`` (or a
single ``attempt`` + ``verdict``), ``correction``; an attempt that used a tool also has
``parts`` (``{role: attempt | tool, text}`` in order; tool parts are the world's) and a correction
written in the same way ``correction_parts`` (roles oracle | tool)."""

from __future__ import annotations

from typing import Any

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import ReadOptions, author, msg, need_str, provenance, suspect_flags, tname, weight

NAME = "stream"
ORDER = 80
KEYS = ("question",)
RULES = "the verifier loop: `question` (a string: context), `attempts`: list of `{text, verdict, correction}` (attempt = agent, verdict = verifier, world; correction = oracle, world), or a single `attempt` + `verdict`; top-level `correction` (oracle); `parts`/`correction_parts` split an attempt or correction around tool results (world)"
SAMPLES = ("verifier_stream.jsonl", "stem_stream.jsonl")
CONSUMED = ("question", "attempts", "attempt", "verdict", "correction")


def matches(rec: dict) -> bool:
    return isinstance(rec.get("question"), str)


def read(rec: dict, opts: ReadOptions) -> list[dict]:
    q = rec.get("question")
    if not isinstance(q, str):
        raise InputError(f"expected a string, got {tname(q)}", field="question")
    out = [msg("question", q, "question")]
    attempts = rec.get("attempts")
    if attempts is None:
        if "attempt" not in rec:
            raise InputError("expected 'attempts' (a list) or 'attempt' (a string)", field="attempts")
        attempts = [{k: rec[k] for k in ("attempt", "verdict", "author") if k in rec}]
    if not isinstance(attempts, list):
        raise InputError(f"expected a list, got {tname(attempts)}", field="attempts")
    for i, a in enumerate(attempts):
        f = f"attempts[{i}]"
        if isinstance(a, str):
            a = {"text": a}
        if not isinstance(a, dict):
            raise InputError(f"expected an object or a string, got {tname(a)}", field=f)
        text = a.get("text", a.get("attempt"))
        if not isinstance(text, str):
            raise InputError(f"expected a string, got {tname(text)}", field=f"{f}.text")
        written = dict(author=author(a, f), weight=weight(a, f), provenance=provenance(a, f),
                       suspect=suspect_flags(a))
        if a.get("parts") is None:
            out.append(msg("attempt", text, f"{f}.text", **written))
        else:
            out += stream_parts(a["parts"], text, f"{f}.parts", "attempt", written)
        verdict = a.get("verdict")
        if verdict is not None:
            if not isinstance(verdict, str):
                raise InputError(f"expected a string, got {tname(verdict)}", field=f"{f}.verdict")
            out.append(msg("verifier", verdict, f"{f}.verdict"))
        corr = a.get("correction")
        if a.get("correction_parts") is not None:
            corr = need_str(corr, f"{f}.correction")  # the text the parts make, for people and the verifier
            out += stream_parts(a["correction_parts"], corr, f"{f}.correction_parts", "oracle", {})
        elif corr is not None:
            out.append(msg("oracle", need_str(corr, f"{f}.correction"), f"{f}.correction"))
    corr = rec.get("correction")
    if corr is not None:
        out.append(msg("oracle", need_str(corr, "correction"), "correction"))
    return out


def stream_parts(parts: Any, text: str, field: str, role: str, written: dict) -> list[dict]:
    """A solution written in parts: pieces of ``role`` (with the writer's ``written`` fields)
    and tool results (the world's: role ``tool``, never the writer's author or provenance).
    Each part's text must appear in ``text``, in order (``text`` is what the parts render to)."""
    if not isinstance(parts, list) or not parts:
        raise InputError(f"expected a non-empty list of {{role, text}} parts, got {tname(parts)}", field=field)
    out, pos = [], 0
    for j, p in enumerate(parts):
        pf = f"{field}[{j}]"
        if not isinstance(p, dict):
            raise InputError(f"expected an object {{role, text}}, got {tname(p)}", field=pf)
        if p.get("role") not in (role, "tool"):
            raise InputError(f"expected '{role}' or 'tool', got {p.get('role')!r}", field=f"{pf}.role")
        body = need_str(p.get("text"), f"{pf}.text")
        at = text.find(body, pos)
        if at < 0:
            raise InputError(f"this part is not in the text (at or after character {pos}): the parts and the "
                             "text disagree", field=f"{pf}.text")
        pos = at + len(body)
        if p["role"] == "tool":
            out.append(msg("tool", body, f"{pf}.text", provenance=provenance(p, pf)))
        else:
            out.append(msg(role, body, f"{pf}.text", **written))
    return out


