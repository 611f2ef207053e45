"""The ``stream`` renderer: tagged segments -> text in the verifier-loop prompt format of
"Continual, interactive, causal agents" (de Freitas and Ortega, 2026), plus character spans.

    Question:\\n{question}\\n
    Proposed solution:\\n{attempt}\\n
    Verdict: {verdict}\\n
    Proposed solution:\\n{correction}\\n

A span is ``(start, end, cls, seg_index, trainable)``; spans tile the text exactly, in order.
``cls`` is a ``TokenClass`` (causal_agents.transcripts.spans).

- The inserted headers (``Question:\\n``, ``Proposed solution:\\n``, ``Verdict: ``) are
  protocol (cls 1) and belong to the segment they introduce. They are NOT trainable by
  default: in the paper both stream agents mask ``Question:`` and ``Proposed solution:``
  ([MASK] in its figures), so only the correction tokens carry loss under ``do``. Pass
  ``protocol_trainable=True`` to let them follow the segment's weight instead.
- A segment's content and its closing ``\\n`` take the class of the segment's gate
  (context -> 0, world -> 2, agent -> 3), so the agent ending its own attempt is the agent's
  action; ``trainable`` is ``weight != 0``.
- Roles: question/user/human -> ``Question:``; attempt/assistant/agent/teacher/oracle (any
  solution-writing role) -> ``Proposed solution:``; verifier -> ``Verdict: ``;
  system/context/developer -> the bare text; any other role -> ``Role: ``.

An OpenAI SFT record from ``cag data stem`` (user question, teacher assistant solution)
renders as ``Question:\\n{q}\\nProposed solution:\\n{solution}\\n``: the same format as the
streams and the evaluation prompt.
"""

from __future__ import annotations

from causal_agents.transcripts.spans import AGENT, CONTEXT, GATE_CLASS, PROTOCOL, WORLD, display_role  # noqa: F401

QUESTION_HEADER = "Question:\n"
SOLUTION_HEADER = "Proposed solution:\n"
VERDICT_HEADER = "Verdict: "

_QUESTION_ROLES = {"question", "user", "human"}
_SOLUTION_ROLES = {"attempt", "assistant", "agent", "gpt", "model", "ai", "teacher", "oracle", "correction"}
_VERDICT_ROLES = {"verifier", "verdict"}
_BARE_ROLES = {"system", "context", "developer"}


def header_for(role: str) -> str:
    """The header the stream format writes before a segment of ``role`` (see the module docstring)."""
    r = role.lower()
    if r in _QUESTION_ROLES:
        return QUESTION_HEADER
    if r in _SOLUTION_ROLES:
        return SOLUTION_HEADER
    if r in _VERDICT_ROLES:
        return VERDICT_HEADER
    if r in _BARE_ROLES:
        return ""
    return display_role(role) + ": "


def render_stream(segments: list[dict], protocol_trainable: bool = False) -> tuple[str, list[tuple]]:
    """Render tagged segments (``role``, ``text``, ``gate``, optional ``weight``)."""
    parts: list[str] = []
    spans: list[tuple] = []
    pos = 0
    for i, seg in enumerate(segments):
        gate = seg["gate"]
        if gate not in GATE_CLASS:
            raise ValueError(f"segment {i}: gate must be one of {', '.join(GATE_CLASS)}, got {gate!r}")
        trainable = seg.get("weight", 1) != 0
        head = header_for(seg["role"])
        if head:
            parts.append(head)
            spans.append((pos, pos + len(head), PROTOCOL, i, trainable and protocol_trainable))
            pos += len(head)
        body = seg["text"] + "\n"
        parts.append(body)
        spans.append((pos, pos + len(body), GATE_CLASS[gate], i, trainable))
        pos += len(body)
    return "".join(parts), spans


def prompt(question: str) -> str:
    """The plain evaluation prompt: what a policy continues to write its attempt."""
    return QUESTION_HEADER + question + "\n" + SOLUTION_HEADER


def repair_prompt(question: str, attempt: str, verdict: str | None = None) -> str:
    """The prompt after a failed attempt (the verifier-gated second attempt)."""
    text = prompt(question) + attempt + "\n"
    if verdict is not None:
        text += VERDICT_HEADER + verdict + "\n"
    return text + SOLUTION_HEADER
