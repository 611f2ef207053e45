"""Unit spellings the STEM verifier understands, mapped to (dimension, factor).

A unit string is normalised (superscripts to ``^n``, micro signs to ``u``, spaces around
``/`` dropped, ``**`` to ``^``, dot operators to spaces) and looked up first case-sensitively
among symbols (``M`` is molar, ``m`` is metre, ``mA`` is milliampere), then case-insensitively
among spelled-out words (``Volts``, ``joules``). ``factor`` converts a value in that unit to
the dimension's canonical unit: 250 mA -> 0.25 A.

Canonical units are the ones the generator asks for: V, A, W, J, g/cm^3, M, MPa, nm, and
the empty unit for pH (dimension ``1``; ``pH`` itself is accepted as its spelling). Other
common units (kg, m/s, degC, ...) are listed only so that an answer in the wrong kind of unit
is recognised as wrong rather than ignored.
"""

from __future__ import annotations

import re

# dimension -> {symbol: factor}; symbols are matched case-sensitively.
_SYMBOLS: dict[str, dict[str, float]] = {
    "V": {"V": 1.0, "mV": 1e-3, "kV": 1e3, "uV": 1e-6},
    "A": {"A": 1.0, "mA": 1e-3, "uA": 1e-6, "kA": 1e3},
    "W": {"W": 1.0, "mW": 1e-3, "kW": 1e3, "MW": 1e6},
    "J": {"J": 1.0, "mJ": 1e-3, "kJ": 1e3, "MJ": 1e6, "N m": 1.0, "Nm": 1.0, "cal": 4.184, "kcal": 4184.0},
    "g/cm^3": {"g/cm^3": 1.0, "g/cm3": 1.0, "g cm^-3": 1.0, "g cm-3": 1.0, "g/mL": 1.0, "g/ml": 1.0,
               "g/cc": 1.0, "kg/L": 1.0, "kg/m^3": 1e-3, "kg/m3": 1e-3, "kg m^-3": 1e-3, "g/L": 1e-3},
    "M": {"M": 1.0, "mol/L": 1.0, "mol/l": 1.0, "mol L^-1": 1.0, "mol L-1": 1.0, "mol/dm^3": 1.0,
          "mol/dm3": 1.0, "mol dm^-3": 1.0, "mM": 1e-3, "mmol/L": 1e-3, "uM": 1e-6},
    "MPa": {"MPa": 1.0, "N/mm^2": 1.0, "N/mm2": 1.0, "N mm^-2": 1.0, "Pa": 1e-6, "kPa": 1e-3,
            "GPa": 1e3, "N/m^2": 1e-6, "N/m2": 1e-6},
    "nm": {"nm": 1.0, "Å": 0.1, "pm": 1e-3, "um": 1e3, "mm": 1e6, "cm": 1e7, "m": 1e9},
    "1": {"pH": 1.0},
    # Recognised only to reject an answer given in the wrong kind of unit.
    "kg": {"kg": 1.0, "g": 1e-3, "mg": 1e-6},
    "s": {"s": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0},
    "m/s": {"m/s": 1.0, "km/h": 1 / 3.6},
    "K": {"K": 1.0, "degC": 1.0, "°C": 1.0, "C": 1.0},
    "mol": {"mol": 1.0, "mmol": 1e-3},
    "L": {"L": 1.0, "mL": 1e-3, "ml": 1e-3, "cm^3": 1e-3, "cm3": 1e-3, "m^3": 1e3, "dm^3": 1.0},
    "ohm": {"Ω": 1.0, "kΩ": 1e3, "MΩ": 1e6},
    "N": {"N": 1.0, "kN": 1e3},
    "deg": {"°": 1.0, "deg": 1.0, "rad": 57.29577951308232},
    "Hz": {"Hz": 1.0, "kHz": 1e3},
    "J/(g*K)": {"J/(g*K)": 1.0, "J/(g K)": 1.0, "J/g/K": 1.0, "J/gK": 1.0, "J/(g degC)": 1.0},
    "g/mol": {"g/mol": 1.0},
}

