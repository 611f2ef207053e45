"""Training data for the methods of "Continual, interactive, causal agents" (de Freitas and Ortega, 2026,
sec. 2.3), each a list of untagged
records that ``cag tag`` gates and ``cag train`` (``--renderer stream``) trains on:

=================  ==========================================  =======  ==================
method             records                                     mask     supervised
=================  ==========================================  =======  ==================
SFT                teacher split: x -> y (teacher, world)      do       y
obs stream         stream records x, ŷ, v, y*                  obs      ŷ, v, y*
do stream          the same records                            do       v, y*
SFT+oracle         x -> y* for every wrong ŷ (oracle, world)   do       y*
ReST               x -> ŷ for one verifier-passing sample per  obs      ŷ and y
                   prompt group (agent), plus SFT replay
=================  ==========================================  =======  ==================

The question is always context (never supervised); the inserted ``Question:`` /
``Proposed solution:`` headers are protocol and not trainable (the paper's [MASK]). In the
calculator variant (causal_agents/stem/variants.py) every solution is written in parts: the
teacher's, the oracle's and ReST's chosen samples become assistant messages around a ``tool``
message (the calculator's result, world), so the tool's tokens are evidence in every method. ReST
imitates its own filtered samples, so it trains them as observations (``obs``): that is what
ReST is. GRPO is not a data builder (causal_agents/stem/grpo.py).
"""

from __future__ import annotations

from causal_agents.stem.problems import sft_record
from causal_agents.stem.variants import DEFAULT_VARIANT, attempt_text, solution_messages


def sft_records(problems: list[dict], variant: str = DEFAULT_VARIANT) -> list[dict]:
    """The teacher split as OpenAI records (question context, teacher solution world)."""
    return [sft_record(p, variant) for p in problems]


def oracle_records(stream: list[dict]) -> list[dict]:
    """SFT+oracle-corrections: x -> y* for each stream record whose attempt failed (one row per
    wrong attempt, so a problem corrected twice appears twice, as in the paper's 400 rows)."""
    out = []
    for rec in stream:
        for a in rec["attempts"]:
            corr = a.get("correction")
            if corr is None:
                continue
            parts = a.get("correction_parts") or [{"role": "oracle", "text": corr}]
            out.append({"id": f"{rec.get('id', 'stream')}:oracle", "problem_id": rec.get("problem_id"),
                        "messages": [{"role": "user", "content": rec["question"], "provenance": "context"},
                                     *solution_messages(parts, "oracle", "world")]})
    return out


def rest_select(problems: list[dict], samples: list[list]) -> tuple[list[dict], dict]:
    """ReST's filter: per prompt group keep the verifier-passing, non-empty samples (strings,
    or parts in the calculator variant), de-duplicated by text, and select at most one (the
    first in sampling order). Returns OpenAI records with the sample as the agent's own
    assistant turn (its tool results the world's), and counts."""
    from causal_agents.stem.verifier import verify_problem

    out, n_pass = [], 0
    for p, group in zip(problems, samples):
        seen, chosen = set(), None
        for s in group:
            text = attempt_text(s)
            if not text.strip() or text in seen:
                continue
            seen.add(text)
            if verify_problem(p, text).passed:
                n_pass += 1
                if chosen is None:
                    chosen = s
        if chosen is not None:
            parts = [{"role": "attempt", "text": chosen}] if isinstance(chosen, str) else chosen
            out.append({"id": f"{p['id']}:rest", "problem_id": p["id"],
                        "messages": [{"role": "user", "content": p["question"], "provenance": "context"},
                                     *solution_messages(parts, None, "agent")]})
    counts = {"groups": len(samples), "samples": sum(len(g) for g in samples), "passing_unique": n_pass,
              "selected": len(out), "flat_groups": sum(1 for p, g in zip(problems, samples) if _flat(p, g))}
    return out, counts


def _flat(problem: dict, group: list) -> bool:
    from causal_agents.stem.verifier import verify_problem

    v = {verify_problem(problem, attempt_text(s)).passed for s in group}
    return len(v) <= 1


def rest_sample(model, tok, problems: list[dict], k: int = 8, temperature: float = 1.0, max_new_tokens: int = 160,
                batch_size: int = 32, seed: int = 0, variant: str = DEFAULT_VARIANT) -> list[list]:
    """K samples per prompt, batched across prompts (strings, or parts in the calculator variant)."""
    from causal_agents.transcripts.render_stream import prompt
    from causal_agents.stem.sample import sample

    prompts = [prompt(p["question"]) for p in problems for _ in range(k)]
    flat = sample(model, tok, prompts, max_new_tokens, batch_size, temperature, seed=seed, variant=variant)
    return [flat[i * k:(i + 1) * k] for i in range(len(problems))]


def tag_all(records: list[dict], source: str = "<memory>") -> list[dict]:
    """Gate records exactly as ``cag tag`` does (default options)."""
    from causal_agents.transcripts.provenance import TagOptions, tag_record

    opts = TagOptions()
    return [tag_record(r, {"file": source, "line": i + 1}, opts) for i, r in enumerate(records)]
