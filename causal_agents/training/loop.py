"""The training loop behind `cag train`: full fine-tuning or LoRA of any Hugging Face causal
LM (or the embedded tiny model), one or several mask modes from one plan.

Loss: sum over the step's supervised positions of weight * token NLL, divided by the step's
total weight (computed from the plan, so it is the mean over supervised tokens across all
micro-batches and all ranks). Steps with nothing supervised are skipped and counted.

Paired runs (``modes=("obs", "do")``) start from the same weights (same seed) and replay the
same plan: identical batches in identical order; only the labels differ. Run directories:
causal_agents.training.rundir.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass

from causal_agents.errors import CagError, printable
from causal_agents.lm.loader import pick_amp, pick_device, pick_dtype
from causal_agents.transcripts.labels import IGNORE_INDEX
from causal_agents.training.config import TrainConfig
from causal_agents.training.model import build_model, lr_lambda
from causal_agents.training.guard import check_finite_weights, check_step, grad_norm
from causal_agents.training.data import Prepared, collate, head_rows, plan_steps, prepare, step_supervision
from causal_agents.training.loss import chunked_loss, head_parts
from causal_agents.training.rundir import (METRICS_FILE, RUN_MARKER, MetricsWriter, check_run_dir, claim_run_dir,
                                           clear_run_dir, is_complete,
                                           latest_checkpoint, run_dir_for, save_checkpoint, save_final,
                                           truncate_metrics, unwrap)

__all__ = ["Prepared", "is_complete", "loss_step", "prepare", "train"]


def dist_info() -> tuple[int, int, int]:
    """(rank, world, local_rank) from torchrun / accelerate launch environment variables."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


# ---------------------------------------------------------------- the loop


