"""`cag train --engine trl`: TRL's SFTTrainer on cag's plan, labels and optimizer."""

import json
import os

import numpy as np
import pytest

from causal_agents.cli.main import main

pytest.importorskip("trl")

DATA = "sample_data/truth_dialogues.jsonl"
FAST = ["--epochs", "1", "--batch-size", "4", "--no-progress", "--threads", "1"]


def lines(path):
    return [json.loads(x) for x in open(path)]


def test_both_masks_see_identical_batches_in_plan_order(tmp_path, capsys):
    """The recorded batch-id log: obs and do get the same micro-batches in the same order, and
    they are cag's plan (the one `--engine cag` trains on)."""
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.data import plan_steps, prepare
    from causal_agents.transcripts.tagging import iter_tagged

    out = tmp_path / "pair"
    assert main(["train", DATA, "--mask", "both", "--engine", "trl", "--out", str(out), *FAST,
                 "--epochs", "2"]) == 0
    capsys.readouterr()
    obs, do = lines(out / "obs" / "batches.jsonl"), lines(out / "do" / "batches.jsonl")
    cfg = TrainConfig(modes=("obs", "do"), epochs=2, batch_size=4).resolved()
    prep = prepare(cfg, list(iter_tagged([DATA])), DATA)
    plan = plan_steps([len(e.input_ids) for e in prep.examples], 4, 1, 1, 2, cfg.seed, cfg.group_by_length)
    assert obs == do == [mb for step in plan for mb in step]
    assert len(obs) == 12 and sorted(i for mb in obs[:6] for i in mb) == list(range(24))


def test_losses_equal_cags_own_loop(tmp_path, capsys):
    """Same initialisation, batches, labels, optimizer and schedule: the per-step losses of the
    two engines agree (TRL's fused loss differs in float rounding only)."""
    runs = {}
    for eng in ("cag", "trl"):
        out = tmp_path / eng
        assert main(["train", DATA, "--mask", "do", "--engine", eng, "--out", str(out), *FAST]) == 0
        runs[eng] = lines(out / "metrics.jsonl")
    capsys.readouterr()
    a, b = runs["cag"], runs["trl"]
    assert [m["supervised_tokens"] for m in a] == [m["supervised_tokens"] for m in b]
    assert [m["tokens"] for m in a] == [m["tokens"] for m in b]
    assert [m["lr"] for m in a] == [m["lr"] for m in b]
    np.testing.assert_allclose([m["loss"] for m in a], [m["loss"] for m in b], rtol=1e-3)
    assert b[-1]["loss"] < b[0]["loss"] - 0.5


def test_trl_refuses_what_it_would_train_differently(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["train", DATA, "--mask", "do", "--engine", "trl", "--out", str(out), *FAST,
                 "--loss-weighting", "message"]) == 1
    assert "--loss-weighting token only" in capsys.readouterr().err
    # 24 transcripts in batches of 4 with 4 micro-batches per step: the last step is short
    assert main(["train", DATA, "--mask", "do", "--engine", "trl", "--out", str(out), *FAST,
                 "--grad-accum", "4"]) == 1
    assert "would regroup the steps" in capsys.readouterr().err
    assert main(["train", DATA, "--mask", "do", "--engine", "torchtune", "--out", str(out)]) == 2
    assert "--engine" in capsys.readouterr().err
    assert not os.path.exists(out / "cag_run.json")
