"""Stream records (x -> attempt -> verdict -> correction), the stream renderer, and the
sample stream file."""

import importlib.util
from pathlib import Path

import pytest

from causal_agents.formats.io import read_records
from causal_agents.transcripts.provenance import TagOptions, tag_record
from causal_agents.transcripts.render_stream import (AGENT, CONTEXT, PROTOCOL, WORLD, prompt, render_stream,
                                         repair_prompt)
from causal_agents.stem.problems import generate, sft_record
from causal_agents.stem.stream_records import build_stream_record

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "sample_data" / "stem_stream.jsonl")


@pytest.fixture(scope="module")
def problem():
    return next(p for p in generate(0, {"sft": 0, "agent": 0, "test": 10})["test"] if p["skill"] == "molarity")


def _wrong(p):
    return f"I guess. Final answer: {p['answer'] * 3:.4g} {p['unit']}"


def _tag(rec):
    return tag_record(rec, {"file": "s.jsonl", "line": 1}, TagOptions())


def test_correct_first_attempt_has_no_correction(problem):
    rec = build_stream_record(problem, [problem["solution"]])
    assert rec["passed"] == [True]
    assert rec["attempts"] == [{"text": problem["solution"], "verdict": rec["attempts"][0]["verdict"]}]
    assert rec["attempts"][0]["verdict"].startswith("correct")
    for k in ("skill", "domain", "answer", "unit", "tol_abs", "tol_rel"):
        assert rec[k] == problem[k]
    assert rec["problem_id"] == problem["id"] and rec["question"] == problem["question"]


def test_wrong_attempt_gets_verdict_then_oracle(problem):
    rec = build_stream_record(problem, [_wrong(problem)])
    a = rec["attempts"][0]
    assert rec["passed"] == [False]
    assert a["verdict"].startswith("incorrect") and a["correction"] == problem["solution"]
    t = _tag(rec)
    assert [(s["role"], s["gate"]) for s in t["segments"]] == [
        ("question", "context"), ("attempt", "agent"), ("verifier", "world"), ("oracle", "world")]
    assert t["meta"]["skill"] == "molarity" and "attempts" not in t["meta"]


def test_oracle_modes_and_retry(problem):
    w = _wrong(problem)
    last = build_stream_record(problem, [w, w])
    assert ["correction" in a for a in last["attempts"]] == [False, True]
    every = build_stream_record(problem, [w, w], oracle="every")
    assert ["correction" in a for a in every["attempts"]] == [True, True]
    repaired = build_stream_record(problem, [w, problem["solution"]])
    assert repaired["passed"] == [False, True]
    assert not any("correction" in a for a in repaired["attempts"])


def test_no_verdicts_leaves_only_corrections_as_world(problem):
    rec = build_stream_record(problem, [_wrong(problem)], verdicts=False)
    assert "verdict" not in rec["attempts"][0]
    assert [s["gate"] for s in _tag(rec)["segments"]] == ["context", "agent", "world"]


def test_builder_rejects_bad_attempts(problem):
    with pytest.raises(ValueError, match="already passed"):
        build_stream_record(problem, [problem["solution"], "again"])
    with pytest.raises(ValueError, match="at least one"):
        build_stream_record(problem, [])
    with pytest.raises(ValueError, match="oracle"):
        build_stream_record(problem, ["x"], oracle="never")


def _check_tiling(text, spans, n_segments):
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (s0, e0, *_), (s1, *_rest) in zip(spans, spans[1:]):
        assert e0 == s1
    assert all(s < e for s, e, *_ in spans)
    assert sorted({sp[3] for sp in spans}) == list(range(n_segments))


def test_render_stream_paper_format_and_classes(problem):
    wrong = _wrong(problem)
    t = _tag(build_stream_record(problem, [wrong]))
    text, spans = render_stream(t["segments"])
    v = t["segments"][2]["text"]
    assert text == (f"Question:\n{problem['question']}\nProposed solution:\n{wrong}\n"
                    f"Verdict: {v}\nProposed solution:\n{problem['solution']}\n")
    _check_tiling(text, spans, 4)
    got = [(text[s:e], cls, seg, tr) for s, e, cls, seg, tr in spans]
    assert got == [
        ("Question:\n", PROTOCOL, 0, False), (problem["question"] + "\n", CONTEXT, 0, True),
        ("Proposed solution:\n", PROTOCOL, 1, False), (wrong + "\n", AGENT, 1, True),
        ("Verdict: ", PROTOCOL, 2, False), (v + "\n", WORLD, 2, True),
        ("Proposed solution:\n", PROTOCOL, 3, False), (problem["solution"] + "\n", WORLD, 3, True),
    ]
    assert (CONTEXT, PROTOCOL, WORLD, AGENT) == (0, 1, 2, 3)
    # the renderer's prefix up to the attempt is exactly the evaluation prompt
    assert text.startswith(prompt(problem["question"]) + wrong)
    assert text.startswith(repair_prompt(problem["question"], wrong, v))


def test_render_stream_weight_and_protocol_option():
    segs = [{"role": "question", "text": "q", "gate": "context"},
            {"role": "attempt", "text": "a", "gate": "agent", "weight": 0},
            {"role": "critic", "text": "c", "gate": "world"},
            {"role": "system", "text": "s", "gate": "context"}]
    text, spans = render_stream(segs, protocol_trainable=True)
    assert text == "Question:\nq\nProposed solution:\na\nCritic: c\ns\n"
    _check_tiling(text, spans, 4)
    assert [(cls, tr) for _, _, cls, _, tr in spans] == [
        (PROTOCOL, True), (CONTEXT, True), (PROTOCOL, False), (AGENT, False), (PROTOCOL, True), (WORLD, True),
        (CONTEXT, True)]
    with pytest.raises(ValueError, match="gate"):
        render_stream([{"role": "x", "text": "", "gate": "nobody"}])


def test_sft_record_renders_like_the_stream():
    p = generate(1, {"sft": 1, "agent": 0, "test": 0})["sft"][0]
    text, spans = render_stream(_tag(sft_record(p))["segments"])
    assert text == f"Question:\n{p['question']}\nProposed solution:\n{p['solution']}\n"
    assert [cls for _, _, cls, _, _ in spans] == [PROTOCOL, CONTEXT, PROTOCOL, WORLD]


def test_sample_file_is_tag_readable_and_current(tmp_path):
    rows = list(read_records(SAMPLE))
    assert len(rows) >= 5
    kinds = set()
    for loc, rec in rows:
        t = tag_record(rec, loc, TagOptions())
        assert t["format"] == "stream"
        gates = [s["gate"] for s in t["segments"]]
        assert gates[0] == "context" and "agent" in gates
        text, spans = render_stream(t["segments"])
        _check_tiling(text, spans, len(t["segments"]))
        kinds.add((tuple(rec["passed"]), any("correction" in a for a in rec["attempts"])))
    assert ((True,), False) in kinds and ((False,), True) in kinds and ((False, True), False) in kinds
    # the committed sample is exactly what its script builds
    spec = importlib.util.spec_from_file_location("make_stem_stream", ROOT / "sample_data" / "make_stem_stream.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    assert maker.records() == [rec for _, rec in rows]
