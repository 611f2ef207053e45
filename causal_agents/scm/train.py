"""Training loop: seeded, tensorized (no DataLoader), early stopping on a disjoint validation
split, atomic checkpoints with --resume, per-epoch metrics JSONL."""

from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from causal_agents.errors import CagError, InputError
from causal_agents.scm.models import ModelConfig, action_tensors, build_model
from causal_agents.scm.simulator import SCM

TENSOR_COLS = ("x_t", "a_idx", "a_val", "x_next", "cf_idx", "cf_val", "x_cf")


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    clip: float = 1.0
    patience: int = 20
    min_delta: float = 1e-3   # relative improvement (0.1%) of validation MSE that resets patience
    val_frac: float = 0.1     # the LAST fraction of the trajectory: disjoint from training rows
    seed: int = 0
    threads: int = 1          # tiny models: one thread avoids sync overhead on a shared CPU
    model: ModelConfig = field(default_factory=ModelConfig)


def to_tensors(data: dict, rows=slice(None)) -> dict:
    out = {}
    for c in TENSOR_COLS:
        a = np.array(data[c][rows])  # a copy: Parquet-backed arrays are read-only
        out[c] = torch.as_tensor(a, dtype=torch.long if c.endswith("idx") else torch.float32)
    k = out["x_t"].shape[1]
    out["m"], out["v"] = action_tensors(out["a_idx"], out["a_val"], k)
    out["m2"], out["v2"] = action_tensors(out["cf_idx"], out["cf_val"], k)
    return out


def split(data: dict, val_frac: float) -> tuple[dict, dict]:
    n = len(data["a_idx"])
    n_val = max(1, int(round(n * val_frac)))
    if n - n_val < 1:
        raise InputError(f"too few samples ({n}) to hold out a validation split", field="n")
    # contiguous tail: validation rows never appear in training (the original's overlapped)
    return to_tensors(data, slice(0, n - n_val)), to_tensors(data, slice(n - n_val, n))


@torch.no_grad()
def evaluate_loss(model, val: dict) -> dict:
    """Validation metric used for early stopping: next-observation MSE (model-agnostic)."""
    model.eval()
    pred = model.predict(val["x_t"], val["a_idx"], val["a_val"])[:, 0]
    mse = torch.mean((pred - val["x_next"]) ** 2).item()
    cf, _ = model.counterfactual(val["x_t"], val["x_next"], val["a_idx"], val["a_val"],
                                 val["cf_idx"], val["cf_val"])
    return {"val_mse": mse, "val_cf_mse": torch.mean((cf - val["x_cf"]) ** 2).item()}


