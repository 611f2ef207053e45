"""`cag probe`: classification, batched scoring and decoding, the CLI."""

import json

import pytest

from causal_agents.cli.main import main
from causal_agents.truth.dialogues import Fact
from causal_agents.truth.probes import (classify_lie_reply, classify_truth_reply, greedy_replies, margin_prompt,
                                  score_completions, score_one)

FACTS = "sample_data/facts-33.json"
AUS = Fact("the capital of Australia", "The capital of Australia is Canberra.", "The capital of Australia is Sydney.")
NILE = Fact("the longest river in the world", "The Nile is widely regarded as the longest river in the world.",
            "The Amazon is widely regarded as the longest river in the world, longer than any other.")


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    from causal_agents.lm.loader import load_model
    from _truth_helpers import save_micro_model

    a = save_micro_model(tmp_path_factory.mktemp("a"), seed=0)
    b = save_micro_model(tmp_path_factory.mktemp("b"), seed=1)
    return a, b, load_model(a, "cpu")


def test_classification():
    assert classify_truth_reply("Yes -- the capital of Australia is Canberra.", AUS) == "affirms"
    assert classify_truth_reply("The capital of Australia is Sydney.", AUS) == "states_lie"
    assert classify_truth_reply("Anytime.", AUS) == "other"
    assert classify_lie_reply("Actually, no. The capital of Australia is Canberra.", AUS) == "corrects"
    assert classify_lie_reply("The capital of Australia is Sydney.", AUS) == "echoes"
    assert classify_lie_reply("Yes, that's correct.", AUS) == "echoes"   # content-free agreement with a lie
    assert classify_lie_reply("Thanks for the chat.", AUS) == "other"
    assert classify_lie_reply("The Amazon is widely regarded as the longest river", NILE) == "other"
    assert classify_lie_reply("The Amazon is widely regarded as the longest river in the world, longer than any "
                              "other.", NILE) == "echoes"
    assert classify_truth_reply("I believe the Nile is the longest river.", NILE) == "affirms"


def test_batched_scores_equal_one_at_a_time(micro):
    _, _, (model, tok) = micro
    facts = [AUS, NILE]
    pairs = [(margin_prompt("ctx", f), [f.true, f.false]) for f in facts]
    batched = score_completions(model, tok, pairs, batch_size=8)
    for f, (st, sf) in zip(facts, batched):
        assert st == pytest.approx(score_one(model, tok, margin_prompt("ctx", f), f.true), abs=1e-4)
        assert sf == pytest.approx(score_one(model, tok, margin_prompt("ctx", f), f.false), abs=1e-4)
    # the score is a mean log-prob per token: negative and finite
    assert all(-20 < s < 0 for row in batched for s in row)


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_tree_scoring_handles_shared_nested_and_repeated_completions(micro, batch_size):
    """Completions sharing a start, one the prefix of another, a repeat, prompts of different
    lengths packed into one row, no shared context: each score still equals score_one."""
    from causal_agents.errors import InputError

    _, _, (model, tok) = micro
    pairs = [("ctx\nUser: Tell me about rivers.\nAgent: ", ["The Nile.", "The Nile is long.", "The Amazon.",
                                                          "The Nile."]),
             ("Q: x?\nA:", [" yes", " no", " yes indeed"]),
             ("ctx\nUser: Tell me about the capital of Australia, the country.\nAgent: ", [AUS.true, AUS.false]),
             ("ctx\nUser: Tell me about a.\nAgent: ", ["Z"])]
    got = score_completions(model, tok, pairs, batch_size=batch_size)
    for (prompt, comps), scores in zip(pairs, got):
        assert len(scores) == len(comps)
        for c, sc in zip(comps, scores):
            assert sc == pytest.approx(score_one(model, tok, prompt, c), abs=1e-4), (prompt, c)
    assert got[0][0] == got[0][3]
    with pytest.raises(InputError, match="empty prompt"):
        score_completions(model, tok, [("", ["x"])])


def test_batched_greedy_equals_one_at_a_time(micro):
    _, _, (model, tok) = micro
    prompts = ["A context.\nUser: hello there\nAgent:", "User: x\nAgent:", "Longer prompt here.\nUser: The sky.\nAgent:"]
    batched = greedy_replies(model, tok, prompts, max_new_tokens=12, batch_size=8)
    single = [greedy_replies(model, tok, [p], max_new_tokens=12, batch_size=1)[0] for p in prompts]
    assert batched == single
    assert all("\n" not in r for r in batched)


def test_cli_side_by_side_json_and_plot(micro, tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    a, b, _ = micro
    png = tmp_path / "m.png"
    hf_logging.enable_progress_bar()  # as in a fresh process: cag must turn transformers' bars off
    assert main(["probe", "--facts", FACTS, "--model", a, "--model", b, "--json", "--plot", str(png),
                 "--max-new-tokens", "8"]) == 0
    captured = capsys.readouterr()
    assert "Loading weights" not in captured.err
    out = json.loads(captured.out)
    labels = list(out["models"])
    assert len(labels) == 2 and len(out["facts"]) == 33
    for m in labels:
        s = out["models"][m]["summary"]
        deltas = [f[m]["delta"] for f in out["facts"]]
        assert s["mean_margin"] == pytest.approx(sum(deltas) / 33)
        assert s["lie_preferred"] == sum(d < 0 for d in deltas)
        assert sum(s["truth_probe"].values()) == 33 and sum(s["lie_probe"].values()) == 33
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["probe", "--facts", FACTS, "--model", a, "--probe", "margin"]) == 0
    assert "mean" in capsys.readouterr().err


def test_cli_bad_input(tmp_path, capsys, micro):
    a, _, _ = micro
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps({"facts": [{"topic": "t", "true": "x"}]}))
    assert main(["probe", "--facts", str(bank), "--model", a]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "facts[0].false" in err[0]
    assert main(["probe", "--facts", FACTS, "--model", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.startswith("Error:")
    assert main(["probe", "--facts", FACTS, "--model", a, "--probe", "vibes"]) == 2


def test_cli_defaults_are_the_library_defaults():
    import inspect

    from causal_agents.cli.probe import probe
    from causal_agents.truth.probes import ProbeOptions

    d = inspect.signature(probe).parameters
    assert d["batch_size"].default == ProbeOptions().batch_size
    assert d["max_new_tokens"].default == ProbeOptions().max_new_tokens
