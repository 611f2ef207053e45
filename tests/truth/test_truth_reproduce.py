"""`cag reproduce truth` end to end on a small scale (the full 3-seed run is benchmarks/bench_truth.py)."""

import json
import os

from causal_agents.cli.main import main


def test_reproduce_truth_small(tmp_path, capsys):
    out = tmp_path / "truth"
    args = ["reproduce", "truth", "-n", "16", "--epochs", "1", "--out", str(out), "--no-progress"]
    assert main([*args, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for mode in ("obs", "do"):
        r = res[mode]
        assert set(r) >= {"mean_margin", "lie_preferred", "supervised_tokens", "truth_contradictions",
                          "lie_corrections"}
        assert 0 <= r["lie_preferred"] <= 33
        assert os.path.exists(os.path.join(r["run_dir"], "cag_run.json"))
    assert res["obs"]["supervised_tokens"] > res["do"]["supervised_tokens"]
    assert res["dialogues"]["n"] == 16
    assert res["dialogues"]["sampling"] == "random"    # the tiny recipe keeps the paper's draws
    for name in ("dialogues.jsonl", "tagged.jsonl", "probes.json", "margins.png", "result.json"):
        assert (out / name).exists(), name
    probes = json.loads((out / "probes.json").read_text())
    assert probes["models"]["obs"]["summary"]["mean_margin"] == res["obs"]["mean_margin"]
    # a finished reproduction is not silently replaced
    assert main(args) == 1
    assert "already holds" in capsys.readouterr().err


def test_fitted_word_tokenizer_round_trips_and_aligns_probe_prompts():
    from causal_agents.truth.dialogues import CONTEXT, generate, load_facts
    from causal_agents.truth.probes import margin_prompt
    from causal_agents.transcripts.word_tokenizer import fit_word_tokenizer

    facts = load_facts("sample_data/facts-33.json")
    rows = generate(facts, n=480, seed=0)
    tok = fit_word_tokenizer([r["text"] for r in rows])
    for s in [rows[0]["text"], "unseen wörds ✓ and\ttabs\n", CONTEXT]:
        assert tok.decode(tok(s)["input_ids"]) == s
    f = facts[1]
    p, c = tok(margin_prompt(CONTEXT, f))["input_ids"], tok(f.true)["input_ids"]
    # the probe's prompt + claim tokenize exactly as the same text inside a training dialogue
    assert p + c == tok(margin_prompt(CONTEXT, f) + f.true)["input_ids"]
    assert len(c) <= 8  # whole words: "The capital of Australia is Canberra."


def test_reproduce_truth_probes_the_base_of_a_pretrained_model(tmp_path, capsys):
    """A saved (non-tiny) model gets a third column: the base model, probed before training;
    the trained models carry their training fields, the base none."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from _truth_helpers import save_micro_model

    model = save_micro_model(tmp_path / "micro")
    out = tmp_path / "truth"
    assert main(["reproduce", "truth", "--model", model, "-n", "8", "--epochs", "1", "--batch-size", "4",
                 "--scheduler", "linear", "--warmup", "0.25", "--amp", "off",
                 "--out", str(out), "--no-progress", "--sequential", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["recipe"]["recipe"] == "cpu"          # auto on a CPU, for a pretrained model
    # the flags given override the recipe's values, and the run records what it trained with
    assert (res["recipe"]["scheduler"], res["recipe"]["warmup"], res["recipe"]["amp"]) == ("linear", 0.25, "off")
    assert (res["recipe"]["batch_size"], res["recipe"]["epochs"]) == (4, 1)
    assert res["dialogues"]["sampling"] == "balanced"  # and its stratified dialogues: 8 over 33 facts
    rows = [json.loads(line) for line in (out / "dialogues.jsonl").read_text().splitlines()]
    assert len({r["fact_index"] for r in rows}) == 8 and sum(r["lied"] for r in rows) == round(0.6 * 8)
    assert {"base", "obs", "do"} <= set(res)
    assert "supervised_tokens" not in res["base"] and "supervised_tokens" in res["obs"]
    probes = json.loads((out / "probes.json").read_text())
    assert list(probes["models"]) == ["base", "obs", "do"]
    assert probes["models"]["base"]["path"] == model
    # the table names all three
    from causal_agents.cli.reproduce import print_comparison

    res["plot"], res["timings"] = "x.png", {"total_s": 1, "train_s": 1, "probe_s": 1}
    print_comparison(res)
    assert "base model" in capsys.readouterr().err


def test_reproduce_truth_rejects_an_unknown_schedule_before_any_work(tmp_path, capsys):
    out = tmp_path / "truth"
    assert main(["reproduce", "truth", "-n", "8", "--scheduler", "step", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "cosine" in err
    assert not (out / "dialogues.jsonl").exists()
