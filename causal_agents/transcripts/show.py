"""What a mask trains on, token by token: each token of a transcript's rendering with its
class (context, protocol, world, agent) and whether the chosen mask supervises it.

Everything comes from the label builder (``labels.encode_batch``), the same code `cag stats`
counts with and `cag train` trains on, so what `cag show` marks supervised is what trains.
``to_html`` writes one self-contained page (inline style, no scripts) with a legend and
per-transcript counts; ``to_rich`` gives the same view for a terminal.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from causal_agents.errors import CagError, printable
from causal_agents.transcripts.labels import CLASS_NAMES, check_mode, encode_batch

# One colour per class; supervised tokens are bold and underlined, the rest faded.
COLOURS = {"context": "#6b7280", "protocol": "#7c3aed", "world": "#047857", "agent": "#1d4ed8"}
RICH_STYLES = {"context": "grey50", "protocol": "magenta", "world": "green", "agent": "blue"}


@dataclass
class View:
    """One transcript: its label-builder encoding (compact arrays, about 10 bytes a token),
    the counts per class, and its tokens as ``(text, class name, supervised, loss weight)``
    made one at a time by ``pieces()`` (a list of them held about 1 GB per MB of a record)."""

    record_id: str
    enc: object = None  # labels.Encoded
    tokenizer: object = None
    mask: str = "do"
    weights: object = None  # (segments,) float64: each message's loss weight
    segments: list = field(default_factory=list)  # per segment: who wrote it and why (role, author, gate, rule)
    counts: dict = field(default_factory=dict)  # class -> [tokens, supervised]
    weighted: float = 0.0  # the supervised tokens' summed loss weight
    fractional: bool = False  # some supervised token has a loss weight below 1
    has_w0: bool = False  # some token sits in a weight-0 message

    @property
    def supervised(self) -> int:
        return sum(s for _, s in self.counts.values())

    @property
    def segment_of(self):
        """Per token: index into ``segments``."""
        return self.enc.segment

    def summary(self, mask: str) -> str:
        """One line: tokens, supervised tokens, and their summed loss weight where some is below 1."""
        total = sum(n for n, _ in self.counts.values())
        line = f"{total:,} tokens; --mask {mask} supervises {self.supervised:,}"
        return line + (f" (summed loss weight {self.weighted:,.4g})" if self.fractional else "")

    def pieces(self) -> Iterator[tuple]:
        """``(text, class name, supervised, loss weight)`` per token, in order, made piece by
        piece of the text (the offsets of the label builder's tokenization: same pieces, same
        tokens), so memory stays that of one piece."""
        enc, sup = self.enc, self.enc.supervised(self.mask)
        t = 0
        for texts in _token_texts(enc.text, self.tokenizer):
            k = slice(t, t + len(texts))
            t += len(texts)
            yield from zip(texts, [CLASS_NAMES[c] for c in enc.classes[k].tolist()], sup[k].tolist(),
                           self.weights[enc.segment[k]].tolist())


def views(records: Iterable[dict], tokenizer, renderer: str, mask: str, limit: int | None = 3,
          record_id: str | None = None) -> Iterator[View]:
    """Views of the first ``limit`` records (or of the one whose id is ``record_id``). A
    record over the per-record limit of `cag stats` (``accounting.MAX_RECORD_CHARS``) is an
    error naming it, as there."""
    from causal_agents.transcripts.accounting import check_record_size

    check_mode(mask)
    found = False
    for n, rec in enumerate(records):
        if record_id is not None and str(rec.get("id")) != record_id:
            continue
        if record_id is None and limit is not None and n >= limit:
            return
        found = True
        check_record_size(rec)
        yield _view(rec, tokenizer, renderer, mask)
        if record_id is not None:
            return
    if record_id is not None and not found:
        raise CagError(f"no transcript has id {printable(record_id)!r}")


def _view(rec: dict, tokenizer, renderer: str, mask: str) -> View:
    enc = encode_batch([rec], tokenizer, renderer)[0]
    sup = enc.supervised(mask)
    # Each token's message weight (role headers belong to their message), not `trainable`,
    # which is also False at the first token (nothing precedes it to predict it from).
    weights = np.asarray([float(s.get("weight", 1)) for s in rec["segments"]] or [1.0], dtype=np.float64)
    w = weights[enc.segment]
    v = View(str(rec.get("id")), enc=enc, tokenizer=tokenizer, mask=mask, weights=weights,
             segments=[_about(s) for s in rec["segments"]])
    n = np.bincount(enc.classes, minlength=len(CLASS_NAMES))
    k = np.bincount(enc.classes[sup], minlength=len(CLASS_NAMES))
    v.counts = {c: [int(n[i]), int(k[i])] for i, c in enumerate(CLASS_NAMES)}
    v.weighted = float(w[sup].sum())
    v.fractional = bool(((w > 0) & (w < 1) & sup).any())
    v.has_w0 = bool((w == 0).any())
    return v


def _token_texts(text: str, tokenizer) -> Iterator[list[str]]:
    """Each token's text, in order, a list per piece: the tokenization the label builder made
    (no specials), computed in the same pieces (``pieces.piece_bounds``). Tokens of one
    multi-byte character share its offsets: the first shows it, the others show nothing."""
    from causal_agents.transcripts.pieces import added_index, piece_bounds, split_rule

    backend = tokenizer._tokenizer
    rule = split_rule(tokenizer)
    cuts = piece_bounds(text, rule, added_index(tokenizer) if rule == "any" else ())
    end = 0
    for a, b in zip(cuts, cuts[1:]):
        piece, out = text[a:b], []
        end -= a  # in the piece's coordinates
        for s, e in backend.encode(piece, add_special_tokens=False).offsets:
            out.append(piece[max(s, end):e] if e > end else "")
            end = max(end, e)
        end += a
        yield out


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
pre{white-space:pre-wrap;word-break:break-word;font:14px/1.6 ui-monospace,monospace;border:1px solid #ddd;
padding:1em;border-radius:6px}
.t{border-right:1px solid rgba(0,0,0,.12)}.sup{font-weight:700;text-decoration:underline}
.no{opacity:.45}.sup.part{text-decoration-style:dashed}.w0{text-decoration:line-through}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}.legend span{margin-right:1.5em}
.bnd{border-left:1px solid rgba(0,0,0,.25);border-right:1px solid rgba(0,0,0,.25);padding:0 .3em}
""" + "".join(f".{c}{{color:{col}}}" for c, col in COLOURS.items())


