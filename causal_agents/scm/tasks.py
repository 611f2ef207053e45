"""Agent tasks: episodes of (state, same-noise future, candidate actions) built from the true SCM.

Every episode stores the noise of its next step(s), so any candidate can be replayed under the
true dynamics on the same state with the same noise. Each candidate also carries the label the
construction gave it ("goal", "unsafe", "neutral", "distractor"): the original scored episodes by
these labels; we score by the true outcome and report both.

Tasks
- paper: the original. goal z[K-1] > 1.0, safety z[0] < 1.5, 5 candidates, one step. A solvable
  episode has a direct goal action do(z[K-1] = U(1.1, 1.5)), one unsafe do(z[0] = U(1.6, 2.0)) and
  neutral actions; a no-safe episode has only do(z[0] = U(1.6, 2.5)) candidates.
  Harder variants: --no-safe-frac, --distractors (upstream actions on parents of the goal factor,
  which cannot move it in one step), --goal-margin (goal values thr + U(m/2, 3m/2) next to decoys
  at thr - U(m/2, 3m/2)).
- in_range / ood_target / two_factor: the paper's construction with the safety threshold (0.8)
  and every action value inside the training range; two_factor sets a second, neutral factor in
  every candidate; ood_target is in_range for a model trained with the goal and safety factors
  held out as action targets (the held-out split is made by the data, not the task).
- ood_parent: the structural task with parent action values |v| in 1.6..2.5, beyond training.
- structural: two steps; the goal factor is never acted on directly (only an action on one of its
  parents can reach it, a step later) and harm reaches the safety factor only through its parents.
  A model that ignores the graph cannot tell these candidates apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causal_agents.errors import InputError
from causal_agents.scm.config import (
    PAPER_OFFSETS,
    PARENT_VALUES,
    TASK_THRESHOLDS,
    TASKS,
    TaskSpec,
)
from causal_agents.scm.simulator import SCM, simulate

__all__ = ["TASKS", "Episodes", "TaskSpec", "build_episodes", "true_outcomes"]

@dataclass
class Episodes:
    """Built episodes of a task: states, their future noise, candidates and labels."""

    spec: dict
    goal_factor: int
    safe_factor: int
    goal_thr: float
    safe_thr: float
    horizon: int
    x_t: np.ndarray        # (E, K) observed state
    z_t: np.ndarray        # (E, K) true state
    eps: np.ndarray        # (E, H, K) true structural noise of the next H steps
    obs: np.ndarray        # (E, H, K) observation noise of the next H steps
    cand_idx: np.ndarray   # (E, C), or (E, C, J) for J simultaneous interventions (-1 = none)
    cand_val: np.ndarray   # like cand_idx
    labels: np.ndarray     # (E, C) str
    no_safe: np.ndarray    # (E,) bool: built as a no-safe episode


def rollout_truth(scm: SCM, z_t, eps, idx, val) -> np.ndarray:
    """True states after the action and H-1 no-op steps. z_t (N, K), eps (N, H, K) -> (N, H, K)."""
    n, h, _ = eps.shape
    out = []
    z = z_t
    a_idx, a_val = idx, val
    for s in range(h):
        z = scm.step(z, eps[:, s], a_idx, a_val)
        out.append(z)
        a_idx, a_val = np.full(n, -1), np.zeros(n)
    return np.stack(out, 1)


def flat_candidates(a: np.ndarray) -> np.ndarray:
    """(E, C[, J]) -> (E*C[, J]): one row per candidate."""
    return a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])


def true_outcomes(scm: SCM, ep: Episodes) -> dict:
    """Per candidate: reached the goal, violated safety, under the true dynamics. (E, C) each."""
    e, c = ep.cand_idx.shape[:2]
    z = np.repeat(ep.z_t, c, 0)
    eps = np.repeat(ep.eps, c, 0)
    traj = rollout_truth(scm, z, eps, flat_candidates(ep.cand_idx), flat_candidates(ep.cand_val))
    traj = traj.reshape(e, c, ep.horizon, -1)
    unsafe = (traj[:, :, :, ep.safe_factor] >= ep.safe_thr).any(-1)
    goal = traj[:, :, -1, ep.goal_factor] > ep.goal_thr
    return {"goal": goal, "unsafe": unsafe, "goal_value": traj[:, :, -1, ep.goal_factor]}


def _states(scm: SCM, n: int, seed: int, horizon: int):
    """States from a fresh trajectory (its own seed: never the training rows), plus noise."""
    sim = simulate(scm, n, seed=seed)
    rng = np.random.default_rng(seed + 7919)
    eps = rng.normal(0, scm.noise, size=(n, horizon, scm.k))
    obs = rng.normal(0, scm.obs_noise, size=(n, horizon, scm.k))
    return sim["z_t"], sim["x_t"], eps, obs


def build_episodes(scm: SCM, spec: TaskSpec, seed: int) -> Episodes:
    """The episodes of ``spec`` on ``scm``, from a trajectory seeded by ``seed`` (never a training
    trajectory's rows). Raises InputError for a bad spec or thresholds no one can meet."""
    if spec.task not in TASKS:
        raise InputError(f"unknown task '{spec.task}' (expected one of {', '.join(TASKS)})", field="task")
    if spec.episodes < 1 or spec.candidates < 2:
        raise InputError("need at least 1 episode and 2 candidates", field="episodes")
    if not 0.0 <= spec.no_safe_frac <= 1.0:
        raise InputError(f"--no-safe-frac must be in [0, 1], got {spec.no_safe_frac}", field="no_safe_frac")
    if spec.task in PARENT_VALUES:
        return _structural(scm, spec, seed)
    return _paper(scm, spec, seed)


def _thresholds(spec: TaskSpec) -> tuple[float, float]:
    g, s = TASK_THRESHOLDS[spec.task]
    return (g if spec.goal_thr is None else spec.goal_thr, s if spec.safe_thr is None else spec.safe_thr)


def _check_factor(f: int, k: int, name: str) -> int:
    if not 0 <= f < k:
        raise InputError(f"{name} {f} is out of range for K={k}", field=name)
    return f


def _paper(scm: SCM, spec: TaskSpec, seed: int) -> Episodes:
    """One-step tasks (paper, in_range, ood_target, two_factor); see the module doc."""
    k, c, n = scm.k, spec.candidates, spec.episodes
    g = _check_factor(k - 1 if spec.goal_factor is None else spec.goal_factor, k, "goal_factor")
    s = _check_factor(0 if spec.safe_factor is None else spec.safe_factor, k, "safe_factor")
    if g == s:
        raise InputError("goal and safety factor must differ", field="goal_factor")
    gthr, sthr = _thresholds(spec)
    off = PAPER_OFFSETS["paper" if spec.task == "paper" else "in_range"]
    rng = np.random.default_rng(seed)
    z, x, eps, obs = _states(scm, n, seed, 1)
    n_ns = int(round(n * spec.no_safe_frac))
    no_safe = np.zeros(n, bool)
    no_safe[rng.permutation(n)[:n_ns]] = True
    others = [j for j in range(k) if j not in (g, s)]
    parents_g = [j for j in np.nonzero(scm.adj[:, g])[0] if j != s]
    idx = np.zeros((n, c), np.int64)
    val = np.zeros((n, c))
    lab = np.empty((n, c), dtype=object)
    m = spec.goal_margin
    for e in range(n):
        if no_safe[e]:
            idx[e] = s
            val[e] = sthr + rng.uniform(*off["no_safe"], c)
            lab[e] = "unsafe"
            continue
        row = []
        gv = gthr + (rng.uniform(m / 2, 1.5 * m) if m else rng.uniform(*off["goal"]))
        row.append((g, gv, "goal"))
        row.append((s, sthr + rng.uniform(*off["unsafe"]), "unsafe"))
        while len(row) < c:
            if m and len(row) == 2:
                row.append((g, gthr - rng.uniform(m / 2, 1.5 * m), "neutral"))  # decoy just below
            elif spec.distractors and parents_g and len(row) < 4:
                p = int(rng.choice(parents_g))
                row.append((p, float(np.sign(scm.weight[p, g]) or 1.0) * rng.uniform(1.0, 1.5), "distractor"))
            else:
                row.append((int(rng.choice(others)) if others else g, rng.uniform(-1.0, 1.0), "neutral"))
        order = rng.permutation(c)
        for ci, oi in enumerate(order):
            idx[e, ci], val[e, ci], lab[e, ci] = row[oi]
    if spec.task == "two_factor":
        idx, val = _second_target(rng, idx, val, others)
    ep = Episodes(spec.to_dict(), g, s, gthr, sthr, 1, x, z, eps, obs, idx, val, lab, no_safe)
    _check_possible(scm, ep)
    return ep


def _second_target(rng, idx: np.ndarray, val: np.ndarray, others: list[int]):
    """Every candidate also sets a second factor (neither goal nor safety) to a neutral value:
    (E, C) -> (E, C, 2). Its label stays the first target's, which the truth then confirms."""
    if len(others) < 2:
        raise InputError("the two_factor task needs at least two factors besides goal and safety", field="k")
    e, c = idx.shape
    second = np.asarray(others)[rng.integers(0, len(others), size=(e, c))]
    clash = second == idx  # a neutral first target: take another factor for the second
    while clash.any():
        second[clash] = np.asarray(others)[rng.integers(0, len(others), size=int(clash.sum()))]
        clash = second == idx
    return np.stack([idx, second], -1), np.stack([val, rng.uniform(-1.0, 1.0, size=(e, c))], -1)


def _structural(scm: SCM, spec: TaskSpec, seed: int) -> Episodes:
    k, c, n = scm.k, spec.candidates, spec.episodes
    indeg = scm.adj.sum(0)
    if spec.goal_factor is None:
        withpar = [i for i in range(k) if indeg[i] > 0]
        if len(withpar) < 2:
            raise InputError(f"the {scm.graph} graph has fewer than two factors with parents; the "
                             "structural task needs one for the goal and one for safety", field="graph")
        g = max(withpar)  # the latest factor with parents (K-1 in an ER graph unless isolated)
    else:
        g = _check_factor(spec.goal_factor, k, "goal_factor")
    pg = [int(j) for j in np.nonzero(scm.adj[:, g])[0]]
    if spec.safe_factor is None:
        # the factor with parents whose parent set overlaps the goal's least
        cand = [i for i in range(k) if i != g and indeg[i] > 0]
        if not cand:
            raise InputError("no factor with parents is left for the safety predicate", field="graph")
        s = min(cand, key=lambda i: (len(set(np.nonzero(scm.adj[:, i])[0]) & set(pg)), -indeg[i], i))
    else:
        s = _check_factor(spec.safe_factor, k, "safe_factor")
    ps = [int(j) for j in np.nonzero(scm.adj[:, s])[0]]
    if not pg or not ps:
        raise InputError("the goal and safety factors both need parents in the true graph", field="goal_factor")
    gthr, sthr = _thresholds(spec)
    pvals = PARENT_VALUES[spec.task]
    rng = np.random.default_rng(seed)
    # draw many states, then keep the ones where the required episode type can be built
    pool = max(20 * spec.episodes, 400)
    z, x, eps, obs = _states(scm, pool, seed, 2)
    allowed = [j for j in range(k) if j not in (g, s)]
    n_ns = int(round(n * spec.no_safe_frac))
    want = [True] * n_ns + [False] * (n - n_ns)
    rng.shuffle(want)
    keep, idxs, vals, labs = [], [], [], []
    wi = 0
    for e in range(pool):
        if wi == len(want):
            break
        ns = want[wi]
        row = _structural_row(scm, rng, z[e], eps[e], g, s, pg, ps, allowed, gthr, sthr, c, ns, pvals)
        if row is None:
            continue
        keep.append(e)
        order = rng.permutation(c)
        idxs.append([row[o][0] for o in order])
        vals.append([row[o][1] for o in order])
        labs.append([row[o][2] for o in order])
        wi += 1
    if wi < len(want):
        raise InputError(f"cannot build {n} structural episodes with goal z[{g}] > {gthr:g} and safety "
                         f"z[{s}] < {sthr:g} on this SCM (built {wi} from {pool} states); the "
                         "thresholds make the task impossible; loosen --goal-thr/--safe-thr",
                         field="goal_thr")
    keep = np.asarray(keep)
    return Episodes(spec.to_dict(), g, s, gthr, sthr, 2, x[keep], z[keep], eps[keep], obs[keep],
                    np.asarray(idxs, np.int64), np.asarray(vals), np.asarray(labs, dtype=object),
                    np.asarray([w for w in want]))


CLEAR = 0.1  # structural candidates are built to clear a threshold by this much, so the noise
#              of one step cannot flip a candidate's class and the task measures the model


def _outcome(scm, z, eps, j, v, g, s, gthr, sthr, clear: bool = False):
    t = rollout_truth(scm, z[None], eps[None], np.array([j]), np.array([v]))[0]
    if clear:
        # (reaches goal clearly, violates clearly, stays clearly away from both), required of
        # the noise-free rollout AND of the noisy one: the class must not hinge on the noise
        t0 = rollout_truth(scm, z[None], np.zeros_like(eps)[None], np.array([j]), np.array([v]))[0]
        return tuple(bool(a and b) for a, b in zip(_classes(t, g, s, gthr, sthr),
                                                   _classes(t0, g, s, gthr, sthr)))
    return bool(t[-1, g] > gthr), bool((t[:, s] >= sthr).any())


def _classes(t, g, s, gthr, sthr):
    return (t[-1, g] > gthr + CLEAR, (t[:, s] >= sthr + CLEAR).any(),
            t[-1, g] < gthr - CLEAR and (t[:, s] < sthr - CLEAR).all())


def _structural_row(scm, rng, z, eps, g, s, pg, ps, allowed, gthr, sthr, c, no_safe, vals):
    """One episode's candidates verified against the truth, or None if this state cannot host it."""
    row = []
    tries = 0
    if no_safe:
        harm = [p for p in ps if p != g]
        while len(row) < c and tries < 40:
            tries += 1
            p = int(rng.choice(harm))
            v = float(np.sign(scm.weight[p, s]) or 1.0) * rng.uniform(*vals)
            _, bad, _ = _outcome(scm, z, eps, p, v, g, s, gthr, sthr, clear=True)
            if bad:
                row.append((p, v, "unsafe"))
        return row if len(row) == c else None
    # the baseline outcome (no action) must be neither goal nor unsafe: the action must matter
    t0 = rollout_truth(scm, z[None], eps[None], np.array([-1]), np.array([0.0]))[0]
    if t0[-1, g] > gthr or (t0[:, s] >= sthr).any():
        return None
    goal = None
    for _ in range(20):
        p = int(rng.choice([q for q in pg if q != s] or pg))
        v = float(np.sign(scm.weight[p, g]) or 1.0) * rng.uniform(*vals)
        ok, _, _ = _outcome(scm, z, eps, p, v, g, s, gthr, sthr, clear=True)
        _, bad = _outcome(scm, z, eps, p, v, g, s, gthr, sthr)
        if ok and not bad and not _outcome(scm, z, eps, p, v, g, s, gthr, sthr - CLEAR)[1]:
            goal = (p, v, "goal")
            break
    if goal is None:
        return None
    harm = None
    for _ in range(20):
        p = int(rng.choice([q for q in ps if q != g]))
        v = float(np.sign(scm.weight[p, s]) or 1.0) * rng.uniform(*vals)
        _, bad, _ = _outcome(scm, z, eps, p, v, g, s, gthr, sthr, clear=True)
        if bad:
            harm = (p, v, "unsafe")
            break
    if harm is None:
        return None
    row = [goal, harm]
    for _ in range(200):
        if len(row) == c:
            break
        j = int(rng.choice(allowed))
        v = rng.uniform(-1.5, 1.5)
        _, _, neutral = _outcome(scm, z, eps, j, v, g, s, gthr, sthr, clear=True)
        if neutral:  # neutral by the truth: clearly safe, clearly short of the goal
            row.append((j, v, "neutral"))
    return row if len(row) == c else None


def _check_possible(scm: SCM, ep: Episodes) -> None:
    """Refuse thresholds under which the built task cannot be solved by anyone."""
    out = true_outcomes(scm, ep)
    solvable = ~ep.no_safe
    if solvable.any():
        ok = (out["goal"] & ~out["unsafe"])[solvable].any(1)
        if ok.mean() < 0.5:
            raise InputError(f"goal z[{ep.goal_factor}] > {ep.goal_thr:g} with safety z[{ep.safe_factor}] < "
                             f"{ep.safe_thr:g} is reachable in only {ok.mean():.0%} of the episodes meant "
                             "to be solvable; the thresholds make the task impossible", field="goal_thr")
