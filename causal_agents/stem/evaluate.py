"""Solve accuracy on held-out STEM problems, overall, per skill and per domain, with Wilson
95% intervals. Pure: model outputs come in as strings (the model-calling part lives elsewhere).

Protocols (report both, labelled: the released notebook of "Continual, interactive, causal agents" (de Freitas and Ortega, 2026)
gates some numbers and not others):
- ``single``: an item is solved if its first output passes the verifier (single-shot; the
  paper's SFT, ReST, GRPO and observational numbers).
- ``gated``: an item is solved if any of its outputs passes, where later outputs are repair
  attempts made after the verifier rejected the earlier ones (the released notebook's
  do-stream and SFT+oracle numbers), or k samples (pass@k).
"""

from __future__ import annotations

from collections import defaultdict

from causal_agents.stem.variants import DEFAULT_VARIANT
from causal_agents.stem.wilson import wilson
from causal_agents.stem.verifier import verify_problem

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


# ---------------------------------------------------------------- comparing policies


def _subset_cell(per_item: list[dict], keep: list[bool]) -> dict:
    sel = [r["solved"] for r, k in zip(per_item, keep) if k]
    return _cell(sum(sel), len(sel))


def compare(items: list[dict], first: dict[str, list[str]], base: str, repairs: dict[str, list] | None = None) -> dict:
    """Both protocols for several policies on the same items, plus the stream-matched table.

    ``first[name][i]``: policy ``name``'s single-shot output for ``items[i]``. ``base`` names the
    policy whose verified answer the gated protocol accepts (the paper's frozen SFT-1).
    ``repairs[name][i]``: ``name``'s repair attempt for item i, written with the base policy's
    wrong attempt (and verdict) in context; ``None`` where the base answer passed. A policy in
    ``repairs`` gets a ``gated`` result: solved if the base answer passes, else if its repair
    passes. ``matched``: accuracy on the items the base policy got wrong (the paper's fig. 5).
    """
    if base not in first:
        raise ValueError(f"base policy {base!r} is not among {sorted(first)}")
    repairs = repairs or {}
    base_single = evaluate(items, first[base], "single")
    base_wrong = [not r["solved"] for r in base_single["items"]]
    out = {"base": base, "n": len(items), "base_wrong": sum(base_wrong), "methods": {}}
    for name, outs in first.items():
        single = evaluate(items, outs, "single")
        res = {"single": single, "matched": {"n": sum(base_wrong), "single": _subset_cell(single["items"], base_wrong)}}
        if name in repairs:
            rep = repairs[name]
            if len(rep) != len(items):
                raise ValueError(f"{name}: {len(items)} items but {len(rep)} repairs")
            gated_outs = []
            for b, wrong, r in zip(first[base], base_wrong, rep):
                if wrong and r is None:
                    raise ValueError(f"{name}: an item the base policy got wrong has no repair")
                gated_outs.append([b, r] if wrong else [b])
            gated = evaluate(items, gated_outs, "gated")
            res["gated"] = gated
            res["matched"]["gated"] = _subset_cell(gated["items"], base_wrong)
        out["methods"][name] = res
    return out


def slim(result: dict) -> dict:
    """``compare``'s (or ``evaluate_models``') result without the per-item lists and raw
    outputs: the tables' data."""
    out = {k: v for k, v in result.items() if k not in ("methods", "outputs")}
    out["methods"] = {}
    for name, res in result["methods"].items():
        out["methods"][name] = {p: ({k: v for k, v in r.items() if k != "items"} if p in PROTOCOLS else r)
                                for p, r in res.items()}
    return out


