"""Issue-14 training pieces: transformer_orig trained the original's way, cf supervision for every
model, DAGMA inside its domain, the lagged regression anchor, the detector during training, and
bootstrap intervals."""

import numpy as np
import pytest
import torch

from causal_agents.errors import InputError
from causal_agents.scm.acyclicity import DAGMA_MARGIN, dagma_scale, dagma_value_and_grad, h_and_grad
from causal_agents.scm.bench import _ms, make_config
from causal_agents.scm.config import cf_settings, train_config
from causal_agents.scm.evaluate import lagged_regression_graph
from causal_agents.scm.models import build_model
from causal_agents.scm.simulator import make_scm, simulate
from causal_agents.scm.train import split, train, with_cf_pairs


@pytest.fixture(scope="module")
def small():
    s = make_scm("er", 5, scm_seed=0)
    return s, simulate(s, 400, seed=0)


def test_transformer_orig_architecture():
    m = build_model(train_config("transformer_orig", 4).model)
    assert m.pos.shape == (8, 128) and m.inp.in_features == 1 and m.inp.out_features == 128
    assert all(layer.norm_first for layer in m.body.layers)
    y = m.predict(torch.randn(3, 4), torch.tensor([0, -1, 2]), torch.tensor([2.0, 0.0, -1.0]), steps=2)
    assert y.shape == (3, 2, 4)


def test_original_protocol_runs_every_epoch_and_keeps_the_last_weights(small):
    s, d = small
    cfg = train_config("transformer_orig", 5, epochs=3, patience=1)
    assert cfg.original_protocol and not train_config("transformer", 5).original_protocol
    r = train(d, s, cfg)
    assert r["summary"]["epochs_run"] == 3 and r["summary"]["weights"] == "last"
    assert not r["summary"]["stopped_early"]


def test_cf_supervision_for_every_model():
    assert cf_settings("aclscm", None) == (1.0, False) and cf_settings("aclscm", "none") == (0.0, False)
    assert cf_settings("mlp", None) == (0.0, False) and cf_settings("transformer_orig", "observed") == (0.0, True)
    with pytest.raises(InputError, match="cf_supervision"):
        cf_settings("mlp", "privileged")
    assert train_config("gru", 5, cf_supervision="observed").cf_pairs


def test_cf_pairs_join_training_as_transitions(small):
    _, d = small
    tr, _ = split(d, 0.1)
    aug = with_cf_pairs(tr)
    n = len(tr["a_idx"])
    assert len(aug["a_idx"]) == 2 * n
    assert torch.equal(aug["x_next"][n:], tr["x_cf"]) and torch.equal(aug["a_idx"][n:], tr["cf_idx"])
    assert torch.equal(aug["m"][n:], tr["m2"]) and torch.equal(aug["x_t"][n:], tr["x_t"])


def test_dagma_is_a_valid_barrier_outside_the_unit_domain():
    rng = np.random.default_rng(0)
    dense = rng.uniform(0.5, 1.0, (6, 6)) * (1 - np.eye(6))  # spectral radius well above s = 1
    assert dagma_scale(dense) > 1.0
    h, g = h_and_grad(dense, "dagma", 1.0)
    assert np.isfinite(h) and h > 0 and np.isfinite(g).all() and (g >= 0).all()
    assert h != pytest.approx(h_and_grad(dense, "notears")[0])  # not the NOTEARS fallback
    dag = np.triu(rng.uniform(0.5, 3.0, (6, 6)), 1)
    assert h_and_grad(dag, "dagma", 1.0)[0] == pytest.approx(0.0, abs=1e-9)


def test_dagma_gradient_inside_the_domain():
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 0.1, (4, 4)) * (1 - np.eye(4))
    assert dagma_scale(s) == 1.0 and DAGMA_MARGIN > 1
    h, g = dagma_value_and_grad(s)
    e = np.zeros_like(s)
    e[1, 2] = 1e-6
    assert (dagma_value_and_grad(s + e)[0] - h) / 1e-6 == pytest.approx(g[1, 2], rel=1e-3)


def test_lagged_regression_recovers_the_graph():
    s = make_scm("er", 8, scm_seed=2)
    r = lagged_regression_graph(simulate(s, 4000, seed=0), s)
    assert r["shd"] <= 1 and r["tpr"] >= 0.9 and {"fdr", "n_edges_true"} <= set(r)


def test_detector_during_training_stops_a_degenerate_model(small):
    s, d = small
    cfg = train_config("mlp", 5, epochs=10, patience=100, detect_every=1, detect_after=0,
                       stop_on_degenerate=True, lr=1e-9)  # an untrained model: degenerate
    r = train(d, s, cfg)
    checks = [h["detector"] for h in r["history"] if "detector" in h]
    assert r["summary"]["stopped_degenerate"] and r["summary"]["epochs_run"] == 2
    assert all(c["degenerate"] for c in checks) and len(checks) == 2


def test_bootstrap_interval():
    a = _ms([0.1, 0.2, 0.6])
    assert a["lo"] <= a["mean"] <= a["hi"] and a["lo"] >= 0.1 and a["hi"] <= 0.6 and a["n"] == 3
    assert _ms([0.1, 0.2, 0.6]) == a  # seeded: the same interval every time
    one = _ms([0.3])
    assert one["lo"] == one["hi"] == 0.3


@pytest.mark.parametrize("kw,field", [({"cf_supervision": "magic"}, "cf supervision"), ({"splits": "x"}, "split"),
                                      ({"model_epochs": "transformer_orig=0"}, "model_epochs")])
def test_bench_config_bad_input(kw, field):
    with pytest.raises(InputError, match=field):
        make_config(**kw)


def test_shared_and_per_seed_runs_are_separate_cells():
    from causal_agents.scm.bench import _cell_key, make_config, plan_runs

    shared = plan_runs(make_config(models="mlp", seeds="0", sizes="100", scm_mode="shared"))
    per_seed = plan_runs(make_config(models="mlp", seeds="0", sizes="100"))
    assert shared[0]["key"] != per_seed[0]["key"]
    assert _cell_key(shared[0]) != _cell_key(per_seed[0])
