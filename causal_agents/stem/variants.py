"""Variants of the STEM stream experiment of "Continual, interactive, causal agents" (de
Freitas and Ortega, 2026).

- ``plain`` (the paper's, the default): an attempt is one line, working and arithmetic done
  by the model, ending in ``Final answer: <number> <unit>``.
- ``calculator``: the attempt may call a calculator. It writes its working and the
  arithmetic as a tool call on one line (``I = V / R = 48 V / 551 ohm. calc: 48 / 551``); the
  tool's result comes back on the next line (``Tool: 0.08711434``), written by the world; the
  attempt then states its answer (``Final answer: 0.08711434 A``). Why: a 135M-parameter model
  (SmolLM2-135M-Instruct) after SFT writes the right formula and substitution and then wrong
  arithmetic (``= 0.0000246 A``), so it solves almost nothing and the paper's question (does
  learning from corrections in the context of one's own failed attempt beat imitating
  attempts?) cannot be answered on it. With the calculator, choosing the right formula is
  enough.

Provenance (the rules are the same as the plain variant's; only the pieces are new): the
working, the expression and the final line are the agent's (an intervention: masked under
``do``); the tool's result is the world's (evidence: supervised under both masks); the
``Tool: `` header is protocol (never supervised). Teacher demonstrations and oracle
corrections use the same format (every piece of them is the world's), so a model can learn
it. The verifier grades the whole attempt text as the stream shows it, unchanged.

An attempt is kept as its text (a string) in the plain variant and as its parts in the
calculator variant: ``[{"role": "attempt", "text": line}, {"role": "tool", "text": result},
..., {"role": "attempt", "text": final line}]``; :func:`attempt_text` gives the text of either.
"""

from __future__ import annotations

import re

from causal_agents.errors import InputError
from causal_agents.stem import calculator
from causal_agents.transcripts.render_stream import header_for, join_parts

PLAIN, CALCULATOR = "plain", "calculator"
VARIANTS = (PLAIN, CALCULATOR)
DEFAULT_VARIANT = PLAIN
MAX_TOOL_CALLS = 2       # the teacher needs one; a second lets a model retry after an error
TOOL_ROLE = "tool"
TOOL_HEADER = header_for(TOOL_ROLE)   # "Tool: ", as the stream renderer writes it
ATTEMPT_ROLE = "attempt"
_CALL = re.compile(r"\bcalc\s*:", re.IGNORECASE)


def check_variant(variant: str, field: str = "--variant") -> str:
    """``variant`` if known, else an InputError naming ``field``."""
    if variant not in VARIANTS:
        raise InputError(f"expected one of {', '.join(VARIANTS)}, got {variant!r}", field=field)
    return variant


def tool_call(line: str) -> str | None:
    """The calculator's result text when ``line`` calls it (the text after its first ``calc:``
    is the expression), else None. Never raises: a bad expression gives ``error: ...``."""
    m = _CALL.search(line)
    if m is None:
        return None
    return calculator.run(line[m.end():].strip())


def attempt_parts(decoded: list[tuple[str, str]]) -> list[dict]:
    """The decoder's ``("agent" | "tool", text)`` pieces as attempt parts."""
    return [{"role": ATTEMPT_ROLE if kind == "agent" else TOOL_ROLE, "text": text} for kind, text in decoded]


def attempt_text(attempt) -> str:
    """The text of an attempt (a string, or parts), as the stream shows and the verifier grades it."""
    if isinstance(attempt, str):
        return attempt
    return join_parts(attempt)


def tool_calls(attempt) -> tuple[int, int]:
    """(tool calls, of which errors) in an attempt."""
    if isinstance(attempt, str):
        return 0, 0
    results = [p["text"] for p in attempt if p["role"] == TOOL_ROLE]
    return len(results), sum(r.startswith("error:") for r in results)


def calculator_solution(problem: dict, role: str) -> list[dict]:
    """The worked solution in the calculator format, as parts: ``role`` writes the working and
    the call, the calculator its result (run now, by the tool itself), ``role`` the final line,
    which states the tool's result with the answer's unit. Raises InputError for a problem
    record without ``calc_work``/``calc_expression`` (made by ``cag data stem --variant
    calculator``)."""
    work, expr = problem.get("calc_work"), problem.get("calc_expression")
    if not isinstance(work, str) or not isinstance(expr, str):
        raise InputError("the calculator variant needs problem records with 'calc_work' and 'calc_expression' "
                         "(write them with: cag data stem --variant calculator)", field="calc_expression")
    result = calculator.run(expr)
    unit = problem.get("unit") or ""
    return [{"role": role, "text": f"{work}. calc: {expr}"}, {"role": TOOL_ROLE, "text": result},
            {"role": role, "text": f"Final answer: {result}" + (f" {unit}" if unit else "")}]


def solution_messages(parts: list[dict], author: str | None, provenance: str) -> list[dict]:
    """OpenAI messages for a solution in parts: each written piece an ``assistant`` message
    (``author``, ``provenance``), each tool result a ``tool`` message (always the world's)."""
    out = []
    for p in parts:
        if p["role"] == TOOL_ROLE:
            out.append({"role": "tool", "content": p["text"], "provenance": "world"})
        else:
            msg = {"role": "assistant", "content": p["text"]}
            if author:
                msg["author"] = author
            msg["provenance"] = provenance
            out.append(msg)
    return out
