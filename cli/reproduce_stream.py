"""`cag reproduce stream`: seed paper 002's STEM stream experiment end to end."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import console, emit_json, info


def stream(
    model: Annotated[Optional[str], typer.Option("--model", help="Base causal LM (hub name or path). Default: the embedded tiny "
                                                 "model, a smoke run (it solves ~0%). Qwen/Qwen2.5-0.5B on a GPU is the paper's experiment.")] = None,
    gguf_file: o.GgufFile = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Output directory (default: runs/stream-seed<SEED>).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the splits, the weights, the batch order and the sampling.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="CI smoke size: 20/10/10 problems, 8 wrong attempts, K=2, 24-token answers, 1 epoch.")] = False,
    n_sft: Annotated[Optional[int], typer.Option("--n-sft", help="SFT split size (default 200).")] = None,
    n_agent: Annotated[Optional[int], typer.Option("--n-agent", help="Agent split size (default 200).")] = None,
    n_test: Annotated[Optional[int], typer.Option("--n-test", help="Test split size (default 100).")] = None,
    n_wrong: Annotated[Optional[int], typer.Option("--n-wrong", help="Wrong attempts to collect in the stream (default 400).")] = None,
    methods: Annotated[Optional[str], typer.Option("--methods", help="Comma-separated subset of sft,obs_stream,do_stream,sft_oracle,rest,grpo (default: all).")] = None,
    lora: Annotated[bool, typer.Option("--lora/--full", help="LoRA adapters (the paper) or full fine-tuning.")] = True,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate of the supervised methods (default: 1e-4 with LoRA on a real model; the tiny recipe's on the tiny one).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs of every method after SFT (default 2).")] = None,
    sft_epochs: Annotated[Optional[int], typer.Option("--sft-epochs", help="Epochs of the SFT seed (default 1, as in the paper).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Training batch size (default: the recipe's).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Samples per prompt group for ReST and GRPO (default 8).")] = None,
    groups: Annotated[Optional[int], typer.Option("--groups", help="Prompt groups for ReST and GRPO (default 50).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option("--max-new-tokens", help="Longest answer, in tokens (default 160).")] = None,
    verdicts: Annotated[bool, typer.Option("--verdicts/--no-verdicts", help="Verifier verdict lines in the stream (and the repair prompt).")] = True,
    device: Annotated[str, typer.Option("--device", help="auto (cuda, mps, cpu) or a torch device.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished stages in --out and run the rest.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished reproduction in --out.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars on stderr.")] = True,
    json: Annotated[bool, typer.Option("--json", help="Print result.json (tables' data, token accounting, timings) on stdout.")] = False,
) -> None:
    """Seed paper 002's experiment: STEM splits -> SFT -> stream of the SFT policy -> obs stream, do stream, SFT+oracle, ReST, GRPO -> held-out evaluation.

    Prints the comparison table (single-shot and verifier-gated repair, Wilson 95% intervals), per-skill accuracy, the stream-matched table, supervised tokens per method and the time per stage. The paper (Qwen2.5-0.5B, n=100): base 42, SFT 63, ReST 84, GRPO 75, obs stream 61, do stream 85, SFT+oracle 81 (do stream and SFT+oracle gated).

    Example: cag reproduce stream --quick        (smoke run, tiny model, minutes on a CPU)

    Example: cag reproduce stream --model Qwen/Qwen2.5-0.5B --out runs/stream-qwen
    """
    from dataclasses import replace

    model = o.with_gguf(model, gguf_file)

    from causal_agents.stem.reproduce import METHODS, StreamExperiment
    from causal_agents.stem.reproduce import quick as quick_size
    from causal_agents.stem.reproduce import run

    exp = StreamExperiment(model=model, seed=seed, lora=lora, verdicts=verdicts, device=device)
    if quick:
        exp = quick_size(exp)
    counts = dict(exp.counts)
    for name, v in (("sft", n_sft), ("agent", n_agent), ("test", n_test)):
        if v is not None:
            if v < 1:
                raise typer.BadParameter("must be at least 1", param_hint=f"--n-{name}")
            counts[name] = v
    over = {k_: v for k_, v in (("n_wrong", n_wrong), ("lr", lr), ("epochs", epochs), ("sft_epochs", sft_epochs),
                                ("batch_size", batch_size), ("max_new_tokens", max_new_tokens)) if v is not None}
    if k is not None:
        over.update(rest_k=k, grpo_k=k)
    if groups is not None:
        over.update(rest_groups=groups, grpo_groups=groups)
    if methods:
        ms = tuple(m.strip() for m in methods.split(",") if m.strip())
        bad = [m for m in ms if m not in METHODS]
        if bad:
            raise typer.BadParameter(f"unknown {bad}; expected some of {', '.join(METHODS)}", param_hint="--methods")
        over["methods"] = ms
    exp = replace(exp, counts=counts, **over)
    result = run(exp, out or f"runs/stream-seed{seed}", resume=resume, overwrite=overwrite, log=info, progress=progress)
    if json:
        emit_json(result)
        return
    print_stream_result(result)


def print_stream_result(result: dict) -> None:
    from rich.table import Table

    from causal_agents.cli.eval import print_tables

    exp = result["experiment"]
    print_tables(result["eval"], title=f"Stream experiment ({exp['model'] or 'tiny'} model, seed {exp['seed']})")
    s = result["stream"]
    info(f"stream: {s['turns']:,} turns to collect {s['wrong']:,} wrong attempts ({s['correct']:,} right first time); "
         f"{s['stats']['line']}")
    t = Table(title="Supervised positions per method")
    t.add_column("method")
    t.add_column("supervised tokens", justify="right")
    for m, n in result["supervised"].items():
        t.add_row(m, f"{n:,}")
    console().print(t)
    info("time per stage: " + ", ".join(f"{k} {v:.0f}s" for k, v in result["timings"].items())
         + f"; total {result['total_seconds']:.0f}s -> {result['out']}")
