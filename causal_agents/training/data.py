"""Training examples and the batch plan.

Labels come only from the label builder (causal_agents.transcripts.labels), the same code `cag stats`
counts with. The plan (which examples form each optimizer step, in which order) depends
only on the data lengths and the seed, never on the mask, so an obs run and a do run built
from one plan see identical batches in identical order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from causal_agents.errors import CagError, InputError
from causal_agents.transcripts.labels import IGNORE_INDEX, MODES

WEIGHTINGS = ("token", "sequence", "message")
# Examples are grouped by length inside windows of this many batches, so right-padding wastes
# little compute while the order stays shuffled (see plan_steps).
LENGTH_GROUP_WINDOW = 16


@dataclass
class Example:
    """One training transcript: ids plus, per mode, labels and loss weights from the label builder."""
    input_ids: np.ndarray           # (T,) int64
    labels: dict                    # mode -> (T,) int64, IGNORE_INDEX where not supervised
    weights: dict                   # mode -> (T,) float32 loss weight per label position
    record_id: str | None
    # (T,) bool: positions some mode could supervise (obs's, the widest mask). The LM head
    # runs only there: context and pads get no logits, under every mode alike (see head_rows).
    scored: np.ndarray


def token_weights(enc, mode: str, weighting: str) -> np.ndarray:
    """Per-token loss weight for one example; zero where the label is ignored.

    token: every supervised token counts once (the loss is the mean over the step's tokens).
    sequence: each sequence's tokens share weight 1, so a long transcript counts as much as
    a short one. message: each supervised message (a turn: role prefix plus content) shares
    weight 1, so a five-token verdict is not swamped by a 2,000-token tool output.
    """
    sup = enc.supervised(mode)
    w = sup.astype(np.float32)
    # A fractional per-message weight (``loss_weight``) scales its message's tokens.
    scale = getattr(enc, "weight", None)
    scale = np.float32(1.0) if scale is None else scale
    if weighting == "token" or not sup.any():
        return w * scale
    if weighting == "sequence":
        return w / sup.sum() * scale
    if weighting == "message":
        seg = enc.segment
        counts = np.bincount(seg[sup], minlength=int(seg.max()) + 1).astype(np.float32)
        return (np.where(sup, 1.0 / np.maximum(counts[seg], 1.0), 0.0) * scale).astype(np.float32)
    raise CagError(f"unknown --loss-weighting {weighting!r} (expected {', '.join(WEIGHTINGS)})")


def build_examples(encs: list, modes: tuple[str, ...], weighting: str = "token",
                   max_length: int | None = None, truncate: str = "right") -> tuple[list[Example], dict]:
    """Examples for the given modes, and the supervised tokens that truncation lost per mode
    (``truncate="left"`` keeps the end of a long transcript: labels.Encoded.truncate)."""
    lost = {m: 0 for m in MODES}
    out = []
    for enc in encs:
        if max_length is not None:
            enc, l = enc.truncate(max_length, truncate)
            for m in MODES:
                lost[m] += l[m]
        out.append(Example(enc.input_ids, {m: enc.labels(m) for m in modes},
                           {m: token_weights(enc, m, weighting) for m in modes}, enc.record_id,
                           enc.supervised("obs")))
    return out, lost


def supervised_counts(examples: list[Example], modes) -> dict:
    """Supervised label positions per mode (each position predicts the next token: the HF
    convention shifts labels inside the loss, so the first label of a sequence is never used;
    the label builder never supervises it, so these counts are the positions the loss trains)."""
    return {m: int(sum((ex.labels[m] != IGNORE_INDEX).sum() for ex in examples)) for m in modes}


def step_supervision(examples: list[Example], mbs, mode: str) -> tuple[int, float]:
    """(supervised positions, their summed loss weight) over one step's micro-batches ``mbs``.

    The count is what ``metrics.jsonl`` reports as ``supervised_tokens``: every position with
    a nonzero weight, whatever the weighting, so the rows of one epoch add up to the count
    `cag stats` prints (less truncation and refusals). The weight is the loss's denominator
    (``supervised_weight``): equal to the count under ``--loss-weighting token`` unless some
    message has a fractional ``loss_weight``; the number of sequences or messages under the
    other weightings."""
    rows = [examples[i].weights[mode] for mb in mbs for i in mb]
    # summed as the loss always has (float32 sums), so the loss scale is unchanged bit for bit
    return int(sum(np.count_nonzero(wt) for wt in rows)), float(sum(wt.sum() for wt in rows))


def check_supervised(counts: dict, source: str) -> None:
    """Refuse a mode that supervises nothing at all: training on it would be a no-op that looks like success."""
    for m, n in counts.items():
        if n == 0:
            raise InputError(f"no supervised tokens under --mask {m}: nothing to train on "
                             "(check the roles with `cag stats`; agent-only data supervises nothing under do)",
                             file=source)


def plan_steps(lengths: list[int], batch_size: int, accum: int, world: int, epochs: int, seed: int,
               group_by_length: bool = True) -> list[list[list[int]]]:
    """The whole run as steps -> micro-batches -> example indices, deterministic in ``seed``.

    Each epoch shuffles the examples; with ``group_by_length`` each window of
    LENGTH_GROUP_WINDOW global batches is sorted by length before it is cut into batches,
    and the batches are shuffled again, so padding is small and the order still random.
    A step holds ``accum * world`` micro-batches; under DDP rank r takes micro-batches
    r, r + world, ... so one process with accum=k*world replays the same steps.
    """
    if batch_size < 1 or accum < 1 or epochs < 1:
        raise CagError("batch size, gradient accumulation and epochs must be at least 1")
    rng = np.random.default_rng(seed)
    per_step = accum * world
    lengths = np.asarray(lengths)
    steps = []
    for _ in range(epochs):
        order = rng.permutation(len(lengths))
        if group_by_length:
            win = batch_size * per_step * LENGTH_GROUP_WINDOW
            chunks = []
            for s in range(0, len(order), win):
                w = order[s:s + win]
                w = w[np.argsort(-lengths[w], kind="stable")]
                chunks.extend(w[i:i + batch_size * per_step] for i in range(0, len(w), batch_size * per_step))
            perm = rng.permutation(len(chunks))
            groups = [chunks[i] for i in perm]
        else:
            groups = [order[i:i + batch_size * per_step] for i in range(0, len(order), batch_size * per_step)]
        for g in groups:
            mbs = [g[i:i + batch_size].tolist() for i in range(0, len(g), batch_size)]
            steps.append(mbs)
    return steps


def collate(examples: list[Example], idx: list[int], mode: str, pad_id: int):
    """Right-padded tensors. Right padding needs no attention mask under causal attention:
    real tokens never attend to the pads after them, and pads carry no label.

    Returns input_ids (B, T), targets (B, T-1) and weights (B, T-1), already shifted so
    position t predicts token t+1.
    """
    import torch

    T = max(len(examples[i].input_ids) for i in idx)
    B = len(idx)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    tgt = np.full((B, T), IGNORE_INDEX, dtype=np.int64)
    wts = np.zeros((B, T), dtype=np.float32)
    for r, i in enumerate(idx):
        ex = examples[i]
        n = len(ex.input_ids)
        ids[r, :n] = ex.input_ids
        tgt[r, :n] = ex.labels[mode]
        wts[r, :n] = ex.weights[mode]
    return torch.from_numpy(ids), torch.from_numpy(tgt[:, 1:].copy()), torch.from_numpy(wts[:, 1:].copy())


def head_rows(examples: list[Example], idx: list[int], T: int):
    """(B, T-1) bool, shifted like collate's targets: the positions whose logits any mode
    could need. The same for every mode, so an obs step and a do step cost the same; a
    position outside it has no label in any mode, so skipping it changes no loss or gradient."""
    import torch

    rows = np.zeros((len(idx), T), dtype=bool)
    for r, i in enumerate(idx):
        sc = examples[i].scored
        rows[r, :len(sc)] = sc
    return torch.from_numpy(rows[:, 1:].copy())


@dataclass
class Prepared:
    """Encoded training data shared by every mode of one run (and by paired runs)."""

    tokenizer: object
    examples: list
    supervised: dict       # mode -> supervised positions (equals `cag stats` for the same options)
    lost: dict             # mode -> supervised tokens lost to --max-length
    digest: dict           # mode -> digest of the training data and its labels, for resume checks
    tokens: int = 0        # all positions, before truncation
    refused: list = None   # ids of transcripts refused for an empty mask under a trained mode

    def summary_line(self) -> str:
        """One line for stderr: what each mode supervises, what truncation loses, what was refused."""
        parts = [f"{m} supervises {n:,} of {self.tokens:,} positions ({100.0 * n / max(1, self.tokens):.1f}%)"
                 for m, n in self.supervised.items()]
        line = "; ".join(parts)
        if any(self.lost.values()):
            line += "; truncation loses " + ", ".join(f"{m} {n:,}" for m, n in self.lost.items())
        if self.refused:
            line += (f"; refused {len(self.refused)} transcript(s) with an empty mask (under do: no "
                     f"world-written token; e.g. {self.refused[:3]})")
        return line


def prepare(cfg, records: list[dict], source: str, tokenizer=None) -> Prepared:
    """Encode ``records`` through the label builder into training examples for ``cfg.modes``.

    Returns the examples with their supervised counts (before truncation: exactly what `cag
    stats` reports for the same options), the tokens lost to ``max_length``, the refused
    transcripts (empty mask under a trained mode) and a digest per mode for resume checks.
    Raises InputError when nothing is left to supervise.
    """
    from causal_agents.lm.loader import load_model_tokenizer
    from causal_agents.transcripts.labels import encode_batch

    tok = tokenizer or load_model_tokenizer(cfg.model, cfg.tokenizer)
    if not records:
        raise InputError("no transcripts to train on", file=source)
    encs = encode_batch(records, tok, renderer=cfg.renderer)
    # Counted before truncation and refusals: exactly what `cag stats` reports for these options.
    counts = {m: int(sum(e.supervised(m).sum() for e in encs)) for m in cfg.modes}
    tokens = int(sum(len(e) for e in encs))
    check_supervised(counts, source)
    # A transcript with an empty mask under a trained mode is refused, not trusted: it is
    # usually a role-mapping mistake. Under do, "empty" means no world-written token (role
    # headers alone): the same test `cag stats` reports as empty_do.
    keep = [all(e.has_evidence() if m == "do" else e.supervised(m).any() for m in cfg.modes) for e in encs]
    refused = [e.record_id for e, k in zip(encs, keep) if not k]
    encs = [e for e, k in zip(encs, keep) if k]
    examples, lost = build_examples(encs, cfg.modes, cfg.loss_weighting, cfg.max_length, cfg.truncate)
    check_supervised(supervised_counts(examples, cfg.modes), source)
    digests = {}
    for m in cfg.modes:
        h = hashlib.sha256()
        for ex in examples:
            h.update(ex.input_ids.tobytes())
            h.update(ex.labels[m].tobytes())
            h.update(ex.weights[m].tobytes())
        digests[m] = h.hexdigest()[:16]
    return Prepared(tok, examples, counts, {m: lost[m] for m in cfg.modes}, digests, tokens, refused)
