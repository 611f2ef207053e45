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

from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np

from causal_agents.errors import CagError
from causal_agents.render import AGENT, CONTEXT, PROTOCOL, WORLD, get_renderer

IGNORE_INDEX = -100
MODES = ("obs", "do")


class TokenClass(IntEnum):
    CONTEXT = CONTEXT
    PROTOCOL = PROTOCOL
    WORLD = WORLD
    AGENT = AGENT


CLASS_NAMES = ("context", "protocol", "world", "agent")
# Which classes each mode supervises, indexed by class code.
_SUPERVISED_BY = {
    "obs": np.array([False, True, True, True]),
    "do": np.array([False, True, True, False]),
}
# Straddling tokens: higher wins. context > agent > world > protocol.
_PRIORITY = np.array([3, 0, 1, 2], dtype=np.int8)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise CagError(f"unknown mask mode {mode!r} (expected obs or do)")
    return mode


@dataclass
class Encoded:
    input_ids: np.ndarray   # (T,) int64
    classes: np.ndarray     # (T,) int8, TokenClass codes
    segment: np.ndarray     # (T,) int32, index into the record's segments
    trainable: np.ndarray   # (T,) bool, False inside weight-0 messages
    text: str
    record_id: str | None = None
    straddling: int = 0     # tokens covering characters of more than one span
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)

    def supervised(self, mode: str) -> np.ndarray:
        return _SUPERVISED_BY[check_mode(mode)][self.classes] & self.trainable

    def has_evidence(self) -> bool:
        """Whether the do-mask supervises any world-written token. Role headers alone teach
        nothing, so an example without evidence counts as an empty do-mask."""
        return bool((self.supervised("do") & (self.classes == WORLD)).any())

    def labels(self, mode: str) -> np.ndarray:
        return np.where(self.supervised(mode), self.input_ids, IGNORE_INDEX)

    def truncate(self, max_length: int) -> tuple["Encoded", dict]:
        """Keep the first ``max_length`` tokens; returns the supervised tokens lost per mode."""
        if len(self) <= max_length:
            return self, {m: 0 for m in MODES}
        lost = {m: int(self.supervised(m)[max_length:].sum()) for m in MODES}
        cut = slice(0, max_length)
        return replace(self, input_ids=self.input_ids[cut], classes=self.classes[cut],
                       segment=self.segment[cut], trainable=self.trainable[cut]), lost


def encode(record: dict, tokenizer, renderer: str = "plain") -> Encoded:
    return encode_batch([record], tokenizer, renderer)[0]


def encode_batch(records: list[dict], tokenizer, renderer: str = "plain") -> list[Encoded]:
    render = get_renderer(renderer)
    rendered = [render(r["segments"], tokenizer) for r in records]
    texts = [t for t, _ in rendered]
    ids_list, offsets_list = _tokenize(tokenizer, texts)
    out = []
    for rec, (text, spans), ids, offs in zip(records, rendered, ids_list, offsets_list):
        classes, segment, trainable, straddling = classify(offs, spans)
        out.append(Encoded(np.asarray(ids, dtype=np.int64), classes, segment, trainable, text,
                           record_id=rec.get("id"), straddling=straddling))
    return out


def _tokenize(tokenizer, texts: list[str]):
    """Token ids and (T, 2) character offsets for each text, no special tokens added
    (the renderer decides every character of the sequence)."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None:  # a fast tokenizer: call the Rust backend directly, no Python wrapping
        encs = backend.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encs], [np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2) for e in encs]
    raise CagError("the label builder needs a fast tokenizer (character offsets)")


def classify(offsets: np.ndarray, spans: list[tuple]):
    """Per-token (class, segment, trainable) from character offsets and renderer spans."""
    n = len(offsets)
    if n == 0:
        return (np.zeros(0, np.int8), np.zeros(0, np.int32), np.zeros(0, bool), 0)
    sp = np.asarray(spans, dtype=np.int64)  # (S, 5): start, end, cls, seg, trainable
    starts, cls, seg, tr = sp[:, 0], sp[:, 2].astype(np.int8), sp[:, 3].astype(np.int32), sp[:, 4].astype(bool)
    s = offsets[:, 0]
    e_last = np.maximum(offsets[:, 1] - 1, s)  # last character covered (zero-width: the start)
    i0 = np.searchsorted(starts, s, side="right") - 1
    i1 = np.searchsorted(starts, e_last, side="right") - 1
    np.clip(i0, 0, None, out=i0)
    out_cls, out_seg, out_tr = cls[i0].copy(), seg[i0].copy(), tr[i0].copy()
    straddle = np.nonzero(i1 > i0)[0]
    for t in straddle:  # rare: only tokens crossing a span boundary
        idx = np.arange(i0[t], i1[t] + 1)
        win = idx[np.argmax(_PRIORITY[cls[idx]])]
        out_cls[t], out_seg[t], out_tr[t] = cls[win], seg[win], tr[idx].all()
    return out_cls, out_seg, out_tr, len(straddle)
