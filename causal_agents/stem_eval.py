"""Solve accuracy on held-out STEM problems, overall, per skill and per domain, with Wilson
95% intervals. Pure: model outputs come in as strings (the model-calling part lives elsewhere).

Protocols (REFERENCE section 2: report both, labelled):
- ``single``: an item is solved if its first output passes the verifier (single-shot; the
  paper's SFT, ReST, GRPO and observational numbers).
- ``gated``: an item is solved if any of its outputs passes, where later outputs are repair
  attempts made after the verifier rejected the earlier ones (the released notebook's
  do-stream and SFT+oracle numbers), or k samples (pass@k).
"""

from __future__ import annotations

from collections import defaultdict

from causal_agents.stats_ci import wilson
from causal_agents.verifier import verify_problem

PROTOCOLS = ("single", "gated")


def _cell(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"n": n, "solved": k, "accuracy": k / n if n else None, "ci95": [lo, hi]}


def evaluate(items: list[dict], outputs: list, protocol: str = "single") -> dict:
    """``outputs[i]`` is the string (or list of strings, in order) the policy wrote for
    ``items[i]``. Returns ``{protocol, overall, per_skill, per_domain, items}``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if len(items) != len(outputs):
        raise ValueError(f"{len(items)} items but {len(outputs)} outputs")
    per_item = []
    for item, out in zip(items, outputs):
        outs = [out] if isinstance(out, str) else list(out)
        if not outs:
            raise ValueError(f"item {item.get('id')!r} has no output")
        used = outs[:1] if protocol == "single" else outs
        verdicts = [verify_problem(item, o) for o in used]
        solved = any(v.passed for v in verdicts)
        per_item.append({"id": item.get("id"), "skill": item.get("skill"), "domain": item.get("domain"),
                         "solved": solved, "reasons": [v.reason for v in verdicts]})
    groups: dict[str, dict[str, list[bool]]] = {"skill": defaultdict(list), "domain": defaultdict(list)}
    for r in per_item:
        for g in groups:
            groups[g][r[g]].append(r["solved"])
    k = sum(r["solved"] for r in per_item)
    return {
        "protocol": protocol,
        "overall": _cell(k, len(per_item)),
        "per_skill": {s: _cell(sum(v), len(v)) for s, v in sorted(groups["skill"].items(), key=lambda kv: str(kv[0]))},
        "per_domain": {d: _cell(sum(v), len(v)) for d, v in sorted(groups["domain"].items(), key=lambda kv: str(kv[0]))},
        "items": per_item,
    }


def read_problems(path: str) -> dict[str, dict]:
    """Problem records (``cag data stem``'s agent or test split) keyed by id, in file order;
    each needs ``id``, ``question`` and a numeric ``answer``, and ids must be unique."""
    from causal_agents.errors import InputError
    from causal_agents.formats.io import read_records

    problems: dict[str, dict] = {}
    for loc, rec in read_records(path):
        if isinstance(rec, InputError):
            raise rec
        line = loc.get("line", loc.get("row"))
        for k, types in (("id", str), ("question", str), ("answer", (int, float))):
            if not isinstance(rec.get(k), types) or isinstance(rec.get(k), bool):
                raise InputError(f"expected a problem record with {k!r} ({'a number' if k == 'answer' else 'a string'})",
                                 file=path, line=line, field=k)
        if rec["id"] in problems:
            raise InputError(f"duplicate problem id {rec['id']!r}", file=path, line=line, field="id")
        problems[rec["id"]] = rec
    return problems


def grade_files(problems_path: str, outputs_path: str, protocol: str = "single") -> dict:
    """Grade a JSONL/Parquet file of outputs (``{"id", "output": str}`` or ``{"id", "outputs":
    [str, ...]}``) against the problem file it answers (``cag data stem``'s test or agent split).
    Every problem needs an output; every output must name a known problem."""
    from causal_agents.errors import InputError
    from causal_agents.formats.io import read_records

    problems = read_problems(problems_path)
    outputs: dict[str, list[str]] = {}
    for loc, rec in read_records(outputs_path):
        if isinstance(rec, InputError):
            raise rec
        line = loc.get("line", loc.get("row"))
        pid = rec.get("id")
        if pid not in problems:
            raise InputError(f"no problem with id {pid!r} in {problems_path}", file=outputs_path, line=line, field="id")
        if isinstance(rec.get("output"), str):
            outs = [rec["output"]]
        elif isinstance(rec.get("outputs"), list) and rec["outputs"] and all(isinstance(o, str) for o in rec["outputs"]):
            outs = rec["outputs"]
        else:
            raise InputError("expected 'output' (a string) or 'outputs' (a non-empty list of strings)",
                             file=outputs_path, line=line, field="output")
        outputs[pid] = outs
    missing = [pid for pid in problems if pid not in outputs]
    if missing:
        raise InputError(f"{len(missing)} problem(s) have no output (first: {missing[0]!r})", file=outputs_path)
    ids = list(problems)
    return evaluate([problems[i] for i in ids], [outputs[i] for i in ids], protocol)
