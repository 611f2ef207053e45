"""Long renderings are tokenized in pieces: the tokens, and every label the label builder
derives from them, are those of one whole tokenization (byte tokenizer, cag's word
tokenizer, BPE tokenizers with Qwen2's and Llama 3's split patterns, and, tier `real`,
SmolLM2's)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causal_agents.transcripts import labels, pieces
from causal_agents.transcripts.pieces import LLAMA3_PATTERN, QWEN2_PATTERN, piece_bounds, split_rule

# fragments that make pre-tokenizers and BPE merge across a cut if it is put in the wrong place
FRAGMENTS = ["The", " answer", " is", "?", ".", "!?", ".\n", "\n", "\n\n", " \n", "\n ", "\r\n", "  ", " ", "\t",
             "42", "1234567", "don't", "'s", "é", "日本", "Au", "gold", "<|im_start|>", "<|im_end|>", "xxxxxxxxxxxxxxxx",
             "a\nb", "x\ny\nz", "e\u0301", "\u0301", "\u212b"]
texts = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=60).map("".join)


def _bpe_with_split(pattern: str, nfc: bool = False):
    """A small BPE trained behind ``Split(pattern)`` + ``ByteLevel``, as Qwen2 (with NFC) and Llama 3 are built."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["".join(FRAGMENTS) * 3, "The answer is 42.\nDon't!\n\n日本 gold Au  x\r\n"] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, additional_special_tokens=["<|im_start|>", "<|im_end|>"])


@pytest.fixture(scope="module")
def tokenizers(byte_tok):
    from causal_agents.transcripts.word_tokenizer import fit_word_tokenizer

    return {"byte": byte_tok, "word": fit_word_tokenizer(["".join(FRAGMENTS)] * 20, vocab_size=400, min_frequency=1),
            "qwen2": _bpe_with_split(QWEN2_PATTERN, nfc=True), "llama3": _bpe_with_split(LLAMA3_PATTERN)}


def _added(tok) -> tuple:
    return tuple(t.content for t in tok._tokenizer.get_added_tokens_decoder().values())


def _in_pieces(tok, text: str, size: int) -> tuple[list[int], list[int]]:
    cuts = piece_bounds(text, split_rule(tok), _added(tok), size)
    ids = []
    for a, b in zip(cuts, cuts[1:]):
        ids += tok._tokenizer.encode(text[a:b], add_special_tokens=False).ids
    return ids, cuts


def test_split_rules_of_the_recognised_tokenizers(tokenizers):
    assert split_rule(tokenizers["byte"]) == "any"
    assert {split_rule(tokenizers[k]) for k in ("word", "qwen2", "llama3")} == {"newline"}


def test_tokenizers_that_cannot_be_cut_are_tokenized_whole():
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    def fast(pre, normalizer=None, merges=None, added=None):
        vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()) + ["ab"])}
        t = Tokenizer(models.BPE(vocab=vocab, merges=merges or []))
        t.pre_tokenizer = pre
        if normalizer is not None:
            t.normalizer = normalizer
        if added is not None:
            t.add_special_tokens([added])
        return PreTrainedTokenizerFast(tokenizer_object=t)

    from tokenizers import AddedToken

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    merges = [("a", "b")]
    refused = [
        fast(pre_tokenizers.ByteLevel(add_prefix_space=True)),                    # a prefix space per piece
        fast(pre_tokenizers.Metaspace()),                                          # SentencePiece style
        fast(byte_level, normalizer=normalizers.NFKC()),                           # a normalizer
        fast(byte_level, merges=merges),                                           # merges over the whole text
        fast(pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\n[^\n]*"), behavior="isolated"), byte_level])),
        fast(byte_level, added=AddedToken("<mask>", lstrip=True)),                 # an added token eats the newline
        fast(byte_level, added=AddedToken("a b", special=True)),                   # whitespace inside an added token
        fast(byte_level, added=AddedToken("<x><", special=True)),                  # occurrences can overlap
    ]
    assert [split_rule(t) for t in refused] == [None] * len(refused)
    assert piece_bounds("a\nb" * 100, None, size=8) == [0, 300]


def test_newline_cuts_sit_after_a_lone_newline_between_words():
    text = "aaaa\n\nbbbb cccc\ndddd  \neeee\nffff"
    cuts = piece_bounds(text, "newline", size=8)
    assert cuts[0] == 0 and cuts[-1] == len(text) and cuts == sorted(set(cuts))
    for c in cuts[1:-1]:
        assert text[c - 1] == "\n" and not text[c - 2].isspace() and not text[c].isspace()
    # no allowed cut: the text stays whole however long
    assert piece_bounds("x" * 100 + "\n\n" + "y" * 100, "newline", size=8) == [0, 202]


def test_any_rule_never_cuts_an_added_token():
    text = "ab<|im_start|>cd" * 20
    cuts = piece_bounds(text, "any", ("<|im_start|>",), size=7)
    assert len(cuts) > 5
    for c in cuts[1:-1]:
        assert all(not (j < c < j + 12) for j in range(len(text)) if text.startswith("<|im_start|>", j))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, size=st.integers(2, 40), name=st.sampled_from(["byte", "word", "qwen2", "llama3"]))
