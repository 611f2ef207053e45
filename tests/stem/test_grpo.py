"""GRPO pieces: group-standardised advantages, the clipped surrogate with KL, the loop."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from causal_agents.stem.grpo import GRPOConfig, completion_batch, group_advantages, grpo_loss, train_grpo


def test_group_advantages_match_eq_10():
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    a = group_advantages(r)
    std = math.sqrt(0.1875 + 1e-6)  # mean 0.25, population variance 0.1875
    assert torch.allclose(a[0], torch.tensor([0.75, -0.25, -0.25, -0.25]) / std)
    assert torch.equal(a[1], torch.zeros(4))  # a flat group carries no signal
    assert abs(float(a[0].sum())) < 1e-6


def test_loss_at_the_start_is_zero_and_kl_vanishes():
    logp = torch.log(torch.full((2, 3), 0.5))
    adv = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 3)
    loss, st = grpo_loss(logp, logp, logp, adv, mask)
    assert abs(float(loss)) < 1e-7 and st["kl"] == 0.0 and st["clip_frac"] == 0.0


def test_clipping_stops_the_gradient_past_the_range():
    old = torch.zeros(1, 2)
    # token 0 ratio e^0.5 > 1.2 with A > 0: clipped, no gradient; token 1 ratio 1: gradient
    logp = torch.tensor([[0.5, 0.0]], requires_grad=True)
    loss, st = grpo_loss(logp, old, old.clone(), torch.tensor([1.0]), torch.ones(1, 2), clip_eps=0.2, beta=0.0)
    loss.backward()
    assert logp.grad[0, 0] == 0 and logp.grad[0, 1] < 0
    assert st["clip_frac"] == 0.5
    # with a negative advantage the same ratio is not clipped (min picks the unclipped term)
    logp2 = torch.tensor([[0.5, 0.0]], requires_grad=True)
    grpo_loss(logp2, old, old.clone(), torch.tensor([-1.0]), torch.ones(1, 2), 0.2, 0.0)[0].backward()
    assert logp2.grad[0, 0] > 0


def test_kl_term_is_the_k3_estimator_and_masked():
    logp = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-1.5, -9.0]])
    mask = torch.tensor([[1.0, 0.0]])  # the second position is padding
    loss, st = grpo_loss(logp, logp, ref, torch.tensor([0.0]), mask, beta=1.0)
    d = -0.5
    assert st["kl"] == pytest.approx(math.exp(d) - d - 1)
    assert float(loss) == pytest.approx(math.exp(d) - d - 1)


def test_completion_batch_masks_completion_predictions():
    from causal_agents.transcripts.tokenizer import load_tokenizer

    tok = load_tokenizer(None)
    ids, mask = completion_batch(tok, ["ab", "abcd"], ["xy\n", "z\n"])
    assert ids.shape == (2, 6) and mask.shape == (2, 5)
    # row 0: prompt 2 tokens, completion 3: positions 1..3 predict x, y, \n
    assert mask[0].tolist() == [False, True, True, True, False]
    assert mask[1].tolist() == [False, False, False, True, True]


def test_train_grpo_updates_on_non_flat_groups(tmp_path, monkeypatch):
    import causal_agents.stem.verifier as ver
    from causal_agents.stem.problems import generate
    from causal_agents.lm.loader import load_model

    # a reward the random tiny model can earn: an even-length answer "passes"
    monkeypatch.setattr(ver, "verify_problem", lambda p, s: type("V", (), {"passed": len(s) % 2 == 0})())
    problems = generate(seed=1, counts={"sft": 0, "agent": 3, "test": 0})["agent"]
    from causal_agents.stem.reproduce import save_tiny_base

    base = save_tiny_base(str(tmp_path / "base"), seed=0)
    out = str(tmp_path / "grpo")
    cfg = GRPOConfig(k=4, groups=3, max_new_tokens=6, lr=1e-2, inner_steps=2, seed=0)
    summ = train_grpo(base, problems, out, cfg, lora=True)
    rows = [json.loads(x) for x in open(os.path.join(out, "metrics.jsonl"))]
    assert summ["updates"] == len(rows) and summ["updates"] + summ["flat_groups"] == 3
    assert summ["updates"] >= 1
    assert all(0 < r["reward_mean"] < 1 for r in rows)
    assert os.path.exists(os.path.join(out, "cag_run.json"))
    # the saved adapter moved the policy away from the tiny start
    model, tok = load_model(out, merge_lora=True)
    start, _ = load_model(base, merge_lora=True)
    ids = torch.tensor([tok("Question:\nx\n", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        a, b = model(input_ids=ids).logits, start(input_ids=ids).logits
    assert not torch.allclose(a, b)
    assert (a - b).abs().max() < 5  # an adapter's nudge, not re-initialised weights