def _about(seg: dict) -> str:
    """A segment's tooltip: what a reader of the page needs to see why it is gated so."""
    who = f", author {seg['author']}" if seg.get("author") else ""
    return f"{seg['role']}{who}: {seg['gate']} (rule {seg.get('rule', 'tagged')})"


def _tokens(v: View) -> Iterator[str]:
    """The token spans, each segment's run inside one span whose tooltip says who wrote it,
    in blocks of a few thousand tokens."""
    out, prev = [], None
    for p, k in zip(v.pieces(), v.segment_of.tolist()):
        if k != prev:
            out.append(("</span>" if prev is not None else "")
                       + f"<span class=\"seg\" title=\"{_esc(v.segments[k])}\">")
            prev = k
        out.append(_token(*p))
        if len(out) >= 4096:
            yield "".join(out)
            out = []
    yield "".join(out) + ("</span>" if prev is not None else "")


def _esc(text: str) -> str:
    """HTML-escaped, control characters shown as escapes (as on a terminal)."""
    return html.escape(printable(text))


@functools.lru_cache(maxsize=1 << 16)  # a page repeats few (text, class, mark) combinations
def _token(text: str, c: str, s: bool, w: float) -> str:
    """One token's span: class colour; bold underline if supervised (dashed below weight 1);
    struck through inside a weight-0 message; the weight as a tooltip where it is not 1."""
    flags = ("sup part" if 0 < w < 1 else "sup") if s else ("no w0" if w == 0 else "no")
    tip = f" title=\"loss weight {w:g}\"" if w != 1 else ""
    return f"<span class=\"t {c} {flags}\"{tip}>{_esc(text)}</span>"


