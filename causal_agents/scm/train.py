"""Training loop: seeded, tensorized (no DataLoader), early stopping on a disjoint validation
split, atomic checkpoints with --resume, per-epoch metrics JSONL."""

from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict

import numpy as np
import torch

from causal_agents.errors import CagError, InputError
from causal_agents.scm.actions import action_tensors
from causal_agents.scm.config import ModelConfig, TrainConfig
from causal_agents.scm.models import build_model
from causal_agents.scm.simulator import SCM

__all__ = ["TrainConfig", "load_checkpoint", "model_from_checkpoint", "train"]

TENSOR_COLS = ("x_t", "a_idx", "a_val", "x_next", "cf_idx", "cf_val", "x_cf")


def to_tensors(data: dict, rows=slice(None)) -> dict:
    """The training columns of ``data`` (a `simulate`/`read_parquet` dict) as tensors, plus the
    precomputed action masks and values (m, v, m2, v2)."""
    out = {}
    for c in TENSOR_COLS:
        a = np.array(data[c][rows])  # a copy: Parquet-backed arrays are read-only
        out[c] = torch.as_tensor(a, dtype=torch.long if c.endswith("idx") else torch.float32)
    k = out["x_t"].shape[1]
    out["m"], out["v"] = action_tensors(out["a_idx"], out["a_val"], k)
    out["m2"], out["v2"] = action_tensors(out["cf_idx"], out["cf_val"], k)
    return out


def split(data: dict, val_frac: float) -> tuple[dict, dict]:
    """(train, validation) tensors: validation is the trajectory's last ``val_frac``."""
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
RESUME_KEYS = ("batch_size", "lr", "clip", "min_delta", "val_frac", "seed", "patience", "cf_pairs", "original_protocol")


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
    """A `cag scm train` checkpoint as a dict: weights only (no code runs), checksums verified; InputError otherwise."""
    from causal_agents.formats.checkpoint import load_checkpoint_file

    ck = load_checkpoint_file(path)  # weights only (no code runs), checksums verified
    if not isinstance(ck, dict) or "model_cfg" not in ck or "scm" not in ck:
        raise InputError("not a `cag scm train` checkpoint", file=path)
    return ck


def model_from_checkpoint(ck: dict, best: bool = True):
    """(model in eval mode with the best, or else the last, weights; the SCM it was trained on)."""
    cfg = ModelConfig(**ck["model_cfg"])
    model = build_model(cfg)
    model.load_state_dict(ck["best_state"] if best and ck.get("best_state") else ck["state"])
    model.eval()
    return model, SCM.from_dict(ck["scm"])


def train(data: dict, scm: SCM, cfg: TrainConfig, out: str | None = None, resume: bool = False,
          progress: bool = False, metrics_path: str | None = None) -> dict:
    """Train one world model on ``data`` (from ``simulate`` or ``read_parquet``) of ``scm``.

    Seeded by ``cfg.seed``; early stopping on the trajectory's held-out tail. ``out``: checkpoint
    path, written atomically every epoch (``resume`` continues from it, refusing a different
    model configuration or K); ``metrics_path``: per-epoch JSONL. Returns ``{"model": the model
    with its best validation weights, "summary": ..., "history": per-epoch records}``. Raises
    InputError for mismatched inputs and CagError if the loss diverges."""
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


def with_cf_pairs(tr: dict) -> dict:
    """Training tensors plus every sample's counterfactual as an extra transition: (x_t, cf action,
    x_cf), whose own counterfactual is the factual (a, x_next)."""
    swap = {"x_t": "x_t", "a_idx": "cf_idx", "a_val": "cf_val", "x_next": "x_cf", "cf_idx": "a_idx",
            "cf_val": "a_val", "x_cf": "x_next", "m": "m2", "v": "v2", "m2": "m", "v2": "v"}
    return {c: torch.cat([tr[c], tr[swap[c]]]) for c in swap}


def _restore(out: str, cfg: TrainConfig, scm: SCM, model, opt, gen, digest: str) -> dict:
    """The loop state from a checkpoint at ``out`` (model, optimizer and RNGs restored in place)."""
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
    return {"start": ck["epoch"] + 1, "best": ck["best"], "bad": ck["bad"], "history": ck["history"],
            "best_state": ck["best_state"]}


class _Packed:
    """All float columns a batch needs, side by side, so one gather per step fetches them."""

    def __init__(self, tr: dict):
        self.cols = [c for c in ("x_t", "x_next", "x_cf", "m", "v", "m2", "v2", "a_val", "cf_val") if c in tr]
        self.widths = [tr[c].shape[1] if tr[c].dim() == 2 else 1 for c in self.cols]
        self.floats = torch.cat([tr[c] if tr[c].dim() == 2 else tr[c][:, None] for c in self.cols], 1)
        self.idx = torch.stack([tr["a_idx"], tr["cf_idx"]], 1)                       # (N, 2)
        self.n = len(tr["a_idx"])

    def batch(self, rows: torch.Tensor) -> dict:
        parts = self.floats[rows].split(self.widths, 1)
        b = {c: (t if w > 1 else t[:, 0]) for c, t, w in zip(self.cols, parts, self.widths)}
        ai = self.idx[rows]
        b["a_idx"], b["cf_idx"] = ai[:, 0], ai[:, 1]
        return b


