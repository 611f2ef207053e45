"""The deterministic numeric verifier for STEM answers ("Continual, interactive, causal agents" (de Freitas and Ortega, 2026, eq. 6).

1. Extraction. The answer is the first number after the first ``Final answer:`` marker
   (case-insensitive; ``Final answer is``, ``**Final answer:**`` also work), on the first
   non-empty line after it; if that line has an ``=``, only the text after the last ``=``
   counts (``Final answer: pH = -log10(1e-4) = 4`` gives 4, not 10). Without a marker, the
   last plausible number in the whole text is used (the paper's fallback). A marker with no
   number after it is a failure (no fallback: the model committed to a non-answer).
2. Numbers: ``-1.5``, ``+2``, ``.5``, ``1,234.5`` (comma thousands separators), ``1.0e-04``,
   ``1.0 x 10^-4`` / ``1.0×10^-4`` / ``1.0*10**-4`` / ``1.0 × 10⁻⁴``, Unicode minus. Digits glued to letters
   (``H2SO4``, ``log10``) are not numbers. A decimal comma (``1,5``) is not supported.
3. Pass rule: ``|â - a| <= max(tol_abs, tol_rel * |a|)`` after converting â into the
   expected unit (``250 mA`` passes for 0.25 A).
4. Unit check, only when the answer names a unit right after the number: a known unit of a
   different dimension fails (``wrong_unit``); a known unit of the right dimension is
   converted; text that is not a known unit (``4.00 (approx)``) is ignored and only the
   number is checked. No unit given: the number alone is checked.

``verify`` never raises on any string input; it returns a :class:`Verdict`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from causal_agents.stem.units import canonical_dimension, lookup_unit

# Reason codes (machine-readable); the human line is Verdict.text.
OK, NO_NUMBER, WRONG_VALUE, WRONG_UNIT = "ok", "no_number", "wrong_value", "wrong_unit"

_MARKER = re.compile(r"final\s+answer\s*(?:is\s*)?\**\s*[:=]?\s*\**", re.IGNORECASE)
_MANT = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)"
_EXP = (r"(?:[eE](?P<e>[-+\u2212]?\d{1,4})(?![\d.])"
        r"|\s?[x\u00d7*\u00b7]\s?10\s?(?:\^|\*\*)\s?\(?(?P<p>[-+\u2212]?\d{1,4})\)?"
        r"|\s?[x\u00d7*\u00b7]\s?10(?P<s>[\u207b\u207a]?[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]{1,4}))")
_SUPER = str.maketrans("\u207b\u207a\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079", "-+0123456789")
# Not glued to a preceding letter, digit or point (``H2SO4``, ``log10``); bounded repeats keep
# matching linear on adversarial input.
_NUM = re.compile(rf"(?<![\w.])(?P<sign>[-+\u2212]?)(?P<mant>{_MANT})(?:{_EXP})?")
# How much text after the number is considered as a unit.
_UNIT_WINDOW = 40
_UNIT_CUT = re.compile(r"[,;:()\[\]{}!?]|\.\s|\.$|\s(?:and|or|is|which|because)\s")


@dataclass(frozen=True)
class Verdict:
    """The verifier's grade of one answer: pass or fail, the number read, and the one-line
    verdict text the stream records."""
    passed: bool
    value: float | None          # the extracted number, in the unit the answer gave
    unit: str | None             # the unit text the answer gave, as recognised (None: none)
    value_in_expected: float | None  # value converted to the expected unit
    reason: str                  # ok | no_number | wrong_value | wrong_unit
    source: str | None           # marker | fallback | None (nothing found)
    text: str                    # one-line verdict, written into streams as the verifier's turn

    def as_dict(self) -> dict:
        """The verdict as a plain dict."""
        return asdict(self)


def parse_number(s: str) -> float:
    """Float value of one match of the number pattern (commas, ``x 10^n``, Unicode minus)."""
    m = _NUM.fullmatch(s.strip())
    if m is None:
        raise ValueError(f"not a number: {s!r}")
    return _match_value(m)


def _match_value(m: re.Match) -> float:
    sign = -1.0 if m.group("sign") in ("-", "\u2212") else 1.0
    mant = float(m.group("mant").replace(",", ""))
    exp = m.group("e") or m.group("p") or (m.group("s") or "").translate(_SUPER)
    if exp:
        try:
            mant *= 10.0 ** int(exp.replace("\u2212", "-"))
        except OverflowError:
            mant = math.inf
    return sign * mant


def extract_answer(text: str) -> tuple[float, str, str | None, str] | None:
    """(value, source, unit text after the number or None, the number as written) from a
    completion, or None when there is no number to grade."""
    if not isinstance(text, str):
        return None
    mk = _MARKER.search(text)
    if mk is not None:
        rest = text[mk.end():].lstrip()
        line = rest.split("\n", 1)[0]
        if "=" in line:
            line = line.rsplit("=", 1)[1]
        m = _NUM.search(line)
        if m is None:
            return None
        return _match_value(m), "marker", _unit_after(line[m.end():]), m.group(0)
    last = None
    for last in _NUM.finditer(text):
        pass
    if last is None:
        return None
    tail = text[last.end():].split("\n", 1)[0]
    return _match_value(last), "fallback", _unit_after(tail), last.group(0)


def _unit_after(tail: str) -> str | None:
    """The longest known unit at the start of ``tail`` (``"M NaCl."`` -> ``"M"``); else the
    first word if it looks like a unit attempt; None when nothing follows."""
    t = tail[:_UNIT_WINDOW].strip()
    cut = _UNIT_CUT.search(t)
    if cut is not None:
        t = t[:cut.start()].strip()
    if not t:
        return None
    words = t.split(" ")
    for k in range(len(words), 0, -1):
        cand = " ".join(words[:k])
        if lookup_unit(cand) is not None:
            return cand
    return words[0]


def verify(text: str, answer: float, unit: str = "", tol_abs: float = 0.0, tol_rel: float = 0.01) -> Verdict:
    """Grade one completion against a reference answer (never raises on any ``text``)."""
    want = unit or ""
    want_dim = canonical_dimension(want)
    got = extract_answer(text)
    if got is None:
        return Verdict(False, None, None, None, NO_NUMBER, None, "incorrect: no final answer number found.")
    value, source, unit_text, written = got
    converted = value
    known = lookup_unit(unit_text) if unit_text else None
    if known is None:
        unit_text = None  # not a unit we know: ignored, only the number is checked
    shown = _shown(value, written) + (f" {unit_text}" if unit_text else "")
    if known is not None and unit_text:
        dim, factor = known
        if dim != want_dim:
            need = want if want else "no unit"
            return Verdict(False, value, unit_text, None, WRONG_UNIT, source,
                           f"incorrect: {shown} has the wrong kind of unit (expected {need}).")
        converted = value * factor / lookup_unit(want)[1]
    err = abs(converted - answer)
    bound = max(tol_abs, tol_rel * abs(answer))
    if err <= bound:  # NaN and inf compare False: fail
        return Verdict(True, value, unit_text, converted, OK, source, f"correct: {shown}.")
    return Verdict(False, value, unit_text, converted, WRONG_VALUE, source,
                   f"incorrect: {shown} is not within tolerance.")


def verify_problem(problem: dict, text: str) -> Verdict:
    """Grade a completion against a generated STEM problem record."""
    return verify(text, problem["answer"], problem.get("unit") or "", problem.get("tol_abs", 0.0),
                  problem.get("tol_rel", 0.01))


def _shown(x: float, written: str) -> str:
    """The number as the answer wrote it (whitespace collapsed), unless absurdly long."""
    w = " ".join(written.split())
    if len(w) <= 24:
        return w
    return f"{x:.6g}" if math.isfinite(x) else str(x)
