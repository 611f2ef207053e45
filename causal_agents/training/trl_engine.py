"""`cag train --engine trl`: the same run on TRL's SFTTrainer.

What stays cag's: the examples and their labels (``data.prepare``, the label builder, with
its refusals and counts), the batch plan (``data.plan_steps``: one plan for every mode, so
obs and do see identical batches in identical order), the initial weights
(``loop.build_model``), the optimizer and learning-rate schedule (the same AdamW and
``lr_lambda`` handed to the Trainer), the checkpoint fingerprint and the run directory
(``rundir.save_final``: transformers and peft load it). What TRL brings: accelerate's
launchers (``accelerate launch --config_file`` for FSDP or DeepSpeed), its collator and
loss, checkpointing, ``--report-to``.

TRL's loss is the token mean over the optimizer step (``num_items_in_batch``), which is
cag's ``--loss-weighting token``; the other weightings are refused. Every micro-batch of
the plan is one Trainer batch, so a step of the plan is one optimizer step only when
every step holds ``grad_accum * world`` micro-batches; a plan with a short step is refused
rather than regrouped.
"""

from __future__ import annotations

import glob
import os
import time

import orjson

from causal_agents.errors import CagError
from causal_agents.training.guard import check_finite_weights, check_step
from causal_agents.training.rundir import BATCH_LOG, METRICS_FILE, MetricsWriter, save_final, truncate_metrics

FINGERPRINT_FILE = "cag_fingerprint.json"


def check_plan(cfg, plan, world: int) -> None:
    """Refuse what the Trainer would train differently from cag's plan."""
    if cfg.loss_weighting != "token":
        raise CagError(f"--engine trl trains --loss-weighting token only (TRL averages over the step's "
                       f"tokens); got {cfg.loss_weighting!r}")
    per_step = cfg.grad_accum * world
    short = [i for i, s in enumerate(plan) if len(s) != per_step]
    if short:
        raise CagError(f"--engine trl: step {short[0] + 1} of the plan holds {len(plan[short[0]])} micro-batch(es), "
                       f"not --grad-accum x processes = {per_step}: the Trainer would regroup the steps. Use "
                       "--grad-accum 1, or a transcript count divisible by batch size x grad-accum x processes")


def check_weights(prep, mode: str) -> None:
    """Refuse a fractional ``loss_weight``: TRL's loss counts every labelled token once, so it
    would train a half-weighted message at full weight."""
    n = sum(int(((w > 0) & (w < 1)).sum()) for w in (ex.weights[mode] for ex in prep.examples))
    if n:
        raise CagError(f"--engine trl cannot honour a fractional loss_weight ({n:,} supervised positions under "
                       f"--mask {mode} have one): TRL weighs every labelled token 1; use --engine cag")


class _PlanSampler:
    """A batch sampler that replays the plan's micro-batches (all ranks; accelerate shards it)."""

    def __init__(self, plan):
        self.mbs = [mb for step in plan for mb in step]

    def __iter__(self):
        return iter(self.mbs)

    def __len__(self) -> int:
        return len(self.mbs)


class _Collator:
    """TRL's own collator, recording which examples each micro-batch held."""

    def __init__(self, pad_id: int, log_path: str | None):
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.inner = DataCollatorForLanguageModeling(pad_token_id=pad_id)
        self.log_path = log_path

    def __call__(self, rows: list[dict]) -> dict:
        idx = [int(r["idx"]) for r in rows]
        if self.log_path is not None:
            with open(self.log_path, "ab") as f:
                f.write(orjson.dumps(idx) + b"\n")
        return self.inner([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])


def _dataset(prep, mode: str):
    import datasets

    ex = prep.examples
    return datasets.Dataset.from_dict({"input_ids": [e.input_ids.tolist() for e in ex],
                                       "labels": [e.labels[mode].tolist() for e in ex],
                                       "idx": list(range(len(ex)))})


def _trainer_class():
    from torch.utils.data import DataLoader
    from trl import SFTTrainer

    class PlanTrainer(SFTTrainer):
        """SFTTrainer whose training batches are cag's plan, in order."""

        cag_plan = None

        def get_train_dataloader(self):
            dl = DataLoader(self.train_dataset, batch_sampler=_PlanSampler(self.cag_plan),
                            collate_fn=self.data_collator, num_workers=0)
            return self.accelerator.prepare(dl)

    return PlanTrainer


def _callback(cfg, mode, prep, plan, n_steps: int, metrics: MetricsWriter, fp: str, state: dict):
    from transformers import TrainerCallback

    from causal_agents.training.data import step_supervision

    class CagCallback(TrainerCallback):
        def on_log(self, args, st, control, logs=None, **kw):
            if logs and "loss" in logs and st.global_step >= 1:
                step = st.global_step
                mbs = plan[step - 1]
                state["loss"] = float(logs["loss"])
                norm = logs.get("grad_norm")
                check_step(mode, step, state["loss"], None if norm is None else float(norm), cfg.lr)
                ntok = int(sum(len(prep.examples[i].input_ids) for mb in mbs for i in mb))
                nsup, wsum = step_supervision(prep.examples, mbs, mode)
                now = time.perf_counter()
                metrics.write({"mode": mode, "step": step, "loss": round(state["loss"], 6), "tokens": ntok,
                               "supervised_tokens": nsup, "supervised_weight": round(wsum, 4),
                               "lr": float(f"{logs.get('learning_rate', 0.0):.6g}"),
                               "tokens_per_s": round(ntok / max(1e-9, now - state["t"]), 1)})
                state["t"] = now

        def on_step_end(self, args, st, control, **kw):
            if st.global_step >= n_steps:
                control.should_training_stop = True
                if n_steps < len(plan):
                    control.should_save = True  # a deliberately partial run leaves a checkpoint

        def on_save(self, args, st, control, **kw):
            metrics.flush()
            d = os.path.join(args.output_dir, f"checkpoint-{st.global_step}")
            if os.path.isdir(d) and st.is_world_process_zero:
                with open(os.path.join(d, FINGERPRINT_FILE), "wb") as f:
                    f.write(orjson.dumps({"fingerprint": fp, "step": st.global_step}))

    return CagCallback()


