"""The label builder: one function turns a tagged transcript and a tokenizer into
``input_ids`` and a class per token, from which the labels of each mask mode follow.

``stats``, ``train`` and ``probe`` all go through here, so the supervised counts that
``cag stats`` prints are exactly the labels ``cag train`` uses.

- ``obs`` supervises every trainable token that is not context.
- ``do`` supervises every trainable token that is not context and not agent content.

The text is tokenized once; classes come from character offsets. A token that straddles
two spans takes the most protective class among the characters it covers
(context > agent > world > protocol) and is trainable only if all of them are: no
character the agent wrote is ever supervised under ``do``.

The first token of a sequence is never supervised, whatever its class: labels are shifted
inside every trainer's loss (cag's, TRL's, Axolotl's), so nothing predicts position 0. A
transcript without a leading system message starts with a supervised role prefix; counting
it made `cag stats` report one token per such transcript that no trainer ever trains.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Iterator

import numpy as np

from causal_agents.errors import CagError
from causal_agents.transcripts.pieces import added_index, piece_bounds, split_rule
from causal_agents.transcripts.render import get_renderer
from causal_agents.transcripts.options import TRUNCATE_SIDES  # noqa: F401  (re-exported)
from causal_agents.transcripts.spans import AGENT, CLASS_NAMES, CONTEXT, PROTOCOL, WORLD, TokenClass  # noqa: F401

IGNORE_INDEX = -100  # the Hugging Face convention: labels aligned with input_ids, -100 = no loss
MODES = ("obs", "do")
# One tokenizer call encodes at most about this many characters: its per-token bookkeeping
# (about 200 bytes a token) is freed before the next call.
BATCH_CHARS = 1 << 18

# Which classes each mode supervises, indexed by class code: obs everything but context, do
# only what the world wrote (and the protocol around it).
SUPERVISED_BY = {
    "obs": np.array([c != CONTEXT for c in TokenClass]),
    "do": np.array([c in (PROTOCOL, WORLD) for c in TokenClass]),
}
# Straddling tokens: higher wins. context > agent > world > protocol.
_PRIORITY = np.array([3, 0, 1, 2], dtype=np.int8)


def evidence(classes: np.ndarray, trainable: np.ndarray) -> np.ndarray:
    """Tokens the do-mask supervises that the world wrote. Role headers alone teach nothing,
    so a transcript with none of these has an empty do-mask: stats reports it, train refuses it."""
    return SUPERVISED_BY["do"][classes] & trainable & (classes == WORLD)


def check_mode(mode: str) -> str:
    """``mode`` if it is obs or do, else a CagError."""
    if mode not in MODES:
        raise CagError(f"unknown mask mode {mode!r} (expected obs or do)")
    return mode


class Encoded:
    """One transcript, tokenized: ids, a class per token, and what each mode supervises."""

    def __init__(self, input_ids, classes: np.ndarray, segment: np.ndarray, trainable: np.ndarray, text: str,
                 record_id: str | None = None, straddling: int = 0, weight: np.ndarray | None = None):
        self._ids = input_ids   # int32 array (or a list); int64 on first use (stats never needs it)
        self.classes = classes        # (T,) int8, TokenClass codes
        self.segment = segment        # (T,) int32, index into the record's segments
        self.trainable = trainable    # (T,) bool, False inside weight-0 messages
        self.text = text
        self.record_id = record_id
        self.straddling = straddling  # tokens covering characters of more than one span
        # (T,) float32 loss scale from fractional per-message weights (``loss_weight``), or None
        # when every weight is 0 or 1 (then ``trainable`` says it all)
        self.weight = weight

    @property
    def input_ids(self) -> np.ndarray:  # (T,) int64
        """(T,) int64 token ids."""
        if not isinstance(self._ids, np.ndarray) or self._ids.dtype != np.int64:
            self._ids = np.asarray(self._ids, dtype=np.int64)
        return self._ids

    def __len__(self) -> int:
        return len(self.classes)

    def supervised(self, mode: str) -> np.ndarray:
        """(T,) bool: positions ``mode`` supervises (its classes, outside weight-0 messages)."""
        return SUPERVISED_BY[check_mode(mode)][self.classes] & self.trainable

    def has_evidence(self) -> bool:
        """Whether the do-mask supervises any world-written token (see ``evidence``)."""
        return bool(evidence(self.classes, self.trainable).any())

    def labels(self, mode: str) -> np.ndarray:
        """(T,) int64 labels for ``mode``: the token id where supervised, IGNORE_INDEX elsewhere (unshifted)."""
        return np.where(self.supervised(mode), self.input_ids, IGNORE_INDEX)

    def truncate(self, max_length: int, side: str = "right") -> tuple["Encoded", dict]:
        """Keep ``max_length`` tokens; returns the supervised tokens lost per mode.

        ``side="right"`` drops the end (keeps the first tokens); ``side="left"`` drops the
        beginning, keeping the end of a long transcript where the verdicts usually are. The
        first kept token then has no context left to be predicted from (labels are shifted
        inside the loss), so it becomes untrainable and counts as lost: the counts stay the
        labels a trainer uses.
        """
        lost = self.truncation_lost(max_length, side)
        if len(self) <= max_length:
            return self, lost
        cut = _kept(len(self), max_length, side)
        trainable = self.trainable[cut].copy()
        if side == "left":
            trainable[0] = False
        kept = Encoded(self.input_ids[cut], self.classes[cut], self.segment[cut], trainable, self.text,
                       self.record_id, self.straddling, None if self.weight is None else self.weight[cut])
        return kept, lost

    def truncation_lost(self, max_length: int, side: str = "right") -> dict:
        """The supervised tokens per mode that ``truncate(max_length, side)`` drops, counted
        without building the truncated copy (`cag stats --max-length` needs only these)."""
        if side not in TRUNCATE_SIDES:
            raise CagError(f"unknown truncation side {side!r} (expected left or right)")
        if max_length < 1:
            raise CagError(f"max_length must be at least 1, got {max_length}")
        if len(self) <= max_length:
            return {m: 0 for m in MODES}
        cut = _kept(len(self), max_length, side)
        lost = {}
        for m in MODES:
            sup = self.supervised(m)
            # left: the first kept token becomes untrainable
            kept = int(sup[cut].sum()) - (int(sup[cut.start]) if side == "left" else 0)
            lost[m] = int(sup.sum()) - kept
        return lost


def _kept(n: int, max_length: int, side: str) -> slice:
    return slice(0, max_length) if side == "right" else slice(n - max_length, n)


def encode(record: dict, tokenizer, renderer: str = "plain") -> Encoded:
    """One record through ``encode_batch``."""
    return encode_batch([record], tokenizer, renderer)[0]


def encode_batch(records: list[dict], tokenizer, renderer: str = "plain") -> list[Encoded]:
    """The label builder: render each tagged record (``renderer``), tokenize the renderings without special tokens, and give every token a class from character offsets. Returns one ``Encoded`` per record, in order; `cag stats`, `cag train` and the probes all count and train with exactly these. Needs a fast tokenizer (character offsets); raises CagError otherwise.

    A rendering longer than ``pieces.PIECE_CHARS`` is tokenized in pieces cut where the tokens
    are those of one whole tokenization (``pieces``), at most about ``BATCH_CHARS`` characters
    per tokenizer call, and only compact arrays are kept per token: memory follows the
    tokens, not the tokenizer's bookkeeping for a whole record."""
    render = get_renderer(renderer)
    rendered = [render(r["segments"], tokenizer) for r in records]
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is None:
        raise CagError("the label builder needs a fast tokenizer (character offsets)")
    rule = split_rule(tokenizer)
    added = added_index(tokenizer) if rule == "any" else ()
    cuts = [piece_bounds(text, rule, added) for text, _ in rendered]
    jobs = [(i, a, b) for i, c in enumerate(cuts) for a, b in itertools.pairwise(c)]
    acc = [_Tokens(text, len(c) - 1) for (text, _), c in zip(rendered, cuts)]
    bounds = {}  # record index -> (span ends, span starts), for records cut into pieces
    for group in _batches(jobs):
        texts = [rendered[i][0][a:b] for i, a, b in group]  # a whole rendering is not copied
        # No special tokens added: the renderer decides every character of the sequence.
        for (i, a, b), enc in zip(group, backend.encode_batch(texts, add_special_tokens=False)):
            text, spans = rendered[i]
            if b - a < len(text):
                if i not in bounds:
                    bounds[i] = ([e for _s, e, *_r in spans], [s for s, *_r in spans])
                spans = _clip(spans, *bounds[i], a, b)
            acc[i].add(enc.ids, *classify(enc, spans))
    out = []
    for rec, (text, _), t in zip(records, rendered, acc):
        ids, classes, segment, trainable = t.arrays()
        if len(trainable):
            trainable[0] = False  # nothing precedes it to predict it from (see the module doc)
        out.append(Encoded(ids, classes, segment, trainable, text, record_id=rec.get("id"),
                           straddling=t.straddling, weight=_fractional_weight(rec["segments"], segment)))
    return out