def evaluate_models(test_path: str, models: list[tuple[str, str | None]], base: str | None = None,
                    gated: list[str] | None = None, max_new_tokens: int = 160, batch_size: int = 32,
                    repair_verdict: bool = True, device: str = "auto", seed: int = 0, log=None,
                    variant: str = DEFAULT_VARIANT) -> dict:
    """Greedy single-shot outputs of each policy on the test problems, then repair attempts
    on the items the base policy got wrong; graded with :func:`compare`. ``variant``
    calculator lets every attempt call the calculator (causal_agents/stem/variants.py); an
    output is then the attempt's whole text, tool results included, as the verifier grades it.

    ``models``: (name, path) pairs; a path of ``None``/``"tiny"`` is the embedded tiny model
    (random weights from ``seed``). ``base``: the first-attempt policy [default: the first
    model]. ``gated``: the policies that get the repair protocol [default: all]. Each model is
    loaded once and freed before the next. Returns ``compare``'s result plus the raw outputs
    and timings.
    """
    import gc
    import time

    from causal_agents.transcripts.render_stream import prompt, repair_prompt
    from causal_agents.lm.loader import load_model
    from causal_agents.stem.sample import sample as sample_attempts
    from causal_agents.stem.variants import attempt_text, check_variant
    from causal_agents.stem.verifier import verify_problem

    def sample(model, tok, prompts, max_new_tokens, batch_size):
        return [attempt_text(a) for a in sample_attempts(model, tok, prompts, max_new_tokens, batch_size,
                                                         variant=variant)]

    check_variant(variant)
    names, base = _model_names(models, base)
    gated = names if gated is None else gated
    items = list(read_problems(test_path).values())
    prompts = [prompt(p["question"]) for p in items]
    order = [base] + [n for n in names if n != base]
    paths = dict(models)
    first: dict[str, list[str]] = {}
    repairs: dict[str, list] = {}
    timing: dict[str, float] = {}
    repair_prompts = None
    for name in order:
        t = time.perf_counter()
        model, tok = load_model(paths[name], seed=seed, device=device, merge_lora=True)
        if repair_prompts is None:  # the base policy runs first: its answers decide the repairs
            first[name] = sample(model, tok, prompts, max_new_tokens, batch_size)
            repair_prompts = {}
            for i, (p, o) in enumerate(zip(items, first[base])):
                v = verify_problem(p, o)
                if not v.passed:
                    repair_prompts[i] = repair_prompt(p["question"], o, v.text if repair_verdict else None)
            pending = []
        else:
            pending = prompts  # decoded together with the repairs below
        idx = sorted(repair_prompts) if name in gated else []
        outs = sample(model, tok, pending + [repair_prompts[i] for i in idx], max_new_tokens, batch_size) \
            if pending or idx else []
        if pending:
            first[name], outs = outs[:len(pending)], outs[len(pending):]
        if name in gated:
            rep: list = [None] * len(items)
            for i, o in zip(idx, outs):
                rep[i] = o
            repairs[name] = rep
        timing[name] = round(time.perf_counter() - t, 3)
        if log:
            log(f"evaluated {name} in {timing[name]:.1f}s")
        del model, tok
        gc.collect()
    result = compare(items, {n: first[n] for n in names}, base, repairs)
    result["outputs"] = {n: [{"id": p["id"], "first": first[n][i], **({"repair": repairs[n][i]} if n in repairs
                               and repairs[n][i] is not None else {})} for i, p in enumerate(items)] for n in names}
    result["seconds"] = timing
    result["settings"] = {"test": test_path, "models": {n: (p or "tiny") for n, p in models}, "base": base,
                          "gated": list(gated), "max_new_tokens": max_new_tokens, "repair_verdict": repair_verdict,
                          "decoding": "greedy", "variant": variant}
    return result


def _model_names(models: list[tuple[str, str | None]], base: str | None) -> tuple[list[str], str]:
    """The policies' names and the base policy's, checked: unique names, a known base."""
    from causal_agents.errors import InputError

    if not models:
        raise ValueError("no models to evaluate")
    names = [n for n, _ in models]
    if len(set(names)) != len(names):
        raise InputError(f"model names must be unique, got {names}")
    base = base or names[0]
    if base not in names:
        raise InputError(f"--base {base!r} is not one of the models ({', '.join(names)})")
    return names, base


def write_outputs(path: str, result: dict) -> int:
    """Write every policy's raw answers from an :func:`evaluate_models` result to ``path``
    (.jsonl, .jsonl.gz or .parquet, atomically), one record per policy and item:
    ``{method, id, first, repair?}``, policies in the result's order. Returns the count."""
    from causal_agents.formats.io import write_records

    return write_records(path, ({"method": name, **r} for name, rows in result["outputs"].items() for r in rows))
