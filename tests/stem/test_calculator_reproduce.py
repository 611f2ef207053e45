"""`cag reproduce stream --variant calculator` end to end on the tiny model, `--size`, and the
calculator variant's options on `cag stream`, `cag eval stem` and `cag data stem`."""

from __future__ import annotations

import json
import os

import pytest

from causal_agents.errors import InputError
from causal_agents.cli.main import main
from causal_agents.stem import calculator
from causal_agents.stem.reproduce import SIZES, StreamExperiment, experiment

TINY = ["--quick", "--size", "0.2", "--max-new-tokens", "6", "--k", "2", "--no-progress"]


def _every_line_calls(monkeypatch):
    """The random tiny model never writes ``calc:``; make every line it writes a call, so that
    the tool's rounds run through the whole pipeline (mostly ``error: ...`` results)."""
    import causal_agents.stem.sample as ss

    monkeypatch.setattr(ss, "tool_call", lambda line: calculator.run(line))


def test_reproduce_stream_calculator_tiny(tmp_path, capsys, monkeypatch):
    _every_line_calls(monkeypatch)
    out = str(tmp_path / "r")
    code = main(["reproduce", "stream", *TINY, "--variant", "calculator", "--out", out,
                 "--methods", "sft,obs_stream,do_stream,sft_oracle", "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["variant"] == "calculator" and res["experiment"]["variant"] == "calculator"
    assert res["size"] == "0.2" and res["experiment"]["counts"] == {"sft": 4, "agent": 2, "test": 2}
    assert res["eval"]["settings"]["variant"] == "calculator"
    s = res["stream"]
    assert s["variant"] == "calculator" and s["wrong"] == 2 and s["tool_calls"] == 2 * s["turns"]
    records = [json.loads(x) for x in open(os.path.join(out, "stream.jsonl"))]
    for r in records:
        a = r["attempts"][0]
        assert [p["role"] for p in a["parts"]] == ["attempt", "tool", "attempt", "tool", "attempt"]
        assert "\nTool: " in a["text"]
        assert [p["role"] for p in a["correction_parts"]] == ["oracle", "tool", "oracle"]
        assert a["correction"].splitlines()[-1].startswith("Final answer: ")
    ev = json.load(open(os.path.join(out, "eval.json")))
    assert all("\nTool: " in o["first"] for o in ev["outputs"]["sft"])
    sup = res["supervised"]
    assert sup["obs_stream"] > sup["do_stream"] > sup["sft_oracle"] > 0
    assert res["obs_stream"]["steps"] == res["do_stream"]["steps"]
    # the tables name the variant
    from causal_agents.cli.reproduce_stream import print_stream_result

    print_stream_result(res)
    err = capsys.readouterr().err
    assert "calculator variant" in err and "calculator calls" in err
    # resuming with the other variant would mix two formats: refused
    assert main(["reproduce", "stream", *TINY, "--out", out, "--resume",
                 "--methods", "sft,obs_stream,do_stream,sft_oracle"]) == 1
    assert "calculator-variant reproduction" in capsys.readouterr().err


@pytest.mark.slow
def test_reproduce_stream_calculator_all_methods(tmp_path, capsys, monkeypatch):
    _every_line_calls(monkeypatch)
    out = str(tmp_path / "r")
    assert main(["reproduce", "stream", *TINY, "--variant", "calculator", "--out", out, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["eval"]["methods"]) == {"base", "sft", "obs_stream", "do_stream", "sft_oracle", "rest", "grpo"}
    assert res["grpo"]["config"]["variant"] == "calculator"


def test_size_scales_the_presets():
    paper = StreamExperiment()
    assert paper.variant == "plain" and paper.size == "paper"
    q = experiment(size="quarter")
    assert q.counts == {"sft": 50, "agent": 50, "test": 25} and q.n_wrong == 100 and q.size == "quarter"
    assert q.rest_groups == q.grpo_groups == round(paper.rest_groups * SIZES["quarter"])
    assert (q.rest_k, q.epochs, q.max_new_tokens) == (paper.rest_k, paper.epochs, paper.max_new_tokens)
    # --n-* and --groups still win over the scaled sizes
    e = experiment(size="0.5", counts={"test": 7}, groups=3)
    assert e.counts == {"sft": 100, "agent": 100, "test": 7} and e.rest_groups == 3
    # with --quick, a fraction of its sizes; never below 1
    assert experiment(quick_size=True, size="0.01").counts == {"sft": 1, "agent": 1, "test": 1}
    assert experiment().counts == paper.counts


def test_recipe_cpu_for_a_pretrained_model_on_a_cpu_and_flags_win(tmp_path):
    real = str(tmp_path / "some-model")  # a path: not the tiny model; nothing is loaded here
    cpu = experiment(size="quarter", model=real, device="cpu")
    assert cpu.recipe == "cpu"
    assert (cpu.lr, cpu.batch_size, cpu.sft_epochs, cpu.max_new_tokens) == (5e-4, 8, 2, 64)
    assert cpu.counts == {"sft": 200, "agent": 50, "test": 25}  # the SFT seed keeps the paper's split
    # a flag given wins over the recipe, and --n-sft over its SFT split
    e = experiment(size="quarter", counts={"sft": 60}, model=real, device="cpu", recipe="cpu", lr=1e-3, batch_size=2)
    assert (e.lr, e.batch_size, e.counts["sft"], e.sft_epochs) == (1e-3, 2, 60, 2)
    paper = experiment(size="quarter", model=real, device="cpu", recipe="paper")
    assert paper.recipe == "paper" and (paper.lr, paper.batch_size, paper.sft_epochs) == (None, None, 1)
    assert paper.counts["sft"] == 50 and paper.max_new_tokens == StreamExperiment().max_new_tokens
    assert experiment(size="quarter").recipe == "tiny"  # the embedded model keeps its own recipe
    with pytest.raises(InputError, match="--recipe|recipe"):
        experiment(model=real, recipe="fast")


@pytest.mark.parametrize("args", [
    ["reproduce", "stream", "--recipe", "fast"],
    ["reproduce", "stream", "--variant", "abacus"],
    ["reproduce", "stream", "--size", "2"],
    ["reproduce", "stream", "--size", "huge"],
    ["reproduce", "stream", "--size", "0"],
    ["stream", "agent.jsonl", "-o", "s.jsonl", "--variant", "abacus"],
    ["eval", "stem", "test.jsonl", "-m", "tiny", "--variant", "abacus"],
    ["data", "stem", "--out", "d", "--variant", "abacus"],
])
def test_bad_variant_or_size_is_a_usage_error(args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert ("--variant" in err or "--size" in err or "--recipe" in err) and "Traceback" not in err
    assert not os.listdir(tmp_path)


def test_data_stem_calculator_and_stream_needs_its_problems(tmp_path, capsys):
    calc, plain = str(tmp_path / "calc"), str(tmp_path / "plain")
    assert main(["data", "stem", "--out", calc, "-n", "sft=3", "-n", "agent=2", "-n", "test=1",
                 "--variant", "calculator", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["variant"] == "calculator"
    sft = [json.loads(x) for x in open(os.path.join(calc, "sft.jsonl"))]
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant", "tool", "assistant"] for r in sft)
    agent = [json.loads(x) for x in open(os.path.join(calc, "agent.jsonl"))]
    assert all(r["calc_expression"] and r["variant"] == "calculator" for r in agent)
    assert main(["data", "stem", "--out", plain, "-n", "sft=1", "-n", "agent=2", "-n", "test=1", "--json"]) == 0
    assert "variant" not in json.loads(capsys.readouterr().out)
    # `cag stream --variant calculator` on plain problems: one clear line, no partial output
    out = str(tmp_path / "s.jsonl")
    assert main(["stream", os.path.join(plain, "agent.jsonl"), "-o", out, "--variant", "calculator",
                 "--max-new-tokens", "4", "--n-wrong", "1"]) == 1
    err = capsys.readouterr().err
    assert "calc_expression" in err and "cag data stem --variant calculator" in err
    assert not os.path.exists(out)
    # on the calculator problems it writes records with the calculator correction
    assert main(["stream", os.path.join(calc, "agent.jsonl"), "-o", out, "--variant", "calculator",
                 "--max-new-tokens", "4", "--n-wrong", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["variant"] == "calculator" and "tool_calls" in summary
    (rec,) = [json.loads(x) for x in open(out)]
    assert rec["attempts"][0]["correction_parts"][1]["role"] == "tool"
