"""Rebuild sample_data/stem_stream.jsonl: verifier-stream records made by
causal_agents.stem.stream_records from real generated problems (agent split, seed 0) and
hand-written, plausible attempts (one record per skill; the typical slips a small model
makes: sign errors, a dropped 1/2, unconverted prefixes, wrong units, no final answer).

usage: python /work/run_in_tree.py <tree> sample_data/make_stem_stream.py [OUT]
(tests/test_stem_sample.py checks the committed file matches this script's output.)
"""

from __future__ import annotations

import sys

from causal_agents.formats.io import RecordWriter
from causal_agents.stem.problems import draw_split
from causal_agents.stem.stream_records import build_stream_record

SEED = 0
# problem id -> the attempts, in order
ATTEMPTS = {
    "stem-agent-0000": [  # ph: sign error
        "pH = log10([H+]) = log10(4.8e-09) = -8.319. Final answer: -8.319"],
    "stem-agent-0001": [  # electric_power: right first time
        "P = V * I = 230 V * 4.14 A = 952.2 W. Final answer: 952.2 W"],
    "stem-agent-0003": [  # kinetic_energy: dropped the 1/2
        "KE = m * v^2 = 73.2 kg * (2.4 m/s)^2 = 421.6 J. Final answer: 421.6 J"],
    "stem-agent-0005": [  # density: right number, unit of mass
        "density = m / V = 33.7 g / 18.5 mL = 1.822 g. Final answer: 1.822 g"],
    "stem-agent-0006": [  # molarity: forgot the molar mass, then repaired after the verdict
        "M = mass / V = 57.8 g / 1.32 L = 43.79 M. Final answer: 43.79 M",
        "n = 57.8 g / 120.37 g/mol = 0.4802 mol; M = n / V = 0.4802 mol / 1.32 L = 0.3638 M. Final answer: 0.3638 M"],
    "stem-agent-0007": [  # bragg: dropped the factor 2
        "d = lambda / sin(theta) = 0.0709 nm / sin(55.9°) = 0.08562 nm. Final answer: 0.08562 nm"],
    "stem-agent-0008": [  # specific_heat: no number at all
        "The heat is q = m * c * dT, with the mass in grams and the temperature rise in kelvin."],
    "stem-agent-0013": [  # engineering_stress: correct, in pascals (the verifier converts)
        "stress = F / A0 = 271100 N / (910e-6 m^2) = 2.979e8 Pa. Final answer: 2.979e8 Pa"],
    "stem-agent-0014": [  # ohm_current: kilo-ohms not converted
        "I = V / R = 120 V / 1.9 ohm = 63.16 A. Final answer: 63.16 A"],
    "stem-agent-0015": [  # ohm_voltage: milliamps not converted, twice
        "V = I * R = 1410 * 102 = 143820 V. Final answer: 143820 V",
        "V = I * R = 1410 mA * 102 ohm = 143.8 kV. Final answer: 143.8 kV"],
}


def records() -> list[dict]:
    problems = {p["id"]: p for p in draw_split("agent", 200, SEED, _test_keys())}
    return [build_stream_record(problems[pid], attempts) for pid, attempts in ATTEMPTS.items()]


def _test_keys() -> set:
    # The agent split is drawn after the test split (default size) and avoids its problems.
    seen: set = set()
    draw_split("test", 100, SEED, seen)
    return seen


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "sample_data/stem_stream.jsonl"
    with RecordWriter(out) as w:
        for r in records():
            w.write(r)
    print(f"wrote {w.count} records -> {out}", file=sys.stderr)
