"""`cag reproduce stream`: the STEM stream experiment of "Continual, interactive, causal agents" (de Freitas and Ortega, 2026) end to end."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.options import default
from causal_agents.cli.output import console, emit_json, info
from causal_agents.errors import InputError
from causal_agents.stem.reproduce import METHODS, SIZES, StreamExperiment, experiment, quick, run

_D = StreamExperiment()  # every default, written once in the library
_Q = quick(_D)


def stream(
    model: Annotated[Optional[str], typer.Option("--model", help="Base causal LM (hub name or path). Default: the embedded tiny "
                                                 "model, a smoke run (it solves ~0%). Qwen/Qwen2.5-0.5B on a GPU is the paper's experiment.")] = None,
    gguf_file: o.GgufFile = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Output directory (default: runs/stream-seed<SEED>).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the splits, the weights, the batch order and the sampling.")] = _D.seed,
    variant: o.Variant = _D.variant,
    quick: Annotated[bool, typer.Option("--quick", help=f"CI smoke size: {_Q.counts['sft']}/{_Q.counts['agent']}/{_Q.counts['test']} problems, {_Q.n_wrong} wrong attempts, K={_Q.rest_k}, {_Q.max_new_tokens}-token answers, {_Q.epochs} epoch.")] = False,
    size: Annotated[Optional[str], typer.Option("--size", help="Scale the splits, the wrong attempts to collect and the ReST/GRPO prompt groups by a fraction in (0, 1] or a name: " + ", ".join(f"{k}={v:g}" for k, v in SIZES.items()) + f" (default: {_D.size}, the paper's {_D.counts['sft']}/{_D.counts['agent']}/{_D.counts['test']} problems, {_D.n_wrong} wrong attempts, {_D.rest_groups} groups; with --quick, a fraction of its sizes). --n-* and --groups override it.")] = None,
    recipe: Annotated[str, typer.Option("--recipe", help="How the supervised methods train (a flag below wins): paper (the paper's: LoRA, lr 1e-4, batch 1, one SFT epoch); cpu (a pretrained small model on a CPU, measured on SmolLM2-135M-Instruct: lr 5e-4, batch 8, 2 SFT epochs on the paper's 200 SFT problems whatever --size, answers cut at 64 tokens); auto: cpu for a pretrained model on a CPU, paper on a GPU (the embedded tiny model has its own).")] = _D.recipe,
    n_sft: Annotated[Optional[int], typer.Option("--n-sft", help=f"SFT split size (default {_D.counts['sft']}).")] = None,
    n_agent: Annotated[Optional[int], typer.Option("--n-agent", help=f"Agent split size (default {_D.counts['agent']}).")] = None,
    n_test: Annotated[Optional[int], typer.Option("--n-test", help=f"Test split size (default {_D.counts['test']}).")] = None,
    n_wrong: Annotated[Optional[int], typer.Option("--n-wrong", help=f"Wrong attempts to collect in the stream (default {_D.n_wrong}).")] = None,
    methods: Annotated[Optional[str], typer.Option("--methods", help=f"Comma-separated subset of {','.join(METHODS)} (default: all).")] = None,
    lora: Annotated[bool, typer.Option("--lora/--full", help="LoRA adapters (the paper) or full fine-tuning.")] = _D.lora,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate of the supervised methods (default: the --recipe's: 1e-4 with LoRA (paper), 5e-4 (cpu); the tiny recipe's on the tiny one).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help=f"Epochs of every method after SFT (default {_D.epochs}).")] = None,
    sft_epochs: Annotated[Optional[int], typer.Option("--sft-epochs", help=f"Epochs of the SFT seed (default {_D.sft_epochs}, as in the paper; 2 with --recipe cpu).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Training batch size (default: the recipe's).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help=f"Samples per prompt group for ReST and GRPO (default {_D.rest_k}).")] = None,
    groups: Annotated[Optional[int], typer.Option("--groups", help=f"Prompt groups for ReST and GRPO (default {_D.rest_groups}).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option("--max-new-tokens", help=f"Longest answer (a line, in the calculator variant), in tokens (default {_D.max_new_tokens}; 64 with --recipe cpu).")] = None,
    verdicts: Annotated[bool, typer.Option("--verdicts/--no-verdicts", help="Verifier verdict lines in the stream (and the repair prompt).")] = _D.verdicts,
    device: o.Device = _D.device,
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished stages in --out and run the rest.")] = default(run, "resume"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished reproduction in --out.")] = default(run, "overwrite"),
    progress: o.Progress = default(run, "progress"),
    json: Annotated[bool, typer.Option("--json", help="Print result.json (tables' data, token accounting, timings) on stdout.")] = False,
) -> None:
    """The experiment of "Continual, interactive, causal agents" (de Freitas and Ortega, 2026): STEM splits -> SFT -> stream of the SFT policy -> obs stream, do stream, SFT+oracle, ReST, GRPO -> held-out evaluation.

    Prints the comparison table (single-shot and verifier-gated repair, Wilson 95% intervals), per-skill accuracy, the stream-matched table, supervised tokens per method and the time per stage. The paper (Qwen2.5-0.5B, n=100): base 42, SFT 63, ReST 84, GRPO 75, obs stream 61, do stream 85, SFT+oracle 81 (do stream and SFT+oracle gated).

    Example: cag reproduce stream --quick        (smoke run, tiny model, minutes on a CPU)

    Example: cag reproduce stream --model Qwen/Qwen2.5-0.5B --out runs/stream-qwen

    Example: cag reproduce stream --model ~/.cache/cag/smollm2-135m-instruct --variant calculator --size quarter
    """
    model = o.with_gguf(model, gguf_file)
    try:
        exp = experiment(quick, counts={"sft": n_sft, "agent": n_agent, "test": n_test}, methods=methods, k=k,
                         groups=groups, size=size, variant=variant, model=model, seed=seed, lora=lora,
                         verdicts=verdicts, device=device, recipe=recipe,
                         n_wrong=n_wrong, lr=lr, epochs=epochs, sft_epochs=sft_epochs, batch_size=batch_size,
                         max_new_tokens=max_new_tokens)
    except InputError as e:
        raise typer.BadParameter(e.detail, param_hint=e.field) from e
    result = run(exp, out or f"runs/stream-seed{seed}", resume=resume, overwrite=overwrite, log=info, progress=progress)
    if json:
        emit_json(result)
        return
    print_stream_result(result)


def print_stream_result(result: dict) -> None:
    """The stream reproduction's tables (accuracy per method and protocol, token accounting), on stderr."""
    from rich.table import Table

    from causal_agents.cli.eval import print_tables

    exp = result["experiment"]
    print_tables(result["eval"], title=f"Stream experiment ({exp['model'] or 'tiny'} model, {exp['variant']} variant, "
                                       f"size {exp['size']}, recipe {exp.get('recipe', 'paper')}, seed {exp['seed']})")
    s = result["stream"]
    calls = f"; {s['tool_calls']:,} calculator calls ({s['tool_errors']:,} errors)" if "tool_calls" in s else ""
    info(f"stream: {s['turns']:,} turns to collect {s['wrong']:,} wrong attempts ({s['correct']:,} right first time)"
         f"{calls}; {s['stats']['line']}")
    t = Table(title="Supervised positions per method")
    t.add_column("method")
    t.add_column("supervised tokens", justify="right")
    for m, n in result["supervised"].items():
        t.add_row(m, f"{n:,}")
    console().print(t)
    info("time per stage: " + ", ".join(f"{k} {v:.0f}s" for k, v in result["timings"].items())
         + f"; total {result['total_seconds']:.0f}s -> {result['out']}")
