"""Library entry points the CLI and the bench share: configs, load + plan, load + evaluate."""

from __future__ import annotations

from causal_agents.errors import InputError
from causal_agents.scm.models import ModelConfig
from causal_agents.scm.simulator import SCM

CALIBRATION_SEED_OFFSET = 50_021  # detector episodes never coincide with scored episodes


def model_config(model: str, k: int, *, dag: str = "notears", l1: float = 0.1, hinge: bool = True,
                 do_operator: bool = True, cf_weight: float | None = None,
                 dag_warmup: int = 50, structure_on: str = "weights",
                 logit_init: float = 1.0) -> ModelConfig:
    """Baselines train on factual transitions only (cf_weight 0), as in the original;
    AC-LSCM adds the supervised counterfactual term (cf_weight 1)."""
    if cf_weight is None:
        cf_weight = 1.0 if model == "aclscm" else 0.0
    return ModelConfig(model=model, k=k, dag=dag, l1_weight=l1, hinge=hinge and model == "aclscm",
                       do_operator=do_operator, cf_weight=cf_weight, dag_warmup=dag_warmup,
                       structure_on=structure_on, logit_init=logit_init)


def load(model_path: str, data: str | None = None):
    """Model and the true SCM: from the checkpoint, or from --data (which must match K)."""
    from causal_agents.scm.train import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(model_path)
    try:
        model, scm = model_from_checkpoint(ck)
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


def plan_with(model, scm: SCM, spec, seed: int = 0, detector_threshold: float = 0.5,
              detector_safety_recall: float = 0.9) -> dict:
    from causal_agents.scm.plan import degenerate_check, run_plan
    from causal_agents.scm.tasks import build_episodes

    calib = build_episodes(scm, spec, seed + CALIBRATION_SEED_OFFSET)
    det = degenerate_check(model, scm, calib, detector_threshold, detector_safety_recall)
    ep = build_episodes(scm, spec, seed)
    r = run_plan(model, scm, ep)
    return {"task": spec.to_dict(), "goal_factor": ep.goal_factor, "safe_factor": ep.safe_factor,
            "goal_thr": ep.goal_thr, "safe_thr": ep.safe_thr, "horizon": ep.horizon,
            "detector": det, "true": r["true"], "label": r["label"], "picks": r["picks"]}


def plan_task(model_path: str, spec, seed: int = 0, detector_threshold: float = 0.5,
              data: str | None = None, detector_safety_recall: float = 0.9) -> dict:
    model, scm = load(model_path, data)
    return plan_with(model, scm, spec, seed, detector_threshold, detector_safety_recall)


def evaluate_with(model, scm: SCM, n: int = 2000, seed: int = 0, rel_threshold: float = 0.3) -> dict:
    from causal_agents.scm.evaluate import learned_graph, prediction_metrics

    return {"prediction": prediction_metrics(model, scm, n=n, seed=seed),
            "graph": learned_graph(model, scm, rel_threshold)}


def evaluate_model(model_path: str, n: int = 2000, seed: int = 0, rel_threshold: float = 0.3,
                   data: str | None = None) -> dict:
    model, scm = load(model_path, data)
    return evaluate_with(model, scm, n, seed, rel_threshold)