# Spelled-out words, matched case-insensitively.
_WORDS: dict[str, tuple[str, float]] = {}
for _dim, _words in {
    "V": {"volt": 1.0, "volts": 1.0, "millivolt": 1e-3, "millivolts": 1e-3, "kilovolt": 1e3, "kilovolts": 1e3},
    "A": {"amp": 1.0, "amps": 1.0, "ampere": 1.0, "amperes": 1.0, "milliamp": 1e-3, "milliamps": 1e-3,
          "milliampere": 1e-3, "milliamperes": 1e-3},
    "W": {"watt": 1.0, "watts": 1.0, "kilowatt": 1e3, "kilowatts": 1e3, "milliwatt": 1e-3, "milliwatts": 1e-3},
    "J": {"joule": 1.0, "joules": 1.0, "kilojoule": 1e3, "kilojoules": 1e3, "calorie": 4.184, "calories": 4.184},
    "M": {"molar": 1.0, "mol per litre": 1.0, "mol per liter": 1.0, "moles per litre": 1.0,
          "moles per liter": 1.0, "millimolar": 1e-3},
    "MPa": {"megapascal": 1.0, "megapascals": 1.0, "pascal": 1e-6, "pascals": 1e-6, "kilopascal": 1e-3,
            "kilopascals": 1e-3, "gigapascal": 1e3, "gigapascals": 1e3},
    "nm": {"nanometre": 1.0, "nanometres": 1.0, "nanometer": 1.0, "nanometers": 1.0, "angstrom": 0.1,
           "angstroms": 0.1, "ångström": 0.1, "ångströms": 0.1, "picometre": 1e-3, "picometer": 1e-3,
           "picometres": 1e-3, "picometers": 1e-3, "metre": 1e9, "meter": 1e9, "metres": 1e9, "meters": 1e9},
    "kg": {"kilogram": 1.0, "kilograms": 1.0, "gram": 1e-3, "grams": 1e-3},
    "s": {"second": 1.0, "seconds": 1.0},
    "K": {"kelvin": 1.0, "celsius": 1.0},
    "mol": {"mole": 1.0, "moles": 1.0},
    "L": {"litre": 1.0, "litres": 1.0, "liter": 1.0, "liters": 1.0},
    "ohm": {"ohm": 1.0, "ohms": 1.0, "kohm": 1e3, "kilohm": 1e3, "kilohms": 1e3},
    "N": {"newton": 1.0, "newtons": 1.0, "kilonewton": 1e3, "kilonewtons": 1e3},
    "deg": {"degree": 1.0, "degrees": 1.0, "radian": 57.29577951308232, "radians": 57.29577951308232},
}.items():
    for _w, _f in _words.items():
        _WORDS[_w] = (_dim, _f)

_LOOKUP: dict[str, tuple[str, float]] = {}
for _dim, _syms in _SYMBOLS.items():
    for _s, _f in _syms.items():
        _LOOKUP[_s] = (_dim, _f)

_SUPERSCRIPTS = str.maketrans({"³": "^3", "²": "^2", "¹": "^1", "⁻": "^-", "µ": "u", "μ": "u",
                               "−": "-", "·": " ", "⋅": " ", "*": " "})


def normalise_unit(text: str) -> str:
    """Canonical spelling for lookup: ``g·cm⁻³`` -> ``g cm^-3``, ``mol / L`` -> ``mol/L``."""
    t = text.replace("**", "^").replace("^^", "^")
    t = t.translate(_SUPERSCRIPTS)
    t = t.replace("^-^", "^-").replace("^^", "^")
    t = re.sub(r"\s*/\s*", "/", t)
    t = re.sub(r"\(\s*", "(", re.sub(r"\s*\)", ")", t))
    t = re.sub(r"\s+", " ", t).strip()
    return t


def lookup_unit(text: str) -> tuple[str, float] | None:
    """(dimension, factor to the canonical unit) for a unit string, or None if unknown.

    ``""`` (no unit) is the dimensionless unit ``("1", 1.0)``.
    """
    if text is None:
        return None
    t = normalise_unit(text)
    if t == "":
        return ("1", 1.0)
    if t in _LOOKUP:
        return _LOOKUP[t]
    # J/(g*K) is stored with '*', which normalisation turns into a space; try both.
    if t.replace(" ", "*") in _LOOKUP:
        return _LOOKUP[t.replace(" ", "*")]
    low = t.lower()
    if low in _WORDS:
        return _WORDS[low]
    if low.startswith("deg") and low[3:].strip(" .") in ("c", "celsius"):
        return ("K", 1.0)
    return None


def canonical_dimension(unit: str) -> str:
    """The dimension of an expected unit; an expected unit must be known."""
    hit = lookup_unit(unit)
    if hit is None:
        raise ValueError(f"unknown unit {unit!r}")
    return hit[0]
