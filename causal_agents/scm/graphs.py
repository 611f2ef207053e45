"""Graph generators, DAG checks and repair, and structure metrics (NOTEARS definitions).

Convention everywhere: ``A[j, i] = 1`` means an edge j -> i (j is a parent of i), so factor i
reads column i. Generators emit graphs in topological order (0 is a root, K-1 a sink).
"""

from __future__ import annotations

import numpy as np

from causal_agents.errors import InputError
from causal_agents.scm.config import EDGE_PROB

GRAPHS = ("chain", "fork", "collider", "er", "scale_free")


def make_graph(kind: str, k: int, rng: np.random.Generator, *, edge_prob: float | None = None,
               expected_degree: float | None = None) -> np.ndarray:
    """A (K, K) 0/1 adjacency, strictly upper-triangular (so acyclic by construction)."""
    if k < 2:
        raise InputError(f"K must be at least 2, got {k}", field="k")
    a = np.zeros((k, k), dtype=np.float64)
    if kind == "chain":
        for i in range(k - 1):
            a[i, i + 1] = 1
    elif kind == "fork":
        # one root drives every other factor
        a[0, 1:] = 1
    elif kind == "collider":
        # every other factor drives the sink
        a[:-1, k - 1] = 1
    elif kind == "er":
        if expected_degree is not None:
            # expected degree d over K nodes: p = d / (K - 1) (each pair tried once)
            p = expected_degree / max(k - 1, 1)
        else:
            p = EDGE_PROB if edge_prob is None else edge_prob
        if not 0.0 <= p <= 1.0:
            raise InputError(f"edge probability must be in [0, 1], got {p:g}", field="edge_prob")
        a = np.triu((rng.random((k, k)) < p).astype(np.float64), 1)
    elif kind == "scale_free":
        # Barabasi-Albert style: node i attaches to m earlier nodes, preferring high degree
        m = max(1, int(round((expected_degree or 2.0) / 2)))
        deg = np.ones(k)
        for i in range(1, k):
            n_par = min(m, i)
            p = deg[:i] / deg[:i].sum()
            par = rng.choice(i, size=n_par, replace=False, p=p)
            a[par, i] = 1
            deg[par] += 1
            deg[i] += n_par
    else:
        raise InputError(f"unknown graph type '{kind}' (expected one of {', '.join(GRAPHS)})",
                         field="graph")
    return a


def is_dag(a: np.ndarray) -> bool:
    """Kahn's algorithm on a 0/1 adjacency (self-loops count as cycles)."""
    a = (np.asarray(a) != 0).astype(int)
    indeg = a.sum(0)
    stack = [i for i in range(len(a)) if indeg[i] == 0]
    seen = 0
    while stack:
        j = stack.pop()
        seen += 1
        for i in np.nonzero(a[j])[0]:
            indeg[i] -= 1
            if indeg[i] == 0:
                stack.append(i)
    return seen == len(a)


def _find_cycle(a: np.ndarray) -> list[tuple[int, int]] | None:
    """Edges of one directed cycle, or None (iterative DFS, colours white/grey/black)."""
    k = len(a)
    colour = [0] * k
    parent = [-1] * k
    for s in range(k):
        if colour[s]:
            continue
        stack = [(s, iter(np.nonzero(a[s])[0]))]
        colour[s] = 1
        while stack:
            u, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[u] = 2
                stack.pop()
                continue
            v = int(nxt)
            if colour[v] == 0:
                colour[v], parent[v] = 1, u
                stack.append((v, iter(np.nonzero(a[v])[0])))
            elif colour[v] == 1:  # back edge u -> v closes a cycle v -> ... -> u -> v
                cyc, w = [(u, v)], u
                while w != v:
                    cyc.append((parent[w], w))
                    w = parent[w]
                return cyc
    return None


def threshold_and_repair(weights: np.ndarray, thr: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Binary graph ``weights > thr`` made acyclic by dropping the weakest edge of each cycle.

    Returns the graph and the dropped edges, so a report can say what was repaired.
    """
    w = np.asarray(weights, dtype=np.float64).copy()
    np.fill_diagonal(w, 0.0)
    a = (w > thr).astype(np.float64)
    dropped = []
    while True:
        cyc = _find_cycle(a)
        if cyc is None:
            return a, dropped
        j, i = min(cyc, key=lambda e: w[e[0], e[1]])
        a[j, i] = 0
        dropped.append((int(j), int(i)))


def structure_metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    """SHD, TPR, FDR as in NOTEARS' ``count_accuracy``: a reversed edge counts once in SHD
    and is a false discovery, not a true positive."""
    b = np.asarray(pred) != 0
    t = np.asarray(true) != 0
    n_true = int(t.sum())
    n_pred = int(b.sum())
    tp = int((b & t).sum())
    rev = int((b & t.T & ~t).sum())
    fp = n_pred - tp  # includes reversed edges
    # SHD: extra (undirected sense) + missing (undirected sense) + reversed
    b_und, t_und = b | b.T, t | t.T
    extra = int(np.triu(b_und & ~t_und, 1).sum())
    missing = int(np.triu(t_und & ~b_und, 1).sum())
    shd = extra + missing + rev
    return {
        "shd": shd,
        "tpr": tp / n_true if n_true else float("nan"),
        "fdr": fp / n_pred if n_pred else 0.0,
        "n_edges_pred": n_pred,
        "n_edges_true": n_true,
        "empty": n_pred == 0,
    }
