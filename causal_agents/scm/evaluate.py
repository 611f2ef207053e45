"""Prediction metrics on fresh data from the true SCM, and the learned graph against the truth."""

from __future__ import annotations

import numpy as np
import torch

from causal_agents.errors import InputError
from causal_agents.scm.config import EvalConfig
from causal_agents.scm.graphs import is_dag, structure_metrics, threshold_and_repair
from causal_agents.scm.simulator import ACTION_RANGE, SCM, random_actions, simulate
from causal_agents.scm.train import to_tensors

EVAL_SEED_OFFSET = 1_000_003  # test trajectories use seeds no training run uses


@torch.no_grad()
def prediction_metrics(model, scm: SCM, n: int = EvalConfig.n, seed: int = 0) -> dict:
    """Transition, counterfactual, intervention and abduction errors on a fresh trajectory.

    - mse: next observation under the logged (random) actions
    - cf_mse: counterfactual next observation (other action, same noise) vs the truth
    - intervention_mse: every sample intervened (do on a random factor, value U(-1.5, 1.5)),
      predicted next observation vs the true one
    - abduction_mse: recovered noise vs the true structural noise, on factors the factual
      action did not set (their noise is observable); includes observation noise by nature
    """
    model.eval()
    d = simulate(scm, n, seed=seed + EVAL_SEED_OFFSET)
    t = to_tensors(d)
    pred = model.predict(t["x_t"], t["a_idx"], t["a_val"])[:, 0]
    mse = float(torch.mean((pred - t["x_next"]) ** 2))
    cf, eps_hat = model.counterfactual(t["x_t"], t["x_next"], t["a_idx"], t["a_val"],
                                       t["cf_idx"], t["cf_val"])
    cf_mse = float(torch.mean((cf - t["x_cf"]) ** 2))
    free = (1 - t["m"]).numpy().astype(bool)
    abd = float(np.mean((eps_hat.numpy() - d["eps"])[free] ** 2))
    rng = np.random.default_rng(seed + EVAL_SEED_OFFSET + 1)
    idx, val = random_actions(rng, n, scm.k, p_act=1.0)
    z_do = scm.step(d["z_t"], d["eps"], idx, val)
    x_do = z_do + d["obs_noise_next"]
    p_do = model.predict(t["x_t"], torch.as_tensor(idx), torch.as_tensor(val, dtype=torch.float32))[:, 0]
    int_mse = float(np.mean((p_do.numpy() - x_do) ** 2))
    # the noise floor: what an oracle with the true f but noisy x_t could not remove
    floor = float(np.mean(d["obs_noise_next"] ** 2) + scm.noise ** 2)
    return {"mse": mse, "cf_mse": cf_mse, "intervention_mse": int_mse, "abduction_mse": abd,
            "noise_floor_mse": floor, "n_test": n}


@torch.no_grad()
def learned_graph(model, scm: SCM, rel_threshold: float = EvalConfig.rel_threshold) -> dict | None:
    """Threshold the learned edge strengths at rel_threshold * max, repair cycles, compare."""
    if not hasattr(model, "edge_strength"):
        return None
    e = model.edge_strength().numpy().astype(np.float64)
    mx = float(e.max())
    g, dropped = threshold_and_repair(e, rel_threshold * mx if mx > 0 else 1.0)
    m = structure_metrics(g, scm.adj)
    mask = model.adjacency(sample=False).numpy()
    m.update({"rel_threshold": rel_threshold, "was_dag_before_repair": len(dropped) == 0,
              "dropped_for_cycles": dropped, "is_dag": is_dag(g), "edges": np.argwhere(g > 0).tolist(),
              "mask_edges_above_0.5": int((mask > 0.5).sum()),
              "note": ("the learned graph is EMPTY: no edge survives the threshold" if m["empty"] else "")})
    return m


PROBE_SEED_OFFSET = 90_017  # probe states come from their own trajectory


@torch.no_grad()
def probe_actions(model, scm: SCM, factor: int | None = None, values=None, n: int = 500, seed: int = 0) -> dict:
    """The extrapolation probe: the model's predicted next value of the acted factor under
    do(x_factor = v), averaged over ``n`` fresh states, for each v. The truth is v exactly (a hard
    do); training actions lie in U(-ACTION_RANGE, ACTION_RANGE), so values beyond it test
    extrapolation. ``factor`` defaults to the paper task's safety factor (0)."""
    from causal_agents.scm.config import PROBE_VALUES

    f = 0 if factor is None else factor
    if not 0 <= f < scm.k:
        raise InputError(f"probe factor {f} is out of range for K={scm.k}", field="probe_factor")
    vals = list(PROBE_VALUES if values is None else values)
    model.eval()
    x = torch.as_tensor(simulate(scm, n, seed=seed + PROBE_SEED_OFFSET)["x_t"], dtype=torch.float32)
    rows = []
    for v in vals:
        pred = model.predict(x, torch.full((n,), f, dtype=torch.long), torch.full((n,), float(v)))[:, 0, f]
        rows.append({"value": float(v), "predicted": float(pred.mean()), "predicted_std": float(pred.std()),
                     "in_training_range": abs(v) <= ACTION_RANGE})
    return {"factor": f, "n_states": n, "training_range": [-ACTION_RANGE, ACTION_RANGE], "rows": rows}


def lagged_regression_graph(data: dict, scm: SCM, rel_threshold: float = EvalConfig.rel_threshold) -> dict:
    """The structure-learning anchor: per factor i, least squares of x[t+1, i] on x[t] (all K
    factors and a constant) over the samples whose action did not set i (do severs i's
    parents); edge j -> i where |coef| >= rel_threshold * the largest off-diagonal |coef|.
    SHD, TPR and FDR against the true graph, as for the learned models."""
    x, xn, a = np.asarray(data["x_t"]), np.asarray(data["x_next"]), np.asarray(data["a_idx"])
    k = scm.k
    coef = np.zeros((k, k))                                  # coef[j, i]: j -> i
    design = np.hstack([x, np.ones((len(x), 1))])
    for i in range(k):
        keep = a != i
        sol, *_ = np.linalg.lstsq(design[keep], xn[keep, i], rcond=None)
        coef[:, i] = sol[:k]
    e = np.abs(coef) * (1 - np.eye(k))
    mx = float(e.max())
    g = (e >= rel_threshold * mx).astype(float) if mx > 0 else np.zeros((k, k))
    m = structure_metrics(g, scm.adj)
    m.update({"rel_threshold": rel_threshold, "is_dag": is_dag(g), "n_samples": len(x)})
    return m
