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
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from causal_agents.errors import CagError
from causal_agents.transcripts.render import AGENT, CONTEXT, PROTOCOL, WORLD, get_renderer

IGNORE_INDEX = -100
MODES = ("obs", "do")


class TokenClass(IntEnum):
    CONTEXT = CONTEXT
    PROTOCOL = PROTOCOL
    WORLD = WORLD
    AGENT = AGENT


CLASS_NAMES = ("context", "protocol", "world", "agent")
# Which classes each mode supervises, indexed by class code.
SUPERVISED_BY = {
    "obs": np.array([False, True, True, True]),
    "do": np.array([False, True, True, False]),
}
# Straddling tokens: higher wins. context > agent > world > protocol.
_PRIORITY = np.array([3, 0, 1, 2], dtype=np.int8)


def evidence(classes: np.ndarray, trainable: np.ndarray) -> np.ndarray:
    """Tokens the do-mask supervises that the world wrote. Role headers alone teach nothing,
    so a transcript with none of these has an empty do-mask: stats reports it, train refuses it."""
    return SUPERVISED_BY["do"][classes] & trainable & (classes == WORLD)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise CagError(f"unknown mask mode {mode!r} (expected obs or do)")
    return mode


class Encoded:
    """One transcript, tokenized: ids, a class per token, and what each mode supervises."""

    def __init__(self, input_ids, classes: np.ndarray, segment: np.ndarray, trainable: np.ndarray, text: str,
                 record_id: str | None = None, straddling: int = 0):
        self._ids = input_ids   # a list or array; turned into an array on first use (stats never needs it)
        self.classes = classes        # (T,) int8, TokenClass codes
        self.segment = segment        # (T,) int32, index into the record's segments
        self.trainable = trainable    # (T,) bool, False inside weight-0 messages
        self.text = text
        self.record_id = record_id
        self.straddling = straddling  # tokens covering characters of more than one span

    @property
    def input_ids(self) -> np.ndarray:  # (T,) int64
        if not isinstance(self._ids, np.ndarray):
            self._ids = np.asarray(self._ids, dtype=np.int64)
        return self._ids

    def __len__(self) -> int:
        return len(self.classes)

    def supervised(self, mode: str) -> np.ndarray:
        return SUPERVISED_BY[check_mode(mode)][self.classes] & self.trainable

    def has_evidence(self) -> bool:
        """Whether the do-mask supervises any world-written token (see ``evidence``)."""
        return bool(evidence(self.classes, self.trainable).any())

    def labels(self, mode: str) -> np.ndarray:
        return np.where(self.supervised(mode), self.input_ids, IGNORE_INDEX)

    def truncate(self, max_length: int) -> tuple["Encoded", dict]:
        """Keep the first ``max_length`` tokens; returns the supervised tokens lost per mode."""
        if len(self) <= max_length:
            return self, {m: 0 for m in MODES}
        lost = {m: int(self.supervised(m)[max_length:].sum()) for m in MODES}
        cut = slice(0, max_length)
        return Encoded(self.input_ids[cut], self.classes[cut], self.segment[cut], self.trainable[cut], self.text,
                       self.record_id, self.straddling), lost


def encode(record: dict, tokenizer, renderer: str = "plain") -> Encoded:
    return encode_batch([record], tokenizer, renderer)[0]


def encode_batch(records: list[dict], tokenizer, renderer: str = "plain") -> list[Encoded]:
    render = get_renderer(renderer)
    rendered = [render(r["segments"], tokenizer) for r in records]
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is None:
        raise CagError("the label builder needs a fast tokenizer (character offsets)")
    # One tokenization of the whole rendering, no special tokens added: the renderer decides
    # every character of the sequence.
    encodings = backend.encode_batch([t for t, _ in rendered], add_special_tokens=False)
    out = []
    for rec, (text, spans), enc in zip(records, rendered, encodings):
        classes, segment, trainable, straddling = classify(enc, spans)
        out.append(Encoded(enc.ids, classes, segment, trainable, text,
                           record_id=rec.get("id"), straddling=straddling))
    return out


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
