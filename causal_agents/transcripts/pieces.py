"""Where a long text may be cut so that tokenizing the pieces gives exactly the tokens of
tokenizing it whole.

Why: a Hugging Face fast tokenizer keeps about 200 bytes per token while it encodes (token
strings, offsets, masks), so one 10 MB message cost 2 GB in `cag stats`. The label builder
tokenizes a long rendering in pieces of about ``PIECE_CHARS`` characters instead, and keeps
only compact arrays per token.

A cut is safe only where no pre-token, added token or normalization crosses it. Two shapes
of tokenizer are recognised; any other is tokenized whole, as before:

- ``"any"``: cag's byte-level tokenizer (no normalizer, ``ByteLevel(use_regex=False)``, BPE
  without merges): every byte is its own token, so any cut outside an added token is safe.
- ``"newline"``: no normalizer or NFC (a newline composes with nothing, so the NFC of two
  sides joined is their NFCs joined); a pre-tokenizer of ``ByteLevel`` (GPT-2's regex, no
  prefix space), ``Digits`` and ``Split`` with one of the known patterns below (Qwen2's,
  Llama 3's, cag's word tokenizer's); BPE over its pre-tokens (SmolLM2, Qwen, Llama 3,
  GPT-2). The cut goes after a ``\n`` that has a non-whitespace character on each side. In
  all of these patterns such a newline ends its pre-token whatever follows (it is matched
  alone, or at the end of a run of punctuation by ``[\r\n]*``, greedily, with no look-ahead
  past the next character), and nothing that starts before it runs past it, so the
  pre-tokens, and with them the tokens, of both sides are unchanged.
  ``tests/transcripts/test_pieces.py`` checks the identity on these tokenizers.

Added tokens must hold no whitespace and must not strip it (``lstrip``/``rstrip``), so none
can span a cut next to a newline; for ``"any"`` they must not overlap one another either, and
a cut that would split one is moved to its start.
"""

from __future__ import annotations

import bisect
import json
import weakref

from causal_agents.transcripts.word_tokenizer import WORD_SPLIT

# A rendering longer than this is tokenized in pieces of about this size (a piece of 64 Ki
# characters costs the tokenizer about 13 MB while it is encoded). A cut is looked for up to
# half a piece before the target, then past it.
PIECE_CHARS = 1 << 16

# Split patterns (as tokenizers serialises them) whose pre-tokens never cross the newline cut.
QWEN2_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
                 r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
LLAMA3_PATTERN = QWEN2_PATTERN.replace(r"|\p{N}|", r"|\p{N}{1,3}|")
SAFE_SPLIT_PATTERNS = frozenset({QWEN2_PATTERN, LLAMA3_PATTERN, WORD_SPLIT})

# An added token longer than this (characters) makes a byte-level tokenizer one that is
# tokenized whole: the checks below cost about its length squared.
MAX_ADDED_CHARS = 1024

_RULES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_ADDED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def split_rule(tokenizer) -> str | None:
    """``"any"``, ``"newline"`` or ``None`` (tokenize whole) for a transformers fast tokenizer."""
    try:
        return _RULES[tokenizer]
    except (KeyError, TypeError):
        pass
    rule = _rule(tokenizer._tokenizer)
    try:
        _RULES[tokenizer] = rule
    except TypeError:  # not weak-referenceable: recomputed next time (cheap but for "any")
        pass
    return rule


def _rule(backend) -> str | None:
    norm = None if backend.normalizer is None else json.loads(backend.normalizer.__getstate__())
    if backend.pre_tokenizer is None or norm not in (None, {"type": "NFC"}):
        return None
    if type(backend.model).__name__ != "BPE":
        return None
    added = list(backend.get_added_tokens_decoder().values())
    for t in added:
        if t.lstrip or t.rstrip or any(ch.isspace() for ch in t.content):
            return None
    pre = json.loads(backend.pre_tokenizer.__getstate__())
    parts = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    if len(parts) == 1 and _byte_level(parts[0], use_regex=False):
        merges = json.loads(backend.model.__getstate__()).get("merges")
        contents = [t.content for t in added]
        return "any" if (not merges and norm is None and all(len(c) <= MAX_ADDED_CHARS for c in contents)
                         and not _overlap(contents)) else None
    for p in parts:
        if p.get("type") == "Digits" or _byte_level(p, use_regex=None):
            continue
        if p.get("type") == "Split" and p.get("pattern", {}).get("Regex") in SAFE_SPLIT_PATTERNS \
                and not p.get("invert") and p.get("behavior") == "Isolated":
            continue
        return None
    return "newline"


def _byte_level(p: dict, use_regex: bool | None) -> bool:
    return (p.get("type") == "ByteLevel" and not p.get("add_prefix_space")
            and (use_regex is None or bool(p.get("use_regex")) == use_regex))


