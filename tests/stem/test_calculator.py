"""The calculator tool's safe evaluator: good, bad and hostile expressions."""

from __future__ import annotations

import math
import random

import pytest

from causal_agents.stem import calculator
from causal_agents.stem.calculator import MAX_DEPTH, MAX_LENGTH, CalcError, evaluate, format_result, run
from causal_agents.stem.skills import SKILLS
from causal_agents.stem.variants import tool_call


@pytest.mark.parametrize("expr, value", [
    ("48 / 551", 48 / 551),
    ("1 + 2 * 3", 7.0),
    ("(1 + 2) * 3", 9.0),
    ("2 ** 10", 1024.0),
    ("2^3^2", 512.0),            # right-associative
    ("-2^2", -4.0),              # the power binds tighter than the sign
    ("2 ** -1", 0.5),
    ("--3", 3.0),
    ("+3 - -3", 6.0),
    ("1.5e-4 * 2", 3e-4),
    ("3E8 / 1e3", 3e5),
    (".5 + 5.", 5.5),
    ("0.5 * 12.5 * 3.2^2", 0.5 * 12.5 * 3.2 ** 2),
    ("-log10(3.2e-05)", -math.log10(3.2e-05)),
    ("ln(exp(2))", 2.0),
    ("sqrt(16)", 4.0),
    ("sin(30)", 0.5),            # degrees, as on a pocket calculator in DEG mode
    ("0.1541 / (2 * sin(23.5\u00b0))", 0.1541 / (2 * math.sin(math.radians(23.5)))),
    ("pi * 4^2 / 4", math.pi * 4.0),
    ("3 \u00d7 4 \u2212 1", 11.0),   # ×, Unicode minus
    ("  7  ", 7.0),
])
def test_good_expressions(expr, value):
    assert evaluate(expr) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("expr, why", [
    ("", "empty expression"),
    ("   ", "empty expression"),
    ("1 +", "unexpected end"),
    ("(1 + 2", "missing ')'"),
    ("1 + 2)", "unexpected ')'"),
    ("1 2", "missing operator"),
    ("1.5.3", "missing operator"),
    ("48 V / 551", "no units or variables"),
    ("x + 1", "unknown name 'x'"),
    ("log(100)", "ambiguous"),
    ("sqrt 4", "needs parentheses"),
    ("1 / 0", "division by zero"),
    ("1 / (2 - 2)", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("sqrt(-1)", "undefined"),
    ("log10(0)", "undefined"),
    ("(-8) ** (1/3)", "not a real number"),
    ("10 ** 400", "too large"),
    ("1e308 * 10", "too large"),
    ("1e999", "out of range"),
    ("2 ** 1e9", "exponent"),
    ("exp(1000)", "too large"),
    ("1 ; 2", "unexpected character"),
    ("1 = 1", "unexpected character"),
])
def test_bad_expressions_are_errors_not_crashes(expr, why):
    with pytest.raises(CalcError) as e:
        evaluate(expr)
    assert why in str(e.value)
    assert run(expr) == f"error: {e.value}"


@pytest.mark.parametrize("expr", [
    "__import__('os').system('true')",
    "().__class__.__bases__[0]",
    "open('/etc/passwd').read()",
    "lambda: 1",
    "[1] * 10**9",
    "'a' * 10**9",
    "9 ** 9 ** 9 ** 9",                     # a Python int power would never finish; floats overflow at once
    "2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2",
    "(" * 150 + "1" + ")" * 49,             # deeper than MAX_DEPTH, within MAX_LENGTH
    "-" * 199 + "1",
    "1" + "+1" * 99,                        # long but flat: fine
    "1" * (MAX_LENGTH + 1),
    "1" + " " * 10_000,
    "\x00", "1\n2", "\u202e1+1",
])
def test_hostile_expressions_never_hang_crash_or_run_code(expr):
    out = run(expr)                         # never raises
    assert isinstance(out, str) and len(out) < 200
    if out.startswith("error:"):
        return
    assert math.isfinite(float(out))        # a number came back: only arithmetic was done


def test_bounds_are_enforced():
    assert run("1" * (MAX_LENGTH + 1)).startswith(f"error: expression longer than {MAX_LENGTH}")
    nested = "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1)
    assert "nested deeper" in run(nested)
    ok = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert run(ok) == "1"
    assert run("1" + "+1" * 99) == "100"


def test_never_calls_eval_exec_or_compile():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(calculator))
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert called and not called & {"eval", "exec", "compile", "__import__", "getattr"}


def test_result_text():
    assert format_result(48 / 551) == "0.08711434"
    assert format_result(2.46e-05) == "2.46e-05"
    assert format_result(-0.0) == "0"
    assert format_result(154.901) == "154.901"
    assert float(format_result(1 / 3)) == pytest.approx(1 / 3, rel=1e-6)


def test_tool_call_reads_the_expression_after_calc():
    assert tool_call("I = V / R = 48 V / 551 ohm. calc: 48 / 551") == "0.08711434"
    assert tool_call("CALC:2*3") == "6"
    assert tool_call("calc: 48 V / 551") .startswith("error: ")
    assert tool_call("calc:") == "error: empty expression"
    assert tool_call("Final answer: 0.087 A") is None
    assert tool_call("recalc: 1") is None   # a word ending in calc is not the tool


def test_every_skill_expression_computes_its_answer():
    for name, skill in SKILLS.items():
        rng = random.Random(f"calc:{name}")
        for _ in range(300):
            made = skill.make(rng)
            assert made.expression and made.work, name
            got = evaluate(made.expression)
            assert got == pytest.approx(made.answer, rel=1e-9, abs=1e-12), (name, made.expression)
            tol = max(skill.tol_abs, skill.tol_rel * abs(made.answer))
            # the tool's rounded text is still within the verifier's tolerance
            assert abs(float(format_result(got)) - made.answer) <= tol