class _Tokens:
    """One record's token arrays (ids, class, segment, trainable), filled piece by piece.

    A record of several pieces writes into arrays sized for the most tokens its text can
    give (one per UTF-8 byte, for the byte-level tokenizers that are cut into pieces); pages
    never written stay unallocated, and joining the pieces afterwards is avoided (it held
    every array twice)."""

    DTYPES = (np.int32, np.int8, np.int32, bool)

    def __init__(self, text: str, pieces: int):
        self.parts = [] if pieces > 1 else None
        self.cap = len(text) if text.isascii() else 4 * len(text)
        self.n, self.straddling, self.out = 0, 0, None

    def add(self, ids: list, cls: np.ndarray, seg: np.ndarray, tr: np.ndarray, straddling: int) -> None:
        """Append one piece's tokens."""
        self.straddling += straddling
        arrays = (np.asarray(ids, dtype=np.int32), cls, seg, tr)
        if self.parts is None:  # one piece: its arrays are the record's
            self.out = arrays
            return
        k = len(cls)
        if self.out is None or self.n + k > len(self.out[0]):
            cap = max(self.cap, 2 * self.n + k) if self.out is not None else max(self.cap, k)
            grown = tuple(np.empty(cap, dtype=d) for d in self.DTYPES)
            for g, o in zip(grown, self.out or ()):
                g[: self.n] = o[: self.n]
            self.out = grown
        for o, a in zip(self.out, arrays):
            o[self.n: self.n + k] = a
        self.n += k

    def arrays(self) -> tuple:
        """(ids, classes, segment, trainable) over the whole record."""
        if self.out is None:
            return tuple(np.empty(0, dtype=d) for d in self.DTYPES)
        return self.out if self.parts is None else tuple(o[: self.n] for o in self.out)


