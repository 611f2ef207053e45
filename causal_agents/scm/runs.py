"""Library entry points the CLI and the bench share: configs, load + plan, load + evaluate."""

from __future__ import annotations

from causal_agents.errors import InputError
from causal_agents.scm.config import DetectorConfig, EvalConfig, model_config
from causal_agents.scm.simulator import SCM

__all__ = ["evaluate_model", "evaluate_with", "load", "model_config", "plan_task", "plan_with"]
_DET, _EV = DetectorConfig(), EvalConfig()

CALIBRATION_SEED_OFFSET = 50_021  # detector episodes never coincide with scored episodes


def load(model_path: str, data: str | None = None):
    """(model in eval mode, true SCM) from a `cag scm train` checkpoint; the SCM is the one the
    checkpoint was trained on, or ``data``'s (a `cag scm data` file, same K). Raises InputError."""
    from causal_agents.scm.train import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(model_path)
    try:
        model, scm = model_from_checkpoint(ck)
    except InputError as e:  # the SCM it carries (SCM.from_dict)
        raise e.at(model_path) from None
    except (RuntimeError, KeyError, TypeError) as e:
        raise InputError(f"checkpoint does not match its model configuration ({str(e)[:120]})",
                         file=model_path) from e
    if data is not None:
        from causal_agents.scm.simulator import read_parquet

        _, scm2, _ = read_parquet(data)
        if scm2.k != scm.k:
            raise InputError(f"model was trained with K={scm.k} but the data has K={scm2.k}",
                             file=model_path, field="k")
        scm = scm2
    return model, scm


def plan_with(model, scm: SCM, spec, seed: int = 0, detector_threshold: float = _DET.rank_threshold,
              detector_safety_recall: float = _DET.safety_recall) -> dict:
    """Run the degenerate-seed detector on calibration episodes (their own seed), then plan the
    task's episodes. Returns the task, its factors and thresholds, the detector's verdict, both
    scorings (``true``: outcome under the simulator; ``label``: the original's labels) and picks."""
    from causal_agents.scm.plan import degenerate_check, run_plan
    from causal_agents.scm.tasks import build_episodes

    calib = build_episodes(scm, spec, seed + CALIBRATION_SEED_OFFSET)
    det = degenerate_check(model, scm, calib, detector_threshold, detector_safety_recall)
    ep = build_episodes(scm, spec, seed)
    r = run_plan(model, scm, ep)
    return {"task": spec.to_dict(), "goal_factor": ep.goal_factor, "safe_factor": ep.safe_factor,
            "goal_thr": ep.goal_thr, "safe_thr": ep.safe_thr, "horizon": ep.horizon,
            "detector": det, "true": r["true"], "label": r["label"], "picks": r["picks"]}


def plan_task(model_path: str, spec, seed: int = 0, detector_threshold: float = _DET.rank_threshold,
              data: str | None = None, detector_safety_recall: float = _DET.safety_recall) -> dict:
    """``plan_with`` on a checkpoint (see ``load``)."""
    model, scm = load(model_path, data)
    return plan_with(model, scm, spec, seed, detector_threshold, detector_safety_recall)


def evaluate_with(model, scm: SCM, n: int = _EV.n, seed: int = 0, rel_threshold: float = _EV.rel_threshold,
                  probe_factor: int | None = None) -> dict:
    """Prediction errors on a fresh trajectory of ``n`` transitions and the learned graph against
    the truth (None for a model without one): ``{"prediction": ..., "graph": ...}``; with
    ``probe_factor``, also ``"probe"``: the extrapolation probe on that factor."""
    from causal_agents.scm.evaluate import learned_graph, prediction_metrics, probe_actions

    out = {"prediction": require_finite(prediction_metrics(model, scm, n=n, seed=seed), "prediction"),
           "graph": learned_graph(model, scm, rel_threshold)}
    if probe_factor is not None:
        out["probe"] = probe_actions(model, scm, factor=probe_factor, seed=seed)
    return out


def require_finite(metrics: dict, what: str) -> dict:
    """``metrics`` unchanged if every number in it is finite; a NaN or infinite metric (which
    JSON would print as null) is a CagError naming it, never a result."""
    import math

    from causal_agents.errors import CagError

    for key, v in metrics.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise CagError(f"{what} metric '{key}' is {v} (not a finite number): the model's predictions or "
                           "the simulator diverged; no result was written")
    return metrics


def evaluate_model(model_path: str, n: int = _EV.n, seed: int = 0, rel_threshold: float = _EV.rel_threshold,
                   data: str | None = None, probe_factor: int | None = None) -> dict:
    """``evaluate_with`` on a checkpoint (see ``load``)."""
    model, scm = load(model_path, data)
    return evaluate_with(model, scm, n, seed, rel_threshold, probe_factor)
