"""The methods' training data ("Continual, interactive, causal agents" (de Freitas and Ortega, 2026, sec. 2.3)
and their token accounting."""

from __future__ import annotations

import pytest

from causal_agents.stem.problems import generate
from causal_agents.stem.stream_records import build_stream_record
from causal_agents.stem.collect import stream_accounting
from causal_agents.stem.methods import oracle_records, rest_select, sft_records, tag_all

WRONG = "Final answer: 1e99"


@pytest.fixture(scope="module")
def problems():
    return generate(seed=5, counts={"sft": 0, "agent": 5, "test": 0})["agent"]


def _stream(problems, verdicts):
    # problems 0, 2, 4 wrong; 1, 3 right first time
    return [build_stream_record(p, [WRONG if i % 2 == 0 else p["solution"]], verdicts=verdicts,
                                record_id=f"{p['id']}:stream:{i}") for i, p in enumerate(problems)]


def test_oracle_rows_are_the_corrections(problems):
    stream = _stream(problems, verdicts=True)
    rows = oracle_records(stream)
    assert [r["problem_id"] for r in rows] == [problems[i]["id"] for i in (0, 2, 4)]
    for r, i in zip(rows, (0, 2, 4)):
        assert r["messages"][1]["content"] == problems[i]["solution"]
    gates = [[(s["role"], s["gate"]) for s in t["segments"]] for t in tag_all(rows)]
    assert all(g == [("user", "context"), ("assistant", "world")] for g in gates)


def test_do_stream_and_sft_oracle_supervise_the_same_correction_tokens(problems):
    """The paper's key ablation: without verdict lines both supervise exactly the corrections
    (17,924 tokens each in its run); obs also imitates every first attempt."""
    stream = _stream(problems, verdicts=False)
    s = stream_accounting(stream)
    o = stream_accounting(oracle_records(stream))
    corr = sum(len(problems[i]["solution"].encode()) + 1 for i in (0, 2, 4))  # byte tokens + newline
    assert s["supervised"]["do"] == o["supervised"]["do"] == o["supervised"]["obs"] == corr
    attempts = 3 * (len(WRONG) + 1) + sum(len(problems[i]["solution"].encode()) + 1 for i in (1, 3))
    assert s["supervised"]["obs"] == corr + attempts
    assert s["tokens"] > o["tokens"]  # the stream keeps the attempts as context


def test_sft_records_supervise_the_teacher(problems):
    acc = stream_accounting(sft_records(problems))
    assert acc["supervised"]["do"] == acc["supervised"]["obs"] == sum(len(p["solution"].encode()) + 1 for p in problems)


def test_rest_select_one_passing_sample_per_group(problems):
    p0, p1, p2 = problems[:3]
    samples = [
        [WRONG, p0["solution"], p0["solution"], "x. " + p0["solution"]],  # 2 unique passing, keep the first
        [WRONG, WRONG, "", WRONG],                                         # nothing passes: flat
        [p2["solution"]] * 4,                                              # all pass: flat, one kept
    ]
    recs, counts = rest_select([p0, p1, p2], samples)
    assert [r["problem_id"] for r in recs] == [p0["id"], p2["id"]]
    assert recs[0]["messages"][1]["content"] == p0["solution"]
    assert counts == {"groups": 3, "samples": 12, "passing_unique": 3, "selected": 2, "flat_groups": 2}
    # ReST imitates its own samples: agent-gated, so supervised under obs and masked under do
    t = tag_all(recs)
    assert t[0]["segments"][1]["gate"] == "agent"
    acc = stream_accounting(recs)
    assert acc["supervised"]["do"] == 0 and acc["supervised"]["obs"] > 0
