"""`cag data dialogues`: the truth experiment's tutoring dialogues from a fact bank."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli.options import default
from causal_agents.cli.output import emit_json, info
from causal_agents.truth.dialogues import generate


def dialogues(
    facts: Annotated[str, typer.Option("--facts", help="Fact bank: JSON list of {topic, true, false}, "
                                       "or {\"facts\": [...]} (e.g. sample_data/facts-33.json).")],
    n: Annotated[int, typer.Option("-n", help="Number of dialogues (see --sampling).")] = default(generate, "n"),
    p_lie: Annotated[float, typer.Option("--p-lie", help="Probability that the agent states the false claim.")] = default(generate, "p_lie"),
    p_tail: Annotated[float, typer.Option("--p-tail", help="Probability of a chit-chat tail (no factual claims).")] = default(generate, "p_tail"),
    sampling: Annotated[str, typer.Option("--sampling", help="random: each dialogue's fact drawn with replacement "
                                          "and its lie with --p-lie (the paper's); balanced: every fact in n/F "
                                          "dialogues (one more for some), round(p-lie x n) lies shared so every "
                                          "fact's lie rate is --p-lie.")] = default(generate, "sampling"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same file.")] = default(generate, "seed"),
    output: Annotated[Optional[str], typer.Option(
        "-o", "--output", help="Write to FILE (.jsonl, .jsonl.gz or .parquet, atomically) instead of stdout.")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout (needs -o).")] = False,
) -> None:
    """Generate tutoring dialogues in which the agent sometimes lies and the user always restates the truth.

    Each record is the text transcript format `cag tag` reads: {"id", "text": "<context paragraph>\\nUser:
    ...\\nAgent: ...\\n...", "topic", "fact_index", "lied", "tail"}. Turns: a question, the agent's true
    or false claim, a correction or a confirmation (both restate the truth), the agent's
    acknowledgement, and an optional small-talk tail.

    Example: cag data dialogues --facts sample_data/facts-33.json -n 480 --p-lie 0.6 --p-tail 0.5 --seed 0 -o truth.jsonl
    """
    from causal_agents.truth.dialogues import load_facts, summary
    from causal_agents.formats.io import write_records

    if json and output is None:
        raise typer.BadParameter("--json prints a summary; give -o FILE for the dialogues", param_hint="--json")
    from causal_agents.formats.io import check_outputs

    check_outputs({"-o": output}, inputs=[facts])
    bank = load_facts(facts)
    rows = generate(bank, n=n, p_lie=p_lie, p_tail=p_tail, seed=seed, sampling=sampling)
    write_records(output, rows)
    s = summary(rows)
    if json:
        emit_json(s)
    elif output is not None:
        info(f"wrote {s['dialogues']} dialogues to {output}: {s['lied']} with a lie, {s['tail']} with a tail, "
             f"{s['topics']} topics")
