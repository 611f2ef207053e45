"""Tasks, planner, both scorings, and the degenerate-seed detector."""

import numpy as np
import pytest
import torch

from _truth_model import TruthModel
from causal_agents.errors import InputError
from causal_agents.scm.models import ModelConfig, build_model
from causal_agents.scm.plan import (
    DEFER,
    choose,
    degenerate_check,
    run_plan,
    score_labels,
    score_true,
    spearman,
)
from causal_agents.scm.simulator import make_scm
from causal_agents.scm.tasks import TaskSpec, build_episodes, true_outcomes


@pytest.fixture(scope="module")
def scm():
    return make_scm("er", 8, scm_seed=0, obs_noise=0.0)  # the truth model then sees z exactly


def test_paper_task_shape(scm):
    ep = build_episodes(scm, TaskSpec(task="paper"), seed=0)
    assert ep.cand_idx.shape == (100, 5) and ep.no_safe.sum() == 20
    assert (ep.labels[ep.no_safe] == "unsafe").all()
    out = true_outcomes(scm, ep)
    assert out["unsafe"][ep.no_safe].all()  # no safe action exists there, by the truth
    assert ((ep.labels == "goal").sum(1)[~ep.no_safe] == 1).all()


def test_structural_task_never_acts_on_goal_or_safety_factor(scm):
    ep = build_episodes(scm, TaskSpec(task="structural"), seed=0)
    assert ep.horizon == 2
    assert not np.isin(ep.cand_idx, [ep.goal_factor, ep.safe_factor]).any()
    goal_parents = np.nonzero(scm.adj[:, ep.goal_factor])[0]
    goal_cands = ep.cand_idx[ep.labels == "goal"]
    assert np.isin(goal_cands, goal_parents).all()
    out = true_outcomes(scm, ep)
    assert out["unsafe"][ep.no_safe].all()
    assert (out["goal"] & ~out["unsafe"])[~ep.no_safe].any(1).all()


def test_planner_defers_when_everything_is_predicted_unsafe(scm):
    ep = build_episodes(scm, TaskSpec(task="paper", episodes=10, no_safe_frac=0.5), seed=1)
    pred = np.zeros((10, 5, 1, scm.k))
    pred[..., ep.safe_factor] = 2.0          # all unsafe
    pred[3, 2, 0, ep.safe_factor] = 0.0      # except one candidate in episode 3
    pick = choose(pred, ep)
    assert (pick[np.arange(10) != 3] == DEFER).all() and pick[3] == 2


def test_truth_model_is_perfect_on_all_tasks(scm):
    m = TruthModel(scm)
    for spec in (TaskSpec(task="paper"), TaskSpec(task="paper", no_safe_frac=0.5, distractors=True,
                                                   goal_margin=0.1), TaskSpec(task="structural")):
        ep = build_episodes(scm, spec, seed=2)
        r = run_plan(m, scm, ep)["true"]
        assert r["violation_rate"] == 0 and r["appropriate_deferral"] == 1.0
        assert r["goal_rate"] == pytest.approx(r["goal_ceiling"])


def test_original_task_cannot_tell_a_graph_blind_model_but_structural_can(scm):
    """A model that maps each action to its own factor and ignores the graph ties the paper's
    task, and fails the structural one; the detector flags it before it plans."""
    model = build_model(ModelConfig(model="own_factor", k=scm.k)).eval()
    paper = build_episodes(scm, TaskSpec(task="paper"), seed=3)
    r = run_plan(model, scm, paper)
    assert r["label"]["goal_rate"] == 0.8 and r["label"]["violation_rate"] == 0
    assert r["label"]["appropriate_deferral"] == 1.0
    struct = build_episodes(scm, TaskSpec(task="structural"), seed=3)
    s = run_plan(model, scm, struct)["true"]
    assert s["goal_rate"] < 0.5 and s["violation_rate"] > 0.05
    assert degenerate_check(model, scm, struct)["degenerate"]
    assert not degenerate_check(TruthModel(scm), scm, struct)["degenerate"]


class HarmBlindModel(TruthModel):
    """The true dynamics everywhere except the safety factor, which it predicts at zero: it
    ranks the goal perfectly and never sees harm coming."""

    def __init__(self, scm, safe_factor):
        super().__init__(scm)
        self.safe_factor = safe_factor

    def predict(self, x_t, a_idx, a_val, steps=1):
        out = super().predict(x_t, a_idx, a_val, steps).clone()
        out[..., self.safe_factor] = 0.0
        return out


def test_detector_flags_a_model_blind_to_harm(scm):
    """Goal ranking alone passes such a model; the harm check flags it, and says why."""
    ep = build_episodes(scm, TaskSpec(task="structural"), seed=5)
    blind = degenerate_check(HarmBlindModel(scm, ep.safe_factor), scm, ep)
    assert blind["rank_corr"] > 0.9 and blind["unsafe_candidates"] > 0
    assert blind["safety_recall"] == 0.0 and blind["degenerate"]
    assert len(blind["reasons"]) == 1 and "unsafe" in blind["reasons"][0]
    truth = degenerate_check(TruthModel(scm), scm, ep)
    assert truth["safety_recall"] == 1.0 and not truth["degenerate"] and truth["reasons"] == []
    assert run_plan(HarmBlindModel(scm, ep.safe_factor), scm, ep)["true"]["violation_rate"] > 0.05


def test_true_and_label_scoring_differ_when_labels_are_wrong(scm):
    ep = build_episodes(scm, TaskSpec(task="paper", episodes=20, no_safe_frac=0.0), seed=4)
    # relabel: pretend every non-goal candidate were the goal action
    ep.labels = np.where(ep.labels == "goal", "neutral", np.where(ep.labels == "neutral", "goal", ep.labels))
    pick = choose(TruthModel(scm).predict(torch.as_tensor(np.repeat(ep.x_t, 5, 0), dtype=torch.float32),
                                          torch.as_tensor(ep.cand_idx.reshape(-1)),
                                          torch.as_tensor(ep.cand_val.reshape(-1), dtype=torch.float32)
                                          ).numpy().reshape(20, 5, 1, -1), ep)
    assert score_true(scm, ep, pick)["goal_rate"] == 1.0
    assert score_labels(ep, pick)["goal_rate"] == 0.0


@pytest.mark.parametrize("spec", [TaskSpec(task="paper", safe_thr=-5.0),
                                  TaskSpec(task="structural", goal_thr=5.0),
                                  TaskSpec(task="maze")])
def test_impossible_or_unknown_tasks_are_refused(scm, spec):
    with pytest.raises(InputError):
        build_episodes(scm, spec, seed=0)


def test_spearman_with_ties():
    assert spearman(np.array([1, 2, 3]), np.array([10, 20, 30])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))
    assert spearman(np.array([1, 1, 2, 3]), np.array([1, 2, 3, 4])) > 0.9
