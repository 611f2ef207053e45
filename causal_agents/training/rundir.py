"""Run directories of `cag train`: checkpoints, the metrics log, the final model, the markers.

One directory per mode (``OUT/<mode>/`` when several modes train): ``metrics.jsonl`` and
``checkpoints/step-N.pt`` while running; at the end the model (or adapter) and tokenizer as
``save_pretrained`` writes them, ``cag_config.json`` and, written last, ``cag_run.json``. A
directory without ``cag_run.json`` is not a finished run.
"""

from __future__ import annotations

import glob
import os
import shutil

import orjson

RUN_MARKER = "cag_run.json"
CONFIG_FILE = "cag_config.json"
METRICS_FILE = "metrics.jsonl"


def run_dir_for(out: str, mode: str, modes) -> str:
    """The run directory of ``mode``: ``out`` itself for a single mode, else ``out/<mode>``."""
    return out if len(modes) == 1 else os.path.join(out, mode)


def is_complete(run_dir: str) -> bool:
    """A run is finished once its completion marker exists (it is written last)."""
    return os.path.exists(os.path.join(run_dir, RUN_MARKER))


def has_run(run_dir: str) -> bool:
    """Whether ``run_dir`` holds anything of a cag run, finished or interrupted."""
    return any(os.path.exists(os.path.join(run_dir, n)) for n in (RUN_MARKER, CONFIG_FILE, METRICS_FILE,
                                                                    "checkpoints", ".final.tmp"))


def has_progress(run_dir: str) -> bool:
    """An unfinished run with something to resume from (a checkpoint or logged steps)."""
    return bool(latest_checkpoint(os.path.join(run_dir, "checkpoints"))) or (
        os.path.exists(os.path.join(run_dir, METRICS_FILE))
        and os.path.getsize(os.path.join(run_dir, METRICS_FILE)) > 0)


def clear_run_dir(run_dir: str) -> None:
    """Remove everything of a previous run from ``run_dir`` (model, adapter, tokenizer, base,
    markers, metrics, checkpoints), so nothing old is ever read beside the new run. Only a
    directory that holds a cag run is emptied; the lock file stays."""
    from causal_agents.formats.runlock import LOCK_NAME

    if not os.path.isdir(run_dir) or not has_run(run_dir):
        return
    for name in os.listdir(run_dir):
        if name == LOCK_NAME:
            continue
        p = os.path.join(run_dir, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


class MetricsWriter:
    """Appends one JSON object per optimizer step to ``metrics.jsonl`` (rank 0 only).

    Flushed every ``flush_every`` steps and before every checkpoint, so a resumed run's log
    reaches at least as far as its checkpoint."""

    def __init__(self, path: str | None, flush_every: int = 20):
        self._f = open(path, "ab") if path is not None else None
        self._n = 0
        self._flush_every = flush_every

    def write(self, row: dict) -> None:
        """Append one step's metrics."""
        if self._f is None:
            return
        self._f.write(orjson.dumps(row) + b"\n")
        self._n += 1
        if self._n % self._flush_every == 0:
            self._f.flush()

    def flush(self) -> None:
        """Push buffered lines to the file (before a checkpoint)."""
        if self._f is not None:
            self._f.flush()

    def close(self) -> None:
        """Flush and close the log."""
        if self._f is not None:
            self._f.close()


def truncate_metrics(path: str, keep_steps: int) -> None:
    """On resume, drop metric lines past the checkpoint so the log matches an uninterrupted run."""
    if not os.path.exists(path):
        return
    from causal_agents.formats.io import atomic_path

    with open(path, "rb") as f:
        lines = [ln for ln in f if _step_of(ln) is not None and _step_of(ln) <= keep_steps]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.writelines(lines)


def _step_of(line: bytes) -> int | None:
    """The step of one metrics line, or None for a blank or torn one (a kill mid-write
    leaves half a line: it is dropped, never a reason to refuse --resume)."""
    if not line.strip() or not line.endswith(b"\n"):
        return None
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) else None


def latest_checkpoint(ckpt_dir: str) -> str | None:
    """The newest ``step-N.pt`` in ``ckpt_dir``, or None."""
    files = sorted(glob.glob(os.path.join(ckpt_dir, "step-*.pt")))
    return files[-1] if files else None


def unwrap(model):
    """The model inside a DDP wrapper (or the model itself)."""
    return getattr(model, "module", model)


def save_checkpoint(ckpt_dir: str, step: int, skipped: int, model, opt, sched, fp: str) -> str:
    """Write the resumable state atomically and keep only the newest checkpoint."""
    from causal_agents.formats.checkpoint import save_checkpoint_file

    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, f"step-{step:08d}.pt")
    save_checkpoint_file(path, {"model": unwrap(model).state_dict(), "optimizer": opt.state_dict(),
                                "scheduler": sched.state_dict(), "step": step, "skipped": skipped,
                                "fingerprint": fp})
    for old in glob.glob(os.path.join(ckpt_dir, "step-*.pt")):  # keep only the newest
        if old != path:
            os.unlink(old)
    return path


def save_final(model, tokenizer, cfg, run_dir: str, summary: dict) -> None:
    """Model/adapter + tokenizer + resolved config, then the completion marker, last."""
    from causal_agents.formats.io import write_json_atomic
    from causal_agents.lm.loader import quiet_transformers
    from causal_agents.lm.tiny_model import is_tiny

    model = unwrap(model)
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
    write_json_atomic(os.path.join(run_dir, RUN_MARKER), summary)
    # only now: a kill before the marker must leave the checkpoints to resume from
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
