"""The calculator tool of the STEM stream's calculator variant: a safe arithmetic evaluator.

A hand-written tokenizer and recursive-descent parser over floats; nothing is ever passed to
``eval`` or ``exec``. Grammar (whitespace ignored)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom (("**" | "^") unary)?        # right-associative: 2^3^2 = 2^9; -2^2 = -4
    atom   := NUMBER | "pi" | FUNC "(" expr ")" | "(" expr ")"

Numbers: ``12``, ``0.5``, ``.5``, ``1.5e-4``, ``3E8`` (a trailing ``°`` is read as nothing, so
``sin(30°)`` works). ``×``/``·`` multiply, ``−`` (Unicode minus) subtracts. Functions: ``sqrt``,
``log10``, ``ln``, ``exp`` and ``sin``/``cos``/``tan`` in degrees (a pocket calculator in DEG
mode: the STEM problems give angles in degrees). ``log`` is refused as ambiguous.

Bounds, so that a crafted expression cannot hang or blow memory: at most
:data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels of nesting (parentheses, unary signs
and powers together); every value is a float (never a Python int, whose powers can grow
without bound); an exponent beyond :data:`MAX_EXPONENT` in magnitude, an overflow, a division
by zero or a result that is not finite is an error. :func:`run` never raises: a bad
expression yields an ``error: ...`` result, which the world writes like any other.
"""

from __future__ import annotations

import math
import re

MAX_LENGTH = 200       # characters; a one-line formula with four-figure numbers is < 60
MAX_DEPTH = 32         # nested parentheses + unary signs + powers
MAX_EXPONENT = 1000.0  # |b| in a ** b; a float result overflows long before this anyway
RESULT_DIGITS = 7      # significant figures in the result text: 1% tolerance needs 3

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<op>\*\*|[-+*/^()\u00d7\u00b7\u2212]))")
_OPS = {"\u00d7": "*", "\u00b7": "*", "\u2212": "-", "^": "**"}
_DEG = math.pi / 180.0


class CalcError(ValueError):
    """A bad or unsafe expression; the message is the tool's error text."""


def _trig(fn):
    return lambda x: fn(x * _DEG)


_FUNCS = {"sqrt": math.sqrt, "log10": math.log10, "ln": math.log, "exp": math.exp,
          "sin": _trig(math.sin), "cos": _trig(math.cos), "tan": _trig(math.tan)}
_CONSTS = {"pi": math.pi}


