"""`cag reproduce`: the papers' experiments end to end, one command each."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.options import default
from causal_agents.cli.output import console, emit_json, info
from causal_agents.training.config import TrainConfig
from causal_agents.truth.reproduce import reproduce_truth

reproduce_app = typer.Typer(help="Run a paper's experiment end to end: truth or stream.", no_args_is_help=True)


@reproduce_app.command("truth")
def truth(
    model: Annotated[Optional[str], typer.Option("--model", help="Hugging Face causal LM (hub name or path). Default: "
                                                 "the embedded tiny model (2 to 4 minutes on an idle 2-core CPU). "
                                                 "Qwen/Qwen2.5-0.5B on a GPU is the paper's experiment.")] = None,
    gguf_file: o.GgufFile = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the dialogues, the initial weights and the batch order.")] = default(reproduce_truth, "seed"),
    data_seed: Annotated[Optional[int], typer.Option("--data-seed", help="Seed for the dialogues only (default: --seed).")] = None,
    facts: Annotated[Optional[str], typer.Option("--facts", help="Fact bank (default: the paper's 33 facts).")] = None,
    n: Annotated[Optional[int], typer.Option("-n", help="Dialogues to generate (default: 480, the paper's; 240 "
                                             "with --recipe cpu, which makes three passes).")] = None,
    sampling: Annotated[Optional[str], typer.Option("--sampling", help="How dialogues pick facts and lies: random "
                                                    "(the paper's: with replacement, each lie with --p-lie 0.6) or "
                                                    "balanced (every fact equally often, each with 60% lies). "
                                                    "Default: the recipe's (balanced with cpu).")] = None,
    recipe: Annotated[str, typer.Option("--recipe", help="Training recipe: paper (the paper's: batch 1, lr 2e-5, "
                                        "4 epochs), cpu (batch 4, lr 8e-4 decaying linearly, 3 epochs over 240 balanced dialogues: the "
                                        "paper's effect on SmolLM2-135M on a 2-core CPU), tiny, or auto (tiny "
                                        "for the embedded model, cpu for a pretrained one on a CPU, paper on a "
                                        "GPU).")] = default(TrainConfig, "recipe"),
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Output directory (default: runs/truth-seed<SEED>).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Override the recipe's epochs.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Override the recipe's learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Override the recipe's batch size.")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Override the recipe's learning-rate schedule: "
                                                     "constant, linear or cosine (after warm-up).")] = None,
    warmup: Annotated[Optional[float], typer.Option("--warmup", help="Override the recipe's warm-up: a fraction of "
                                                    "steps (<1) or a step count.")] = None,
    amp: Annotated[Optional[str], typer.Option("--amp", help="Override the recipe's mixed precision: auto (bf16 "
                                               "autocast where this CPU measures it faster), bf16 or off.")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters instead of all weights.")] = default(TrainConfig, "lora"),
    parallel: Annotated[bool, typer.Option("--parallel/--sequential", help="On a CPU, train obs and do in two "
                                           "single-threaded processes at once (same result).")] = default(reproduce_truth, "parallel"),
    device: o.Device = default(reproduce_truth, "device"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished reproduction in --out.")] = default(reproduce_truth, "overwrite"),
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished runs in --out and continue unfinished ones.")] = default(reproduce_truth, "resume"),
    progress: o.Progress = default(reproduce_truth, "progress"),
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object keyed by mode on stdout.")] = False,
) -> None:
    """The truth experiment of "Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026, sec. 5): dialogues, tag, stats, train obs and do on identical
    batches, probe both, compare.

    Prints supervised tokens per mode, mean margin Δ per model, facts preferring the lie, and the
    truth- and lie-probe counts; saves margins.png, probes.json and result.json in --out.
    The paper (Qwen2.5-0.5B): Δ obs -0.13, do +1.06; lie preferred 24/33 vs 5/33.

    Example: cag reproduce truth --seed 0 --json
    """
    model = o.with_gguf(model, gguf_file)
    overrides = {k: v for k, v in (("epochs", epochs), ("lr", lr), ("batch_size", batch_size), ("scheduler", scheduler),
                                   ("warmup", warmup), ("amp", amp)) if v is not None}
    overrides["recipe"] = recipe
    if lora:
        overrides["lora"] = True
    result = reproduce_truth(out or f"runs/truth-seed{seed}", model=model, seed=seed, data_seed=data_seed, facts=facts,
                             n=n, sampling=sampling, train_overrides=overrides, parallel=parallel, overwrite=overwrite, resume=resume,
                             progress=progress, device=device, log=info)
    if json:
        emit_json(result)
        return
    print_comparison(result)


def print_comparison(result: dict) -> None:
    """The obs-vs-do table of a truth reproduction, on stderr."""
    from rich.table import Table

    nf = result["facts"]
    t = Table(title=f"Truth experiment: {result['model']} model, seed {result['seed']}, "
                    f"{result['dialogues']['n']} dialogues ({result['dialogues']['lied']} with a lie)")
    cols = [("base", "base model (no training)"), ("obs", "obs (standard SFT)"), ("do", "do (interventional SFT)")]
    cols = [(m, title) for m, title in cols if m in result]
    t.add_column("")
    for _, title in cols:
        t.add_column(title, justify="right")
    rows = [("supervised tokens", lambda r: f"{r['supervised_tokens']:,}" if "supervised_tokens" in r else "-"),
            ("mean margin Δ", lambda r: f"{r['mean_margin']:+.4f}"),
            ("facts preferring the lie", lambda r: f"{r['lie_preferred']}/{nf}"),
            ("truth probe: contradicts the user", lambda r: f"{r['truth_contradictions']}/{nf}"),
            ("truth probe: affirms", lambda r: f"{r['truth_probe']['affirms']}/{nf}"),
            ("lie probe: corrects the user", lambda r: f"{r['lie_corrections']}/{nf}"),
            ("lie probe: echoes", lambda r: f"{r['lie_probe']['echoes']}/{nf}")]
    for name, fn in rows:
        t.add_row(name, *(fn(result[m]) for m, _ in cols))
    c = console()
    c.print(t)
    c.print(f"plot: {result['plot']}   total {result['timings']['total_s']:.0f}s "
            f"(train {result['timings']['train_s']:.0f}s, probes {result['timings']['probe_s']:.0f}s)")


def _register_stream() -> None:
    # reproduce_stream is a peer command module; this group module registers it (never the reverse).
    from causal_agents.cli import reproduce_stream

    reproduce_app.command("stream")(reproduce_stream.stream)


_register_stream()