def piece_bounds(text: str, rule: str | None, added: tuple[str, ...] = (), size: int | None = None) -> list[int]:
    """Cut positions ``[0, c1, ..., len(text)]``: pieces of about ``size`` characters, cut where
    ``rule`` allows (a text with no allowed cut for a long stretch keeps that stretch whole).
    ``added``: the contents of the tokenizer's added tokens (``"any"`` never cuts inside one)."""
    size = PIECE_CHARS if size is None else size
    n = len(text)
    if rule is None or n <= size:
        return [0, n]
    cuts = [0]
    while n - cuts[-1] > size:
        cut = _cut(text, cuts[-1], cuts[-1] + size, size // 2, rule, added)
        if cut is None:
            break
        cuts.append(cut)
    cuts.append(n)
    return cuts


def _cut(text: str, start: int, target: int, look_back: int, rule: str, added: tuple[str, ...]) -> int | None:
    """A safe cut in (start, len(text)): the last at or before ``target`` within ``look_back``,
    else the first after it."""
    if rule == "any":
        return _outside_added(text, start, target, added)
    lo = max(start + 1, target - look_back)
    i = text.rfind("\n", lo, target)
    while i >= lo:
        if _newline_cut(text, i):
            return i + 1
        i = text.rfind("\n", lo, i)
    i = text.find("\n", target)
    while i != -1:
        if _newline_cut(text, i):
            return i + 1
        i = text.find("\n", i + 1)
    return None


def _newline_cut(text: str, i: int) -> bool:
    # text[i] is "\n"; a cut after it needs a non-whitespace character on each side
    return 0 < i < len(text) - 1 and not text[i - 1].isspace() and not text[i + 1].isspace()


class AddedIndex:
    """The contents of a tokenizer's added tokens, sorted, to find the one that starts at a
    position of a text with one binary search (a scan of every added token per cut cost N
    finds per piece; with hundreds of thousands of added tokens that never finished).

    Built only for sets where no token is a prefix of another (``_overlap`` is False): then
    the only token that can start at ``j`` is the largest one not above ``text[j:]``."""

    def __init__(self, added):
        self.sorted = sorted(set(added))
        self.longest = max(map(len, self.sorted), default=0)
        self.firsts = frozenset(a[0] for a in self.sorted if a)

    def __iter__(self):
        return iter(self.sorted)

    def __len__(self) -> int:
        return len(self.sorted)

    def at(self, text: str, j: int) -> str | None:
        """The added token that starts at ``text[j]``, if one does."""
        if text[j] not in self.firsts:
            return None
        s = text[j:j + self.longest]
        i = bisect.bisect_right(self.sorted, s) - 1
        return self.sorted[i] if i >= 0 and s.startswith(self.sorted[i]) else None


def added_index(tokenizer) -> AddedIndex:
    """The ``AddedIndex`` of a transformers fast tokenizer's added tokens (made once per tokenizer)."""
    try:
        return _ADDED[tokenizer]
    except (KeyError, TypeError):
        pass
    index = AddedIndex(t.content for t in tokenizer._tokenizer.get_added_tokens_decoder().values())
    try:
        _ADDED[tokenizer] = index
    except TypeError:
        pass
    return index


def _outside_added(text: str, start: int, cut: int, added) -> int | None:
    """``cut``, moved to the start of the added token that would span it (past its end when
    that start is the piece's own). Added tokens never overlap (``_overlap``), so at most
    one occurrence spans a position and every occurrence is one the tokenizer matches."""
    index = added if isinstance(added, AddedIndex) else AddedIndex(added)
    # an occurrence spanning cut starts in (cut - longest, cut)
    for j in range(max(start, cut - index.longest + 1), cut):
        a = index.at(text, j)
        if a is not None and j + len(a) > cut:
            cut = j if j > start else j + len(a)
            break
    return cut if start < cut < len(text) else None


def _overlap(added: list[str]) -> bool:
    """Whether two occurrences of added tokens can overlap (one's end is another's start, or
    one holds another, or a token's end is its own start).

    Sorted, this takes one binary search per character of the tokens, not a look at every
    pair (8,000 added tokens took minutes): a token that is a prefix of another is a prefix
    of the one after it; then, for each proper suffix ``s`` of a token, a token that starts
    with ``s`` is the first one not below ``s``, and a token that ``s`` starts with is the
    last one not above ``s`` (no token being a prefix of another)."""
    toks = sorted(set(a for a in added if a))
    if any(b.startswith(a) for a, b in zip(toks, toks[1:])):
        return True
    firsts = frozenset(a[0] for a in toks)
    for b in toks:
        for i in range(1, len(b)):
            if b[i] not in firsts:
                continue
            s = b[i:]
            k = bisect.bisect_left(toks, s)
            if k < len(toks) and toks[k].startswith(s):
                return True  # a token's end is a token's start (or the whole of it)
            if k < len(toks) and toks[k] == s or k > 0 and s.startswith(toks[k - 1]):
                return True  # a token inside another
    return False
