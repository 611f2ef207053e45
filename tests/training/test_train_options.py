"""Long transcripts and logging in cag's own loop: --max-length with --truncate left|right,
--gradient-checkpointing, --report-to."""

import json
import os

import numpy as np
import pytest

from causal_agents.cli.main import main

DATA = "sample_data/agent_tools.jsonl"
FAST = ["--epochs", "1", "--batch-size", "3", "--no-progress", "--threads", "1"]


def run(tmp_path, capsys, name, *args):
    out = tmp_path / name
    assert main(["train", DATA, "--mask", "do", "--out", str(out), "--json", *FAST, *args]) == 0
    res = json.loads(capsys.readouterr().out)
    return out, res


def test_truncate_left_keeps_the_supervised_end_and_reports_the_loss(tmp_path, capsys):
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats
    from causal_agents.transcripts.tagging import iter_tagged

    _, right = run(tmp_path, capsys, "r", "--max-length", "200")
    _, left = run(tmp_path, capsys, "l", "--max-length", "200", "--truncate", "left")
    stats = compute_stats(iter_tagged([DATA]), StatsOptions(max_length=200))
    # printed counts stay `cag stats`'s; the loss of each side is reported
    assert right["supervised_tokens"] == left["supervised_tokens"] == {"do": stats["supervised"]["do"]}
    assert right["runs"]["do"]["truncation_lost"] == stats["truncation"]["lost"]["do"] > 0
    lost_left = left["runs"]["do"]["truncation_lost"]
    assert 0 < lost_left != right["runs"]["do"]["truncation_lost"]
    # what was trained: stats minus what each side lost
    for res in (right, left):
        n = res["supervised_tokens"]["do"] - res["runs"]["do"]["truncation_lost"]
        m = [json.loads(x) for x in open(os.path.join(res["runs"]["do"]["run_dir"], "metrics.jsonl"))]
        assert sum(r["supervised_tokens"] for r in m) == n
    assert main(["train", DATA, "--mask", "do", "--truncate", "middle", "--out", str(tmp_path / "x")]) == 2


def test_gradient_checkpointing_trains_the_same_weights(tmp_path, capsys):
    from safetensors.numpy import load_file

    a, _ = run(tmp_path, capsys, "plain")
    b, _ = run(tmp_path, capsys, "ckpt", "--gradient-checkpointing")
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], atol=1e-5, err_msg=k)
    assert json.loads((b / "cag_config.json").read_text())["gradient_checkpointing"] is True
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.model import build_model
    from causal_agents.transcripts.tokenizer import load_tokenizer

    for on in (False, True):
        import torch

        m = build_model(TrainConfig(gradient_checkpointing=on).resolved(), load_tokenizer(), torch.float32)
        assert m.is_gradient_checkpointing is on


def test_report_to_tensorboard_logs_every_step(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = run(tmp_path, capsys, "tb", "--report-to", "tensorboard")
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("train/loss")]
    m = [json.loads(x) for x in open(out / "metrics.jsonl")]
    np.testing.assert_allclose(losses, [r["loss"] for r in m], rtol=1e-6)


def test_report_to_wandb_offline(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    out, _ = run(tmp_path, capsys, "wb", "--report-to", "wandb")
    assert any(n.startswith("offline-run") for n in os.listdir(out / "wandb"))


def test_report_to_bad_value(tmp_path, capsys):
    assert main(["train", DATA, "--mask", "do", "--report-to", "mlflow", "--out", str(tmp_path / "x")]) == 2
    assert "--report-to" in capsys.readouterr().err


def test_fractional_loss_weight_metrics_count_positions_and_sum_weights(tmp_path, capsys):
    """metrics.jsonl: supervised_tokens counts every position with a nonzero weight (what `cag
    stats` counts), supervised_weight sums the weights (the loss's denominator). Before, token
    weighting wrote the weight sum as the count: a half-weighted tool result counted half."""
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats
    from causal_agents.transcripts.tagging import iter_tagged

    recs = [json.loads(x) for x in open(DATA)]
    for r in recs:
        for m in r["messages"]:
            if m["role"] == "tool":
                m["loss_weight"] = 0.5
    data = tmp_path / "half.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    stats = compute_stats(iter_tagged([str(data)]), StatsOptions())
    n, tool = stats["supervised"]["obs"], stats["by_role"]["tool"]["obs"]
    assert tool > 0
    out = tmp_path / "run"
    assert main(["train", str(data), "--mask", "obs", "--out", str(out), "--json", *FAST]) == 0
    res = json.loads(capsys.readouterr().out)
    m = [json.loads(x) for x in open(out / "metrics.jsonl")]
    assert res["supervised_tokens"] == {"obs": n}
    assert sum(r["supervised_tokens"] for r in m) == n
    assert sum(r["supervised_weight"] for r in m) == pytest.approx(n - 0.5 * tool)
    pytest.importorskip("trl")
    assert main(["train", str(data), "--mask", "obs", "--engine", "trl", "--out", str(tmp_path / "t"), *FAST]) == 1
    assert "--engine trl cannot honour a fractional loss_weight" in capsys.readouterr().err
    assert not (tmp_path / "t" / "cag_run.json").exists()
