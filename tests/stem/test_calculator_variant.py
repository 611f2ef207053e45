"""The calculator variant of the STEM stream: who wrote which token (the tool's result is the
world's, the expression and the final answer the agent's) from the record through the label
builder, the decoder's tool rounds, the teacher and oracle format, and the plain variant
left exactly as it was."""

from __future__ import annotations

import hashlib
import json

import pytest

from causal_agents.errors import InputError
from causal_agents.stem.methods import oracle_records, rest_select, sft_records, tag_all
from causal_agents.stem.problems import generate, sft_record
from causal_agents.stem.stream_records import build_stream_record
from causal_agents.stem.variants import attempt_text, calculator_solution, check_variant
from causal_agents.stem.verifier import verify_problem
from causal_agents.transcripts.labels import IGNORE_INDEX, encode
from causal_agents.transcripts.render_stream import join_parts, render_stream
from causal_agents.transcripts.tokenizer import load_tokenizer

ATTEMPT = [{"role": "attempt", "text": "I = V / R = 48 V / 551 ohm. calc: 48 / 551"},
           {"role": "tool", "text": "0.08711434"},
           {"role": "attempt", "text": "Final answer: 0.08711434 A"}]


@pytest.fixture(scope="module")
def splits():
    return generate(seed=0, counts={"sft": 10, "agent": 10, "test": 10}, variant="calculator")


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(None)


def _supervised_text(enc, mode: str, tok) -> str:
    """The text of the tokens ``mode`` supervises, in order (byte tokenizer: exact)."""
    labels = enc.labels(mode)
    return tok.decode([int(t) for t, lab in zip(enc.input_ids, labels) if lab != IGNORE_INDEX])


def test_attempt_text_is_what_the_stream_renders():
    text = attempt_text(ATTEMPT)
    assert text == "I = V / R = 48 V / 551 ohm. calc: 48 / 551\nTool: 0.08711434\nFinal answer: 0.08711434 A"
    segs = [{"role": "question", "text": "Q?", "gate": "context"}] + \
           [{**p, "gate": "world" if p["role"] == "tool" else "agent"} for p in ATTEMPT]
    rendered, spans = render_stream(segs)
    assert rendered == "Question:\nQ?\nProposed solution:\n" + text + "\n"
    assert join_parts([{"role": "attempt", "text": "x"}]) == "x"
    # the solution goes on after the tool's line: one Proposed solution header, not two
    assert rendered.count("Proposed solution:") == 1


def test_tool_result_is_world_expression_and_answer_are_agent(splits, tok):
    p = splits["agent"][0]
    rec = build_stream_record(p, [ATTEMPT], variant="calculator")
    a = rec["attempts"][0]
    assert a["text"] == attempt_text(ATTEMPT) and a["parts"] == ATTEMPT
    assert not rec["passed"][0] and "correction_parts" in a
    tagged = tag_all([rec])[0]
    gates = [(s["role"], s["gate"]) for s in tagged["segments"]]
    assert gates == [("question", "context"), ("attempt", "agent"), ("tool", "world"), ("attempt", "agent"),
                     ("verifier", "world"), ("oracle", "world"), ("tool", "world"), ("oracle", "world")]
    enc = encode(tagged, tok, "stream")
    do, obs = _supervised_text(enc, "do", tok), _supervised_text(enc, "obs", tok)
    corr = a["correction"]
    # do: the tool's result (and the verdict and the correction, tool result included), never the
    # agent's expression or final answer, never the "Tool: " header
    assert do == "0.08711434\n" + a["verdict"] + "\n" + corr.replace("Tool: ", "") + "\n"
    assert "48 / 551" not in do and "Final answer: 0.08711434" not in do
    # obs: the agent's pieces too; the protocol headers still not
    assert obs == (ATTEMPT[0]["text"] + "\n0.08711434\n" + ATTEMPT[2]["text"] + "\n" + a["verdict"] + "\n"
                   + corr.replace("Tool: ", "") + "\n")


@pytest.mark.real
def test_provenance_with_the_real_tokenizer(splits, smol_tok):
    """The same masks through SmolLM2's BPE tokenizer (merges may straddle the pieces)."""
    rec = build_stream_record(splits["agent"][1], [ATTEMPT], variant="calculator")
    enc = encode(tag_all([rec])[0], smol_tok, "stream")
    do = _supervised_text(enc, "do", smol_tok)
    obs = _supervised_text(enc, "obs", smol_tok)
    assert "0.08711434" in do and "48 / 551" not in do and "Final answer: 0.08711434" not in do
    assert "calc: 48 / 551" in obs and "Final answer: 0.08711434 A" in obs