def _run_epoch(model, opt, params: list, data: _Packed, cfg: TrainConfig, gen, epoch: int) -> dict:
    """One pass over the training rows in a seeded random order; the mean of each loss part."""
    model.train()
    perm = torch.randperm(data.n, generator=gen)
    sums: dict[str, float] = {}
    steps = 0
    for i in range(0, data.n, cfg.batch_size):
        batch = data.batch(perm[i:i + cfg.batch_size])
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
    return {k_: v_ / steps for k_, v_ in sums.items()}


def _progress_bar(progress: bool, cfg: TrainConfig, start: int):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.epochs, initial=start, desc=f"train {cfg.model.model}", unit="ep",
                leave=False, dynamic_ncols=True)


def _train(data, scm, cfg, out, resume, progress, metrics_path) -> dict:
    torch.manual_seed(cfg.seed)
    tr, val = split(data, cfg.val_frac)
    if cfg.cf_pairs:
        tr = with_cf_pairs(tr)
    patience = cfg.epochs + 1 if cfg.original_protocol else cfg.patience
    detect = _Detector(scm, cfg) if cfg.detect_every > 0 else None
    model = build_model(cfg.model)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, fused=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    st = {"start": 0, "best": float("inf"), "best_state": None, "bad": 0, "history": []}
    digest = data_digest(data)
    if resume and out and os.path.exists(out):
        st = _restore(out, cfg, scm, model, opt, gen, digest)
    packed = _Packed(tr)
    t0 = time.perf_counter()
    bar = _progress_bar(progress, cfg, st["start"])
    epoch = st["start"] - 1
    for epoch in range(st["start"], cfg.epochs):
        if st["bad"] >= patience or st.get("stopped_degenerate"):
            break
        means = _run_epoch(model, opt, params, packed, cfg, gen, epoch)
        rec = {"epoch": epoch, **means, **evaluate_loss(model, val), "elapsed_s": round(time.perf_counter() - t0, 3)}
        if rec["val_mse"] < st["best"] * (1 - cfg.min_delta):
            st["best"], st["bad"] = rec["val_mse"], 0
            st["best_state"] = copy.deepcopy(model.state_dict())
        else:
            st["bad"] += 1
        rec["best_val_mse"] = st["best"]
        if detect is not None and detect.due(epoch):
            rec["detector"] = detect.check(model, st)
        st["history"].append(rec)
        if out:
            _save(out, {"model_cfg": cfg.model.to_dict(), "train_cfg": _cfg_dict(cfg),
                        "scm": scm.to_dict(), "state": model.state_dict(), "best_state": st["best_state"],
                        "opt": opt.state_dict(), "epoch": epoch, "best": st["best"], "bad": st["bad"],
                        "history": st["history"], "gen_state": gen.get_state(),
                        "torch_rng": torch.get_rng_state(), "done": False, "data_digest": digest})
        if metrics_path:
            _write_metrics(metrics_path, st["history"])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(val=f"{rec['val_mse']:.4f}", best=f"{st['best']:.4f}")
    if bar is not None:
        bar.close()
    return _finish(model, st, epoch, cfg, out, t0, packed.n, len(val["a_idx"]))


class _Detector:
    """The degenerate-seed detector run during training on its own held-out probe episodes
    (the paper task on fresh states, a seed no training or scored episode uses)."""

    PROBE_SEED_OFFSET = 70_001

    def __init__(self, scm: SCM, cfg: TrainConfig):
        from causal_agents.scm.config import TaskSpec
        from causal_agents.scm.tasks import build_episodes

        self.scm, self.cfg = scm, cfg
        self.ep = build_episodes(scm, TaskSpec(), cfg.seed + self.PROBE_SEED_OFFSET)

    def due(self, epoch: int) -> bool:
        return epoch >= self.cfg.detect_after and (epoch - self.cfg.detect_after) % self.cfg.detect_every == 0

    def check(self, model, st: dict) -> dict:
        from causal_agents.scm.plan import degenerate_check

        d = degenerate_check(model, self.scm, self.ep)
        st["flagged_in_a_row"] = st.get("flagged_in_a_row", 0) + 1 if d["degenerate"] else 0
        if self.cfg.stop_on_degenerate and st["flagged_in_a_row"] >= 2:
            st["stopped_degenerate"] = True
        return {"degenerate": d["degenerate"], "rank_corr": d["rank_corr"], "safety_recall": d["safety_recall"],
                "reasons": d["reasons"]}


def _finish(model, st: dict, epoch: int, cfg: TrainConfig, out, t0: float, n_train: int, n_val: int) -> dict:
    """Load the best state (the last under the original protocol), write the summary into the
    checkpoint, return the result."""
    if st["best_state"] is not None and not cfg.original_protocol:
        model.load_state_dict(st["best_state"])
    model.eval()
    checks = [r["detector"] for r in st["history"] if "detector" in r]
    summary = {"epochs_run": len(st["history"]), "last_epoch": epoch, "best_val_mse": st["best"],
               "stopped_early": st["bad"] >= cfg.patience and not cfg.original_protocol,
               "stopped_degenerate": bool(st.get("stopped_degenerate")),
               "flagged_checks": sum(c["degenerate"] for c in checks), "detector_checks": len(checks),
               "weights": "last" if cfg.original_protocol else "best",
               "train_seconds": round(time.perf_counter() - t0, 2), "n_train": n_train, "n_val": n_val}
    if out:
        ck = load_checkpoint(out) if os.path.exists(out) else None
        if ck is not None:
            ck["done"] = True
            ck["summary"] = summary
            _save(out, ck)
    return {"model": model, "summary": summary, "history": st["history"]}


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
