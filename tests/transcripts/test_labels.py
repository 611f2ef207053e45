"""The label builder: property tests on random transcripts, the straddling-token policy,
chat templates, truncation."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causal_agents.errors import CagError
from causal_agents.transcripts.labels import IGNORE_INDEX, TokenClass, encode, encode_batch
from causal_agents.transcripts.render import render_plain

GATES = ["agent", "world", "context"]
ROLES = {"agent": ["Agent", "assistant"], "world": ["User", "tool"], "context": ["system"]}

segment = st.builds(
    lambda gate, i, text, w: {"role": ROLES[gate][i % len(ROLES[gate])], "gate": gate, "text": text,
                              "weight": w, "author": None, "rule": "test"},
    st.sampled_from(GATES), st.integers(0, 1), st.text(max_size=40), st.sampled_from([1, 1, 1, 0]))
records = st.lists(segment, min_size=1, max_size=8).map(lambda segs: {"id": "r", "segments": segs})


@pytest.fixture(scope="module")
def bpe_tok():
    """A real BPE tokenizer trained here on chat-like text, so merges cross role boundaries
    (e.g. ': The' and '.\\nUser'): the straddling policy gets exercised."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["User: What is it?\nAgent: The answer.\nUser: Thanks.\nAgent: Sure.\n"] * 50
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def _char_owner(rec):
    """For every character of the plain rendering: (class, trainable)."""
    text, spans = render_plain(rec["segments"])
    cls = np.zeros(len(text), np.int8)
    tr = np.zeros(len(text), bool)
    for s, e, c, _, t in spans:
        cls[s:e], tr[s:e] = c, t
    return text, cls, tr


def _check_properties(rec, tok):
    enc = encode(rec, tok)
    obs, do = enc.supervised("obs"), enc.supervised("do")
    assert not (do & ~obs).any()                                   # do ⊆ obs
    assert ((obs & ~do) == (obs & (enc.classes == TokenClass.AGENT))).all()  # obs − do = agent tokens
    assert tok.decode(enc.input_ids.tolist()) == enc.text          # decoding gives the rendering back
    _, cls, _ = _char_owner(rec)
    offs = tok._tokenizer.encode(enc.text, add_special_tokens=False).offsets
    for (s, e), sup in zip(offs, do):                              # no agent character supervised under do
        if sup:
            assert not (cls[s:max(e, s + 1)] == TokenClass.AGENT).any()
    lab = enc.labels("do")
    assert ((lab == IGNORE_INDEX) | (lab == enc.input_ids)).all()
    return enc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records)
def test_properties_byte_tokenizer(byte_tok, rec):
    enc = _check_properties(rec, byte_tok)
    assert enc.straddling == 0  # one token per byte never crosses a character boundary


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records)
def test_properties_bpe_tokenizer(bpe_tok, rec):
    _check_properties(rec, bpe_tok)


def test_straddling_token_takes_the_protective_class(bpe_tok):
    rec = {"segments": [{"role": "User", "gate": "world", "text": "What is it?"},
                        {"role": "Agent", "gate": "agent", "text": "The answer."}]}
    enc = encode(rec, bpe_tok)
    assert enc.straddling > 0
    toks = [bpe_tok.decode([i]) for i in enc.input_ids]
    # every token touching agent content is unsupervised under do, and supervised under obs
    text, cls, _ = _char_owner(rec)
    offs = bpe_tok._tokenizer.encode(enc.text, add_special_tokens=False).offsets
    for t, (s, e), c, d in zip(toks, offs, enc.classes, enc.supervised("do")):
        if (cls[s:e] == TokenClass.AGENT).any():
            assert c == TokenClass.AGENT and not d, t


def test_truth_dialogue_counts(byte_tok):
    rec = {"segments": [
        {"role": "context", "gate": "context", "text": "A tutoring chat."},
        {"role": "User", "gate": "world", "text": "Tell me about gold."},
        {"role": "Agent", "gate": "agent", "text": "Its symbol is Go."},
        {"role": "User", "gate": "world", "text": "Its symbol is Au."}]}
    enc = encode(rec, byte_tok)
    n_ctx = len("A tutoring chat.\n")
    agent_content = len("Its symbol is Go.\n")
    assert len(enc) == len(enc.text.encode())
    assert enc.supervised("obs").sum() == len(enc) - n_ctx
    assert enc.supervised("obs").sum() - enc.supervised("do").sum() == agent_content
    # the 'Agent: ' prefix is protocol: supervised in both modes
    start = enc.text.index("Agent: ")
    assert enc.supervised("do")[start:start + 7].all()


def test_weight_zero_is_never_supervised(byte_tok):
    rec = {"segments": [{"role": "User", "gate": "world", "text": "hi", "weight": 0},
                        {"role": "Agent", "gate": "agent", "text": "yo"}]}
    enc = encode(rec, byte_tok)
    first = len("User: hi\n")
    assert not enc.supervised("obs")[:first].any() and not enc.supervised("do")[:first].any()


def test_chat_template_spans_and_terminator_policy(byte_tok):
    rec = {"segments": [{"role": "system", "gate": "context", "text": "Be brief."},
                        {"role": "user", "gate": "world", "text": "Hi"},
                        {"role": "assistant", "gate": "agent", "text": "Hello"}]}
    enc = encode(rec, byte_tok, "chat-template")
    toks = [byte_tok.decode([i]) for i in enc.input_ids]
    do = "".join(t for t, s in zip(toks, enc.supervised("do")) if s)
    obs = "".join(t for t, s in zip(toks, enc.supervised("obs")) if s)
    assert do == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert obs == do + "Hello<|im_end|>\n"


def test_chat_template_that_is_not_prefix_stable_fails_loudly(byte_tok):
    import copy

    t = copy.deepcopy(byte_tok)
    # A template that renders the last message differently from earlier ones.
    t.chat_template = ("{% for m in messages %}{% if loop.last %}[LAST {{ m['role'] }}] {{ m['content'] }}"
                       "{% else %}[{{ m['role'] }}] {{ m['content'] }}\n{% endif %}{% endfor %}")
    rec = {"segments": [{"role": "user", "gate": "world", "text": "a"},
                        {"role": "assistant", "gate": "agent", "text": "b"}]}
    with pytest.raises(CagError, match="not prefix-stable at message 1"):
        encode(rec, t, "chat-template")


def test_truncation_reports_lost_supervision(byte_tok):
    rec = {"segments": [{"role": "User", "gate": "world", "text": "x" * 10},
                        {"role": "Agent", "gate": "agent", "text": "y" * 10}]}
    enc = encode(rec, byte_tok)
    cut, lost = enc.truncate(10)
    assert len(cut) == 10
    assert lost["obs"] == enc.supervised("obs")[10:].sum() and lost["do"] == enc.supervised("do")[10:].sum()


def test_batch_equals_single(byte_tok):
    recs = [{"segments": [{"role": "User", "gate": "world", "text": f"q{i}"},
                          {"role": "Agent", "gate": "agent", "text": "a" * i}]} for i in range(5)]
    for a, b in zip(encode_batch(recs, byte_tok), [encode(r, byte_tok) for r in recs]):
        assert (a.input_ids == b.input_ids).all() and (a.classes == b.classes).all()
