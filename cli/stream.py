"""`cag stream`: sample first attempts on the agent split, grade them, write verifier streams."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.options import default
from causal_agents.cli.output import emit_json, info
from causal_agents.stem.collect import CollectOptions, collect_to_file

_D = CollectOptions()  # every option's default, written once in the library


def stream(
    problems: Annotated[str, typer.Argument(help="Agent-split problem file from `cag data stem` (agent.jsonl or .parquet).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Stream records to write (.jsonl, .jsonl.gz or .parquet, atomically).")],
    model: Annotated[Optional[str], typer.Option("--model", help="Policy: a `cag train` run directory, a local model or a hub name. "
                                                 "Default: the embedded tiny model (random weights from --seed).")] = None,
    gguf_file: o.GgufFile = None,
    n_wrong: Annotated[int, typer.Option("--n-wrong", help="Stop after this many wrong attempts (the paper: 400).")] = _D.n_wrong,
    budget: Annotated[Optional[int], typer.Option("--budget", help="Stop after this many attempts in all (default: 8 passes over the split).")] = _D.budget,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts sampled together.")] = _D.batch_size,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest attempt, in tokens.")] = _D.max_new_tokens,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature (0: greedy; then every pass over the split repeats the same attempts).")] = _D.temperature,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")] = _D.top_p,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sampling (and the tiny model's weights).")] = _D.seed,
    verdicts: Annotated[bool, typer.Option("--verdicts/--no-verdicts", help="Write the verifier's one-line verdict after each attempt. "
                                           "--no-verdicts leaves the corrections as the only world tokens (the paper's accounting).")] = _D.verdicts,
    variant: o.Variant = _D.variant,
    device: o.Device = default(collect_to_file, "device"),
    json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")] = False,
) -> None:
    """Roll a frozen policy over the agent split: attempt, grade with the verifier, append the oracle correction after a wrong attempt.

    Writes one stream record per attempt ({question, attempts: [{text, verdict, correction?}]}, the format `cag tag` gates: question context, attempt agent, verdict and correction world) and prints turns, wrong/correct counts, attempts per second and the token accounting of `cag stats --renderer stream` (obs vs do supervised positions).

    With --variant calculator an attempt may call the calculator (its parts are kept in the record: the tool's result is world-written) and the correction is in the calculator format; the problems must come from `cag data stem --variant calculator`.

    Example: cag stream data/stem/agent.jsonl --model runs/stream/sft -o stream.jsonl --n-wrong 400
    """
    model = o.with_gguf(model, gguf_file)
    opts = CollectOptions(n_wrong=n_wrong, budget=budget, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          temperature=temperature, top_p=top_p, seed=seed, verdicts=verdicts, variant=variant)

    def progress(turns: int, wrong: int) -> None:
        if not json:
            info(f"  {turns:,} attempts, {wrong:,} wrong")

    summary = collect_to_file(model, problems, output, opts, device=device, model_seed=seed, progress=progress)
    if json:
        emit_json(summary)
        return
    calls = (f"; {summary['tool_calls']:,} calculator calls ({summary['tool_errors']:,} errors)"
             if "tool_calls" in summary else "")
    info(f"{summary['turns']:,} turns: {summary['wrong']:,} wrong, {summary['correct']:,} correct "
         f"(stopped by {summary['stopped_by']}){calls}; {summary['attempts_per_s']} attempts/s -> {output}")
    info(summary["stats"]["line"])