def latest_trainer_checkpoint(ckpt_dir: str) -> str | None:
    """The newest ``checkpoint-N`` directory TRL wrote in ``run_dir``, or None."""
    found = glob.glob(os.path.join(ckpt_dir, "checkpoint-*"))
    return max(found, key=lambda p: int(p.rsplit("-", 1)[1])) if found else None


def _resume_point(ckpt_dir: str, fp: str, resume: bool, mode: str, log) -> tuple[str | None, int]:
    ck = latest_trainer_checkpoint(ckpt_dir) if resume else None
    if ck is None:
        return None, 0
    try:
        with open(os.path.join(ck, FINGERPRINT_FILE), "rb") as f:
            saved = orjson.loads(f.read())
    except FileNotFoundError:
        raise CagError(f"cannot resume from {ck}: it has no {FINGERPRINT_FILE} (not written by cag)") from None
    if saved["fingerprint"] != fp:
        raise CagError(f"cannot resume from {ck}: it was written by a different config or data "
                       f"(fingerprint {saved['fingerprint']}, this run {fp})")
    log(f"[{mode}] resuming from {ck} at step {saved['step']}")
    return ck, int(saved["step"])


def _args(cfg, run_dir: str, device, progress: bool):
    import dataclasses

    from trl import SFTConfig

    # build_model turns checkpointing on with cfg.gradient_checkpointing; TRL's default (on)
    # must not wrap it again. transformers 5.2x renamed the field.
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    no_ckpt = {"activation_checkpointing": False} if "activation_checkpointing" in names else {
        "gradient_checkpointing": False}
    return SFTConfig(**no_ckpt,
        output_dir=os.path.join(run_dir, "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, max_steps=-1, num_train_epochs=1,  # the plan holds every epoch
        max_grad_norm=cfg.grad_clip if cfg.grad_clip and cfg.grad_clip > 0 else 1e12,
        logging_steps=1, logging_first_step=True, save_strategy="steps" if cfg.save_every else "no",
        save_steps=cfg.save_every or 500, save_total_limit=1, seed=cfg.seed, use_cpu=device.type == "cpu",
        report_to=list(cfg.report_to) or "none", disable_tqdm=not progress,
        max_length=None, remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True},
        dataloader_num_workers=0,
        average_tokens_across_devices=True, save_only_model=False)


def train_one(cfg, mode, prep, plan, run_dir, fp, device, dtype, rank, world, resume, progress, log,
              bar_position=0) -> dict:
    """Train ``mode`` on TRL's SFTTrainer over cag's plan; returns the same summary as cag's loop."""
    import torch

    from causal_agents.training.model import build_model, lr_lambda

    try:
        import trl  # noqa: F401
    except ImportError as e:
        raise CagError("--engine trl needs TRL: pip install 'cag[trl]'") from e
    check_plan(cfg, plan, world)
    check_weights(prep, mode)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    metrics_path = os.path.join(run_dir, METRICS_FILE)
    ck, start = _resume_point(ckpt_dir, fp, resume, mode, log)
    n_steps = len(plan) if cfg.max_steps is None else min(len(plan), cfg.max_steps)
    log_path = os.path.join(run_dir, BATCH_LOG if world == 1 else f"batches-rank{rank}.jsonl")
    if rank == 0:
        truncate_metrics(metrics_path, start)
    _truncate_lines(log_path, start * cfg.grad_accum)
    model = build_model(cfg, prep.tokenizer, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = int(cfg.warmup if cfg.warmup >= 1 else round(cfg.warmup * len(plan)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.scheduler, warm, len(plan)))
    metrics = MetricsWriter(metrics_path if rank == 0 else None)
    state = {"loss": float("nan"), "t": time.perf_counter()}
    trainer = _trainer_class()(model=model, args=_args(cfg, run_dir, device, progress), train_dataset=_dataset(prep, mode),
                               processing_class=prep.tokenizer, data_collator=_Collator(prep.tokenizer.pad_token_id, log_path),
                               optimizers=(opt, sched), callbacks=[_callback(cfg, mode, prep, plan, n_steps, metrics, fp, state)])
    trainer.cag_plan = plan
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log dict on stdout, where --json writes
    t_run = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=ck)
    finally:
        metrics.close()
    summary = {"mode": mode, "steps": n_steps, "planned_steps": len(plan), "skipped_steps": 0,
               "supervised_tokens": prep.supervised[mode], "truncation_lost": prep.lost[mode],
               "final_loss": state["loss"], "seconds": round(time.perf_counter() - t_run, 2),
               "fingerprint": fp, "run_dir": run_dir, "complete": n_steps == len(plan), "engine": "trl"}
    check_finite_weights(trainer.model, mode, n_steps, cfg.lr)
    if rank == 0:
        if n_steps < len(plan):
            log(f"[{mode}] stopped at step {n_steps} of {len(plan)}; continue with --resume")
        else:
            save_final(trainer.model, prep.tokenizer, cfg, run_dir, summary)
    if world > 1:
        torch.distributed.barrier()
    return summary


def _truncate_lines(path: str, keep: int) -> None:
    """On resume, keep the batch log up to the checkpoint (it then reads like one uninterrupted run)."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        lines = f.readlines()[:keep]
    with open(path, "wb") as f:
        f.writelines(lines)
