"""`cag train`: fine-tune a causal LM with the obs or do mask (or both, paired)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import emit_json, info


def parse_modes(mask: str) -> tuple[str, ...]:
    if mask in ("both", "obs,do", "do,obs"):
        return ("obs", "do")
    if mask in ("obs", "do"):
        return (mask,)
    raise typer.BadParameter(f"expected obs, do, obs,do or both, got {mask!r}", param_hint="--mask")


def train(
    inputs: o.Inputs,
    mask: Annotated[str, typer.Option("--mask", help="obs: supervise everything but context. do: also mask "
                                      "agent-written tokens (interventions). obs,do or both: train the pair "
                                      "from one initialisation on identical batches in identical order.")],
    model: Annotated[Optional[str], typer.Option("--model", help="Hugging Face causal LM: hub name or local path. "
                                                 "Default: the embedded tiny Qwen2-style model (random init, "
                                                 "byte-level tokenizer) that runs anywhere.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Run directory (default: runs/train). With "
                                               "several masks, one run directory per mask inside it.")] = None,
    gguf_file: o.GgufFile = None,
    tokenizer: o.Tokenizer = None,
    renderer: o.Renderer = "plain",
    recipe: Annotated[str, typer.Option("--recipe", help="Defaults for the knobs below. paper: AdamW lr 2e-5, "
                                        "clip 1.0, batch 1, 4 epochs, no scheduler, bf16 where supported. tiny: "
                                        "lr 2e-3, batch 8, 24 epochs, 5% warm-up then linear decay. auto: tiny "
                                        "for the embedded model, paper otherwise.")] = "auto",
    lr: Annotated[Optional[float], typer.Option("--lr", help="AdamW learning rate.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="AdamW weight decay.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Passes over the data.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Transcripts per micro-batch (per device).")] = None,
    grad_accum: Annotated[Optional[int], typer.Option("--grad-accum", help="Micro-batches per optimizer step.")] = None,
    grad_clip: Annotated[Optional[float], typer.Option("--grad-clip", help="Clip the global grad norm (0: off).")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="constant, linear or cosine (after warm-up).")] = None,
    warmup: Annotated[Optional[float], typer.Option("--warmup", help="Warm-up: a fraction of steps (<1) or a step count.")] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="auto (bf16 on GPUs that support it, else fp32), bf16, fp16 or fp32.")] = None,
    amp: Annotated[Optional[str], typer.Option("--amp", help="bf16 autocast over fp32 master weights: auto (on for a "
                                               "CPU with native bf16, avx512_bf16 or AMX; off elsewhere), bf16 or off.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the initial weights (tiny model, LoRA) and the batch order.")] = 0,
    loss_weighting: Annotated[str, typer.Option("--loss-weighting", help="token: mean over the step's supervised "
                                                "tokens. sequence: each transcript weighs the same. message: each "
                                                "supervised turn weighs the same (a short verdict is not swamped "
                                                "by a long tool output).")] = "token",
    max_length: Annotated[Optional[int], typer.Option("--max-length", help="Truncate transcripts to N tokens (lost supervised tokens are reported).")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="Train a LoRA adapter (peft) instead of all weights.")] = False,
    lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank.")] = 8,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha.")] = 16,
    lora_targets: Annotated[str, typer.Option("--lora-targets", help="Comma-separated module names to adapt.")] = "q_proj,k_proj,v_proj,o_proj",
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N optimizer steps (0: never).")] = 0,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Stop after N steps, leaving a checkpoint to --resume from.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in --out (the result equals an uninterrupted run).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished run in --out.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto (cuda, then mps, then cpu), or a torch device.")] = "auto",
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch (default: torch's choice).")] = None,
    parallel: Annotated[bool, typer.Option("--parallel/--sequential", help="With several masks on a CPU, train them in parallel processes, one thread each (same plan, same result).")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
    format: o.Format = None, self_: o.Selves = [], role_map: o.RoleMap = [], text_role: o.TextRoles = [],
    json: o.Json = False,
) -> None:
    """Fine-tune a causal LM on transcripts; labels come from the same label builder as `cag stats`.

    Prints the supervised-token counts before training (equal to `cag stats` for the same data
    and options), shows a progress bar, writes metrics.jsonl (step, loss, supervised tokens,
    lr, tokens/s) and, at the end, a run directory that transformers/peft load directly
    (model or adapter, tokenizer, cag_config.json, cag_run.json). Runs are deterministic given
    --seed. Under torchrun or accelerate launch it trains with DDP.

    Example: cag train truth.jsonl --mask both --out runs/truth
    """
    from causal_agents.transcripts.tagging import iter_tagged

    model = o.with_gguf(model, gguf_file)
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.loop import prepare, train as run_train

    cfg = TrainConfig(modes=parse_modes(mask), model=model, tokenizer=tokenizer, renderer=renderer, recipe=recipe,
                      lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, grad_accum=grad_accum,
                      grad_clip=grad_clip, scheduler=scheduler, warmup=warmup, dtype=dtype, amp=amp, seed=seed,
                      loss_weighting=loss_weighting, max_length=max_length, lora=lora, lora_r=lora_r,
                      lora_alpha=lora_alpha, lora_targets=tuple(t.strip() for t in lora_targets.split(",") if t.strip()),
                      save_every=save_every, max_steps=max_steps, device=device, threads=threads,
                      tag_options=o.tag_options(self_, role_map, text_role, format).as_dict()).resolved()
    records = list(iter_tagged(inputs, o.tag_options(self_, role_map, text_role, format)))
    source = ", ".join(inputs)
    prep = prepare(cfg, records, source)
    info(prep.summary_line())
    results = run_train(cfg, records, out or "runs/train", source=source, resume=resume, overwrite=overwrite,
                        progress=progress, prepared=prep, log=info, parallel=parallel)
    if json:
        emit_json({"supervised_tokens": prep.supervised, "tokens": prep.tokens, "runs": results})
        return
    for mode, r in results.items():
        state = "finished" if r["complete"] else f"stopped at step {r['steps']} of {r['planned_steps']}"
        info(f"[{mode}] {state}: final loss {r['final_loss']:.4f}, {r['skipped_steps']} skipped steps, "
             f"{r['seconds']:.0f}s -> {r['run_dir']}")