def test_teacher_and_oracle_use_the_calculator_format(splits, tok):
    p = splits["sft"][0]
    parts = calculator_solution(p, "teacher")
    assert [x["role"] for x in parts] == ["teacher", "tool", "teacher"]
    assert parts[0]["text"] == f"{p['calc_work']}. calc: {p['calc_expression']}"
    assert parts[2]["text"].startswith(f"Final answer: {parts[1]['text']}")
    assert verify_problem(p, join_parts(parts)).passed  # the demonstration is right
    rec = sft_record(p, "calculator")
    assert [m["role"] for m in rec["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert all(m["provenance"] == "world" for m in rec["messages"][1:])
    assert "calc_work" not in rec and rec["variant"] == "calculator"
    enc = encode(tag_all([rec])[0], tok, "stream")
    do = _supervised_text(enc, "do", tok)
    assert do == join_parts(parts).replace("Tool: ", "") + "\n"  # all the teacher's and the tool's, no header
    # the teacher's calculator solution passes the verifier on every problem (1,000, every skill and form)
    many = generate(seed=1, counts={"sft": 0, "agent": 500, "test": 500}, variant="calculator")
    for q in many["agent"] + many["test"]:
        assert verify_problem(q, join_parts(calculator_solution(q, "oracle"))).passed, q["id"]
    stream = [build_stream_record(splits["agent"][2], [ATTEMPT], variant="calculator")]
    (orec,) = oracle_records(stream)
    assert [m["role"] for m in orec["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert orec["messages"][1]["author"] == "oracle"


def test_rest_keeps_the_tool_result_world(splits):
    p = splits["agent"][3]
    good = calculator_solution(p, "attempt")
    bad = [dict(x) for x in good]
    bad[2] = {"role": "attempt", "text": "Final answer: 1e99"}
    chosen, counts = rest_select([p], [[bad, good, good]])
    assert counts["passing_unique"] == 1 and counts["selected"] == 1
    msgs = chosen[0]["messages"]
    assert [(m["role"], m["provenance"]) for m in msgs] == [("user", "context"), ("assistant", "agent"),
                                                           ("tool", "world"), ("assistant", "agent")]


def test_grpo_masks_only_the_agents_tokens(tok):
    from causal_agents.stem.grpo import completion_batch, completion_chunks

    chunks = completion_chunks(ATTEMPT)
    assert [c[1] for c in chunks] == [True, False, True]
    ids, mask = completion_batch(tok, ["P:"], [chunks])
    row = ids[0].tolist()
    # position t predicts token t+1: the predicted tokens under the mask are the agent's lines only
    predicted = tok.decode([row[t + 1] for t in range(len(row) - 1) if mask[0, t]])
    assert predicted == ATTEMPT[0]["text"] + "\n" + ATTEMPT[2]["text"] + "\n"
    # a plain string completion is all the agent's, as before
    ids2, mask2 = completion_batch(tok, ["P:"], ["ab\n"])
    assert mask2[0].tolist() == [False, True, True, True]


def test_stream_adapter_checks_parts():
    from causal_agents.formats.adapters import to_messages

    rec = {"question": "q", "attempts": [{"text": "a calc: 1\nTool: 1\nb", "parts": [
        {"role": "attempt", "text": "a calc: 1"}, {"role": "tool", "text": "1"}, {"role": "attempt", "text": "b"}]}]}
    msgs = to_messages(rec, "stream")
    assert [m["role"] for m in msgs] == ["question", "attempt", "tool", "attempt"]
    bad = json.loads(json.dumps(rec))
    bad["attempts"][0]["parts"][2]["text"] = "not in the text"
    with pytest.raises(InputError, match="parts and the text disagree") as e:
        to_messages(bad, "stream")
    assert e.value.field == "attempts[0].parts[2].text"
    bad["attempts"][0]["parts"] = [{"role": "oracle", "text": "a"}]
    with pytest.raises(InputError, match="expected 'attempt' or 'tool'"):
        to_messages(bad, "stream")
    bad["attempts"][0]["parts"] = []
    with pytest.raises(InputError, match="non-empty list"):
        to_messages(bad, "stream")
    # an attempt's own provenance never reaches the tool's part
    rec["attempts"][0]["provenance"] = "agent"
    msgs = to_messages(rec, "stream")
    assert [m["provenance"] for m in msgs[1:]] == ["agent", None, "agent"]


def test_calculator_corrections_need_calculator_problems():
    plain = generate(seed=0, counts={"sft": 0, "agent": 1, "test": 0})["agent"][0]
    with pytest.raises(InputError, match="--variant calculator"):
        build_stream_record(plain, ["x. Final answer: 1e99"], variant="calculator")
    with pytest.raises(InputError, match="plain, calculator"):
        check_variant("abacus")


# --------------------------------------------------------------- the plain variant, unchanged

# sha256 of the plain variant's generated data, taken before the calculator variant existed
PLAIN_SPLITS = "987f30d075a2e2d06c888a132c848c23c7e50691337339e60a88235d8e4e5dfb"
PLAIN_SFT = "1a944fbe3a4f56b53d702f69554f0ece8932e9a6f39e3fb7b50838d9ce347a19"
PLAIN_STREAM = "a6023bec3246811cd29c2d5505ab684d995f538838e2fe3aa71583218d31aeaf"


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def test_plain_variant_data_unchanged():
    s = generate(0)
    assert _sha(s) == PLAIN_SPLITS
    assert _sha([sft_record(p) for p in s["sft"]]) == PLAIN_SFT
    assert _sha([build_stream_record(p, ["x = 1. Final answer: 2"]) for p in s["agent"]]) == PLAIN_STREAM
    assert sft_records(s["sft"][:3]) == [sft_record(p) for p in s["sft"][:3]]
    calc = generate(0, variant="calculator")
    # the same problems, drawn from the same RNG; only the calculator's fields are added
    for name in s:
        assert [{k: v for k, v in p.items() if k not in ("variant", "calc_work", "calc_expression")}
                for p in calc[name]] == s[name]