def tokenize(expr: str) -> list[tuple[str, object]]:
    """``(kind, value)`` tokens: ``num`` (float), ``name`` (str) or ``op`` (str, normalised)."""
    if not isinstance(expr, str):
        raise CalcError("the expression must be text")
    if len(expr) > MAX_LENGTH:
        raise CalcError(f"expression longer than {MAX_LENGTH} characters")
    text = expr.replace("\u00b0", " ")
    out: list[tuple[str, object]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = text[pos:].lstrip()[:1]
            raise CalcError(f"unexpected character {bad!r}")
        pos = m.end()
        if m.group("num") is not None:
            v = float(m.group("num"))
            if not math.isfinite(v):
                raise CalcError(f"number out of range: {m.group('num')}")
            out.append(("num", v))
        elif m.group("name") is not None:
            out.append(("name", m.group("name")))
        else:
            op = m.group("op")
            out.append(("op", _OPS.get(op, op)))
    if not out:
        raise CalcError("empty expression")
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, object]]):
        self.toks, self.i, self.depth = tokens, 0, 0

    def peek(self) -> tuple[str, object] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, object]:
        t = self.peek()
        if t is None:
            raise CalcError("unexpected end of expression")
        self.i += 1
        return t

    def is_op(self, *ops: str) -> bool:
        t = self.peek()
        return t is not None and t[0] == "op" and t[1] in ops

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalcError(f"expression nested deeper than {MAX_DEPTH} levels")

    def expr(self) -> float:
        v = self.term()
        while self.is_op("+", "-"):
            op = self.take()[1]
            r = self.term()
            v = _finite(v + r if op == "+" else v - r)
        return v

    def term(self) -> float:
        v = self.unary()
        while self.is_op("*", "/"):
            op = self.take()[1]
            r = self.unary()
            if op == "/" and r == 0:
                raise CalcError("division by zero")
            v = _finite(v * r if op == "*" else v / r)
        return v

    def unary(self) -> float:
        if self.is_op("-", "+"):
            op = self.take()[1]
            self.enter()
            v = self.unary()
            self.depth -= 1
            return -v if op == "-" else v
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if not self.is_op("**"):
            return base
        self.take()
        self.enter()
        exp = self.unary()
        self.depth -= 1
        return _pow(base, exp)

    def atom(self) -> float:
        kind, val = self.take()
        if kind == "num":
            return val
        if kind == "op" and val == "(":
            return self.group()
        if kind == "name":
            return self.named(val)
        raise CalcError(f"unexpected {val!r}")

    def group(self) -> float:
        self.enter()
        v = self.expr()
        if not self.is_op(")"):
            raise CalcError("missing ')'")
        self.take()
        self.depth -= 1
        return v

    def named(self, name: str) -> float:
        key = name.lower()
        if key in _CONSTS:
            return _CONSTS[key]
        if key == "log":
            raise CalcError("'log' is ambiguous: use log10 or ln")
        if key not in _FUNCS:
            raise CalcError(f"unknown name {name!r} (numbers only: no units or variables)")
        if not self.is_op("("):
            raise CalcError(f"{key} needs parentheses: {key}(x)")
        self.take()
        arg = self.group()
        try:
            return _finite(_FUNCS[key](arg))
        except OverflowError:
            raise CalcError("result too large") from None
        except ValueError:
            raise CalcError(f"{key}({_fmt(arg)}) is undefined") from None


def _pow(base: float, exp: float) -> float:
    if abs(exp) > MAX_EXPONENT:
        raise CalcError(f"exponent {_fmt(exp)} is too large (at most {MAX_EXPONENT:g} in magnitude)")
    if base == 0 and exp < 0:
        raise CalcError("division by zero")
    try:
        return _finite(math.pow(base, exp))  # math.pow: a float or an error, never a complex number
    except OverflowError:
        raise CalcError("result too large") from None
    except ValueError:
        raise CalcError(f"{_fmt(base)} ** {_fmt(exp)} is not a real number") from None


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise CalcError("result too large")
    return v


def _fmt(x: float) -> str:
    return f"{x:.{RESULT_DIGITS}g}"


def evaluate(expr: str) -> float:
    """The value of an arithmetic expression (the module doc gives the grammar); raises
    :class:`CalcError` for a bad, unsafe or undefined one."""
    p = _Parser(tokenize(expr))
    v = p.expr()
    if p.peek() is not None:
        kind, val = p.peek()
        if kind == "num":
            raise CalcError(f"unexpected number {_fmt(val)} (missing operator?)")
        if kind == "name":
            raise CalcError(f"unexpected {val!r} (numbers only: no units or variables)")
        raise CalcError(f"unexpected {val!r}")
    return v


def format_result(x: float) -> str:
    """The tool's text for a value: :data:`RESULT_DIGITS` significant figures (``0.08711434``,
    ``2.46e-05``); ``-0`` is written ``0``."""
    return _fmt(x + 0.0 if x != 0 else 0.0)


def run(expr: str) -> str:
    """What the calculator writes back for ``expr``: its value, or ``error: <why>``. Never raises."""
    try:
        return format_result(evaluate(expr))
    except CalcError as e:
        return f"error: {e}"
    except (RecursionError, MemoryError):  # not reachable within the bounds; kept so the tool never crashes
        return "error: expression too complex"