def clip_grad_norm(params: list, max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` (same norm, same coefficient) in four ops: at this
    model size the library version's per-call bookkeeping cost a tenth of a training step."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (norm + 1e-6)).clamp_(max=1.0))


def _save(path: str, obj: dict) -> None:
    from causal_agents.formats.checkpoint import save_checkpoint_file

    save_checkpoint_file(path, obj)


# Settings that change the trained weights: --resume refuses a checkpoint written with others
# (epochs and patience only say when to stop, threads only how fast).
RESUME_KEYS = ("batch_size", "lr", "clip", "min_delta", "val_frac", "seed")


def data_digest(data: dict) -> str:
    """sha256 of the training columns: --resume on other data is refused."""
    import hashlib

    h = hashlib.sha256()
    for c in TENSOR_COLS:
        a = np.ascontiguousarray(data[c])
        h.update(f"{c}:{a.dtype}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _check_resumable(ck: dict, cfg: "TrainConfig", digest: str, out: str) -> None:
    old = ck.get("train_cfg") or {}
    now = _cfg_dict(cfg)
    changed = [k for k in RESUME_KEYS if old.get(k) != now[k]]
    if ck.get("data_digest") != digest:
        changed.append("data")
    if changed:
        raise InputError(f"checkpoint was trained with different {', '.join(changed)}; resuming would mix "
                         "two runs: drop --resume (and choose another -o) or match the options", file=out)


def load_checkpoint(path: str) -> dict:
    from causal_agents.formats.checkpoint import load_checkpoint_file

    ck = load_checkpoint_file(path)  # weights only (no code runs), checksums verified
    if not isinstance(ck, dict) or "model_cfg" not in ck or "scm" not in ck:
        raise InputError("not a `cag scm train` checkpoint", file=path)
    return ck


def model_from_checkpoint(ck: dict, best: bool = True):
    cfg = ModelConfig(**ck["model_cfg"])
    model = build_model(cfg)
    model.load_state_dict(ck["best_state"] if best and ck.get("best_state") else ck["state"])
    model.eval()
    return model, SCM.from_dict(ck["scm"])


def train(data: dict, scm: SCM, cfg: TrainConfig, out: str | None = None, resume: bool = False,
          progress: bool = False, metrics_path: str | None = None) -> dict:
    """Train one model; returns a summary. ``out``: checkpoint path (written every epoch)."""
    if cfg.model.k != scm.k:
        raise InputError(f"model K={cfg.model.k} but the data has K={scm.k}", field="k")
    torch.set_num_threads(max(1, cfg.threads))
    # weights behind pruned edges decay into subnormal floats, which x86 handles in microcode:
    # epochs slowed by a fifth as the graph sparsified; flushing them to zero is deterministic
    flushed = torch.set_flush_denormal(True)
    from contextlib import nullcontext

    from causal_agents.formats.runlock import run_lock

    try:
        # one writer per checkpoint for the run's life: a second `cag scm train -o` stops
        with run_lock(out, directory=False, what="checkpoint") if out else nullcontext():
            return _train(data, scm, cfg, out, resume, progress, metrics_path)
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def _train(data, scm, cfg, out, resume, progress, metrics_path) -> dict:
    torch.manual_seed(cfg.seed)
    tr, val = split(data, cfg.val_frac)
    model = build_model(cfg.model)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    start, best, best_state, bad, history = 0, float("inf"), None, 0, []
    digest = data_digest(data)
    if resume and out and os.path.exists(out):
        ck = load_checkpoint(out)
        if ck["model_cfg"] != cfg.model.to_dict():
            raise InputError("checkpoint was trained with a different model configuration; "
                             "drop --resume or match the options", file=out)
        if ck["scm"]["k"] != scm.k:
            raise InputError(f"checkpoint is for K={ck['scm']['k']}, data has K={scm.k}", file=out)
        _check_resumable(ck, cfg, digest, out)
        model.load_state_dict(ck["state"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen_state"])
        torch.set_rng_state(ck["torch_rng"])
        start, best, bad, history = ck["epoch"] + 1, ck["best"], ck["bad"], ck["history"]
        best_state = ck["best_state"]
    n = len(tr["a_idx"])
    bs = cfg.batch_size
    # all float columns a batch needs, packed side by side so one gather per step fetches them
    cols = [c for c in ("x_t", "x_next", "x_cf", "m", "v", "m2", "v2", "a_val", "cf_val") if c in tr]
    widths = [tr[c].shape[1] if tr[c].dim() == 2 else 1 for c in cols]
    packed = torch.cat([tr[c] if tr[c].dim() == 2 else tr[c][:, None] for c in cols], 1)  # (N, sum W)
    packed_idx = torch.stack([tr["a_idx"], tr["cf_idx"]], 1)                                 # (N, 2)
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.epochs, initial=start, desc=f"train {cfg.model.model}", unit="ep",
                   leave=False, dynamic_ncols=True)
    stopped_early = False
    epoch = start - 1
    for epoch in range(start, cfg.epochs):
        if bad >= cfg.patience:
            stopped_early = True
            break
        model.train()
        perm = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        steps = 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            parts_ = packed[idx].split(widths, 1)
            batch = {c: (t if w > 1 else t[:, 0]) for c, t, w in zip(cols, parts_, widths)}
            ai = packed_idx[idx]
            batch["a_idx"], batch["cf_idx"] = ai[:, 0], ai[:, 1]
            opt.zero_grad(set_to_none=True)
            loss, parts = model.loss_and_backward(batch, epoch)
            if not torch.isfinite(loss):
                raise CagError(f"training diverged at epoch {epoch} (loss is {loss.item()}); "
                               "try a smaller --lr")
            clip_grad_norm(params, cfg.clip)
            opt.step()
            steps += 1
            for key, val_ in parts.items():
                sums[key] = sums.get(key, 0.0) + float(val_.detach())
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
        rec = {"epoch": epoch, **{k_: v_ / steps for k_, v_ in sums.items()}, **evaluate_loss(model, val),
               "elapsed_s": round(time.perf_counter() - t0, 3)}
        if rec["val_mse"] < best * (1 - cfg.min_delta):
            best, bad = rec["val_mse"], 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        rec["best_val_mse"] = best
        history.append(rec)
        if out:
            _save(out, {"model_cfg": cfg.model.to_dict(), "train_cfg": _cfg_dict(cfg),
                        "scm": scm.to_dict(), "state": model.state_dict(), "best_state": best_state,
                        "opt": opt.state_dict(), "epoch": epoch, "best": best, "bad": bad,
                        "history": history, "gen_state": gen.get_state(),
                        "torch_rng": torch.get_rng_state(), "done": False, "data_digest": digest})
        if metrics_path:
            _write_metrics(metrics_path, history)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(val=f"{rec['val_mse']:.4f}", best=f"{best:.4f}")
    else:
        if bad >= cfg.patience:
            stopped_early = True
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    summary = {"epochs_run": len(history), "last_epoch": epoch, "best_val_mse": best,
               "stopped_early": stopped_early, "train_seconds": round(time.perf_counter() - t0, 2),
               "n_train": n, "n_val": len(val["a_idx"])}
    if out:
        ck = load_checkpoint(out) if os.path.exists(out) else None
        if ck is not None:
            ck["done"] = True
            ck["summary"] = summary
            _save(out, ck)
    return {"model": model, "summary": summary, "history": history}


def _cfg_dict(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d.pop("model")
    return d


def _write_metrics(path: str, history: list[dict]) -> None:
    import orjson

    from causal_agents.formats.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for r in history:
            f.write(orjson.dumps(r) + b"\n")
