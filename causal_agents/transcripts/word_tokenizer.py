"""A word-level tokenizer fitted to a corpus, for the embedded tiny model in the truth experiment.

Why: with one token per byte a claim is ~45 tokens and the word that makes it true or false
is one of them, so the per-token margin Δ of a model that prefers the lie 60:40 is about
-0.01 and drowns in noise. Whole-word tokens make a claim ~7 tokens, as with the paper's
BPE tokenizer, and sequences ~5x shorter (faster training). A space belongs to the word
before it ("is ", "Agent", ": "), so a probe prompt ending in "Agent: " tokenizes exactly as
in training and the claim after it starts a fresh token. The 256 byte symbols stay in the
vocabulary, so any text still round-trips: ``decode(encode(s)) == s``.
"""

from __future__ import annotations

from causal_agents.transcripts.tokenizer import CHATML_TEMPLATE

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")
# a word or a punctuation mark with the one space after it; other whitespace alone
WORD_SPLIT = r"\w+ ?|[^\w\s] ?|\s"


def fit_word_tokenizer(texts: list[str], vocab_size: int = 2048, min_frequency: int = 2):
    """A transformers PreTrainedTokenizerFast (BPE over bytes, merged up to whole words)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WORD_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"],
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHATML_TEMPLATE
    return fast
