"""`cag stream`: batched sampling, the collection loop's stopping rules, the written records."""

from __future__ import annotations

import json

import pytest

from causal_agents.cli.main import main
from causal_agents.stem.problems import generate
from causal_agents.stem.collect import CollectOptions, collect, stream_accounting
from causal_agents.lm.loader import load_model
from causal_agents.stem.sample import first_line, sample


@pytest.fixture(scope="module")
def problems():
    return generate(seed=3, counts={"sft": 0, "agent": 6, "test": 0})["agent"]


@pytest.fixture(scope="module")
def tiny():
    return load_model(None, seed=0)


def test_first_line():
    assert first_line("\n\n  x = 2. Final answer: 2 V\nmore") == "x = 2. Final answer: 2 V"
    assert first_line("\n \n") == ""


def test_sample_is_deterministic_and_bounded(tiny, problems):
    model, tok = tiny
    prompts = [f"Question:\n{p['question']}\nProposed solution:\n" for p in problems[:3]]
    a = sample(model, tok, prompts, max_new_tokens=6, batch_size=2, temperature=1.0, seed=5)
    b = sample(model, tok, prompts, max_new_tokens=6, batch_size=2, temperature=1.0, seed=5)
    c = sample(model, tok, prompts, max_new_tokens=6, batch_size=2, temperature=1.0, seed=6)
    g = sample(model, tok, prompts, max_new_tokens=6, batch_size=3, temperature=0.0)
    assert a == b and len(a) == 3
    assert a != c
    assert all("\n" not in s and len(s) <= 6 for s in a + g)  # byte tokenizer: a token is at most one character


def _scripted(monkeypatch, right_every: int):
    """A policy that answers right on every ``right_every``-th prompt it sees."""
    import causal_agents.stem.sample as ss

    calls = {"n": 0}

    def fake(model, tok, prompts, *a, **k):
        out = []
        for p in prompts:
            calls["n"] += 1
            out.append("Final answer: 1e99" if calls["n"] % right_every else "__RIGHT__")
        return out

    monkeypatch.setattr(ss, "sample", fake)


def test_collect_stops_at_n_wrong_and_cycles(monkeypatch, problems):
    _scripted(monkeypatch, right_every=3)
    import causal_agents.stem.stream_records as st

    real = st.build_stream_record

    def build(p, attempts, **k):  # "__RIGHT__" stands for the problem's own worked solution
        return real(p, [p["solution"] if a == "__RIGHT__" else a for a in attempts], **k)

    monkeypatch.setattr("causal_agents.stem.collect.build_stream_record", build)
    recs, summ = collect(None, None, problems, CollectOptions(n_wrong=9, batch_size=4))
    assert summ["wrong"] == 9 and summ["stopped_by"] == "n_wrong"
    assert summ["turns"] == len(recs) == 13  # every third attempt right: 9 wrong need 13 turns
    assert summ["correct"] == 4
    # cycles through the split in order: turn t attempts problem t mod 6
    assert [r["problem_id"] for r in recs[:7]] == [p["id"] for p in problems] + [problems[0]["id"]]
    assert len({r["id"] for r in recs}) == len(recs)
    for r in recs:
        a = r["attempts"][0]
        assert ("correction" in a) == (not r["passed"][0])
        assert a["verdict"].startswith("correct" if r["passed"][0] else "incorrect")


def test_collect_budget(monkeypatch, problems):
    _scripted(monkeypatch, right_every=1)  # always "__RIGHT__", which the verifier rejects as text
    recs, summ = collect(None, None, problems, CollectOptions(n_wrong=100, budget=5, batch_size=4, verdicts=False))
    assert summ["turns"] == 5 and summ["stopped_by"] == "budget"
    assert all("verdict" not in r["attempts"][0] for r in recs)


def test_stream_accounting_do_supervises_only_world(problems):
    from causal_agents.stem.stream_records import build_stream_record

    right = build_stream_record(problems[0], [problems[0]["solution"]], verdicts=False)
    wrong = build_stream_record(problems[1], ["Final answer: 1e99"], verdicts=False)
    acc = stream_accounting([right, wrong])
    # obs supervises both attempts (and the correction); do only the correction
    nbytes = (lambda s: len(s.encode()) + 1)  # byte tokenizer; + the closing newline
    assert acc["supervised"]["do"] == nbytes(problems[1]["solution"])
    assert acc["supervised"]["obs"] == (acc["supervised"]["do"] + nbytes(problems[0]["solution"])
                                        + nbytes("Final answer: 1e99"))
    assert acc["line"].startswith("obs supervises")


def test_cli_stream_tiny(tmp_path, capsys):
    assert main(["data", "stem", "--out", str(tmp_path / "d"), "-n", "sft=0", "-n", "agent=4", "-n", "test=0"]) == 0
    out = tmp_path / "s.jsonl"
    code = main(["stream", str(tmp_path / "d" / "agent.jsonl"), "-o", str(out), "--n-wrong", "3",
                 "--max-new-tokens", "4", "--batch-size", "2", "--json"])
    assert code == 0
    summ = json.loads(capsys.readouterr().out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert summ["turns"] == len(lines) and summ["wrong"] == 3  # random weights solve nothing
    assert summ["stats"]["supervised"]["do"] < summ["stats"]["supervised"]["obs"]
    tagged = tmp_path / "t.jsonl"
    assert main(["tag", str(out), "-o", str(tagged)]) == 0
    gates = {(s["role"], s["gate"]) for s in json.loads(tagged.read_text().splitlines()[0])["segments"]}
    assert gates == {("question", "context"), ("attempt", "agent"), ("verifier", "world"), ("oracle", "world")}


def test_cli_stream_bad_problem_file(tmp_path, capsys):
    bad = tmp_path / "agent.jsonl"
    bad.write_text('{"id": "a", "question": "q?", "answer": 1}\n{"id": "b", "question": "q?"}\n')
    out = tmp_path / "s.jsonl"
    assert main(["stream", str(bad), "-o", str(out), "--n-wrong", "1"]) == 1
    err = capsys.readouterr().err
    assert "agent.jsonl" in err and ":2: field" in err and "answer" in err
    assert not out.exists()


def test_token_tables_byte_tokenizer():
    from causal_agents.stem.sample import token_tables
    from causal_agents.transcripts.tokenizer import load_tokenizer

    tok = load_tokenizer(None)
    has_nl, content = token_tables(tok)
    nl = tok("\n", add_special_tokens=False)["input_ids"][0]
    a = tok("a", add_special_tokens=False)["input_ids"][0]
    sp = tok(" ", add_special_tokens=False)["input_ids"][0]
    assert has_nl[nl] and not content[nl]
    assert content[a] and not has_nl[a]
    assert not content[sp] and not has_nl[sp]
    assert not content[tok.eos_token_id]
    assert int(has_nl.sum()) == 1  # one byte is a newline
