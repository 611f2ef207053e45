"""Lagged structural causal model with a hard do-operator; the ground truth every score uses.

``z[t+1, i] = f_i(z[t, parents(i)]) + eps[t+1, i]``, ``eps ~ N(0, noise^2)``; ``do(z_i = v)``
replaces factor i's equation by ``z[t+1, i] = v`` exactly. Observations ``x = z + N(0, obs^2)``.
Because the simulator keeps (z_t, eps, obs-noise) for every sample, any chosen action can be
replayed on the same state with the same noise: that is what scoring by true outcome means.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from causal_agents.errors import InputError
from causal_agents.scm.graphs import make_graph

MECHANISMS = ("tanh", "linear", "mlp")
NO_ACTION = -1
ACTION_RANGE = 1.5  # actions drawn as in the original: value ~ U(-1.5, 1.5)


@dataclass
class SCM:
    """A lagged SCM: graph, signed weights, mechanism and noise scales (the ground truth)."""

    k: int
    adj: np.ndarray            # (K, K) 0/1, adj[j, i]: edge j -> i
    weight: np.ndarray         # (K, K) signed weights on the edges, zero elsewhere
    mechanism: str = "tanh"
    noise: float = 0.1
    obs_noise: float = 0.1
    graph: str = "er"
    scm_seed: int = 0
    # "mlp" mechanism only: per-factor hidden layer (K, K, H) and readout (K, H)
    mlp_in: np.ndarray | None = field(default=None, repr=False)
    mlp_out: np.ndarray | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- dynamics
    def mean_next(self, z: np.ndarray) -> np.ndarray:
        """Noise-free structural equations f(z). z: (N, K) -> (N, K)."""
        pre = z @ self.weight  # (N, K): pre[n, i] = sum_j W[j, i] z[n, j]
        if self.mechanism == "tanh":
            return np.tanh(pre)
        if self.mechanism == "linear":
            return pre
        # mlp: h[n, i, :] = tanh(sum_j adj[j, i] z[n, j] U[i, j, :]); f = h . v_i
        h = np.tanh(np.einsum("nj,ji,ijh->nih", z, self.adj, self.mlp_in))
        return np.einsum("nih,ih->ni", h, self.mlp_out)

    def step(self, z: np.ndarray, eps: np.ndarray, a_idx: np.ndarray, a_val: np.ndarray) -> np.ndarray:
        """One step with the hard do-operator. a_idx: (N,) target factor or -1; a_val: (N,).
        (N, J) a_idx / a_val: J simultaneous interventions per sample (-1 = none)."""
        nxt = self.mean_next(z) + eps
        a_idx, a_val = np.asarray(a_idx), np.asarray(a_val)
        if a_idx.ndim == 1:
            a_idx, a_val = a_idx[:, None], a_val[:, None]
        for j in range(a_idx.shape[1]):
            act = a_idx[:, j] >= 0
            rows = np.nonzero(act)[0]
            nxt[rows, a_idx[act, j]] = a_val[act, j]
        return nxt

    # ---------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict:
        d = {"k": self.k, "adj": self.adj.tolist(), "weight": self.weight.tolist(),
             "mechanism": self.mechanism, "noise": self.noise, "obs_noise": self.obs_noise,
             "graph": self.graph, "scm_seed": self.scm_seed}
        if self.mlp_in is not None:
            d["mlp_in"] = self.mlp_in.tolist()
            d["mlp_out"] = self.mlp_out.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SCM":
        """The SCM a dict describes (``to_dict``), checked whole: a missing key, a wrong shape
        or a NaN would otherwise surface later as a KeyError, a numpy error or a null metric.
        InputError naming the field (the caller adds the file)."""
        if not isinstance(d, dict):
            raise InputError("SCM metadata is not a JSON object", field="cag_scm")
        for key in ("k", "adj", "weight", "mechanism", "noise", "obs_noise"):
            if key not in d:
                raise InputError("missing from the SCM metadata", field=key)
        k = d["k"]
        if type(k) is not int or k < 2:
            raise InputError(f"expected an integer >= 2, got {k!r}", field="k")
        if d["mechanism"] not in MECHANISMS:
            raise InputError(f"expected one of {', '.join(MECHANISMS)}, got {d['mechanism']!r}", field="mechanism")
        for key in ("noise", "obs_noise"):
            v = d[key]
            if type(v) not in (int, float) or not math.isfinite(v) or v < 0:
                raise InputError(f"expected a finite number >= 0, got {v!r}", field=key)
        mlp = d["mechanism"] == "mlp"
        arrays = {key: _finite_array(d, key, shape) for key, shape in (
            ("adj", (k, k)), ("weight", (k, k)),
            ("mlp_in", (k, k, None) if mlp else None), ("mlp_out", (k, None) if mlp else None))}
        if not np.isin(arrays["adj"], (0.0, 1.0)).all():
            raise InputError("expected 0/1 entries", field="adj")
        if mlp and arrays["mlp_in"].shape[2] != arrays["mlp_out"].shape[1]:
            raise InputError("hidden width differs from mlp_out's", field="mlp_in")
        seed = d.get("scm_seed", 0)
        return cls(k=k, adj=arrays["adj"], weight=arrays["weight"], mechanism=d["mechanism"],
                   noise=float(d["noise"]), obs_noise=float(d["obs_noise"]), graph=str(d.get("graph", "?")),
                   scm_seed=seed if type(seed) is int else 0, mlp_in=arrays["mlp_in"], mlp_out=arrays["mlp_out"])


MECHANISMS = ("tanh", "linear", "mlp")


def _finite_array(d: dict, key: str, shape: tuple | None):
    """``d[key]`` as a float array of ``shape`` (None entries: any size >= 1) with only finite
    values; None when ``shape`` is None (the key is not used)."""
    if shape is None:
        return None
    try:
        a = np.asarray(d.get(key), dtype=np.float64)
    except (TypeError, ValueError):
        a = None
    if a is None or a.ndim != len(shape) or any(n is not None and a.shape[i] != n for i, n in enumerate(shape)) \
            or 0 in a.shape:
        want = " x ".join("H" if n is None else str(n) for n in shape)
        raise InputError(f"expected a {want} array of numbers", field=key)
    if not np.isfinite(a).all():
        raise InputError("NaN or infinite value (expected finite numbers)", field=key)
    return a


def make_scm(graph: str = "er", k: int = 10, *, scm_seed: int = 0, mechanism: str = "tanh",
             noise: float = 0.1, obs_noise: float = 0.1, edge_prob: float | None = None,
             expected_degree: float | None = None, mlp_hidden: int = 8) -> SCM:
    """Draw a graph and weights |W| ~ U(0.5, 2) with random sign, as in the original."""
    if mechanism not in MECHANISMS:
        raise InputError(f"unknown mechanism '{mechanism}' (expected one of {', '.join(MECHANISMS)})",
                         field="mechanism")
    if noise < 0 or obs_noise < 0:
        raise InputError("noise scales must be >= 0", field="noise")
    rng = np.random.default_rng(scm_seed)
    adj = make_graph(graph, k, rng, edge_prob=edge_prob, expected_degree=expected_degree)
    mag = rng.uniform(0.5, 2.0, size=(k, k))
    sign = rng.choice([-1.0, 1.0], size=(k, k))
    weight = adj * mag * sign
    mlp_in = mlp_out = None
    if mechanism == "mlp":
        mlp_in = rng.normal(0, 1.0, size=(k, k, mlp_hidden))
        mlp_out = rng.normal(0, 1.0 / np.sqrt(mlp_hidden), size=(k, mlp_hidden))
    return SCM(k=k, adj=adj, weight=weight, mechanism=mechanism, noise=noise, obs_noise=obs_noise,
               graph=graph, scm_seed=scm_seed, mlp_in=mlp_in, mlp_out=mlp_out)


def random_actions(rng: np.random.Generator, n: int, k: int, p_act: float = 0.5,
                   targets: list[int] | None = None):
    """With prob p_act one random factor (one of ``targets``, default all) is set to
    U(-1.5, 1.5); otherwise no action (-1)."""
    idx = rng.integers(0, k, size=n) if targets is None else rng.choice(np.asarray(targets), size=n)
    val = rng.uniform(-ACTION_RANGE, ACTION_RANGE, size=n)
    none = rng.random(n) >= p_act
    idx[none] = NO_ACTION
    val[none] = 0.0
    return idx, val


def different_actions(rng: np.random.Generator, a_idx: np.ndarray, a_val: np.ndarray, k: int,
                      targets: list[int] | None = None):
    """A counterfactual action for every sample that differs from the factual one: a no-op
    factual gets a random intervention; an intervention gets another target (or no action).
    With ``targets`` the counterfactual acts only on those factors too."""
    if targets is not None:
        return _different_within(rng, a_idx, k, np.asarray(targets))
    n = len(a_idx)
    cf_idx = rng.integers(0, k, size=n)
    cf_val = rng.uniform(-ACTION_RANGE, ACTION_RANGE, size=n)
    acted = a_idx >= 0
    # for an acted sample pick uniformly among the other K-1 targets or "no action"
    shift = rng.integers(1, k + 1, size=n)  # 1..K ; K means "no action"
    alt = (a_idx + shift) % (k + 1)  # over the K+1 options {0..K-1, K=no action}; never a_idx
    alt_idx = np.where(alt == k, NO_ACTION, alt)
    cf_idx = np.where(acted, alt_idx, cf_idx)
    cf_val = np.where(cf_idx == NO_ACTION, 0.0, cf_val)
    return cf_idx.astype(np.int64), cf_val


def targets_without(held_out: str | None, k: int) -> list[int] | None:
    """The action targets left when the comma list ``held_out`` (e.g. "0,9") is held out;
    None (all factors) for an empty list. InputError for a bad list or nothing left."""
    if not held_out:
        return None
    try:
        out = {int(x) for x in held_out.split(",") if x.strip()}
    except ValueError as e:
        raise InputError(f"expected a comma list of factor indices, got '{held_out}'", field="hold_out_targets") from e
    if not all(0 <= j < k for j in out):
        raise InputError(f"held-out targets must be factors 0..{k - 1}, got '{held_out}'", field="hold_out_targets")
    left = [j for j in range(k) if j not in out]
    if not left:
        raise InputError("every factor is held out: no action target is left", field="hold_out_targets")
    return left


def _different_within(rng, a_idx: np.ndarray, k: int, targets: np.ndarray):
    """``different_actions`` restricted to ``targets``: another allowed target or no action."""
    n = len(a_idx)
    opts = np.append(targets, NO_ACTION)                    # allowed targets, then "no action"
    pick = rng.integers(0, len(opts) - 1, size=n)           # one of the others: skip the factual's
    pos = np.array([np.nonzero(opts == a)[0][0] for a in a_idx])
    cf_idx = opts[np.where(pick >= pos, pick + 1, pick)]
    cf_val = np.where(cf_idx == NO_ACTION, 0.0, rng.uniform(-ACTION_RANGE, ACTION_RANGE, size=n))
    return cf_idx.astype(np.int64), cf_val


def simulate(scm: SCM, n: int, seed: int, p_act: float = 0.5, burn_in: int = 50,
             targets: list[int] | None = None) -> dict:
    """One trajectory of n transitions, each carrying a counterfactual with the same noise.
    ``targets``: the factors actions may set (default all; a subset holds the others out).

    Returns arrays keyed by column name; (N, K) for states, (N,) for actions.
    """
    if targets is not None:
        targets = sorted(set(int(t) for t in targets))
        if not targets or not all(0 <= t < scm.k for t in targets):
            raise InputError(f"action targets must be a non-empty subset of 0..{scm.k - 1}", field="targets")
    if n < 1:
        raise InputError(f"number of samples must be >= 1, got {n}", field="n")
    rng = np.random.default_rng(seed)
    k = scm.k
    total = n + burn_in
    eps = rng.normal(0, scm.noise, size=(total, k))
    obs = rng.normal(0, scm.obs_noise, size=(total + 1, k))
    a_idx, a_val = random_actions(rng, total, k, p_act, targets)
    z = np.zeros((total + 1, k))
    z[0] = rng.normal(0, 1, size=k)
    for t in range(total):  # sequential by nature: z[t+1] depends on z[t]
        z[t + 1] = scm.step(z[t:t + 1], eps[t:t + 1], a_idx[t:t + 1], a_val[t:t + 1])[0]
    s = slice(burn_in, total)
    zt, zn = z[s], z[burn_in + 1:total + 1]
    cf_idx, cf_val = different_actions(rng, a_idx[s], a_val[s], k, targets)
    z_cf = scm.step(zt, eps[s], cf_idx, cf_val)
    obs_next = obs[burn_in + 1:total + 1]
    return {
        "z_t": zt, "x_t": zt + obs[s], "a_idx": a_idx[s].astype(np.int64), "a_val": a_val[s],
        "eps": eps[s], "z_next": zn, "x_next": zn + obs_next, "obs_noise_next": obs_next,
        "cf_idx": cf_idx, "cf_val": cf_val, "z_cf": z_cf, "x_cf": z_cf + obs_next,
    }


STATE_COLS = ("z_t", "x_t", "eps", "z_next", "x_next", "obs_noise_next", "z_cf", "x_cf")
ACTION_COLS = ("a_idx", "a_val", "cf_idx", "cf_val")


def write_parquet(path: str, data: dict, scm: SCM, meta: dict | None = None) -> None:
    """Atomic Parquet write; the SCM (true dynamics) rides along in the schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from causal_agents.formats.io import atomic_path

    k = scm.k
    cols = {}
    for c in STATE_COLS:
        flat = pa.array(np.ascontiguousarray(data[c], dtype=np.float64).reshape(-1))
        cols[c] = pa.FixedSizeListArray.from_arrays(flat, k)
    for c in ACTION_COLS:
        cols[c] = pa.array(data[c])
    table = pa.table(cols)
    md = {b"cag_scm": json.dumps(scm.to_dict()).encode(), b"cag_meta": json.dumps(meta or {}).encode()}
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet(path: str) -> tuple[dict, SCM, dict]:
    """Load a dataset written by ``write_parquet``; refuses NaN/inf and foreign files."""
    import os

    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise InputError("no such file", file=path)
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputError(f"not a readable Parquet file ({e})", file=path) from e
    md = table.schema.metadata or {}
    if b"cag_scm" not in md:
        raise InputError("not a `cag scm data` file (no SCM metadata); create one with `cag scm data`",
                         file=path)
    try:
        scm = SCM.from_dict(json.loads(md[b"cag_scm"]))
        meta = json.loads(md.get(b"cag_meta", b"{}"))
    except ValueError as e:  # json's decode error
        raise InputError(f"malformed SCM metadata ({e})", file=path, field="cag_scm") from e
    except InputError as e:
        raise e.at(path) from None
    missing = [c for c in STATE_COLS + ACTION_COLS if c not in table.column_names]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=path, field=missing[0])
    if table.num_rows == 0:
        raise InputError("empty input: no rows", file=path)
    data = {}
    for c in STATE_COLS:
        col = table.column(c).combine_chunks()
        arr = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
        if col.null_count or len(arr) != table.num_rows * scm.k:
            raise InputError(f"expected {scm.k} values per row (K={scm.k})", file=path, field=c)
        data[c] = arr.reshape(table.num_rows, scm.k)
    for c in ACTION_COLS:
        col = table.column(c)
        if col.null_count:
            row = int(np.nonzero(col.is_null().to_numpy(zero_copy_only=False))[0][0])
            raise InputError("null value", file=path, line=row, field=c)
        data[c] = col.to_numpy()
    for c, arr in data.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.nonzero(bad.reshape(len(arr), -1).any(1))[0][0])
            raise InputError("NaN or infinite value (expected finite numbers)", file=path,
                             line=row, field=c)
    for c in ("a_idx", "cf_idx"):
        if ((data[c] < NO_ACTION) | (data[c] >= scm.k)).any():
            row = int(np.nonzero((data[c] < NO_ACTION) | (data[c] >= scm.k))[0][0])
            raise InputError(f"action target out of range (expected -1..{scm.k - 1})", file=path,
                             line=row, field=c)
    return data, scm, meta
