"""Rendering what issue 10 added: tool schemas, fractional loss weights, and no header that
leaks the agent's choice under do."""

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causal_agents.transcripts.labels import IGNORE_INDEX, encode
from causal_agents.transcripts.render import AGENT, CONTEXT, render_chat_template, render_plain
from conftest import SAMPLES

AGENT_ROLES = ("gpt", "function_call")  # the same agent, writing text or calling a tool
WORLD_ROLES = ("human", "observation")
TEXT = st.text(alphabet="abc xyz{}\":,\n", max_size=12)


def seg(role, text, gate, weight=1):
    return {"role": role, "author": None, "text": text, "gate": gate, "rule": "role-default", "weight": weight}


@st.composite
def transcripts(draw):
    n = draw(st.integers(2, 6))
    segs = [seg("system", draw(TEXT), "context")]
    for _ in range(n):
        if draw(st.booleans()):
            segs.append(seg(draw(st.sampled_from(AGENT_ROLES)), draw(TEXT), "agent"))
        else:
            segs.append(seg(draw(st.sampled_from(WORLD_ROLES)), draw(TEXT), "world"))
    return segs


def do_supervised(segs, tok):
    ids = encode({"id": "x", "segments": segs}, tok).labels("do")
    return ids[ids != IGNORE_INDEX].tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segs=transcripts(), data=st.data())
def test_do_supervision_does_not_depend_on_what_the_agent_chose(byte_tok, segs, data):
    """Changing the content or the kind (text <-> tool call) of any agent-gated message leaves
    the do-supervised token sequence unchanged (positions may move)."""
    changed = [dict(s) for s in segs]
    for s in changed:
        if s["gate"] == "agent":
            s["role"] = data.draw(st.sampled_from(AGENT_ROLES))
            s["text"] = data.draw(TEXT)
    assert do_supervised(changed, byte_tok) == do_supervised(segs, byte_tok)


def test_function_call_header_is_the_agents_plain_header():
    text, _ = render_plain([seg("human", "q", "world"), seg("function_call", "{}", "agent"), seg("gpt", "a", "agent")])
    assert text == "Human: q\nGpt: {}\nGpt: a\n"
    # a world-gated function_call (a demonstration) keeps its own header: it is evidence, not a choice
    assert render_plain([seg("function_call", "{}", "world")])[0] == "Function_call: {}\n"


TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]


def test_plain_renderer_renders_tool_schemas_as_context(byte_tok):
    segs = [{"role": "tools", "author": None, "text": orjson.dumps(TOOLS).decode(), "gate": "context",
             "rule": "tools-field", "weight": 1}, seg("user", "2+3?", "world"), seg("assistant", "5", "agent")]
    text, spans = render_plain(segs)
    assert text.startswith("Tools: " + orjson.dumps(TOOLS).decode() + "\nUser: 2+3?\n")
    assert {s[2] for s in spans if s[3] == 0} == {CONTEXT}
    enc = encode({"id": "t", "segments": segs}, byte_tok)
    assert not enc.supervised("obs")[enc.segment == 0].any()


def test_chat_template_gets_the_tools(byte_tok):
    import copy

    tok = copy.deepcopy(byte_tok)
    # A template that renders tools itself, like real ones (Qwen, Llama 3.1): in a system block.
    tok.chat_template = ("{% if tools %}<|im_start|>system\n# Tools\n{% for t in tools %}{{ t['function']['name'] }}\n"
                         "{% endfor %}<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                         "{{ m['content'] }}<|im_end|>\n{% endfor %}")
    segs = [{"role": "tools", "author": None, "text": orjson.dumps(TOOLS).decode(), "gate": "context",
             "rule": "tools-field", "weight": 1}, seg("user", "2+3?", "world"), seg("assistant", "5", "agent")]
    text, spans = render_chat_template(segs, tok)
    assert text.startswith("<|im_start|>system\n# Tools\nadd\n<|im_end|>\n<|im_start|>user\n2+3?")
    assert spans[0][:4] == (0, text.index("2+3?"), CONTEXT, 1)  # schemas are context, before message 1
    assert [s[3] for s in spans] == [1, 1, 2, 2] and spans[-1][2] == AGENT


def test_fractional_loss_weight_scales_token_and_message_weighting(byte_tok):
    from causal_agents.training.data import token_weights

    segs = [seg("user", "q", "world", 1), seg("observation", "half", "world", 0.5), seg("observation", "no", "world", 0)]
    enc = encode({"id": "w", "segments": segs}, byte_tok)
    w = token_weights(enc, "do", "token")
    # position 0 is never supervised (nothing precedes it); every other token of the segment has weight 1
    assert w[0] == 0
    assert set(np.unique(w[enc.segment == 1])) == {0.5} and set(np.unique(w[1:][enc.segment[1:] == 0])) == {1.0}
    assert not w[enc.segment == 2].any() and not enc.supervised("do")[enc.segment == 2].any()
    m = token_weights(enc, "do", "message")
    assert np.isclose(m[enc.segment == 0].sum(), 1.0) and np.isclose(m[enc.segment == 1].sum(), 0.5)


def test_role_default_note_and_demonstrations_in_stats(cag):
    code, out, err = cag("stats", SAMPLES / "openai_functions.jsonl", "--json")
    assert code == 0
    notes = [x for x in err.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "pass --demonstrations" in notes[0] and "all 4 agent-gated segments" in notes[0]
    code, out2, err2 = cag("stats", SAMPLES / "openai_functions.jsonl", "--json", "--demonstrations")
    assert "note:" not in err2
    a, b = orjson.loads(out), orjson.loads(out2)
    assert b["supervised"]["do"] == b["supervised"]["obs"] == a["supervised"]["obs"] > a["supervised"]["do"]
    _, _, err3 = cag("stats", SAMPLES / "openai_functions.jsonl", "--self", "me")
    assert "note:" not in err3


def test_default_template_renders_tools_and_a_template_that_ignores_them_is_refused(byte_tok):
    import copy

    import pytest

    from causal_agents.errors import CagError

    segs = [{"role": "tools", "author": None, "text": orjson.dumps(TOOLS).decode(), "gate": "context",
             "rule": "tools-field", "weight": 1}, seg("user", "2+3?", "world"), seg("assistant", "5", "agent")]
    text, _ = render_chat_template(segs, byte_tok)
    head = text[:text.index("<|im_start|>user")]
    assert head.startswith("<|im_start|>system\n# Tools\n") and head.endswith("<|im_end|>\n")
    assert orjson.loads(head.split("\n")[2]) == TOOLS[0]
    tok = copy.deepcopy(byte_tok)
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    with pytest.raises(CagError, match="ignores the tool schemas"):
        render_chat_template(segs, tok)
