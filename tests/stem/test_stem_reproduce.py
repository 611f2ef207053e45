"""`cag reproduce stream`: the pipeline end to end on the tiny model (a smoke run)."""

from __future__ import annotations

import json
import os

import pytest

from causal_agents.cli.main import main

SMALL = ["--n-sft", "4", "--n-agent", "4", "--n-test", "2", "--n-wrong", "3", "--max-new-tokens", "6",
         "--k", "2", "--groups", "2", "--no-progress"]


def test_reproduce_stream_small(tmp_path, capsys):
    out = str(tmp_path / "r")
    code = main(["reproduce", "stream", "--quick", "--out", out, "--methods", "sft,obs_stream,do_stream,sft_oracle",
                 *SMALL, "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    methods = res["eval"]["methods"]
    assert list(methods) == ["base", "sft", "obs_stream", "do_stream", "sft_oracle"]
    for m in methods.values():
        assert {"single", "gated", "matched"} <= set(m)
        assert m["single"]["overall"]["n"] == 2
    assert res["stream"]["wrong"] == 3  # the tiny model solves nothing: 3 turns, 3 wrong
    sup = res["supervised"]
    # obs imitates the attempts too; do supervises verdicts and corrections; oracle only corrections
    assert sup["obs_stream"] > sup["do_stream"] > sup["sft_oracle"] > 0
    assert res["sft_oracle"]["rows"] == 3
    assert set(res["timings"]) == {"data", "sft", "stream", "obs/do stream", "sft+oracle", "eval"}
    for f in ("result.json", "eval.json", "stream.jsonl", "data/test.jsonl"):
        assert os.path.exists(os.path.join(out, f))
    # the paired obs/do run replayed one plan
    assert res["obs_stream"]["steps"] == res["do_stream"]["steps"]
    # a finished reproduction is not overwritten by accident
    assert main(["reproduce", "stream", "--quick", "--out", out, *SMALL]) == 1
    assert "already holds a finished reproduction" in capsys.readouterr().err
    # --resume keeps the finished stages: the same stream file, the same runs
    stream_bytes = open(os.path.join(out, "stream.jsonl"), "rb").read()
    sft_mtime = os.path.getmtime(os.path.join(out, "sft", "cag_run.json"))
    assert main(["reproduce", "stream", "--quick", "--out", out, "--methods", "sft,obs_stream,do_stream,sft_oracle",
                 *SMALL, "--resume", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert open(os.path.join(out, "stream.jsonl"), "rb").read() == stream_bytes
    assert os.path.getmtime(os.path.join(out, "sft", "cag_run.json")) == sft_mtime
    assert again["supervised"] == sup and again["eval"]["methods"] == res["eval"]["methods"]


def test_reproduce_stream_bad_method(capsys):
    assert main(["reproduce", "stream", "--methods", "sft,dpo"]) == 2
    assert "dpo" in capsys.readouterr().err


@pytest.mark.slow
def test_reproduce_stream_quick_all_methods(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["reproduce", "stream", "--quick", "--out", out, "--no-progress", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert list(res["eval"]["methods"]) == ["base", "sft", "obs_stream", "do_stream", "sft_oracle", "rest", "grpo"]
    assert res["grpo"]["updates"] + res["grpo"]["flat_groups"] == res["grpo"]["groups"]
    assert res["rest_selection"]["groups"] == 4


def test_experiment_from_command_line_options(capsys):
    from causal_agents.stem.reproduce import StreamExperiment, experiment, quick

    exp = experiment(True, counts={"sft": 7, "agent": None}, methods="sft, rest", k=3, groups=None, lr=None, seed=4)
    q = quick(StreamExperiment())
    assert exp.counts == {**q.counts, "sft": 7} and exp.methods == ("sft", "rest") and exp.seed == 4
    assert (exp.rest_k, exp.grpo_k, exp.rest_groups, exp.lr) == (3, 3, q.rest_groups, None)
    assert experiment().counts == StreamExperiment().counts
    assert main(["reproduce", "stream", "--n-agent", "0"]) == 2
    assert "--n-agent" in capsys.readouterr().err


def test_cli_defaults_are_the_library_defaults():
    import inspect

    from causal_agents.cli.reproduce_stream import stream
    from causal_agents.cli.stream import stream as collect_cmd
    from causal_agents.stem.collect import CollectOptions
    from causal_agents.stem.reproduce import StreamExperiment

    d = {k: p.default.default if hasattr(p.default, "default") else p.default
         for k, p in inspect.signature(collect_cmd).parameters.items()}
    opts = CollectOptions()
    for f in ("n_wrong", "budget", "batch_size", "max_new_tokens", "temperature", "top_p", "seed", "verdicts"):
        assert d[f] == getattr(opts, f), f
    d = inspect.signature(stream).parameters
    exp = StreamExperiment()
    for f in ("seed", "lora", "verdicts", "device"):
        assert d[f].default == getattr(exp, f), f
