"""The training loop behind `cag train`: full fine-tuning or LoRA of any Hugging Face causal
LM (or the embedded tiny model), one or several mask modes from one plan.

Loss: sum over the step's supervised positions of weight * token NLL, divided by the step's
total weight (computed from the plan, so it is the mean over supervised tokens across all
micro-batches and all ranks). Steps with nothing supervised are skipped and counted.

Paired runs (``modes=("obs", "do")``) start from the same weights (same seed) and replay the
same plan: identical batches in identical order; only the labels differ.

Run directory (one per mode; ``OUT/<mode>/`` when several modes train): ``metrics.jsonl``,
``checkpoints/step-N.pt`` while running; at the end the model (or adapter) and tokenizer as
``save_pretrained`` writes them, ``cag_config.json`` and, written last, ``cag_run.json``. A
directory without ``cag_run.json`` is not a finished run.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import math
import os
import shutil
import time
from dataclasses import dataclass

import numpy as np

from causal_agents.errors import CagError, InputError
from causal_agents.transcripts.tokenizer import load_tokenizer
from causal_agents.training.config import TrainConfig, is_tiny
from causal_agents.training.data import (build_examples, check_supervised, collate, plan_steps,
                                      supervised_counts)

RUN_MARKER = "cag_run.json"
CONFIG_FILE = "cag_config.json"


@dataclass
class Prepared:
    tokenizer: object
    examples: list
    supervised: dict       # mode -> supervised positions (equals `cag stats` for the same options)
    lost: dict             # mode -> supervised tokens lost to --max-length
    digest: dict           # mode -> digest of the training data and its labels, for resume checks
    tokens: int = 0        # all positions, before truncation
    refused: list = None   # ids of transcripts refused for an empty mask under a trained mode

    def summary_line(self) -> str:
        parts = [f"{m} supervises {n:,} of {self.tokens:,} positions ({100.0 * n / max(1, self.tokens):.1f}%)"
                 for m, n in self.supervised.items()]
        line = "; ".join(parts)
        if any(self.lost.values()):
            line += "; truncation loses " + ", ".join(f"{m} {n:,}" for m, n in self.lost.items())
        if self.refused:
            line += (f"; refused {len(self.refused)} transcript(s) with an empty mask (under do: no "
                     f"world-written token; e.g. {self.refused[:3]})")
        return line


def load_tokenizer_for(cfg: TrainConfig):
    name = cfg.tokenizer if cfg.tokenizer else (None if is_tiny(cfg.model) else cfg.model)
    tok = load_tokenizer(name)
    if tok.pad_token_id is None:  # many base models ship without one; pads never get a label
        tok.pad_token = tok.eos_token
    return tok


def prepare(cfg: TrainConfig, records: list[dict], source: str, tokenizer=None) -> Prepared:
    from causal_agents.transcripts.labels import encode_batch

    tok = tokenizer or load_tokenizer_for(cfg)
    if not records:
        raise InputError("no transcripts to train on", file=source)
    encs = encode_batch(records, tok, renderer=cfg.renderer)
    # Counted before truncation and refusals: exactly what `cag stats` reports for these options.
    counts = {m: int(sum(e.supervised(m).sum() for e in encs)) for m in cfg.modes}
    tokens = int(sum(len(e) for e in encs))
    check_supervised(counts, source)
    # A transcript with an empty mask under a trained mode is refused, not trusted: it is
    # usually a role-mapping mistake. Under do, "empty" means no world-written token (role
    # headers alone): the same test `cag stats` reports as empty_do.
    keep = [all(e.has_evidence() if m == "do" else e.supervised(m).any() for m in cfg.modes) for e in encs]
    refused = [e.record_id for e, k in zip(encs, keep) if not k]
    encs = [e for e, k in zip(encs, keep) if k]
    examples, lost = build_examples(encs, cfg.modes, cfg.loss_weighting, cfg.max_length)
    check_supervised(supervised_counts(examples, cfg.modes), source)
    digests = {}
    for m in cfg.modes:
        h = hashlib.sha256()
        for ex in examples:
            h.update(ex.input_ids.tobytes())
            h.update(ex.labels[m].tobytes())
            h.update(ex.weights[m].tobytes())
        digests[m] = h.hexdigest()[:16]
    return Prepared(tok, examples, counts, {m: lost[m] for m in cfg.modes}, digests, tokens, refused)


# ---------------------------------------------------------------- devices and models


def dist_info() -> tuple[int, int, int]:
    """(rank, world, local_rank) from torchrun / accelerate launch environment variables."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(name: str, local_rank: int = 0):
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(name: str, device):
    import torch

    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def quiet_transformers() -> None:
    """Turn off transformers' own bars (loading weights, writing shards): cag draws its own
    progress, and `--no-progress` must leave stderr free of bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def build_model(cfg: TrainConfig, tokenizer, dtype):
    """Fresh initial weights; identical for every call with the same config and seed."""
    import torch

    quiet_transformers()

    if is_tiny(cfg.model):
        from causal_agents.lm.tiny_model import tiny_model

        model = tiny_model(tokenizer, cfg.seed).to(dtype)
    else:
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=dtype)
        except (OSError, ValueError) as e:
            raise CagError(f"cannot load a causal LM from {cfg.model!r}: {e}") from e
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(cfg.seed)  # LoRA's A matrices are random: same seed, same start
        lcfg = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=cfg.lora_dropout, target_modules=list(cfg.lora_targets))
        try:
            model = get_peft_model(model, lcfg)
        except ValueError as e:
            raise CagError(f"--lora-targets {','.join(cfg.lora_targets)}: {e}") from e
    return model


def lr_lambda(scheduler: str, warmup_steps: int, total: int):
    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if scheduler == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total - warmup_steps)
        if scheduler == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


# ---------------------------------------------------------------- the loop


def run_dir_for(out: str, mode: str, modes) -> str:
    return out if len(modes) == 1 else os.path.join(out, mode)


def is_complete(run_dir: str) -> bool:
    return os.path.exists(os.path.join(run_dir, RUN_MARKER))


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
    results = {}
    for mode in cfg.modes:
        fp = cfg.fingerprint(mode, prep.digest[mode])
        run_dir = run_dir_for(out, mode, cfg.modes)
        if is_complete(run_dir) and not overwrite:
            if resume:
                from causal_agents.formats.io import read_json

                done = read_json(os.path.join(run_dir, RUN_MARKER))
                if done.get("fingerprint") != fp:
                    raise CagError(f"{run_dir} holds a finished run of a different config or data; "
                                   "use another --out or --overwrite")
                results[mode] = done
                continue
            raise CagError(f"{run_dir} already holds a finished run; use --resume to keep it, "
                           "--overwrite to replace it, or another --out")
        if rank == 0:
            if overwrite or not resume:
                _clear_run_dir(run_dir)
            os.makedirs(run_dir, exist_ok=True)
        if world > 1:
            torch.distributed.barrier()
        results[mode] = _train_one(cfg, mode, prep, plan, run_dir, fp, device, dtype, rank, world, resume,
                                   progress and rank == 0, log, bar_position)
    return results


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
    if errors:
        raise CagError(errors[0])
    return results


def _child(send, cfg, prep, out, source, resume, overwrite, progress, pos) -> None:
    try:
        from causal_agents.training.data import Example  # noqa: F401  (loaded before torch threads start)

        res = train(cfg, [], out, source, resume, overwrite, progress, prepared=_select(prep, cfg.modes[0]),
                    log=lambda m: print(m, file=__import__("sys").stderr), bar_position=pos)
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


def _clear_run_dir(run_dir: str) -> None:
    for name in (RUN_MARKER, CONFIG_FILE, "metrics.jsonl"):
        p = os.path.join(run_dir, name)
        if os.path.exists(p):
            os.unlink(p)
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)


def _step_weight(prep: Prepared, step_mbs, mode: str) -> float:
    return float(sum(prep.examples[i].weights[mode].sum() for mb in step_mbs for i in mb))


def _train_one(cfg, mode, prep, plan, run_dir, fp, device, dtype, rank, world, resume, progress, log,
               bar_position=0) -> dict:
    import torch
    import torch.nn.functional as F

    model = build_model(cfg, prep.tokenizer, dtype).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_steps = len(plan) if cfg.max_steps is None else min(len(plan), cfg.max_steps)
    warm = int(cfg.warmup if cfg.warmup >= 1 else round(cfg.warmup * len(plan)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.scheduler, warm, len(plan)))
    start, skipped = 0, 0
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    if resume:
        ck = latest_checkpoint(ckpt_dir)
        if ck is not None:
            state = torch.load(ck, map_location=device, weights_only=False)
            if state["fingerprint"] != fp:
                raise CagError(f"cannot resume from {ck}: it was written by a different config or data "
                               f"(fingerprint {state['fingerprint']}, this run {fp})")
            _unwrap(model).load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            start, skipped = state["step"], state["skipped"]
            log(f"[{mode}] resuming from {ck} at step {start}")
    if rank == 0:
        _truncate_metrics(metrics_path, start)
    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    pad = prep.tokenizer.pad_token_id
    model.train()
    bar = _bar(n_steps, start, mode, progress, bar_position)
    mfile = open(metrics_path, "a") if rank == 0 else None
    t_run = time.perf_counter()
    last_loss = float("nan")
    try:
        for step in range(start, n_steps):
            t0 = time.perf_counter()
            mbs = plan[step]
            total_w = _step_weight(prep, mbs, mode)
            if total_w == 0:
                skipped += 1
                sched.step()
                bar.update(1)
                continue
            mine = mbs[rank::world]
            n_local = max(1, math.ceil(len(mbs) / world))
            step_loss = torch.zeros((), device=device)
            ntok = 0
            for j in range(n_local):
                idx = mine[j] if j < len(mine) else mbs[0]  # a short last step: ranks stay in lockstep
                scale = world / total_w if j < len(mine) else 0.0
                ids, tgt, w = collate(prep.examples, idx, mode, pad)
                ids, tgt, w = ids.to(device), tgt.to(device), w.to(device)
                sync = contextlib.nullcontext() if (world == 1 or j == n_local - 1) else ddp_model.no_sync()
                with sync:
                    logits = ddp_model(input_ids=ids).logits           # (B, T, V)
                    # targets and weights padded by one column to the logits' shape: the loss
                    # reads the logits in place (no gather of supervised rows, no copy of a
                    # slice) and costs the same under obs and do masks
                    tgt_ = F.pad(torch.where(w > 0, tgt, -100), (0, 1), value=-100)
                    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt_.view(-1),
                                          reduction="none")            # (B*T,), 0 where ignored
                    loss = (nll * F.pad(w, (0, 1)).view(-1)).sum() * scale
                    loss.backward()
                step_loss += loss.detach()
                ntok += int((ids != pad).sum()) if j < len(mine) else 0
            if cfg.grad_clip and cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            lr = sched.get_last_lr()[0]
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if world > 1:
                torch.distributed.all_reduce(step_loss)
            last_loss = float(step_loss) / world
            dt = time.perf_counter() - t0
            if mfile is not None:
                mfile.write(f'{{"mode":"{mode}","step":{step + 1},"loss":{last_loss:.6f},"tokens":{ntok * world},'
                            f'"supervised_tokens":{int(total_w) if cfg.loss_weighting == "token" else _nsup(prep, mbs, mode)},'
                            f'"lr":{lr:.6g},"tokens_per_s":{ntok * world / dt:.1f}}}\n')
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}")
            if mfile is not None and (step + 1) % 20 == 0:
                mfile.flush()
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < n_steps:
                if mfile is not None:
                    mfile.flush()
                if rank == 0:
                    save_checkpoint(ckpt_dir, step + 1, skipped, model, opt, sched, fp)
    finally:
        bar.close()
        if mfile is not None:
            mfile.close()
    summary = {"mode": mode, "steps": n_steps, "planned_steps": len(plan), "skipped_steps": skipped,
               "supervised_tokens": prep.supervised[mode], "truncation_lost": prep.lost[mode],
               "final_loss": last_loss, "seconds": round(time.perf_counter() - t_run, 2),
               "fingerprint": fp, "run_dir": run_dir, "complete": n_steps == len(plan)}
    if rank == 0:
        if n_steps < len(plan):
            # A deliberately partial run (--max-steps): keep a checkpoint to resume from, and no
            # final model, so the directory never looks finished.
            save_checkpoint(ckpt_dir, n_steps, skipped, model, opt, sched, fp)
            log(f"[{mode}] stopped at step {n_steps} of {len(plan)}; continue with --resume")
        else:
            save_final(model, prep.tokenizer, cfg, run_dir, summary)
    if world > 1:
        torch.distributed.barrier()
    return summary


def _nsup(prep, mbs, mode) -> int:
    return int(sum((prep.examples[i].weights[mode] > 0).sum() for mb in mbs for i in mb))


def _unwrap(model):
    return getattr(model, "module", model)


def _bar(total: int, initial: int, mode: str, enabled: bool, position: int = 0):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"train {mode}", unit="step", disable=not enabled,
                dynamic_ncols=True, leave=True, position=position)


def _truncate_metrics(path: str, keep_steps: int) -> None:
    """On resume, drop metric lines past the checkpoint so the log matches an uninterrupted run."""
    if not os.path.exists(path):
        return
    import orjson

    with open(path, "rb") as f:
        lines = [ln for ln in f if ln.strip() and orjson.loads(ln)["step"] <= keep_steps]
    with open(path, "wb") as f:
        f.writelines(lines)


def latest_checkpoint(ckpt_dir: str) -> str | None:
    files = sorted(glob.glob(os.path.join(ckpt_dir, "step-*.pt")))
    return files[-1] if files else None


def save_checkpoint(ckpt_dir: str, step: int, skipped: int, model, opt, sched, fp: str) -> str:
    import torch

    from causal_agents.formats.io import atomic_path

    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, f"step-{step:08d}.pt")
    with atomic_path(path) as tmp:
        torch.save({"model": _unwrap(model).state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "step": step, "skipped": skipped, "fingerprint": fp}, tmp)
    for old in glob.glob(os.path.join(ckpt_dir, "step-*.pt")):  # keep only the newest
        if old != path:
            os.unlink(old)
    return path


def save_final(model, tokenizer, cfg: TrainConfig, run_dir: str, summary: dict) -> None:
    """Model/adapter + tokenizer + resolved config, then the completion marker, last."""
    from causal_agents.formats.io import write_json_atomic

    model = _unwrap(model)
    tmp = os.path.join(run_dir, ".final.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    quiet_transformers()
    if cfg.lora and is_tiny(cfg.model):
        # The adapter's base has no hub name: save it beside the adapter and point at it.
        # An unloaded copy: get_base_model() still carries the LoRA wrappers, whose renamed
        # weights (q_proj.base_layer...) would not load back into a plain model.
        import copy

        base_dir = os.path.join(run_dir, "base")
        copy.deepcopy(model).unload().save_pretrained(os.path.join(tmp, "base"))
        model.peft_config["default"].base_model_name_or_path = os.path.abspath(base_dir)
    if cfg.lora and is_tiny(cfg.model):
        # The base is saved whole beside the adapter, so peft need not guess whether the
        # vocabulary changed (it would look for the base's config, not there until the move).
        model.save_pretrained(tmp, save_embedding_layers=False)
    else:
        model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for name in os.listdir(tmp):
        dst = os.path.join(run_dir, name)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        os.replace(os.path.join(tmp, name), dst)
    os.rmdir(tmp)
    write_json_atomic(os.path.join(run_dir, CONFIG_FILE), cfg.as_dict())
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    write_json_atomic(os.path.join(run_dir, RUN_MARKER), summary)