def _batches(jobs: list[tuple]) -> Iterator[list[tuple]]:
    """Consecutive pieces, at most about BATCH_CHARS characters per tokenizer call."""
    group, chars = [], 0
    for job in jobs:
        if group and chars + job[2] - job[1] > BATCH_CHARS:
            yield group
            group, chars = [], 0
        group.append(job)
        chars += job[2] - job[1]
    if group:
        yield group


def _clip(spans: list[tuple], ends: list[int], starts: list[int], a: int, b: int) -> list[tuple]:
    """The spans of the piece ``[a, b)``, in the piece's coordinates.

    Spans tile the text in order, so they are a contiguous run: those ending after ``a`` and
    starting before ``b`` (an empty span counts only strictly inside, as a straddler of the
    whole tokenization would see it)."""
    lo = bisect.bisect_right(ends, a)
    hi = bisect.bisect_left(starts, b)
    return [(max(s, a) - a, min(e, b) - a, *rest) for s, e, *rest in spans[lo:hi]]


def _fractional_weight(segments: list[dict], segment: np.ndarray) -> np.ndarray | None:
    """Per-token weight of each token's message, only when some weight is a fraction."""
    w = [s.get("weight", 1) for s in segments]
    if all(x in (0, 1) for x in w):
        return None
    return np.asarray(w, dtype=np.float32)[segment]


