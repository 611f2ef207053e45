"""The label builder and the chat-template renderer with a real tokenizer: SmolLM2's 49,152-token
byte-level BPE and its ChatML template, which injects a default system prompt (tier `real`;
skipped when the model cannot be had)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causal_agents.transcripts.labels import TokenClass, encode, encode_batch

from test_labels import _char_owner, _check_properties

pytestmark = pytest.mark.real

GATES = ["agent", "world", "context"]
ROLES = {"agent": ["Agent", "assistant"], "world": ["User", "tool"], "context": ["system"]}
# text that makes BPE merge across boundaries: spaces, newlines, punctuation, digits, ChatML markers
pieces = st.sampled_from(["The", " answer", " is", "?", ".", "\n", "\n\n", "  ", " ", "42", "Au", "gold",
                          "<|im_end|>", "User", ":", "é", "日本"])
# SmolLM2's vocabulary lacks 21 of the 256 byte symbols (six control bytes, and the lead bytes of
# UTF-8 planes 4 and up, which it encodes as an unrelated token): text drawn from what it can
# round-trip; test_unencodable_bytes_still_get_their_class covers the rest
ENCODABLE = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",),
                          exclude_characters="\x04\x06\x13\x14\x16\x1d")
texts = st.one_of(st.text(ENCODABLE, max_size=30), st.lists(pieces, max_size=8).map("".join))
segment = st.builds(
    lambda gate, i, text, w: {"role": ROLES[gate][i % len(ROLES[gate])], "gate": gate, "text": text, "weight": w,
                              "author": None, "rule": "test"},
    st.sampled_from(GATES), st.integers(0, 1), texts, st.sampled_from([1, 1, 1, 0]))
records = st.lists(segment, min_size=1, max_size=8).map(lambda segs: {"id": "r", "segments": segs})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records)
def test_properties_smollm2_tokenizer(smol_tok, rec):
    _check_properties(rec, smol_tok)


def test_unencodable_bytes_still_get_their_class(smol_tok):
    rec = {"segments": [{"role": "User", "gate": "world", "text": "a\U00040000b"},
                        {"role": "Agent", "gate": "agent", "text": "x\x04\U00040000"}]}
    enc = encode(rec, smol_tok)
    text, cls, _ = _char_owner(rec)
    offs = smol_tok._tokenizer.encode(enc.text, add_special_tokens=False).offsets
    for (s, e), c, sup in zip(offs, enc.classes, enc.supervised("do")):
        if (cls[s:e] == TokenClass.AGENT).any():
            assert c == TokenClass.AGENT and not sup


def test_merge_of_the_prefix_space_with_the_agents_first_word_protects_the_agent(smol_tok):
    # SmolLM2 tokenizes ': The' as ':' + ' The': the role prefix's space and the agent's first
    # word are one token, which takes the agent's class and is never supervised under do
    rec = {"segments": [{"role": "User", "gate": "world", "text": "What is it?"},
                        {"role": "Agent", "gate": "agent", "text": "The answer."},
                        {"role": "User", "gate": "world", "text": "Thanks."}]}
    enc = encode(rec, smol_tok)
    toks = [smol_tok.decode([i]) for i in enc.input_ids]
    assert enc.straddling >= 3  # ' What', ' The', ' Thanks' each straddle prefix and content
    i = toks.index(" The")
    assert enc.classes[i] == TokenClass.AGENT and enc.supervised("obs")[i] and not enc.supervised("do")[i]
    j = toks.index(" Thanks")
    assert enc.classes[j] == TokenClass.WORLD and enc.supervised("do")[j]
    text, cls, _ = _char_owner(rec)
    offs = smol_tok._tokenizer.encode(enc.text, add_special_tokens=False).offsets
    for (s, e), sup in zip(offs, enc.supervised("do")):
        assert not (sup and (cls[s:e] == TokenClass.AGENT).any())


def _strings(tok, enc, mode):
    toks = [tok.decode([i]) for i in enc.input_ids]
    return "".join(t for t, s in zip(toks, enc.supervised(mode)) if s)


def test_injected_system_prompt_is_context_and_im_end_newline_follow_the_content(smol_tok):
    rec = {"segments": [{"role": "user", "gate": "world", "text": "Hi"},
                        {"role": "assistant", "gate": "agent", "text": "Hello"},
                        {"role": "user", "gate": "world", "text": "Bye"}]}
    enc = encode(rec, smol_tok, "chat-template")
    assert enc.text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    do, obs = _strings(smol_tok, enc, "do"), _strings(smol_tok, enc, "obs")
    # the injected prompt and the first header are context; the agent's content, its
    # <|im_end|> and the newline after it are the agent's (obs only); the world's are supervised
    assert do == "Hi<|im_end|>\n<|im_start|>assistant\n<|im_start|>user\nBye<|im_end|>\n"
    assert obs == "Hi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
    ids = list(enc.input_ids)
    im_end = smol_tok.convert_tokens_to_ids("<|im_end|>")
    assert ids.count(im_end) == 4  # the special token is one token, never split by the renderer
    assert enc.classes[0] == TokenClass.CONTEXT and not enc.supervised("obs")[0]


def test_explicit_system_message_replaces_the_injected_one(smol_tok):
    rec = {"segments": [{"role": "system", "gate": "context", "text": "Be brief."},
                        {"role": "user", "gate": "world", "text": "Hi"}]}
    enc = encode(rec, smol_tok, "chat-template")
    assert "SmolLM" not in enc.text and enc.text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert _strings(smol_tok, enc, "do") == "<|im_start|>user\nHi<|im_end|>\n"


def test_chat_template_is_prefix_stable_in_tokens(smol_tok):
    segs = [{"role": r, "gate": g, "text": t} for r, g, t in [
        ("user", "world", "Tell me about gold."), ("assistant", "agent", "Its symbol is Go."),
        ("user", "world", "Its symbol is Au."), ("assistant", "agent", "You are right: Au.\n")]]
    full = encode({"segments": segs}, smol_tok, "chat-template")
    msgs = [{"role": s["role"], "content": s["text"]} for s in segs]
    assert full.text == smol_tok.apply_chat_template(msgs, tokenize=False)
    for k in range(1, len(segs)):
        part = encode({"segments": segs[:k]}, smol_tok, "chat-template")
        # a conversation one turn longer only appends tokens: no merge crosses <|im_end|>\n
        assert list(full.input_ids[:len(part)]) == list(part.input_ids)
        assert (full.classes[:len(part)] == part.classes).all()


def test_batch_equals_single_smollm2(smol_tok):
    recs = [{"segments": [{"role": "User", "gate": "world", "text": f"q{i} " * i},
                          {"role": "Agent", "gate": "agent", "text": "a b. " * i}]} for i in range(6)]
    for a, b in zip(encode_batch(recs, smol_tok), [encode(r, smol_tok) for r in recs]):
        assert (a.input_ids == b.input_ids).all() and (a.classes == b.classes).all()
