"""The ten STEM skills: how each draws its inputs, words its question (several surface
forms) and writes its worked oracle solution.

Every ``make(rng)`` returns the question, the teacher solution (ending in
``Final answer: <number> <unit>``), the exact numeric answer computed from the numbers as
printed in the question, the surface form used, and a key of the inputs (used to keep
splits disjoint: two problems with the same skill and inputs are the same problem, however
worded). For the calculator variant (causal_agents/stem/variants.py) it also returns the
solution's working up to the arithmetic and the arithmetic as one calculator expression
(numbers as printed, so the calculator computes the answer); the plain solution is the same
text either way.

Domains: physics (ohm_voltage, ohm_current, electric_power, kinetic_energy), chemistry
(density, specific_heat, molarity, ph), materials (engineering_stress, bragg).
Tolerances: 1% relative for every skill (the teacher prints 4 significant figures; 1% leaves
room for a model rounding intermediate values), except pH: 0.01 absolute (pH is a
logarithm, so a relative tolerance is meaningless near 0 and it can be negative).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable


def num(x: float, sig: int = 4) -> str:
    """``sig`` significant figures, trailing zeros dropped; scientific only below 1e-4."""
    if x == 0:
        return "0"
    ax = abs(x)
    if ax < 1e-4 or ax >= 1e9:
        return f"{x:.{sig - 1}e}"
    decimals = max(0, sig - 1 - math.floor(math.log10(ax)))
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def show(x: float) -> str:
    """An input exactly as drawn (inputs are pre-rounded, so 6 significant figures is exact)."""
    return num(x, 6)


@dataclass(frozen=True)
class Made:
    """One generated problem: question, worked solution, exact answer, surface form, inputs."""
    question: str
    solution: str
    answer: float
    form: int          # index of the surface form used
    key: tuple         # the inputs, for de-duplication across splits
    work: str = ""     # calculator variant: the solution's working up to the arithmetic
    expression: str = ""  # calculator variant: the arithmetic, numbers as printed in the question


@dataclass(frozen=True)
class Skill:
    """A problem family: its domain, answer unit and tolerances, and ``make(rng)`` that draws
    one problem."""
    name: str
    domain: str
    title: str
    unit: str          # canonical unit of the answer; "" for pH
    tol_abs: float
    tol_rel: float
    make: Callable[[random.Random], Made]


def _final(value: float, unit: str) -> str:
    return f"Final answer: {num(value)}" + (f" {unit}" if unit else "")


def _pick_form(rng: random.Random, n: int) -> int:
    return rng.randrange(n)


# ------------------------------------------------------------------ physics


def _ohm_voltage(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    current = round(rng.uniform(0.02, 2.0), 2)
    r = rng.choice([round(rng.uniform(1, 100), 1), float(rng.randint(10, 500))])
    v = current * r
    rs, cs = show(r), show(current)
    if form == 0:
        q = f"A current of {cs} A flows through a {rs} Ω resistor. What is the voltage across the resistor?"
    elif form == 1:
        q = f"Using Ohm's law, find the potential difference across a {rs} ohm resistor carrying {cs} A."
    elif form == 2:
        q = (f"A resistor of resistance {rs} Ω carries a current of {show(current * 1000)} mA. "
             "Calculate the voltage drop across it in volts.")
    else:
        q = f"What voltage is needed to drive a current of {cs} A through a {rs}-ohm load?"
    pre = f"I = {show(current * 1000)} mA = {cs} A. " if form == 2 else ""
    work = f"{pre}V = I * R = {cs} A * {rs} ohm"
    sol = f"{work} = {num(v)} V. {_final(v, 'V')}"
    return Made(q, sol, v, form, (current, r), work, f"{cs} * {rs}")


def _ohm_current(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    v = rng.choice([1.5, 3.0, 4.5, 5.0, 6.0, 9.0, 12.0, 24.0, 48.0, 110.0, 120.0, 230.0, 240.0,
                    round(rng.uniform(1, 250), 1)])
    if form == 2:
        r_k = round(rng.uniform(0.1, 10), 1)
        r = r_k * 1000
    else:
        r = float(rng.randint(2, 2000))
    i = v / r
    vs, rs = show(v), show(r)
    if form == 0:
        q = f"A {vs} V battery is connected across a {rs} Ω resistor. What current flows through it?"
    elif form == 1:
        q = f"Find the current through a {rs} ohm resistor when a potential difference of {vs} V is applied."
    elif form == 2:
        q = f"A {show(r_k)} kΩ resistor has {vs} V across it. Calculate the current in amperes."
    else:
        q = f"How much current does a {rs} Ω heating element draw from a {vs} V supply?"
    pre = f"R = {show(r_k)} kΩ = {rs} ohm. " if form == 2 else ""
    work = f"{pre}I = V / R = {vs} V / {rs} ohm"
    sol = f"{work} = {num(i)} A. {_final(i, 'A')}"
    return Made(q, sol, i, form, (v, r), work, f"{vs} / {rs}")


def _electric_power(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    v = rng.choice([3.0, 5.0, 9.0, 12.0, 24.0, 110.0, 120.0, 230.0, 240.0, round(rng.uniform(1, 250), 1)])
    current = round(rng.uniform(0.05, 15.0), 2)
    p = v * current
    vs, cs = show(v), show(current)
    if form == 0:
        q = f"A device draws {cs} A from a {vs} V supply. What power does it consume?"
    elif form == 1:
        q = f"Calculate the electrical power dissipated when a current of {cs} A flows under a potential difference of {vs} V."
    elif form == 2:
        q = f"A {vs} V motor runs at a current of {show(current * 1000)} mA. What is its power in watts?"
    else:
        q = f"What is the power rating of a heater that takes {cs} A at {vs} V?"
    pre = f"I = {show(current * 1000)} mA = {cs} A. " if form == 2 else ""
    work = f"{pre}P = V * I = {vs} V * {cs} A"
    sol = f"{work} = {num(p)} W. {_final(p, 'W')}"
    return Made(q, sol, p, form, (v, current), work, f"{vs} * {cs}")


def _kinetic_energy(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    if form == 1:
        m_g = float(rng.randint(20, 900))
        m = m_g / 1000
    elif form == 2:
        m = float(rng.randint(80, 200) * 10)
    else:
        m = round(rng.uniform(0.5, 120), 1)
    v = round(rng.uniform(0.5, 40), 1)
    ke = 0.5 * m * v * v
    ms, vs = show(m), show(v)
    if form == 0:
        q = f"A {ms} kg object moves at {vs} m/s. What is its kinetic energy?"
    elif form == 1:
        q = f"Find the kinetic energy of a {show(m_g)} g ball travelling at {vs} m/s."
    elif form == 2:
        q = f"A car of mass {ms} kg travels at {vs} m/s. Calculate its kinetic energy in joules."
    else:
        q = f"What is the kinetic energy of a {ms} kg cart moving with a speed of {vs} m/s?"
    pre = f"m = {show(m_g)} g = {ms} kg. " if form == 1 else ""
    work = f"{pre}KE = 1/2 * m * v^2 = 0.5 * {ms} kg * ({vs} m/s)^2"
    sol = f"{work} = {num(ke)} J. {_final(ke, 'J')}"
    return Made(q, sol, ke, form, (m, v), work, f"0.5 * {ms} * {vs}^2")


# ---------------------------------------------------------------- chemistry


def _density(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    vol = round(rng.uniform(2, 300), 1)
    # Draw a realistic density (cork to lead) and print the mass it implies.
    m = max(0.1, round(rng.uniform(0.6, 11.5) * vol, 1))
    rho = m / vol
    ms, vs = show(m), show(vol)
    if form == 0:
        q = f"A sample has a mass of {ms} g and a volume of {vs} cm^3. What is its density?"
    elif form == 1:
        q = f"A {ms} g block of metal displaces {vs} mL of water when submerged. Find its density in g/cm^3."
    elif form == 2:
        q = f"Calculate the density of a liquid if {vs} mL of it has a mass of {ms} g."
    else:
        q = f"An object of mass {show(m / 1000)} kg occupies {vs} cm^3. What is its density in g/cm^3?"
    pre = f"m = {show(m / 1000)} kg = {ms} g. " if form == 3 else ""
    vol_unit = "mL" if form in (1, 2) else "cm^3"
    work = f"{pre}density = m / V = {ms} g / {vs} {vol_unit}"
    sol = f"{work} = {num(rho)} g/cm^3. {_final(rho, 'g/cm^3')}"
    return Made(q, sol, rho, form, (m, vol), work, f"{ms} / {vs}")


_HEAT_CAPACITY = [("water", 4.18), ("aluminium", 0.897), ("copper", 0.385), ("iron", 0.449),
                  ("ethanol", 2.44), ("lead", 0.128), ("glass", 0.84), ("olive oil", 1.97)]


def _specific_heat(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    mat, c = rng.choice(_HEAT_CAPACITY)
    m = float(rng.randint(10, 1000))
    t1 = float(rng.randint(5, 40))
    dt = float(rng.randint(2, 60))
    heat = m * c * dt
    ms, cs, dts = show(m), show(c), show(dt)
    if form == 0:
        q = f"How much heat is needed to raise the temperature of {ms} g of {mat} (c = {cs} J/(g*K)) by {dts} K?"
    elif form == 1:
        q = (f"A {ms} g piece of {mat} is heated from {show(t1)} °C to {show(t1 + dt)} °C. Given a specific heat "
             f"capacity of {cs} J/(g*°C), how much heat does it absorb?")
    elif form == 2:
        q = f"Calculate the energy in joules required to warm {ms} g of {mat} by {dts} °C (specific heat {cs} J/g°C)."
    else:
        q = (f"{show(m / 1000)} kg of {mat} (specific heat capacity {cs} J/(g*K)) warms by {dts} K. "
             "How much heat did it take in, in joules?")
    pre = ""
    if form == 1:
        pre = f"dT = {show(t1 + dt)} - {show(t1)} = {dts} °C. "
    elif form == 3:
        pre = f"m = {show(m / 1000)} kg = {ms} g. "
    work = f"{pre}q = m * c * dT = {ms} g * {cs} J/(g*K) * {dts} K"
    sol = f"{work} = {num(heat)} J. {_final(heat, 'J')}"
    return Made(q, sol, heat, form, (mat, m, dt), work, f"{ms} * {cs} * {dts}")


_COMPOUNDS = [("NaCl", 58.44), ("NaOH", 40.00), ("KCl", 74.55), ("glucose", 180.16), ("H2SO4", 98.08),
              ("CaCl2", 110.98), ("KNO3", 101.10), ("MgSO4", 120.37)]


def _molarity(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    name, mm = rng.choice(_COMPOUNDS)
    mass = round(rng.uniform(1, 100), 1)
    if form == 1:
        vol_ml = float(rng.randint(10, 200) * 10)
        vol = vol_ml / 1000
    else:
        vol = round(rng.uniform(0.1, 2.5), 2)
    n = mass / mm
    molar = n / vol
    mas, mms, vs = show(mass), show(mm), show(vol)
    if form == 0:
        q = f"{mas} g of {name} (molar mass {mms} g/mol) is dissolved to make {vs} L of solution. What is the molarity?"
    elif form == 1:
        q = (f"What is the molar concentration of a solution prepared by dissolving {mas} g of {name} "
             f"(M = {mms} g/mol) in water to a final volume of {show(vol_ml)} mL?")
    elif form == 2:
        q = (f"Find the molarity when {mas} g of a solute with molar mass {mms} g/mol is dissolved in enough "
             f"water to make {vs} L of solution.")
    else:
        q = f"A chemist dissolves {mas} g of {name} ({mms} g/mol) and dilutes to {vs} L. Calculate the concentration in mol/L."
    pre = f"V = {show(vol_ml)} mL = {vs} L. " if form == 1 else ""
    sol = f"{pre}n = {mas} g / {mms} g/mol = {num(n)} mol; M = n / V = {num(n)} mol / {vs} L = {num(molar)} M. {_final(molar, 'M')}"
    work = f"{pre}M = n / V = ({mas} g / {mms} g/mol) / {vs} L"
    return Made(q, sol, molar, form, (mass, mm, vol), work, f"({mas} / {mms}) / {vs}")


def _ph(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    a = round(rng.uniform(1.0, 9.9), 1)
    # A strong acid at 1 M or more has pH <= 0: the HCl form reaches that edge on purpose.
    k = rng.randint(0, 6) if form == 3 else rng.randint(1, 13)
    conc = a * 10.0 ** (-k)
    # Plain decimals near 1 M ("0.25"), scientific notation below ("3.2e-05").
    cs = show(round(conc, k + 1)) if k <= 2 else f"{a:.1f}e-{k:02d}"
    ph = -math.log10(conc)
    if form == 0:
        q = f"A strong acid solution has [H+] = {cs} M. What is the pH?"
    elif form == 1:
        q = f"The hydrogen ion concentration of a solution is {cs} mol/L. Calculate its pH."
    elif form == 2:
        q = f"What is the pH of a solution with [H3O+] = {cs} M?"
    else:
        q = f"A {cs} M solution of HCl (a strong acid, fully dissociated) is prepared. What is its pH?"
    pre = f"HCl dissociates fully, so [H+] = {cs} M. " if form == 3 else ""
    work = f"{pre}pH = -log10([H+]) = -log10({cs})"
    sol = f"{work} = {ph:.3f}. Final answer: {ph:.3f}"
    return Made(q, sol, ph, form, (a, k), work, f"-log10({cs})")


# ---------------------------------------------------------------- materials


def _engineering_stress(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    if form == 2:
        d = float(rng.randint(4, 40))
        area = math.pi * d * d / 4
    else:
        area = float(rng.randint(10, 2000))
    # A plausible stress for metals (20-500 MPa), printed as a load rounded to 100 N.
    force = max(100.0, round(rng.uniform(20, 500) * area / 100) * 100.0)
    stress = force / area  # N/mm^2 = MPa
    fs, As = show(force), show(area)
    if form == 0:
        q = f"A bar with cross-sectional area {As} mm^2 carries an axial load of {fs} N. What is the engineering stress in MPa?"
    elif form == 1:
        q = (f"A tensile force of {show(force / 1000)} kN is applied to a specimen whose original cross-section "
             f"is {As} mm^2. Find the engineering stress.")
    elif form == 2:
        q = f"A round rod of diameter {show(d)} mm is loaded in tension with {fs} N. Calculate the engineering stress in MPa."
    else:
        q = f"Calculate the nominal (engineering) stress when a {fs} N load acts on an original area of {As} mm^2."
    pre = ""
    if form == 1:
        pre = f"F = {show(force / 1000)} kN = {fs} N. "
    elif form == 2:
        pre = f"A0 = pi * d^2 / 4 = pi * ({show(d)} mm)^2 / 4 = {num(area)} mm^2. "
    area_s = num(area) if form == 2 else As
    sol = f"{pre}stress = F / A0 = {fs} N / {area_s} mm^2 = {num(stress)} MPa. {_final(stress, 'MPa')}"
    if form == 2:  # the area unrounded, so the tool computes the exact answer
        work = f"stress = F / A0 = F / (pi * d^2 / 4) = {fs} N / (pi * ({show(d)} mm)^2 / 4)"
        expr = f"{fs} / (pi * {show(d)}^2 / 4)"
    else:
        work = f"{pre}stress = F / A0 = {fs} N / {As} mm^2"
        expr = f"{fs} / {As}"
    return Made(q, sol, stress, form, (force, area), work, expr)


_XRAY = [("Cu K-alpha", 0.1541), ("Mo K-alpha", 0.0709), ("Co K-alpha", 0.1789), ("Cr K-alpha", 0.2290)]


def _bragg(rng: random.Random) -> Made:
    form = _pick_form(rng, 4)
    source, lam = rng.choice(_XRAY)
    if form == 0:
        lam = round(rng.uniform(0.05, 0.25), 3)
    theta = round(rng.uniform(8, 70), 1)
    d = lam / (2 * math.sin(math.radians(theta)))
    ls, ts = show(lam), show(theta)
    if form == 0:
        q = (f"X-rays of wavelength {ls} nm give a first-order Bragg reflection at theta = {ts}°. "
             "What is the interplanar spacing d?")
    elif form == 1:
        q = (f"In a diffraction experiment with {source} radiation (wavelength {ls} nm), a first-order peak "
             f"appears at 2theta = {show(2 * theta)}°. Find the d-spacing in nm.")
    elif form == 2:
        q = (f"Using Bragg's law for first-order diffraction, find the lattice plane spacing in nm if the "
             f"wavelength is {show(lam * 10)} Å and the Bragg angle is {ts} degrees.")
    else:
        q = f"A crystal diffracts {ls} nm {source} X-rays in first order at a glancing angle of {ts}°. Calculate d."
    pre = ""
    if form == 1:
        pre = f"theta = {show(2 * theta)}° / 2 = {ts}°. "
    elif form == 2:
        pre = f"lambda = {show(lam * 10)} Å = {ls} nm. "
    work = (f"{pre}n * lambda = 2 * d * sin(theta) with n = 1, so d = lambda / (2 * sin(theta)) = "
            f"{ls} nm / (2 * sin({ts}°))")
    sol = f"{work} = {num(d)} nm. {_final(d, 'nm')}"
    return Made(q, sol, d, form, (lam, theta), work, f"{ls} / (2 * sin({ts}))")


_REL = 0.01
SKILLS: dict[str, Skill] = {s.name: s for s in [
    Skill("ohm_voltage", "physics", "Ohm's law: voltage", "V", 0.0, _REL, _ohm_voltage),
    Skill("ohm_current", "physics", "Ohm's law: current", "A", 0.0, _REL, _ohm_current),
    Skill("electric_power", "physics", "Electric power", "W", 0.0, _REL, _electric_power),
    Skill("kinetic_energy", "physics", "Kinetic energy", "J", 0.0, _REL, _kinetic_energy),
    Skill("density", "chemistry", "Density", "g/cm^3", 0.0, _REL, _density),
    Skill("specific_heat", "chemistry", "Specific heat", "J", 0.0, _REL, _specific_heat),
    Skill("molarity", "chemistry", "Molarity", "M", 0.0, _REL, _molarity),
    Skill("ph", "chemistry", "pH of a strong acid", "", 0.01, 0.0, _ph),
    Skill("engineering_stress", "materials", "Engineering stress", "MPa", 0.0, _REL, _engineering_stress),
    Skill("bragg", "materials", "First-order Bragg diffraction", "nm", 0.0, _REL, _bragg),
]}
DOMAINS = ("physics", "chemistry", "materials")
