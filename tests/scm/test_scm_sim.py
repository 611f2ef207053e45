"""Simulator, graphs and structure metrics for `cag scm`."""

import numpy as np
import pytest

from causal_agents.errors import InputError
from causal_agents.scm.graphs import (
    is_dag,
    make_graph,
    structure_metrics,
    threshold_and_repair,
)
from causal_agents.scm.simulator import make_scm, read_parquet, simulate, write_parquet


def test_fixed_graph_shapes():
    rng = np.random.default_rng(0)
    chain = make_graph("chain", 4, rng)
    assert chain.sum() == 3 and chain[0, 1] == chain[1, 2] == chain[2, 3] == 1
    fork = make_graph("fork", 4, rng)
    assert fork[0, 1:].sum() == 3 and fork.sum() == 3
    col = make_graph("collider", 4, rng)
    assert col[:-1, 3].sum() == 3 and col.sum() == 3
    for kind in ("er", "scale_free"):
        a = make_graph(kind, 12, rng)
        assert is_dag(a) and np.allclose(a, np.triu(a, 1))
    sf = make_graph("scale_free", 12, rng, expected_degree=2)
    assert (sf[:, 1:].sum(0) >= 1).all()  # every non-root attaches to an earlier node


def test_er_expected_degree_sets_density():
    a = make_graph("er", 40, np.random.default_rng(1), expected_degree=4)
    assert 2.5 < a.sum() * 2 / 40 < 5.5  # mean total degree near 4


@pytest.mark.parametrize("kind,k", [("ring", 5), ("er", 1)])
def test_bad_graph_input(kind, k):
    with pytest.raises(InputError):
        make_graph(kind, k, np.random.default_rng(0))


def test_cycle_repair_drops_the_weakest_edge():
    w = np.zeros((3, 3))
    w[0, 1], w[1, 2], w[2, 0] = 0.9, 0.8, 0.4  # cycle 0->1->2->0, weakest is 2->0
    g, dropped = threshold_and_repair(w, 0.1)
    assert dropped == [(2, 0)] and is_dag(g) and g[0, 1] == g[1, 2] == 1


def test_structure_metrics_notears_definitions():
    true = np.zeros((3, 3)); true[0, 1] = true[1, 2] = 1
    pred = np.zeros((3, 3)); pred[1, 0] = 1; pred[1, 2] = 1; pred[0, 2] = 1  # reversed, correct, extra
    m = structure_metrics(pred, true)
    assert m["shd"] == 2  # one reversal + one extra
    assert m["tpr"] == 0.5 and m["fdr"] == pytest.approx(2 / 3)
    empty = structure_metrics(np.zeros((3, 3)), true)
    assert empty["empty"] and empty["shd"] == 2 and empty["tpr"] == 0


def test_do_and_counterfactual_share_noise():
    scm = make_scm("er", 6, scm_seed=3)
    d = simulate(scm, 300, seed=4)
    acted = d["a_idx"] >= 0
    rows = np.nonzero(acted)[0]
    assert np.allclose(d["z_next"][rows, d["a_idx"][acted]], d["a_val"][acted])  # hard do exact
    # the counterfactual is the same step under the other action with the same noise
    assert np.allclose(d["z_cf"], scm.step(d["z_t"], d["eps"], d["cf_idx"], d["cf_val"]))
    assert np.allclose(d["z_next"], scm.step(d["z_t"], d["eps"], d["a_idx"], d["a_val"]))
    same = (d["cf_idx"] == d["a_idx"]) & ((d["a_idx"] == -1) | (d["cf_val"] == d["a_val"]))
    assert not same.any()
    assert np.allclose(d["x_cf"] - d["z_cf"], d["x_next"] - d["z_next"])  # same observation noise
    # factors the two actions leave alone agree exactly: same noise, same parents
    free = np.ones_like(d["z_cf"], bool)
    for col in ("a_idx", "cf_idx"):
        r = np.nonzero(d[col] >= 0)[0]
        free[r, d[col][r]] = False
    assert np.allclose(d["z_cf"][free], d["z_next"][free])


def test_scm_seed_is_separate_from_data_seed():
    a, b = make_scm("er", 8, scm_seed=5), make_scm("er", 8, scm_seed=5)
    assert np.array_equal(a.weight, b.weight)
    assert not np.array_equal(make_scm("er", 8, scm_seed=6).weight, a.weight)
    d1, d2 = simulate(a, 50, seed=1), simulate(a, 50, seed=2)
    assert not np.allclose(d1["x_t"], d2["x_t"])
    assert np.array_equal(simulate(a, 50, seed=1)["x_t"], d1["x_t"])


@pytest.mark.parametrize("mech", ["linear", "mlp"])
def test_other_mechanisms_run(mech):
    scm = make_scm("chain", 5, scm_seed=0, mechanism=mech)
    d = simulate(scm, 100, seed=0)
    assert np.isfinite(d["z_next"]).all()


def test_parquet_round_trip_and_nan_refused(tmp_path):
    scm = make_scm("fork", 4, scm_seed=1)
    d = simulate(scm, 40, seed=0)
    p = str(tmp_path / "d.parquet")
    write_parquet(p, d, scm, {"seed": 0})
    d2, scm2, meta = read_parquet(p)
    assert np.allclose(d2["x_cf"], d["x_cf"]) and np.array_equal(scm2.adj, scm.adj) and meta["seed"] == 0
    d["x_t"][7, 2] = np.nan
    bad = str(tmp_path / "bad.parquet")
    write_parquet(bad, d, scm)
    with pytest.raises(InputError, match="NaN") as e:
        read_parquet(bad)
    assert e.value.line == 7 and e.value.field == "x_t"
