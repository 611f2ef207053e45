"""What a mask trains on, token by token: each token of a transcript's rendering with its
class (context, protocol, world, agent) and whether the chosen mask supervises it.

Everything comes from the label builder (``labels.encode_batch``), the same code `cag stats`
counts with and `cag train` trains on, so what `cag show` marks supervised is what trains.
``to_html`` writes one self-contained page (inline style, no scripts) with a legend and
per-transcript counts; ``to_rich`` gives the same view for a terminal.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from causal_agents.errors import CagError
from causal_agents.transcripts.labels import CLASS_NAMES, check_mode, encode_batch

# One colour per class; supervised tokens are bold and underlined, the rest faded.
COLOURS = {"context": "#6b7280", "protocol": "#7c3aed", "world": "#047857", "agent": "#1d4ed8"}
RICH_STYLES = {"context": "grey50", "protocol": "magenta", "world": "green", "agent": "blue"}


@dataclass
class View:
    """One transcript: ``pieces`` are ``(text, class name, supervised, loss weight)``, one per
    token (the weight of the token's message: 0 = never supervised, a fraction = ``loss_weight``)."""

    record_id: str
    pieces: list = field(default_factory=list)
    segment_of: list = field(default_factory=list)  # per token: index into ``segments``
    segments: list = field(default_factory=list)  # per segment: who wrote it and why (role, author, gate, rule)
    counts: dict = field(default_factory=dict)  # class -> [tokens, supervised]
    weighted: float = 0.0  # the supervised tokens' summed loss weight

    @property
    def supervised(self) -> int:
        return sum(s for _, s in self.counts.values())

    @property
    def fractional(self) -> bool:
        """Whether some supervised token has a loss weight below 1 (then ``weighted`` says more than the count)."""
        return any(s and 0 < w < 1 for _, _, s, w in self.pieces)

    def summary(self, mask: str) -> str:
        """One line: tokens, supervised tokens, and their summed loss weight where some is below 1."""
        total = sum(n for n, _ in self.counts.values())
        line = f"{total:,} tokens; --mask {mask} supervises {self.supervised:,}"
        return line + (f" (summed loss weight {self.weighted:,.4g})" if self.fractional else "")


def views(records: Iterable[dict], tokenizer, renderer: str, mask: str, limit: int | None = 3,
          record_id: str | None = None) -> Iterator[View]:
    """Views of the first ``limit`` records (or of the one whose id is ``record_id``)."""
    check_mode(mask)
    found = False
    for n, rec in enumerate(records):
        if record_id is not None and str(rec.get("id")) != record_id:
            continue
        if record_id is None and limit is not None and n >= limit:
            return
        found = True
        yield _view(rec, tokenizer, renderer, mask)
        if record_id is not None:
            return
    if record_id is not None and not found:
        raise CagError(f"no transcript has id {record_id!r}")


def _view(rec: dict, tokenizer, renderer: str, mask: str) -> View:
    enc = encode_batch([rec], tokenizer, renderer)[0]
    sup = enc.supervised(mask)
    # The offsets of the same tokenization the label builder made (one encode, no specials).
    offsets = tokenizer._tokenizer.encode(enc.text, add_special_tokens=False).offsets
    v = View(str(rec.get("id")), counts={c: [0, 0] for c in CLASS_NAMES},
             segment_of=enc.segment.tolist(), segments=[_about(s) for s in rec["segments"]])
    # Each token's message weight (role headers belong to their message), not `trainable`,
    # which is also False at the first token (nothing precedes it to predict it from).
    weights = [float(rec["segments"][k].get("weight", 1)) for k in enc.segment.tolist()]
    end = 0
    for t, (a, b) in enumerate(offsets):
        # Tokens of one multi-byte character share its offsets: the first shows it.
        text = enc.text[max(a, end):b] if b > end else ""
        end = max(end, b)
        cls = CLASS_NAMES[int(enc.classes[t])]
        w = weights[t]
        v.pieces.append((text, cls, bool(sup[t]), w))
        v.counts[cls][0] += 1
        v.counts[cls][1] += int(sup[t])
        v.weighted += w if sup[t] else 0.0
    return v


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


def _tokens(v: View) -> str:
    """The token spans, each segment's run inside one span whose tooltip says who wrote it."""
    out, prev = [], None
    for p, k in zip(v.pieces, v.segment_of):
        if k != prev:
            out.append(("</span>" if prev is not None else "")
                       + f"<span class=\"seg\" title=\"{html.escape(v.segments[k])}\">")
            prev = k
        out.append(_token(*p))
    return "".join(out) + ("</span>" if prev is not None else "")


def _token(text: str, c: str, s: bool, w: float) -> str:
    """One token's span: class colour; bold underline if supervised (dashed below weight 1);
    struck through inside a weight-0 message; the weight as a tooltip where it is not 1."""
    flags = ("sup part" if 0 < w < 1 else "sup") if s else ("no w0" if w == 0 else "no")
    tip = f" title=\"loss weight {w:g}\"" if w != 1 else ""
    return f"<span class=\"t {c} {flags}\"{tip}>{html.escape(text)}</span>"


def _legend(mask: str, vs: list[View]) -> str:
    extra = ""
    if any(v.fractional for v in vs):
        extra += "<span class=\"sup part\">supervised at a loss weight below 1</span>"
    if any(w == 0 for v in vs for *_, w in v.pieces):
        extra += "<span class=\"no w0\">in a weight-0 message (never supervised)</span>"
    return ("<p class=\"legend\">" + "".join(f"<span class=\"{c}\">&#9632; {c}</span>" for c in CLASS_NAMES)
            + f"<span class=\"sup\">supervised by --mask {mask}</span><span class=\"no\">not supervised</span>"
            + extra + "<span class=\"bnd\">thin lines: token boundaries</span>"
            "<span>hover: who wrote a message, its gate and the rule</span></p>")


def to_html(vs: Iterable[View], mask: str, source: str) -> str:
    """One self-contained HTML page: legend, then each transcript's counts and tokens."""
    vs = list(vs)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cag show: "
             f"{html.escape(source)}</title><style>{_CSS}</style></head><body>",
             f"<h1>What --mask {mask} trains on</h1><p>{html.escape(source)}</p>", _legend(mask, vs)]
    for v in vs:
        parts.append(f"<section class=\"transcript\" data-id=\"{html.escape(v.record_id)}\">"
                     f"<h2>{html.escape(v.record_id)}</h2><p class=\"summary\">{html.escape(v.summary(mask))}</p>")
        parts.append("<table><tr><th>class</th><th>tokens</th><th>supervised</th></tr>" + "".join(
            f"<tr class=\"{c}\"><td>{c}</td><td>{n:,}</td><td>{s:,}</td></tr>" for c, (n, s) in v.counts.items())
            + "</table><pre>")
        parts.append(_tokens(v))
        parts.append("</pre></section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def to_rich(v: View, mask: str):
    """A Rich ``Text`` of one view: colour = class; bold underline = supervised, dim = not."""
    from rich.text import Text

    out = Text()
    out.append(f"== {v.record_id}: {v.summary(mask)}\n", style="bold")
    for text, c, s, w in v.pieces:
        look = ("bold underline italic" if 0 < w < 1 else "bold underline") if s else ("dim strike" if w == 0 else "dim")
        out.append(text, style=f"{RICH_STYLES[c]} {look}")
    return out


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
