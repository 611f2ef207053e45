"""The STEM verifier: extraction, tolerance, units, and never crashing on garbage."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causal_agents.stem.units import lookup_unit, normalise_unit
from causal_agents.stem.verifier import NO_NUMBER, OK, WRONG_UNIT, WRONG_VALUE, extract_answer, parse_number, verify


@pytest.mark.parametrize("text,value", [
    ("1.0e-04", 1e-4), ("1.0E-4", 1e-4), ("-2.5", -2.5), ("+3", 3.0), (".5", 0.5), ("1,234.5", 1234.5),
    ("12,000", 12000.0), ("1.0 x 10^-4", 1e-4), ("3×10^8", 3e8), ("2.0*10**3", 2000.0), ("\u22120.30", -0.3),
    ("30.", 30.0), ("1.0 × 10⁻⁴", 1e-4), ("2×10³", 2000.0),
])
def test_parse_number_forms(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text,answer,unit,reason,value", [
    # marker, unit given and right
    ("n = 10.0/40.0 = 0.250 mol; M = n/V = 1.000 M. Final answer: 1.000 M.", 1.0, "M", OK, 1.0),
    # the paper's wrong molarity attempt
    ("n = 10.0/40.0 = 0.250 mol; M = n/V = 0.250 M. Final answer: 0.250 M.", 1.0, "M", WRONG_VALUE, 0.25),
    # scientific notation after the marker
    ("Final answer: 1.0e-04 M", 1e-4, "M", OK, 1e-4),
    ("Final answer: 1.0 x 10^-4 M", 1e-4, "M", OK, 1e-4),
    ("Final answer: 4.8 × 10⁻⁹ M", 4.8e-9, "M", OK, 4.8e-9),
    # commas as thousands separators
    ("Final answer: 23,954 J", 23954, "J", OK, 23954),
    # negative pH (concentrated strong acid), unitless
    ("pH = -log10(2.0) = -0.301. Final answer: -0.301", -0.30103, "", OK, -0.301),
    ("Final answer: 0.301", -0.30103, "", WRONG_VALUE, 0.301),
    # missing unit: only the number is checked
    ("Final answer: 30", 30, "V", OK, 30),
    # wrong unit: a known unit of another dimension fails even with the right number
    ("Final answer: 30 A", 30, "V", WRONG_UNIT, 30),
    ("Final answer: 4 M", 4, "", WRONG_UNIT, 4),
    # spelled-out and prefixed units convert
    ("Final answer: 30 volts", 30, "V", OK, 30),
    ("Final answer: 250 mA", 0.25, "A", OK, 250),
    ("Final answer: 2.979e8 Pa", 297.9, "MPa", OK, 2.979e8),
    ("Final answer: 1.19 Å", 0.119, "nm", OK, 1.19),
    ("**Final Answer:** 2.5 g/cm³", 2.5, "g/cm^3", OK, 2.5),
    ("Final answer: 2.5 g·cm⁻³", 2.5, "g/cm^3", OK, 2.5),
    ("Final answer: 4.000 pH", 4.0, "", OK, 4.0),
    # text after the number that is not a unit is ignored
    ("Final answer: 30 (rounded)", 30, "V", OK, 30),
    # no number anywhere
    ("I am not sure how to solve this.", 30, "V", NO_NUMBER, None),
    # a marker with nothing after it does not fall back to earlier numbers
    ("V = 30 V. Final answer: unknown", 30, "V", NO_NUMBER, None),
    # no marker: the last plausible number; digits glued to letters are not numbers
    ("I = 2 A and R = 15 ohm so V = 30 V", 30, "V", OK, 30),
    ("Dissolve H2SO4", 2, "M", NO_NUMBER, None),
    # '=' on the final-answer line: the value after the last '='
    ("Final answer: pH = -log10(1e-4) = 4", 4, "", OK, 4),
    # the first marker counts
    ("Final answer: 1 V\nFinal answer: 30 V", 30, "V", WRONG_VALUE, 1),
])
def test_verify_cases(text, answer, unit, reason, value):
    tol_abs, tol_rel = (0.01, 0.0) if unit == "" else (0.0, 0.01)
    v = verify(text, answer, unit, tol_abs, tol_rel)
    assert v.reason == reason, v
    assert v.passed == (reason == OK)
    if value is None:
        assert v.value is None
    else:
        assert v.value == pytest.approx(value)
    assert v.text.startswith("correct" if v.passed else "incorrect")
    assert "\n" not in v.text


def test_tolerance_boundary():
    # |a - â| <= max(abs, rel * |a|): 1% of 100 is 1
    assert verify("Final answer: 101", 100, "", 0.0, 0.01).passed
    assert not verify("Final answer: 101.01", 100, "", 0.0, 0.01).passed
    # the absolute tolerance wins near zero
    assert verify("Final answer: 0.005", 0.0, "", 0.01, 0.01).passed
    assert not verify("Final answer: 0.02", 0.0, "", 0.01, 0.01).passed


def test_extract_sources():
    assert extract_answer("Final answer: 3")[1] == "marker"
    assert extract_answer("so 3 then 4")[:2] == (4.0, "fallback")
    assert extract_answer("") is None


def test_unit_lookup_is_case_aware():
    assert lookup_unit("M") == ("M", 1.0)
    assert lookup_unit("m")[0] == "nm"  # metre, a length
    assert lookup_unit("mA") == ("A", 1e-3)
    assert lookup_unit("VOLTS") == ("V", 1.0)
    assert lookup_unit("mol / L") == ("M", 1.0)
    assert lookup_unit("apples") is None
    assert normalise_unit("g·cm⁻³") == "g cm^-3"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_crashes_on_any_text(text):
    v = verify(text, 1.0, "V", 0.0, 0.01)
    assert isinstance(v.passed, bool)
    assert v.reason in (OK, NO_NUMBER, WRONG_VALUE, WRONG_UNIT)
    assert "\n" not in v.text
    assert (v.value is None) == (v.reason == NO_NUMBER)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.,-+eE xX×^*=:Final answer\n VmAMPa°Å")), max_size=60))
def test_never_crashes_on_number_like_text(text):
    v = verify(text, 2.5, "MPa", 0.0, 0.01)
    assert v.reason in (OK, NO_NUMBER, WRONG_VALUE, WRONG_UNIT)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-3),
       st.sampled_from(["V", "A", "W", "J", "g/cm^3", "M", "MPa", "nm", ""]),
       st.sampled_from(["{:.6g}", "{:.4e}", "{:,.4f}"]))
def test_round_trip(x, unit, fmt):
    text = f"Some working. Final answer: {fmt.format(x)} {unit}".rstrip()
    v = verify(text, x, unit, 0.0, 0.01)
    assert v.passed, (text, v)
    assert math.isclose(v.value_in_expected, x, rel_tol=0.01)
