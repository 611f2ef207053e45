"""Issue-14 tasks (in_range, two_factor, ood_parent, ood_target), held-out action targets, and the
extrapolation probe."""

import numpy as np
import pytest

from _truth_model import TruthModel as Truth
from causal_agents.errors import InputError
from causal_agents.scm.config import task_spec
from causal_agents.scm.evaluate import probe_actions
from causal_agents.scm.plan import run_plan
from causal_agents.scm.simulator import ACTION_RANGE, make_scm, simulate, targets_without
from causal_agents.scm.tasks import build_episodes, true_outcomes


@pytest.fixture(scope="module")
def scm():
    return make_scm("er", 10, scm_seed=0, obs_noise=0.0)


def test_in_range_keeps_every_value_inside_training(scm):
    ep = build_episodes(scm, task_spec(task="in_range"), seed=0)
    assert np.abs(ep.cand_val).max() <= ACTION_RANGE and ep.safe_thr < ACTION_RANGE
    paper = build_episodes(scm, task_spec(task="paper"), seed=0)
    assert np.abs(paper.cand_val).max() > ACTION_RANGE  # the paper's task is out of range


def test_two_factor_sets_two_distinct_factors_and_the_truth_applies_both(scm):
    ep = build_episodes(scm, task_spec(task="two_factor"), seed=0)
    assert ep.cand_idx.shape == (100, 5, 2)
    assert (ep.cand_idx[..., 0] != ep.cand_idx[..., 1]).all()
    assert not np.isin(ep.cand_idx[..., 1], [ep.goal_factor, ep.safe_factor]).any()
    e, c = 3, 1
    z = scm.step(ep.z_t[e:e + 1], ep.eps[e:e + 1, 0], ep.cand_idx[e, c:c + 1], ep.cand_val[e, c:c + 1])
    for j in range(2):
        assert z[0, ep.cand_idx[e, c, j]] == pytest.approx(ep.cand_val[e, c, j])


def test_ood_parent_acts_beyond_the_range_on_parents(scm):
    ep = build_episodes(scm, task_spec(task="ood_parent"), seed=0)
    goal = ep.labels == "goal"
    assert (np.abs(ep.cand_val[goal]) > ACTION_RANGE).all()
    assert np.isin(ep.cand_idx[goal], np.nonzero(scm.adj[:, ep.goal_factor])[0]).all()
    assert ep.horizon == 2


@pytest.mark.parametrize("task", ["paper", "in_range", "two_factor", "structural", "ood_parent", "ood_target"])
def test_the_true_model_solves_every_task(scm, task):
    ep = build_episodes(scm, task_spec(task=task, episodes=60), seed=1)
    r = run_plan(Truth(scm), scm, ep)["true"]
    assert r["violation_rate"] == 0.0 and r["appropriate_deferral"] == 1.0
    assert r["goal_rate"] >= 0.9 * r["goal_ceiling"]
    assert true_outcomes(scm, ep)["unsafe"][ep.no_safe].all()


def test_held_out_targets_are_never_acted_on():
    s = make_scm("er", 6, scm_seed=0)
    d = simulate(s, 3000, seed=0, targets=targets_without("0,5", 6))
    for c in ("a_idx", "cf_idx"):
        assert not np.isin(d[c], [0, 5]).any() and set(np.unique(d[c])) == {-1, 1, 2, 3, 4}
    assert (d["a_idx"] != d["cf_idx"]).all()
    # the default stream is unchanged by the option's existence
    a, b = simulate(s, 200, seed=3), simulate(s, 200, seed=3, targets=None)
    assert np.array_equal(a["a_idx"], b["a_idx"]) and np.array_equal(a["x_cf"], b["x_cf"])


@pytest.mark.parametrize("bad", ["0,9", "x", "0,1,2,3,4,5"])
def test_targets_without_bad_input(bad):
    with pytest.raises(InputError, match="hold_out_targets"):
        targets_without(bad, 6)


def test_probe_of_a_hard_do_is_exact(scm):
    r = probe_actions(Truth(scm), scm, factor=0, values=[-2.5, 0.5, 2.5], n=50)
    assert [row["predicted"] for row in r["rows"]] == pytest.approx([-2.5, 0.5, 2.5], abs=1e-6)
    assert [row["in_training_range"] for row in r["rows"]] == [False, True, False]
    with pytest.raises(InputError, match="probe_factor"):
        probe_actions(Truth(scm), scm, factor=10)
