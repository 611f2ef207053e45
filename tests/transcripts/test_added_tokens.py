"""Issue 27: a tokenizer with many added tokens made `cag stats` do N^2 work (the overlap
check compared every pair; each piece cut scanned every added token)."""

import random

from causal_agents.transcripts import pieces


def _pairwise_overlap(added):
    """The definition, pair by pair (the old implementation)."""
    for a in added:
        for b in added:
            if (a != b and a in b) or any(a[-k:] == b[:k] for k in range(1, min(len(a), len(b)))):
                return True
    return False


def test_overlap_is_the_pairwise_definition():
    rng = random.Random(7)
    for _ in range(5000):
        toks = list({"".join(rng.choice("ab<") for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 5))})
        assert pieces._overlap(toks) == _pairwise_overlap(toks), toks


class Counted(list):
    iterations = 0

    def __iter__(self):
        Counted.iterations += 1
        return super().__iter__()


def test_overlap_reads_the_tokens_once_not_once_per_token():
    toks = Counted(f"<|t{i}|>" for i in range(500))
    Counted.iterations = 0
    assert not pieces._overlap(toks)
    assert Counted.iterations <= 2


def test_cuts_find_added_tokens_without_scanning_them(byte_tok):
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=byte_tok._tokenizer.__class__.from_str(byte_tok._tokenizer.to_str()))
    tok.add_tokens([f"<|t{i}|>" for i in range(3000)])
    assert pieces.split_rule(tok) == "any"
    index = pieces.added_index(tok)
    assert pieces.added_index(tok) is index  # made once per tokenizer
    text = "".join(f"ab<|t{i % 3000}|>c" for i in range(20000))
    before = Counted.iterations
    index.sorted = Counted(index.sorted)
    cuts = pieces.piece_bounds(text, "any", index, size=1000)
    assert Counted.iterations == before  # binary searches only
    for c in cuts[1:-1]:  # never inside an added token
        j = text.rfind("<|", 0, c)
        k = text.find("|>", j)
        assert not (j < c <= k + 1)
