"""Build verifier-stream records (x -> ŷ -> v -> y*: "Continual, interactive, causal agents"
(de Freitas and Ortega, 2026), eq. 3) from a problem and the attempts some policy wrote. Pure: no model, no I/O.

Record (the ``stream`` format that ``cag tag`` reads)::

    {"id", "question",
     "attempts": [{"text": ŷ, "verdict": v, "correction": y*?}, ...],
     "skill", "domain", "answer", "unit", "tol_abs", "tol_rel", "problem_id", "passed"}

Gates as ``cag tag`` assigns them by role: question -> context, attempt -> agent,
verdict -> world (verifier), correction -> world (oracle). ``passed`` lists each attempt's
verdict as a bool (meta, not rendered).

Attempts are graded in order. With ``oracle="last"`` (default) the oracle's correction (the
problem's worked solution) follows the last attempt only, and only if it failed: earlier
wrong attempts get just the verdict (the agent retried after reading it). With
``oracle="every"`` each wrong attempt is followed by the correction. Attempts after one
that passed are an error: the stream for a problem ends when the agent is right.
``verdicts=False`` leaves the verdict text out of the record, so the only world tokens are
the corrections (the paper's token accounting: a second ``Proposed solution:`` is then the
only sign the first attempt failed).

Calculator variant (causal_agents/stem/variants.py): an attempt comes as its parts; the
entry keeps the text they render to (``text``, what the verifier grades) and the parts
(``parts``: who wrote which piece); the correction is the solution in the calculator format,
as ``correction`` (text) and ``correction_parts`` (the oracle's pieces and the tool's result).
"""

from __future__ import annotations

from causal_agents.stem.variants import DEFAULT_VARIANT, PLAIN, attempt_text, calculator_solution, check_variant
from causal_agents.stem.verifier import verify_problem

ORACLE_MODES = ("last", "every")
META_FIELDS = ("skill", "domain", "answer", "unit", "tol_abs", "tol_rel")


def build_stream_record(problem: dict, attempts: list, *, oracle: str = "last", verdicts: bool = True,
                        record_id: str | None = None, variant: str = DEFAULT_VARIANT) -> dict:
    """One stream record (the module doc gives its fields) for ``problem`` and the attempts
    in order (strings, or parts in the calculator variant), each graded by the verifier.
    Raises ValueError for an unknown ``oracle``, no attempts, an attempt that is neither a
    string nor a list of parts, or an attempt after one that passed."""
    if oracle not in ORACLE_MODES:
        raise ValueError(f"oracle must be one of {ORACLE_MODES}, got {oracle!r}")
    check_variant(variant, "variant")
    if not attempts:
        raise ValueError("a stream record needs at least one attempt")
    out_attempts = []
    passed = []
    for i, a in enumerate(attempts):
        if passed and passed[-1]:
            raise ValueError(f"attempt {i} follows an attempt that already passed")
        if not isinstance(a, (str, list)):
            raise ValueError(f"attempt {i} must be a string or a list of parts, got {type(a).__name__}")
        text = attempt_text(a)
        v = verify_problem(problem, text)
        entry = {"text": text}
        if isinstance(a, list):
            entry["parts"] = [dict(p) for p in a]
        if verdicts:
            entry["verdict"] = v.text
        last = i == len(attempts) - 1
        if not v.passed and (oracle == "every" or last):
            entry.update(_correction(problem, variant))
        out_attempts.append(entry)
        passed.append(v.passed)
    pid = problem.get("id")
    rec = {"id": record_id or (f"{pid}:stream" if pid else None), "question": problem["question"],
           "attempts": out_attempts}
    if rec["id"] is None:
        del rec["id"]
    for k in META_FIELDS:
        if k in problem:
            rec[k] = problem[k]
    if pid:
        rec["problem_id"] = pid
    rec["passed"] = passed
    return rec


def _correction(problem: dict, variant: str) -> dict:
    """The oracle's correction fields: the worked solution, in the variant's format."""
    if variant == PLAIN:
        return {"correction": problem["solution"]}
    parts = calculator_solution(problem, "oracle")
    return {"correction": attempt_text(parts), "correction_parts": parts}
