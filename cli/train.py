"""`cag train`: fine-tune a causal LM with the obs or do mask (or both, paired)."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import emit_json, info
from causal_agents.training.config import RECIPES, TrainConfig

D = lambda name: o.default(TrainConfig, name)  # noqa: E731 - every default below comes from TrainConfig


def _recipe_help() -> str:
    def one(name):
        r = RECIPES[name]
        sched = "no scheduler" if r["scheduler"] == "constant" else f"{r['warmup']:.0%} warm-up then {r['scheduler']} decay"
        return (f"{name}: AdamW lr {r['lr']:g}, weight decay {r['weight_decay']:g}, clip {r['grad_clip']:g}, "
                f"batch {r['batch_size']}, {r['epochs']} epochs, {sched}, dtype {r['dtype']}")
    return ("Defaults for the knobs below. " + ". ".join(one(n) for n in RECIPES)
            + ". auto: tiny for the embedded model, cpu for a pretrained model on a CPU, paper on a GPU.")


def parse_modes(mask: str) -> tuple[str, ...]:
    """``--mask`` -> the modes to train: obs, do, or both (obs,do) as a pair."""
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
                                                 "byte-level tokenizer) that runs anywhere.")] = D("model"),
    out: o.run_dir("Run directory. With several masks, one run directory per mask inside it.") = "runs/train",
    tokenizer: o.Tokenizer = D("tokenizer"),
    renderer: o.Renderer = D("renderer"),
    recipe: Annotated[str, typer.Option("--recipe", help=_recipe_help())] = D("recipe"),
    lr: Annotated[Optional[float], typer.Option("--lr", help="AdamW learning rate.")] = D("lr"),
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="AdamW weight decay.")] = D("weight_decay"),
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Passes over the data.")] = D("epochs"),
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Transcripts per micro-batch (per device).")] = D("batch_size"),
    grad_accum: Annotated[Optional[int], typer.Option("--grad-accum", help="Micro-batches per optimizer step.")] = D("grad_accum"),
    grad_clip: Annotated[Optional[float], typer.Option("--grad-clip", help="Clip the global grad norm (0: off).")] = D("grad_clip"),
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="constant, linear or cosine (after warm-up).")] = D("scheduler"),
    warmup: Annotated[Optional[float], typer.Option("--warmup", help="Warm-up: a fraction of steps (<1) or a step count.")] = D("warmup"),
    gguf_file: o.GgufFile = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="auto (bf16 on GPUs that support it, else fp32), bf16, fp16 or fp32.")] = D("dtype"),
    amp: Annotated[Optional[str], typer.Option("--amp", help="bf16 autocast over fp32 master weights: auto (on for a "
                                               "CPU with native bf16, avx512_bf16 or AMX, where a timed matmul shows "
                                               "it faster; the verdict is kept in $CAG_CACHE/amp.json; off "
                                               "elsewhere), bf16 or off.")] = D("amp"),
    seed: o.seed("Seeds the initial weights (tiny model, LoRA) and the batch order.") = D("seed"),
    loss_weighting: Annotated[str, typer.Option("--loss-weighting", help="token: mean over the step's supervised "
                                                "tokens. sequence: each transcript weighs the same. message: each "
                                                "supervised turn weighs the same (a short verdict is not swamped "
                                                "by a long tool output).")] = D("loss_weighting"),
    max_length: Annotated[Optional[int], typer.Option("--max-length", help="Truncate transcripts to N tokens (lost supervised tokens are reported).")] = D("max_length"),
    truncate: Annotated[str, typer.Option("--truncate", help="With --max-length: right drops the end, left keeps the end of a long transcript (where its verdicts are).")] = D("truncate"),
    engine: Annotated[str, typer.Option("--engine", help="cag: cag's own loop (the default, and faster). trl: TRL's SFTTrainer on the same plan, labels and optimizer (pip install 'cag\\[trl]'); accelerate launch --config_file gives it FSDP or DeepSpeed.")] = D("engine"),
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing", help="Recompute activations in backward: much less memory on long transcripts, more time.")] = D("gradient_checkpointing"),
    report_to: Annotated[List[str], typer.Option("--report-to", help="Also log metrics to tensorboard or wandb (repeatable; none: only metrics.jsonl). wandb honours WANDB_MODE=offline.")] = list(D("report_to")),
    lora: Annotated[bool, typer.Option("--lora", help="Train a LoRA adapter (peft) instead of all weights.")] = D("lora"),
    lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank.")] = D("lora_r"),
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha.")] = D("lora_alpha"),
    lora_targets: Annotated[str, typer.Option("--lora-targets", help="Comma-separated module names to adapt.")] = ",".join(D("lora_targets")),
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N optimizer steps (0: never).")] = D("save_every"),
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Stop after N steps, leaving a checkpoint to --resume from.")] = D("max_steps"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in --out (the result equals an uninterrupted run).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run in --out (deletes only what cag train wrote there; anything else stops it).")] = False,
    device: o.Device = D("device"),
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch (default: torch's choice).")] = D("threads"),
    parallel: Annotated[bool, typer.Option("--parallel/--sequential", help="With several masks on a CPU, train them in parallel processes, one thread each (same plan, same result).")] = False,
    progress: o.Progress = True,
    format: o.Format = None, self_: o.Selves = [], role_map: o.RoleMap = [], text_role: o.TextRoles = [],
    messages_key: o.MessagesKey = None, group_by_file: o.GroupByFile = False, demonstrations: o.Demonstrations = False,
    text_key: o.TextKey = None, branches: o.Branches = "last", redact: o.Redact = [],
    json: o.Json = False,
) -> None:
    """Fine-tune a causal LM on transcripts; labels come from the same label builder as `cag stats`.

    Prints the supervised-token counts before training (equal to `cag stats` for the same data and
    options), shows a progress bar, writes metrics.jsonl (step, loss, supervised tokens, lr, tokens/s)
    and, at the end, a run directory that transformers/peft load directly (model or adapter, tokenizer,
    cag_config.json, cag_run.json). Runs are deterministic given --seed. Under torchrun or accelerate
    launch it trains with DDP.

    Example: cag train truth.jsonl --mask both --out runs/truth
    """
    model = o.with_gguf(model, gguf_file)
    from causal_agents.formats.outputs import check_output_folder
    from causal_agents.training.loop import prepare, train as run_train

    from causal_agents.training.loop import check_out

    # before any work: the run directory holds no input, and nothing in it stops the run
    check_output_folder("--out", out, inputs)
    check_out(out, parse_modes(mask), resume, overwrite)
    records, notes, tag_opts = _read(inputs, renderer, o.tag_options(self_, role_map, text_role, format, messages_key,
                                                                     group_by_file, demonstrations, text_key,
                                                                     branches, redact))

    cfg = TrainConfig(modes=parse_modes(mask), model=model, tokenizer=tokenizer, renderer=renderer, recipe=recipe,
                      lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, grad_accum=grad_accum,
                      grad_clip=grad_clip, scheduler=scheduler, warmup=warmup, dtype=dtype, amp=amp, seed=seed,
                      loss_weighting=loss_weighting, max_length=max_length, truncate=truncate, engine=engine,
                      gradient_checkpointing=gradient_checkpointing, report_to=tuple(report_to), lora=lora, lora_r=lora_r,
                      lora_alpha=lora_alpha, lora_targets=tuple(t.strip() for t in lora_targets.split(",") if t.strip()),
                      save_every=save_every, max_steps=max_steps, device=device, threads=threads,
                      tag_options=tag_opts.as_dict()).resolved()
    prep = prepare(cfg, records, source := ", ".join(inputs))
    info("\n".join([prep.summary_line(), *notes]))
    results = run_train(cfg, records, out, source=source, resume=resume, overwrite=overwrite,
                        progress=progress, prepared=prep, log=info, parallel=parallel)
    _report(prep, results, json)


def _report(prep, results: dict, json: bool) -> None:
    if json:
        emit_json({"supervised_tokens": prep.supervised, "tokens": prep.tokens, "runs": results})
        return
    for mode, r in results.items():
        state = "finished" if r["complete"] else f"stopped at step {r['steps']} of {r['planned_steps']}"
        info(f"[{mode}] {state}: final loss {r['final_loss']:.4f}, {r['skipped_steps']} skipped steps, "
             f"{r['seconds']:.0f}s -> {r['run_dir']}")


def _read(inputs, renderer: str, tag_opts):
    """Tagged records, and the lines to print once the labels are built (unread train-flag keys,
    the role-default note)."""
    from causal_agents.transcripts.provenance import AgentGateRules
    from causal_agents.transcripts.render import get_renderer
    from causal_agents.transcripts.tagging import iter_tagged

    get_renderer(renderer)  # a bad --renderer is a usage error before any work
    rules = AgentGateRules()
    records = list(rules.watch(iter_tagged(inputs, tag_opts)))
    return records, [*tag_opts.warnings(), *filter(None, [rules.hint(tag_opts)])], tag_opts