def classify(enc, spans: list[tuple]):
    """Per-token (class, segment, trainable) for a ``tokenizers.Encoding`` and renderer spans.

    Only span boundaries are looked up (``char_to_token``), not every token's offsets: each
    span owns the tokens from the one holding its first character up to the next span's.
    A token that began in an earlier span is a straddler and is resolved from its own
    character range.
    """
    n = len(enc)
    first = []  # (first token, span index) for spans that some token covers
    for k, (s, e, *_rest) in enumerate(spans):
        t = None
        for c in range(s, e):  # usually the first character; tokenizers may leave some uncovered
            t = enc.char_to_token(c)
            if t is not None:
                break
        if t is not None:
            first.append((t, k, c))
    sp = np.asarray(spans, dtype=np.int64).reshape(-1, 5)  # (S, 5): start, end, cls, seg, trainable
    owner = np.zeros(n, dtype=np.int64)
    if first:
        starts = np.array([f[0] for f in first])
        ks = np.array([f[1] for f in first])
        # several spans may share a first token (a short span inside one token): keep the last,
        # the straddler pass below resolves the token itself
        keep = np.ones(len(starts), dtype=bool)
        keep[:-1] = starts[1:] != starts[:-1]
        starts, ks = starts[keep], ks[keep]
        counts = np.diff(starts, append=n)
        counts[0] += starts[0]  # tokens before the first covered span (none for cag's renderers)
        owner = np.repeat(ks, counts)
    cls = sp[owner, 2].astype(np.int8)
    seg = sp[owner, 3].astype(np.int32)
    tr = sp[owner, 4].astype(bool)
    chars = {}
    for t, k, _c in first:
        if t not in chars:
            chars[t] = enc.token_to_chars(t)
    straddlers = sorted({t for t, k, _c in first if chars[t][0] < spans[k][0]})
    if straddlers:
        _resolve_straddlers(np.array(straddlers), np.array([chars[t] for t in straddlers]).reshape(-1, 2),
                            sp, cls, seg, tr)
    return cls, seg, tr, len(straddlers)


def _resolve_straddlers(toks: np.ndarray, ab: np.ndarray, sp: np.ndarray, cls, seg, tr) -> None:
    """Give each straddling token (character range ``ab``) the most protective class among the
    spans it overlaps (the first such span on a tie), trainable only if all of them are.

    Spans tile the text in order, so the spans a token overlaps are one contiguous run, found
    by two binary searches; the whole chunk of straddlers is resolved in a few numpy passes
    (SmolLM2 merges the prefix's space with the next word, so every turn has one)."""
    a = ab[:, 0]
    b = np.maximum(ab[:, 1], a + 1)
    if (np.diff(sp[:, 0]) < 0).any() or (np.diff(sp[:, 1]) < 0).any():
        raise CagError("renderer spans out of order: they must tile the text from start to end")
    lo = np.searchsorted(sp[:, 1], a, side="right")   # first span ending after a
    hi = np.searchsorted(sp[:, 0], b, side="left")    # spans starting before b
    lens = hi - lo
    starts = np.cumsum(lens) - lens
    idx = np.repeat(lo - starts, lens) + np.arange(int(lens.sum()))  # flattened runs of span indices
    big = len(sp) + 1
    key = _PRIORITY[sp[idx, 2]].astype(np.int64) * big + (big - 1 - idx)  # max: highest priority, then first
    win = big - 1 - (np.maximum.reduceat(key, starts) % big)
    cls[toks], seg[toks] = sp[win, 2], sp[win, 3]
    tr[toks] = np.minimum.reduceat(sp[idx, 4], starts).astype(bool)
