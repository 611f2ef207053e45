"""AC-LSCM internals: batched transition, do-operator, abduction, acyclicity gradients,
determinism and resume."""

import numpy as np
import pytest
import torch

from causal_agents.scm.acyclicity import dagma_h, notears_h
from causal_agents.scm.models import ACLSCM, ModelConfig, build_model
from causal_agents.scm.simulator import make_scm, simulate
from causal_agents.scm.train import TrainConfig, train


def test_batched_transition_equals_per_factor_loop():
    torch.manual_seed(0)
    k, h = 5, 7
    m = ACLSCM(ModelConfig(k=k, factor_hidden=h))
    z = torch.randn(9, k)
    idx = torch.tensor([0, 1, -1, 3, 4, -1, 2, 2, 0])
    val = torch.randn(9)
    mm = torch.nn.functional.one_hot(idx.clamp(min=0), k).float() * (idx >= 0).float()[:, None]
    v = mm * val[:, None]
    adj = m.adjacency()
    got = m.transition_mean(z, mm, v, adj)
    for i in range(k):  # one factor at a time, written out
        pre = (z * adj[:, i]) @ m.w1[i] + v[:, i:i + 1] * m.w1a[i] + m.b1[i]
        f = torch.relu(pre) @ m.w2[i] + m.b2[i]
        f = torch.where(mm[:, i] > 0, v[:, i], f)
        assert torch.allclose(got[:, i], f, atol=1e-5)


def test_do_operator_sets_the_value_and_cf_with_same_action_is_factual():
    torch.manual_seed(1)
    m = ACLSCM(ModelConfig(k=4)).eval()
    x = torch.randn(6, 4)
    idx = torch.tensor([0, 1, 2, 3, 1, 2])
    val = torch.tensor([0.3, -1.2, 1.4, 0.0, 0.7, -0.5])
    mu, _ = m.encode(x)
    adj = m.adjacency()
    mm = torch.nn.functional.one_hot(idx, 4).float()
    f = m.transition_mean(mu, mm, mm * val[:, None], adj)
    assert torch.allclose(f[torch.arange(6), idx], val)
    x_next = torch.randn(6, 4)
    cf, eps = m.counterfactual(x, x_next, idx, val, idx, val)
    mu_n, _ = m.encode(x_next)
    free = 1 - mm
    # same action: abduction then prediction reproduces the factual latent off the acted factor
    assert torch.allclose(cf, m.dec(mu_n * free + mm * val[:, None]), atol=1e-5)


def test_acyclicity_gradients_match_autograd():
    torch.manual_seed(0)
    a = (torch.rand(6, 6, dtype=torch.float64) * 0.4).requires_grad_(True)
    h = notears_h(a)
    h.backward()
    g = a.grad.clone()
    a2 = a.detach().clone().requires_grad_(True)
    ref = torch.linalg.matrix_exp(a2).diagonal().sum() - 6
    ref.backward()
    assert float(h.detach()) == pytest.approx(float(ref.detach()), rel=1e-8)
    assert torch.allclose(g, a2.grad, atol=1e-8)
    small = (a.detach() * 0.2).requires_grad_(True)
    hd = dagma_h(small)
    hd.backward()
    s2 = small.detach().clone().requires_grad_(True)
    refd = -torch.linalg.slogdet(torch.eye(6, dtype=torch.float64) - s2)[1]
    refd.backward()
    assert float(hd.detach()) == pytest.approx(float(refd.detach()), rel=1e-8)
    assert torch.allclose(small.grad, s2.grad, atol=1e-8)
    dag = torch.triu(torch.ones(5, 5, dtype=torch.float64), 1)
    assert float(notears_h(dag)) == pytest.approx(0.0, abs=1e-9)
    assert float(dagma_h(dag)) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def small_data():
    scm = make_scm("chain", 4, scm_seed=0)
    return simulate(scm, 600, seed=0), scm


@pytest.mark.parametrize("model", ["aclscm", "mlp", "gru", "transformer", "own_factor"])
def test_every_model_trains_and_is_deterministic(small_data, model):
    d, scm = small_data
    cfg = lambda: TrainConfig(epochs=2, seed=3, model=ModelConfig(model=model, k=4))  # noqa: E731
    a = train(d, scm, cfg())["history"]
    b = train(d, scm, cfg())["history"]
    assert [r["val_mse"] for r in a] == [r["val_mse"] for r in b]
    assert np.isfinite(a[-1]["val_mse"])


def test_resume_continues_exactly(small_data, tmp_path):
    d, scm = small_data
    ck = str(tmp_path / "m.pt")
    mk = lambda e: TrainConfig(epochs=e, seed=1, model=ModelConfig(k=4))  # noqa: E731
    straight = train(d, scm, mk(4))["history"]
    train(d, scm, mk(2), out=ck)
    resumed = train(d, scm, mk(4), out=ck, resume=True)["history"]
    assert len(resumed) == 4
    assert [r["val_mse"] for r in resumed] == pytest.approx([r["val_mse"] for r in straight], rel=1e-6)


