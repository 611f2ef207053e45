"""`cag stream`: roll a frozen policy over the agent split and record the verifier stream
("Continual, interactive, causal agents" (de Freitas and Ortega, 2026, sec. 2.2): x -> ŷ (agent) -> v (verifier) -> y* (oracle, after a wrong ŷ).

The policy attempts the agent problems in order, cycling through the split again when it
runs out (with temperature > 0 a second pass samples new attempts), until ``n_wrong`` wrong
attempts are collected or ``budget`` attempts are spent. The paper's run took 785 turns to
collect 400 wrong attempts from 200 problems. Every turn, right or wrong, becomes one stream
record: the observational stream imitates right and wrong attempts, the interventional
stream keeps them as context.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from causal_agents.errors import InputError
from causal_agents.transcripts.render_stream import prompt as stream_prompt
from causal_agents.stem.stream_records import build_stream_record
from causal_agents.stem.variants import DEFAULT_VARIANT, PLAIN, check_variant, tool_calls


@dataclass
class CollectOptions:
    """How `cag stream` collects a stream: stopping rules, decoding and seeds; the CLI reads
    its defaults from here."""
    n_wrong: int = 400          # the paper's stopping rule
    budget: int | None = None   # most attempts to spend (None: 8 passes over the split)
    batch_size: int = 32
    max_new_tokens: int = 160   # teacher solutions are < 130 characters; ~40-60 BPE tokens
    temperature: float = 0.7    # > 0 so later passes over the split see fresh attempts
    top_p: float = 1.0
    seed: int = 0
    verdicts: bool = True       # write the verifier's verdict line into each record
    variant: str = DEFAULT_VARIANT  # plain (the paper's) or calculator (causal_agents/stem/variants.py)

    def as_dict(self) -> dict:
        """The options as a plain dict (for the summary)."""
        return asdict(self)


def collect(model, tok, problems: list[dict], opts: CollectOptions = CollectOptions(), progress=None) -> tuple[list[dict], dict]:
    """Stream records (one per attempt, in order) and a summary."""
    from causal_agents.stem.sample import sample

    if not problems:
        raise InputError("no agent problems to attempt")
    check_variant(opts.variant)
    if opts.n_wrong < 1:
        raise InputError(f"--n-wrong must be at least 1, got {opts.n_wrong}")
    budget = opts.budget if opts.budget is not None else 8 * len(problems)
    if budget < 1:
        raise InputError(f"--budget must be at least 1, got {budget}")
    records: list[dict] = []
    wrong = 0
    t0 = time.perf_counter()
    gen_s = 0.0
    batch = 0
    calls = [0, 0]  # tool calls, of which errors
    while wrong < opts.n_wrong and len(records) < budget:
        turn0 = len(records)
        n = min(opts.batch_size, budget - turn0)
        items = [problems[(turn0 + i) % len(problems)] for i in range(n)]
        tg = time.perf_counter()
        attempts = sample(model, tok, [stream_prompt(p["question"]) for p in items], opts.max_new_tokens,
                          opts.batch_size, opts.temperature, opts.top_p, seed=opts.seed * 7919 + batch,
                          variant=opts.variant)
        gen_s += time.perf_counter() - tg
        batch += 1
        for i, (p, a) in enumerate(zip(items, attempts)):
            turn = turn0 + i
            rec = build_stream_record(p, [a], oracle="last", verdicts=opts.verdicts,
                                      record_id=f"{p.get('id', 'problem')}:stream:{turn:05d}", variant=opts.variant)
            rec["turn"] = turn
            calls = [c + d for c, d in zip(calls, tool_calls(a))]
            records.append(rec)
            wrong += not rec["passed"][0]
            if wrong >= opts.n_wrong:
                break
        if progress is not None:
            progress(len(records), wrong)
    wall = time.perf_counter() - t0
    correct = len(records) - wrong
    summary = {
        "turns": len(records), "wrong": wrong, "correct": correct,
        "stopped_by": "n_wrong" if wrong >= opts.n_wrong else "budget",
        "problems": len(problems), "unique_problems_wrong": len({r["problem_id"] for r in records if not r["passed"][0]}),
        "seconds": round(wall, 3), "generate_seconds": round(gen_s, 3),
        "attempts_per_s": round(len(records) / wall, 2) if wall > 0 else None,
        "variant": opts.variant, "options": {**opts.as_dict(), "budget": budget},
    }
    if opts.variant != PLAIN:
        summary.update(tool_calls=calls[0], tool_errors=calls[1])
    return records, summary


def read_problems(path: str) -> list[dict]:
    """Problem records (``cag data stem``'s agent or test split), checked field by field."""
    from causal_agents.stem.evaluate import read_problems as _read

    return list(_read(path).values())


def collect_to_file(model_name: str | None, problems_path: str, out: str, opts: CollectOptions,
                    device: str = "auto", model_seed: int = 0, progress=None, stats: bool = True) -> dict:
    """Load the policy, collect, write the records atomically (``out``: .jsonl, .jsonl.gz or
    .parquet) and return the summary, with the paper's token accounting under
    ``stats`` (what ``cag stats --renderer stream`` prints for the file)."""
    from causal_agents.formats.io import check_outputs, write_records
    from causal_agents.lm.loader import load_model

    check_outputs({"-o": out}, inputs=[problems_path])  # before the rollout, not after it
    problems = read_problems(problems_path)
    t = time.perf_counter()
    model, tok = load_model(model_name, seed=model_seed, device=device, merge_lora=True)
    load_s = time.perf_counter() - t
    records, summary = collect(model, tok, problems, opts, progress)
    write_records(out, records)
    summary.update(model=model_name or "tiny", problems_file=problems_path, output=out,
                   load_seconds=round(load_s, 3))
    if stats:
        summary["stats"] = stream_accounting(records, tokenizer=None if model_name in (None, "", "tiny") else model_name)
    return summary


def stream_accounting(records: list[dict], tokenizer: str | None = None) -> dict:
    """obs vs do supervised positions of the total, through `cag stats`'s own code path."""
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats, summary_line
    from causal_agents.transcripts.provenance import TagOptions, tag_record

    tagged = (tag_record(r, {"file": "<stream>", "line": i + 1}, TagOptions()) for i, r in enumerate(records))
    rep = compute_stats(tagged, StatsOptions(tokenizer=tokenizer, renderer="stream"))
    return {"tokens": rep["tokens"], "supervised": rep["supervised"], "line": summary_line(rep)}