def _legend(mask: str, vs: list[View]) -> str:
    extra = ""
    if any(v.fractional for v in vs):
        extra += "<span class=\"sup part\">supervised at a loss weight below 1</span>"
    if any(v.has_w0 for v in vs):
        extra += "<span class=\"no w0\">in a weight-0 message (never supervised)</span>"
    return ("<p class=\"legend\">" + "".join(f"<span class=\"{c}\">&#9632; {c}</span>" for c in CLASS_NAMES)
            + f"<span class=\"sup\">supervised by --mask {mask}</span><span class=\"no\">not supervised</span>"
            + extra + "<span class=\"bnd\">thin lines: token boundaries</span>"
            "<span>hover: who wrote a message, its gate and the rule</span></p>")


def to_html(vs: Iterable[View], mask: str, source: str) -> str:
    """One self-contained HTML page: legend, then each transcript's counts and tokens."""
    return "".join(html_parts(vs, mask, source))


def html_parts(vs: Iterable[View], mask: str, source: str) -> Iterator[str]:
    """``to_html``'s page in parts, to be written as they come (memory: one block of tokens)."""
    vs = list(vs)
    yield (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cag show: "
           f"{_esc(source)}</title><style>{_CSS}</style></head><body>"
           f"<h1>What --mask {mask} trains on</h1><p>{_esc(source)}</p>" + _legend(mask, vs))
    for v in vs:
        yield (f"<section class=\"transcript\" data-id=\"{_esc(v.record_id)}\">"
               f"<h2>{_esc(v.record_id)}</h2><p class=\"summary\">{_esc(v.summary(mask))}</p>")
        yield ("<table><tr><th>class</th><th>tokens</th><th>supervised</th></tr>" + "".join(
            f"<tr class=\"{c}\"><td>{c}</td><td>{n:,}</td><td>{s:,}</td></tr>" for c, (n, s) in v.counts.items())
            + "</table><pre>")
        yield from _tokens(v)
        yield "</pre></section>"
    yield "</body></html>\n"


def to_rich(v: View, mask: str):
    """A Rich ``Text`` of one view: colour = class; bold underline = supervised, dim = not."""
    from rich.text import Text

    out = Text()
    for part in rich_parts(v, mask):
        out.append_text(part)
    return out


def rich_parts(v: View, mask: str, block: int = 4096) -> Iterator:
    """``to_rich``'s text in Rich ``Text`` blocks of ``block`` tokens, to be printed as they
    come: the header first, then the tokens. Control characters from the data (in the id, in
    a message) are shown as escapes (``errors.printable``), never sent to the terminal."""
    from rich.text import Text

    yield Text(f"== {printable(v.record_id, keep_newlines=False)}: {v.summary(mask)}\n", style="bold")
    # Runs of tokens with one look are one span (the terminal shows no token boundaries).
    out, k, run, prev = Text(), 0, [], None
    for text, c, s, w in v.pieces():
        look = (c, ("bold underline italic" if 0 < w < 1 else "bold underline") if s
                else ("dim strike" if w == 0 else "dim"))
        if look != prev:
            if run:
                out.append(printable("".join(run)), style=f"{RICH_STYLES[prev[0]]} {prev[1]}")
            run, prev = [], look
        run.append(text)
        k += 1
        if k >= block:
            out.append(printable("".join(run)), style=f"{RICH_STYLES[prev[0]]} {prev[1]}")
            yield out
            out, k, run = Text(), 0, []
    if run:
        out.append(printable("".join(run)), style=f"{RICH_STYLES[prev[0]]} {prev[1]}")
    yield out


def legend(mask: str):
    from rich.text import Text

    out = Text(f"--mask {mask}: ")
    for c in CLASS_NAMES:
        out.append(f"{c} ", style=RICH_STYLES[c])
    out.append("| ")
    out.append("supervised", style="bold underline")
    out.append(" ")
    out.append("not supervised", style="dim")
    out.append(" ")
    out.append("weight < 1", style="bold underline italic")
    out.append(" ")
    out.append("weight 0", style="dim strike")
    return out