def train(cfg: TrainConfig, records: list[dict], out: str, source: str = "<data>", resume: bool = False,
          overwrite: bool = False, progress: bool = True, prepared: Prepared | None = None,
          log=print, parallel: bool = False, bar_position: int = 0) -> dict:
    """Train every mode in ``cfg.modes`` on one plan; returns {mode: run summary}.

    ``parallel``: on a CPU, train the modes in forked processes with one thread each. Two
    single-threaded processes beat one two-threaded one on small matrices, and the result is
    the same: each process builds the same plan from the same seed.
    """
    import torch

    cfg = cfg.resolved()
    rank, world, local_rank = dist_info()
    prep = prepared or prepare(cfg, records, source)
    if (parallel and len(cfg.modes) > 1 and world == 1 and pick_device(cfg.device).type == "cpu"
            and hasattr(os, "fork")):
        from causal_agents.formats.runlock import run_lock

        with run_lock(out):
            return _train_parallel(cfg, prep, out, source, resume, overwrite, progress, log)
    if world > 1 and not torch.distributed.is_initialized():
        device = pick_device(cfg.device, local_rank)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    device = pick_device(cfg.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dtype = pick_dtype(cfg.dtype, device)
    plan = plan_steps([len(ex.input_ids) for ex in prep.examples], cfg.batch_size, cfg.grad_accum, world,
                      cfg.epochs, cfg.seed, cfg.group_by_length)
    from causal_agents.formats.runlock import run_lock

    # one writer per run directory for the run's life (rank 0 holds it for all ranks);
    # forked --parallel children share the parent's lock and take their own per mode
    with run_lock(out) if rank == 0 else contextlib.nullcontext():
        return _train_modes(cfg, prep, plan, out, resume, overwrite, progress, log, device, dtype, rank, world,
                            bar_position)


def _train_modes(cfg, prep, plan, out, resume, overwrite, progress, log, device, dtype, rank, world,
                 bar_position) -> dict:
    import torch

    results = {}
    for mode in cfg.modes:
        fp = cfg.fingerprint(mode, prep.digest[mode])
        run_dir = run_dir_for(out, mode, cfg.modes)
        if is_complete(run_dir) and not overwrite and resume:
            from causal_agents.formats.io import read_json

            done = read_json(os.path.join(run_dir, RUN_MARKER))
            if done.get("fingerprint") != fp:
                raise CagError(f"{run_dir} holds a finished run of a different config or data; "
                               "use another --out or --overwrite")
            results[mode] = done
            continue
        if is_complete(run_dir) and not overwrite or rank == 0:
            check_run_dir(run_dir, resume, overwrite)  # a finished run stops every rank
        if rank == 0:
            if overwrite or not resume:
                clear_run_dir(run_dir)  # only what the run's manifest lists
            os.makedirs(run_dir, exist_ok=True)
            claim_run_dir(run_dir, world, adopt=resume)
        if world > 1:
            torch.distributed.barrier()
        if cfg.engine == "trl":
            from causal_agents.training.trl_engine import train_one
        else:
            train_one = _train_one
        results[mode] = train_one(cfg, mode, prep, plan, run_dir, fp, device, dtype, rank, world, resume,
                                  progress and rank == 0, log, bar_position)
    return results


def check_out(out: str, modes, resume: bool = False, overwrite: bool = False) -> None:
    """The refusals of ``train`` for ``out`` (rundir.check_run_dir per mode), before any work:
    the CLI calls it before reading and tokenizing; ``train`` checks again under its lock."""
    for mode in modes:
        check_run_dir(run_dir_for(out, mode, modes), resume, overwrite)


def _train_parallel(cfg, prep, out, source, resume, overwrite, progress, log) -> dict:
    import multiprocessing as mp
    from dataclasses import replace

    ctx = mp.get_context("fork")  # the children inherit the encoded data; nothing is re-tokenized
    procs = {}
    for pos, mode in enumerate(cfg.modes):
        recv, send = ctx.Pipe(duplex=False)
        sub = replace(cfg, modes=(mode,), threads=1)
        p = ctx.Process(target=_child, args=(send, sub, prep, run_dir_for(out, mode, cfg.modes), source, resume,
                                            overwrite, progress, pos))
        p.start()
        send.close()
        procs[mode] = (p, recv)
    results, errors = {}, []
    try:
        for mode, (p, recv) in procs.items():
            try:
                kind, payload = recv.recv()
            except EOFError:
                kind, payload = "error", f"the {mode} training process died (exit code {p.exitcode})"
            p.join()
            if kind == "ok":
                results[mode] = payload[mode]
            else:
                errors.append(payload)
    except BaseException:  # a signal or an error in the parent: the children die with it
        for p, _ in procs.values():
            p.terminate()
            p.join()
        raise
    if errors:
        raise CagError(errors[0])
    return results


def _child(send, cfg, prep, out, source, resume, overwrite, progress, pos) -> None:
    try:
        from causal_agents.training.data import Example  # noqa: F401  (loaded before torch threads start)

        res = train(cfg, [], out, source, resume, overwrite, progress, prepared=_select(prep, cfg.modes[0]),
                    log=lambda m: print(printable(m), file=__import__("sys").stderr), bar_position=pos)
        send.send(("ok", res))
    except CagError as e:
        send.send(("error", str(e)))
    except BaseException as e:  # noqa: BLE001 - report, the parent prints one line
        send.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        send.close()


def _select(prep: Prepared, mode: str) -> Prepared:
    from dataclasses import replace

    return replace(prep, supervised={mode: prep.supervised[mode]}, lost={mode: prep.lost[mode]},
                   digest={mode: prep.digest[mode]})


def loss_step(model, ids, tgt, w, scale: float, amp: bool = False, chunked: bool = True, rows=None):
    """Forward and backward of one micro-batch; returns the detached loss it added.

    ``tgt`` holds the labels (IGNORE_INDEX where not supervised) and ``w`` the per-token loss
    weights, both (B, T-1) and already shifted; the loss is sum(w * NLL) * ``scale``, where
    ``scale`` divides by the whole step's weight (all micro-batches and ranks). ``amp``: bf16
    autocast with fp32 master weights. ``chunked``: the LM head and cross-entropy run over
    chunks of positions (causal_agents.training.loss), never holding the whole batch's logits;
    models whose logits are not a plain linear head (and DDP) take the full-logits path.
    ``rows``: the positions the chunked head runs on (``training.data.head_rows``; None: all).
    """
    import torch
    import torch.nn.functional as F

    parts = head_parts(model) if chunked else None
    if parts is not None:
        loss = chunked_loss(*parts, ids, tgt, w, scale, amp, rows)
        loss.backward()
        return loss.detach()
    with torch.autocast(device_type=ids.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(input_ids=ids).logits           # (B, T, V)
    # targets and weights padded by one column to the logits' shape: the loss reads the
    # logits in place (no gather of supervised rows, no copy of a slice) and costs the same
    # under obs and do masks
    tgt_ = F.pad(torch.where(w > 0, tgt, IGNORE_INDEX), (0, 1), value=IGNORE_INDEX)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt_.view(-1),
                          reduction="none")            # (B*T,), 0 where ignored
    loss = (nll * F.pad(w, (0, 1)).view(-1)).sum() * scale
    loss.backward()
    return loss.detach()


@dataclass
class _State:
    """One mode's model, optimizer and position in the plan."""

    model: object
    ddp_model: object
    params: list
    opt: object
    sched: object
    start: int = 0
    skipped: int = 0


def _setup(cfg, mode, prep, plan, ckpt_dir, fp, device, dtype, world, resume, log) -> _State:
    import torch

    model = build_model(cfg, prep.tokenizer, dtype).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = int(cfg.warmup if cfg.warmup >= 1 else round(cfg.warmup * len(plan)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.scheduler, warm, len(plan)))
    st = _State(model, model, params, opt, sched)
    ck = latest_checkpoint(ckpt_dir) if resume else None
    if ck is not None:
        from causal_agents.formats.checkpoint import load_checkpoint_file

        state = load_checkpoint_file(ck, map_location=device)  # weights only, checksums verified
        if state["fingerprint"] != fp:
            raise CagError(f"cannot resume from {ck}: it was written by a different config or data "
                           f"(fingerprint {state['fingerprint']}, this run {fp})")
        unwrap(model).load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        st.start, st.skipped = state["step"], state["skipped"]
        log(f"[{mode}] resuming from {ck} at step {st.start}")
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        st.ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    return st


def _step(cfg, st: _State, prep, mbs, mode, total_w, device, rank, world, amp: bool, step_no: int):
    """One optimizer step (``step_no``, 1-based) over the micro-batches ``mbs``; returns (mean
    loss, tokens seen). ``amp``: bf16 autocast, chosen once per run by ``pick_amp``. A
    non-finite loss or gradient raises ``guard.Diverged`` before the optimizer applies it."""
    import torch

    pad = prep.tokenizer.pad_token_id
    mine = mbs[rank::world]
    n_local = max(1, math.ceil(len(mbs) / world))
    step_loss = torch.zeros((), device=device)
    ntok = 0
    for j in range(n_local):
        idx = mine[j] if j < len(mine) else mbs[0]  # a short last step: ranks stay in lockstep
        scale = world / total_w if j < len(mine) else 0.0
        ids, tgt, w = (t.to(device) for t in collate(prep.examples, idx, mode, pad))
        rows = head_rows(prep.examples, idx, ids.shape[1]).to(device)
        sync = contextlib.nullcontext() if (world == 1 or j == n_local - 1) else st.ddp_model.no_sync()
        with sync:
            step_loss += loss_step(st.ddp_model, ids, tgt, w, scale, amp=amp, rows=rows)
        ntok += int((ids != pad).sum()) if j < len(mine) else 0
    norm = grad_norm(st.params, cfg.grad_clip)
    if world > 1:
        torch.distributed.all_reduce(step_loss)
    loss = float(step_loss) / world
    # every rank sees the same (all-reduced) loss and gradients, so all stop together
    check_step(mode, step_no, loss, float(norm), cfg.lr)
    st.opt.step()
    st.sched.step()
    st.opt.zero_grad(set_to_none=True)
    return loss, ntok * world


def _train_one(cfg, mode, prep, plan, run_dir, fp, device, dtype, rank, world, resume, progress, log,
               bar_position=0) -> dict:
    import torch

    ckpt_dir = os.path.join(run_dir, "checkpoints")
    metrics_path = os.path.join(run_dir, METRICS_FILE)
    st = _setup(cfg, mode, prep, plan, ckpt_dir, fp, device, dtype, world, resume, log)
    n_steps = len(plan) if cfg.max_steps is None else min(len(plan), cfg.max_steps)
    if rank == 0:
        truncate_metrics(metrics_path, st.start)
    st.model.train()
    amp = pick_amp(cfg.amp, device, next(st.model.parameters()).dtype)
    bar = _bar(n_steps, st.start, mode, progress, bar_position)
    metrics = MetricsWriter(metrics_path if rank == 0 else None)
    if cfg.report_to:
        from causal_agents.training.report import with_reporters

        metrics = with_reporters(metrics, cfg, run_dir, mode, rank)
    t_run = time.perf_counter()
    last_loss = float("nan")
    # Subnormal floats (the masked positions' near-zero gradients) are slow on x86 CPUs; flushing
    # them to zero made a do step cost what an obs step does (tiny model, one loss step: do/obs
    # 1.09 without, 0.97 with). Deterministic either way; restored after the run.
    flushed = torch.set_flush_denormal(True)
    try:
        for step in range(st.start, n_steps):
            t0 = time.perf_counter()
            mbs = plan[step]
            nsup, total_w = step_supervision(prep.examples, mbs, mode)
            if total_w == 0:
                st.skipped += 1
                st.sched.step()
                bar.update(1)
                continue
            lr = st.sched.get_last_lr()[0]
            last_loss, ntok = _step(cfg, st, prep, mbs, mode, total_w, device, rank, world, amp, step + 1)
            metrics.write({"mode": mode, "step": step + 1, "loss": round(last_loss, 6), "tokens": ntok,
                           "supervised_tokens": nsup, "supervised_weight": round(total_w, 4),
                           "lr": float(f"{lr:.6g}"),
                           "tokens_per_s": round(ntok / (time.perf_counter() - t0), 1)})
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}")
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < n_steps:
                metrics.flush()
                if rank == 0:
                    save_checkpoint(ckpt_dir, step + 1, st.skipped, st.model, st.opt, st.sched, fp)
    finally:
        if flushed:
            torch.set_flush_denormal(False)
        bar.close()
        metrics.close()
    summary = {"mode": mode, "steps": n_steps, "planned_steps": len(plan), "skipped_steps": st.skipped,
               "supervised_tokens": prep.supervised[mode], "truncation_lost": prep.lost[mode],
               "final_loss": last_loss, "seconds": round(time.perf_counter() - t_run, 2),
               "fingerprint": fp, "run_dir": run_dir, "complete": n_steps == len(plan),
               "bf16_autocast": amp}
    _finish(cfg, st, prep, run_dir, ckpt_dir, n_steps, len(plan), fp, summary, rank, world, mode, log)
    return summary


def _finish(cfg, st, prep, run_dir, ckpt_dir, n_steps, planned, fp, summary, rank, world, mode, log) -> None:
    import torch

    check_finite_weights(unwrap(st.model), mode, n_steps, cfg.lr)
    if rank == 0:
        if n_steps < planned:
            # A deliberately partial run (--max-steps): keep a checkpoint to resume from, and no
            # final model, so the directory never looks finished.
            save_checkpoint(ckpt_dir, n_steps, st.skipped, st.model, st.opt, st.sched, fp)
            log(f"[{mode}] stopped at step {n_steps} of {planned}; continue with --resume")
        else:
            save_final(st.model, prep.tokenizer, cfg, run_dir, summary)
    if world > 1:
        torch.distributed.barrier()



def _bar(total: int, initial: int, mode: str, enabled: bool, position: int = 0):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"train {mode}", unit="step", disable=not enabled,
                dynamic_ncols=True, leave=True, position=position)


