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


import numpy as np

from causal_agents.errors import CagError
from causal_agents.transcripts.render import get_renderer
from causal_agents.transcripts.options import TRUNCATE_SIDES  # noqa: F401  (re-exported)
from causal_agents.transcripts.spans import AGENT, CLASS_NAMES, CONTEXT, PROTOCOL, WORLD, TokenClass  # noqa: F401

IGNORE_INDEX = -100  # the Hugging Face convention: labels aligned with input_ids, -100 = no loss
MODES = ("obs", "do")

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
        self._ids = input_ids   # a list or array; turned into an array on first use (stats never needs it)
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
        if not isinstance(self._ids, np.ndarray):
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
        if side not in TRUNCATE_SIDES:
            raise CagError(f"unknown truncation side {side!r} (expected left or right)")
        if max_length < 1:
            raise CagError(f"max_length must be at least 1, got {max_length}")
        if len(self) <= max_length:
            return self, {m: 0 for m in MODES}
        cut = slice(0, max_length) if side == "right" else slice(len(self) - max_length, len(self))
        trainable = self.trainable[cut].copy()
        if side == "left":
            trainable[0] = False
        kept = Encoded(self.input_ids[cut], self.classes[cut], self.segment[cut], trainable, self.text,
                       self.record_id, self.straddling, None if self.weight is None else self.weight[cut])
        lost = {m: int(self.supervised(m).sum() - kept.supervised(m).sum()) for m in MODES}
        return kept, lost


def encode(record: dict, tokenizer, renderer: str = "plain") -> Encoded:
    """One record through ``encode_batch``."""
    return encode_batch([record], tokenizer, renderer)[0]


def encode_batch(records: list[dict], tokenizer, renderer: str = "plain") -> list[Encoded]:
    """The label builder: render each tagged record (``renderer``), tokenize all renderings in one batch call without special tokens, and give every token a class from character offsets. Returns one ``Encoded`` per record, in order; `cag stats`, `cag train` and the probes all count and train with exactly these. Needs a fast tokenizer (character offsets); raises CagError otherwise."""
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
        if len(trainable):
            trainable[0] = False  # nothing precedes it to predict it from (see the module doc)
        out.append(Encoded(enc.ids, classes, segment, trainable, text, record_id=rec.get("id"),
                           straddling=straddling, weight=_fractional_weight(rec["segments"], segment)))
    return out


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
