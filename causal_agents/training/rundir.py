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
BATCH_LOG = "batches.jsonl"  # --engine trl: the example indices of every micro-batch, in training order


def run_dir_for(out: str, mode: str, modes) -> str:
    """The run directory of ``mode``: ``out`` itself for a single mode, else ``out/<mode>``."""
    return out if len(modes) == 1 else os.path.join(out, mode)


def is_complete(run_dir: str) -> bool:
    """A run is finished once its completion marker exists (it is written last)."""
    return os.path.exists(os.path.join(run_dir, RUN_MARKER))


COMMAND = "cag train"  # the writer named in a run directory's manifest (formats.outputs)


def run_entries(world: int = 1) -> list[str]:
    """What a run writes into its directory before the final model (listed in the manifest
    before they exist, so a kill at any point leaves them provably cag's)."""
    return [METRICS_FILE, "checkpoints", ".final.tmp", CONFIG_FILE, RUN_MARKER, "tensorboard", "wandb",
            BATCH_LOG, *(f"batches-rank{r}.jsonl" for r in range(world) if world > 1)]


def has_run(run_dir: str) -> bool:
    """Whether ``run_dir`` holds anything of a cag run, finished or interrupted (an empty
    metrics.jsonl included: a run killed before its first step)."""
    from causal_agents.formats.outputs import read_manifest

    if not os.path.isdir(run_dir):
        return False
    listed = (read_manifest(run_dir) or {}).get("entries", [])
    return any(os.path.lexists(os.path.join(run_dir, n))
               for n in (RUN_MARKER, CONFIG_FILE, METRICS_FILE, "checkpoints", ".final.tmp", *listed))


def check_run_dir(run_dir: str, resume: bool, overwrite: bool) -> None:
    """What stops a run before any work (CagError, nothing deleted): a finished run without
    --resume or --overwrite; an interrupted one (anything of a run, even an empty metrics.jsonl)
    without either; and, where the directory is to be emptied or started in, anything in it
    that cag train did not write (its manifest lists what it wrote)."""
    from causal_agents.errors import CagError
    from causal_agents.formats.outputs import require_own

    if is_complete(run_dir) and not overwrite:
        if resume:
            return
        raise CagError(f"{run_dir} already holds a finished run; use --resume to keep it, "
                       "--overwrite to replace it, or another --out")
    if not overwrite and not resume and has_run(run_dir):
        raise CagError(f"{run_dir} holds an interrupted run; use --resume to continue it or "
                       "--overwrite to start over (nothing was deleted)")
    if (overwrite or not resume) and os.path.lexists(run_dir):
        require_own(run_dir, COMMAND, hint="use another --out")


def clear_run_dir(run_dir: str) -> None:
    """Remove everything of a previous run from ``run_dir`` (model, adapter, tokenizer, base,
    markers, metrics, checkpoints), so nothing old is ever read beside the new run. Only what
    the run directory's manifest lists is deleted: anything else there (a file the user put
    in, a run without a manifest) stops it first with one line naming it, nothing deleted."""
    from causal_agents.formats.outputs import remove_owned

    remove_owned(run_dir, COMMAND, hint="use another --out")


def claim_run_dir(run_dir: str, world: int = 1, adopt: bool = False) -> None:
    """List what the run will write in ``run_dir``'s manifest before writing it; ``adopt``
    (--resume): an unlisted metrics log, batch log or checkpoint folder there is the run being
    continued; any other unlisted name in the way stops it."""
    from causal_agents.formats.outputs import claim

    names = run_entries(world)
    progress = [n for n in names if n in (METRICS_FILE, "checkpoints") or n.startswith("batches")]
    claim(run_dir, names, COMMAND, adopt=progress if adopt else ())


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
    from causal_agents.formats.outputs import claim

    claim(run_dir, os.listdir(tmp), COMMAND)  # listed before they land; a name in the way stops it
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
