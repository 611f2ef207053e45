"""Experiment trackers for cag's own loop (``--report-to tensorboard|wandb``), beside
metrics.jsonl, which stays the record: a tracker that is not installed is an error at the
start of the run, never a silent no-op halfway through it."""

from __future__ import annotations

import os

from causal_agents.errors import CagError

SCALARS = ("loss", "lr", "supervised_tokens", "supervised_weight", "tokens", "tokens_per_s")


class Reporters:
    """Sends every metrics row's scalars to the chosen trackers (rank 0 only)."""

    def __init__(self, names, run_dir: str, mode: str, config: dict):
        self._writers = []
        for name in names:
            if name == "tensorboard":
                self._writers.append(_tensorboard(run_dir))
            elif name == "wandb":
                self._writers.append(_wandb(run_dir, mode, config))
            else:
                raise CagError(f"unknown --report-to {name!r} (expected tensorboard, wandb or none)")

    def log(self, row: dict) -> None:
        for w in self._writers:
            w.log({k: row[k] for k in SCALARS if k in row}, row["step"])

    def close(self) -> None:
        for w in self._writers:
            w.close()


class _TB:
    def __init__(self, writer):
        self.w = writer

    def log(self, scalars: dict, step: int) -> None:
        for k, v in scalars.items():
            self.w.add_scalar(f"train/{k}", v, step)

    def close(self) -> None:
        self.w.close()


def _tensorboard(run_dir: str) -> _TB:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise CagError("--report-to tensorboard needs the tensorboard package: pip install 'cag[tensorboard]'") from e
    return _TB(SummaryWriter(log_dir=os.path.join(run_dir, "tensorboard")))


class _WB:
    def __init__(self, run):
        self.run = run

    def log(self, scalars: dict, step: int) -> None:
        self.run.log({f"train/{k}": v for k, v in scalars.items()}, step=step)

    def close(self) -> None:
        self.run.finish()


def _wandb(run_dir: str, mode: str, config: dict) -> _WB:
    try:
        import wandb
    except ImportError as e:
        raise CagError("--report-to wandb needs the wandb package: pip install 'cag[wandb]'") from e
    # WANDB_MODE=offline (or a missing login) keeps the run on disk under RUN_DIR/wandb
    return _WB(wandb.init(dir=run_dir, name=f"{os.path.basename(os.path.abspath(run_dir))}-{mode}", config=config,
                          reinit="finish_previous"))


class ReportingMetrics:
    """A MetricsWriter that also sends each row to the trackers of ``cfg.report_to``."""

    def __init__(self, metrics, reporters: Reporters):
        self._m, self._r = metrics, reporters

    def write(self, row: dict) -> None:
        self._m.write(row)
        self._r.log(row)

    def flush(self) -> None:
        self._m.flush()

    def close(self) -> None:
        self._m.close()
        self._r.close()


def with_reporters(metrics, cfg, run_dir: str, mode: str, rank: int):
    """``metrics`` itself without trackers (or off rank 0), else a ReportingMetrics."""
    if not cfg.report_to or rank != 0:
        return metrics
    return ReportingMetrics(metrics, Reporters(cfg.report_to, run_dir, mode, cfg.as_dict()))
