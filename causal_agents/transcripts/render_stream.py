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
  system/context/developer -> the bare text; any other role -> ``Role: `` (``tool`` ->
  ``Tool: ``).
- A solution-writing segment right after a tool segment (tool/function/ipython/observation)
  continues the same proposed solution: it gets no header. So a tool-using attempt (the
  calculator variant of the STEM stream) renders as one solution with the tool's line inside::

      Proposed solution:\\n{working}. calc: {expression}\\n
      Tool: {result}\\n
      Final answer: {answer}\\n

  where the working and the final line are the agent's, the result the tool's (world) and
  ``Tool: `` protocol. :func:`join_parts` gives the text between the header and the last newline.

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
_TOOL_ROLES = {"tool", "function", "ipython", "observation"}


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
    after_tool = False
    for i, seg in enumerate(segments):
        gate = seg["gate"]
        if gate not in GATE_CLASS:
            raise ValueError(f"segment {i}: gate must be one of {', '.join(GATE_CLASS)}, got {gate!r}")
        trainable = seg.get("weight", 1) != 0
        head = header_for(seg["role"])
        if after_tool and head == SOLUTION_HEADER:
            head = ""  # the solution goes on after the tool's line
        after_tool = seg["role"].lower() in _TOOL_ROLES
        if head:
            parts.append(head)
            spans.append((pos, pos + len(head), PROTOCOL, i, trainable and protocol_trainable))
            pos += len(head)
        body = seg["text"] + "\n"
        parts.append(body)
        spans.append((pos, pos + len(body), GATE_CLASS[gate], i, trainable))
        pos += len(body)
    return "".join(parts), spans


def join_parts(parts: list[dict]) -> str:
    """The text of a solution written in parts (``{role, text}``: solution-writing roles and
    tool results, in order) as :func:`render_stream` shows it after the first part's header,
    without the closing newline: ``"work. calc: 1 / 4\\nTool: 0.25\\nFinal answer: 0.25 A"``.
    The verifier grades this text and a repair prompt quotes it, so both see what training
    renders."""
    if not parts:
        raise ValueError("a solution needs at least one part")
    text, _ = render_stream([{"role": p["role"], "text": p["text"], "gate": "context"} for p in parts])
    return text[len(header_for(parts[0]["role"])):-1]


def prompt(question: str) -> str:
    """The plain evaluation prompt: what a policy continues to write its attempt."""
    return QUESTION_HEADER + question + "\n" + SOLUTION_HEADER


def repair_prompt(question: str, attempt: str, verdict: str | None = None) -> str:
    """The prompt after a failed attempt (the verifier-gated second attempt)."""
    text = prompt(question) + attempt + "\n"
    if verdict is not None:
        text += VERDICT_HEADER + verdict + "\n"
    return text + SOLUTION_HEADER