def test_validation_rows_are_disjoint_from_training():
    from causal_agents.scm.train import split

    scm = make_scm("chain", 3, scm_seed=0)
    d = simulate(scm, 100, seed=0)
    tr, val = split(d, 0.1)
    a = {tuple(r) for r in tr["x_t"].numpy().round(6)}
    b = {tuple(r) for r in val["x_t"].numpy().round(6)}
    assert len(val["x_t"]) == 10 and not a & b


def test_build_model_refuses_bad_config():
    from causal_agents.errors import InputError

    with pytest.raises(InputError):
        build_model(ModelConfig(k=1))
    with pytest.raises(InputError):
        build_model(ModelConfig(dag="lasso"))


@pytest.mark.slow
def test_aclscm_recovers_a_chain():
    from causal_agents.scm.evaluate import learned_graph

    scm = make_scm("chain", 5, scm_seed=0)
    d = simulate(scm, 4000, seed=0)
    r = train(d, scm, TrainConfig(epochs=60, seed=0, model=ModelConfig(k=5, dag_warmup=10)))
    g = learned_graph(r["model"], scm)
    assert g["tpr"] == 1.0 and g["shd"] <= 1


def _random_batch(k: int, n: int, dtype=torch.float64) -> dict:
    g = torch.Generator().manual_seed(1)
    b = {c: torch.randn(n, k, generator=g, dtype=dtype) for c in ("x_t", "x_next", "x_cf")}
    for c in ("a", "cf"):
        b[f"{c}_idx"] = torch.randint(-1, k, (n,), generator=g)
        b[f"{c}_val"] = torch.randn(n, generator=g, dtype=dtype)
    return b


@pytest.mark.parametrize("do", [True, False])
@pytest.mark.parametrize("hinge", [True, False])
@pytest.mark.parametrize("cf_weight", [1.0, 0.0])
@pytest.mark.parametrize("dag,structure_on", [("notears", "weights"), ("notears", "mask"),
                                               ("dagma", "weights"), ("none", "mask")])
def test_fused_step_matches_autograd(do, hinge, cf_weight, dag, structure_on):
    """The hand-written backward (scm/fused.py) gives loss, parts and every gradient of
    ``ACLSCM.loss``, for every option, with the same random draws."""
    cfg = ModelConfig(k=6, hidden=12, factor_hidden=5, do_operator=do, hinge=hinge,
                      cf_weight=cf_weight, dag=dag, structure_on=structure_on,
                      logit_init=-0.5 if dag == "dagma" else 1.0)
    torch.manual_seed(3)
    model = ACLSCM(cfg).double().train()
    b = _random_batch(6, 16)
    runs = []
    for fused in (False, True):
        model.fused = fused
        model.zero_grad(set_to_none=True)
        torch.manual_seed(7)
        total, parts = model.loss_and_backward(b, epoch=10)
        runs.append((total, {k: float(v.detach()) for k, v in parts.items()},
                     {n: p.grad.clone() for n, p in model.named_parameters()}))
    (t0, p0, g0), (t1, p1, g1) = runs
    assert float(t1) == pytest.approx(float(t0), rel=1e-10)
    assert p1.keys() == p0.keys() and all(p1[k] == pytest.approx(p0[k], rel=1e-9, abs=1e-12) for k in p0)
    for name in g0:
        assert torch.allclose(g1[name], g0[name], rtol=1e-7, atol=1e-10), name
    if hinge:
        assert p0["hinge"] > 0  # the hinge is active, so its gradient was really compared


def test_fused_training_follows_the_autograd_trajectory(small_data, monkeypatch):
    """Whole training epochs (Adam, clipping) with the fused step land where autograd does;
    this caught fused Adam reading a transposed gradient with the parameter's layout."""
    import causal_agents.scm.train as train_mod

    data, scm = small_data
    cfg = TrainConfig(seed=0, epochs=3, patience=100, model=ModelConfig(k=4))
    fused = train(data, scm, cfg)["model"]

    def build_autograd(model_cfg):
        model = build_model(model_cfg)
        model.fused = False
        return model

    monkeypatch.setattr(train_mod, "build_model", build_autograd)
    reference = train(data, scm, cfg)["model"]
    assert reference.fused is False and fused.fused is True
    ref = dict(reference.named_parameters())
    for name, p in fused.named_parameters():
        assert torch.allclose(p, ref[name], atol=1e-4), name


def test_clip_grad_norm_matches_torch():
    from causal_agents.scm.train import clip_grad_norm

    torch.manual_seed(0)
    a = [torch.randn(5, 3, requires_grad=True), torch.randn(7, requires_grad=True)]
    b = [p.detach().clone().requires_grad_(True) for p in a]
    for ps in (a, b):
        for p in ps:
            p.grad = p.detach() * 3
    clip_grad_norm(a, 1.0)
    torch.nn.utils.clip_grad_norm_(b, 1.0)
    for p, q in zip(a, b):
        assert torch.equal(p.grad, q.grad)
