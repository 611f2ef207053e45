"""`cag data dialogues`: the truth experiment's data."""

import json

import pytest

from causal_agents.cli.main import main
from causal_agents.truth.dialogues import CONFIRMATIONS, CORRECTIONS, CONTEXT, TAILS, generate, load_facts, parse_facts
from causal_agents.errors import InputError
from causal_agents.formats.adapters import to_messages

FACTS = "sample_data/facts-33.json"


def test_paper_shape_and_counts():
    facts = load_facts(FACTS)
    assert len(facts) == 33
    d = generate(facts, n=480, p_lie=0.6, p_tail=0.5, seed=0)
    assert len(d) == 480
    lied = sum(r["lied"] for r in d)
    tails = sum(r["tail"] for r in d)
    assert 250 < lied < 330 and 200 < tails < 280  # binomial(480, 0.6) and (480, 0.5)
    assert generate(facts, n=480, seed=0) == d       # deterministic given the seed
    assert generate(facts, n=480, seed=1) != d


def test_every_dialogue_restates_the_truth_and_the_agent_claim_matches_lied():
    facts = load_facts(FACTS)
    for r in generate(facts, n=200, seed=3):
        f = facts[r["fact_index"]]
        msgs = to_messages(r, "text")
        assert msgs[0]["role"] == "context" and msgs[0]["text"] == CONTEXT
        roles = [m["role"] for m in msgs[1:]]
        assert roles[:4] == ["User", "Agent", "User", "Agent"]
        assert len(roles) in (4, 6, 8) and roles == ["User", "Agent"] * (len(roles) // 2)
        assert f.topic in msgs[1]["text"]
        assert msgs[2]["text"] == (f.false if r["lied"] else f.true)
        assert msgs[3]["text"].endswith(f.true)          # correction or confirmation restates the truth
        later = " ".join(m["text"] for m in msgs[4:])
        assert f.true not in later and f.false not in later  # acknowledgements and tails carry no claims
        assert r["text"].endswith("\n")


# sha256 of the 480 paper-design dialogues for seed 0 over the 33 facts, as generated before
# --sampling existed: adding it must not change any earlier result's data.
SEED0_RANDOM_SHA = "d1bec4337835c9f9f3d78a33a7c4c64d58546b65ca0ac4dff611a41deea809d5"


def test_random_stream_is_unchanged_by_the_sampling_option():
    import hashlib

    d = generate(load_facts(FACTS), n=480, seed=0)
    assert hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest() == SEED0_RANDOM_SHA


@pytest.mark.parametrize("n,n_facts", [(240, 33), (240, 24), (480, 33), (50, 24), (10, 33), (33, 33)])
def test_balanced_gives_every_fact_its_share_and_lie_rate(n, n_facts):
    facts = load_facts(FACTS)[:n_facts]
    d = generate(facts, n=n, p_lie=0.6, seed=5, sampling="balanced")
    assert len(d) == n
    counts = [sum(r["fact_index"] == i for r in d) for i in range(n_facts)]
    lies = [sum(r["fact_index"] == i and r["lied"] for r in d) for i in range(n_facts)]
    assert max(counts) - min(counts) <= 1 and sum(counts) == n
    assert sum(lies) == round(0.6 * n)                              # the total lie rate is exact
    for c, k in zip(counts, lies):
        assert abs(k - 0.6 * c) < 1                                 # each fact's share up to rounding
    assert generate(facts, n=n, p_lie=0.6, seed=5, sampling="balanced") == d
    assert [r["fact_index"] for r in d] != sorted(r["fact_index"] for r in d)  # shuffled, not in fact order


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_balanced_extreme_lie_rates(p):
    d = generate(load_facts(FACTS), n=100, p_lie=p, seed=0, sampling="balanced")
    assert sum(r["lied"] for r in d) == round(100 * p)


def test_random_sampling_is_the_default_and_draws_with_replacement():
    facts = load_facts(FACTS)
    d = generate(facts, n=240, seed=2)
    assert generate(facts, n=240, seed=2, sampling="random") == d
    counts = [sum(r["fact_index"] == i for r in d) for i in range(len(facts))]
    assert max(counts) - min(counts) > 1                             # unstratified: uneven per fact


def test_unknown_sampling_is_refused():
    with pytest.raises(InputError, match="--sampling must be one of random, balanced"):
        generate(load_facts(FACTS), n=10, sampling="stratified")


def test_template_pools_have_several_forms():
    assert len(CORRECTIONS) >= 4 and len(CONFIRMATIONS) >= 4 and len(TAILS) >= 4
    assert all("{truth}" in form for form, _ in CONFIRMATIONS)


def test_bare_list_and_wrapped_bank_are_equivalent(tmp_path):
    wrapped = json.load(open(FACTS))
    p = tmp_path / "bare.json"
    p.write_text(json.dumps(wrapped["facts"]))
    assert load_facts(str(p)) == load_facts(FACTS)


@pytest.mark.parametrize("bank, needle", [
    ([{"topic": "x", "true": "a"}], "facts[0].false"),
    ([{"topic": "x", "true": "a", "false": "b"}, {"topic": "X", "true": "c", "false": "d"}], "duplicate topic"),
    ([{"topic": "x", "true": "a", "false": "a"}], "identical"),
    ({"source": "no facts"}, "facts"),
    ([], "non-empty"),
])
def test_bad_banks(bank, needle):
    with pytest.raises(InputError, match=None) as e:
        parse_facts(bank, "bank.json")
    assert needle in str(e.value)


def test_cli_writes_text_transcripts(tmp_path, capsys):
    out = tmp_path / "d.jsonl"
    assert main(["data", "dialogues", "--facts", FACTS, "-n", "12", "--seed", "5", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["dialogues"] == len(rows) == 12
    assert summary["lied"] == sum(r["lied"] for r in rows)
    assert rows[0]["text"].startswith(CONTEXT + "\nUser: ")


def test_cli_bad_bank_one_line_nothing_written(tmp_path, capsys):
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps([{"topic": "a", "true": "x", "false": "y"}, {"topic": "a", "true": "z", "false": "w"}]))
    out = tmp_path / "d.jsonl"
    assert main(["data", "dialogues", "--facts", str(bank), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error:") and "facts[1].topic" in err and len(err.splitlines()) == 1
    assert not out.exists()