def test_pieces_give_the_ids_of_one_tokenization(tokenizers, text, size, name):
    tok = tokenizers[name]
    ids, cuts = _in_pieces(tok, text, size)
    assert ids == tok._tokenizer.encode(text, add_special_tokens=False).ids, (name, cuts)


def _records(draw_texts: list[str], weights: list) -> list[dict]:
    gates = [("user", "world"), ("assistant", "agent"), ("system", "context"), ("tool", "world")]
    return [{"id": f"r{k}", "segments": [
        {"role": gates[(i + k) % 4][0], "gate": gates[(i + k) % 4][1], "text": t, "weight": w, "rule": "test"}
        for i, (t, w) in enumerate(zip(draw_texts, weights))]} for k in range(2)]


def _fields(e) -> tuple:
    w = None if e.weight is None else e.weight.tolist()
    return (e.input_ids.tolist(), e.classes.tolist(), e.segment.tolist(), e.trainable.tolist(), e.straddling, w)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seg_texts=st.lists(texts, min_size=1, max_size=6), weights=st.lists(st.sampled_from([1, 1, 0, 0.5]), min_size=6,
       max_size=6), size=st.integers(2, 30), renderer=st.sampled_from(["plain", "chat-template"]),
       name=st.sampled_from(["byte", "word", "qwen2"]))
def test_labels_in_pieces_are_the_labels_of_one_tokenization(tokenizers, monkeypatch, seg_texts, weights, size,
                                                             renderer, name):
    tok = tokenizers[name]
    if renderer == "chat-template" and tok.chat_template is None:
        tok = tokenizers["byte"]
    recs = _records(seg_texts, weights)
    with monkeypatch.context() as m:
        m.setattr(pieces, "PIECE_CHARS", 1 << 30)
        whole = [_fields(e) for e in labels.encode_batch(recs, tok, renderer)]
    with monkeypatch.context() as m:
        m.setattr(pieces, "PIECE_CHARS", size)
        m.setattr(labels, "BATCH_CHARS", 3 * size)  # several tokenizer calls, pieces of one record across them
        cut = [_fields(e) for e in labels.encode_batch(recs, tok, renderer)]
    assert cut == whole


def test_truncation_lost_is_what_truncate_drops(byte_tok):
    rec = {"segments": [{"role": "user", "gate": "world", "text": "question " * 30, "weight": 1},
                        {"role": "assistant", "gate": "agent", "text": "answer " * 30, "weight": 1},
                        {"role": "tool", "gate": "world", "text": "obs " * 30, "weight": 0}]}
    e = labels.encode(rec, byte_tok)
    for n in (1, 7, 100, 250, len(e), len(e) + 5):
        for side in ("left", "right"):
            kept, lost = e.truncate(n, side)
            assert lost == e.truncation_lost(n, side)
            assert lost == {m: int(e.supervised(m).sum() - kept.supervised(m).sum()) for m in labels.MODES}


@pytest.mark.real
def test_smollm2_pieces_are_one_tokenization(smol_tok, monkeypatch):
    """SmolLM2 on the README and every sample file (prose, code, JSON, tables), about 300 KB,
    cut at the default piece size and at small ones: ids and labels as tokenized whole."""
    from conftest import ROOT, SAMPLES

    assert split_rule(smol_tok) == "newline"
    corpus = (ROOT / "README.md").read_text() + "".join(
        p.read_text(errors="replace") for p in sorted(SAMPLES.iterdir()) if p.suffix in (".jsonl", ".json", ".md"))
    text = (corpus * (1 + 300_000 // len(corpus)))[:300_000]
    whole = smol_tok._tokenizer.encode(text, add_special_tokens=False).ids
    for size in (pieces.PIECE_CHARS, 4096, 97):
        ids, cuts = _in_pieces(smol_tok, text, size)
        assert len(cuts) > 3 and ids == whole, size
    rec = {"id": "big", "segments": [{"role": "user", "gate": "world", "text": text[:100_000], "weight": 1},
                                     {"role": "assistant", "gate": "agent", "text": text[100_000:], "weight": 1}]}
    with monkeypatch.context() as m:
        m.setattr(pieces, "PIECE_CHARS", 1 << 30)
        one = [_fields(e) for e in labels.encode_batch([rec], smol_tok, "chat-template")]
    with monkeypatch.context() as m:
        m.setattr(pieces, "PIECE_CHARS", 1000)
        cut = [_fields(e) for e in labels.encode_batch([rec], smol_tok, "chat-template")]
    assert cut == one and np.asarray(one[0][0]).size > 50_000
