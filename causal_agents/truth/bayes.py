"""The two-hypothesis worked example of "Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026,
sec. 4), as a small library.

A finite set of hypotheses p, each with a kernel ν_p(symbol) that ignores the history, and a
prior w_0(p). Symbols arrive one slot at a time, each written by the world (evidence) or by
the agent (an intervention). Two updaters read the same history:

- interventional (correct, first person): a world-written symbol is a Bayes update,
  an agent-written symbol leaves the weights unchanged;
- observational (a bystander's, or naive SFT's): every symbol is a Bayes update.

An agent slot may name its symbol (``do(A)``) or let the agent choose (``do(?)``): it writes the
symbol with the highest mixture probability π(s) = Σ_p w(p) ν_p(s) under the interventional
posterior (ties go to the later symbol, matching the paper's "B when π(B) ≥ 0.5").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from causal_agents.errors import InputError

PAPER_PRIORS = {"p_B": 0.35, "p_A": 0.65}
PAPER_KERNELS = {"p_B": {"A": 0.20, "B": 0.80}, "p_A": {"A": 0.90, "B": 0.10}}
PAPER_SEQUENCE = "do(?) B"
_TOKEN = re.compile(r"^do\((.+)\)$")


@dataclass
class Model:
    """Hypotheses with their prior weights and next-symbol kernels. On construction the
    priors are normalised, ``symbols`` is set to the kernels' symbols in order of first
    appearance, and bad weights raise InputError (field ``priors`` or ``kernels``)."""
    priors: dict                      # hypothesis -> w_0
    kernels: dict                     # hypothesis -> {symbol: ν}
    symbols: list = field(default_factory=list)

    def __post_init__(self):
        if not self.priors:
            raise InputError("expected at least one hypothesis", field="priors")
        if set(self.priors) != set(self.kernels):
            raise InputError(f"priors name {sorted(self.priors)} but kernels name {sorted(self.kernels)}",
                             field="kernels")
        total = sum(self.priors.values())
        if any(v < 0 for v in self.priors.values()) or total <= 0:
            raise InputError("priors must be non-negative with a positive sum", field="priors")
        self.priors = {h: v / total for h, v in self.priors.items()}
        syms = []
        for h, k in self.kernels.items():
            if any(v < 0 for v in k.values()) or abs(sum(k.values()) - 1.0) > 1e-6:
                raise InputError(f"kernel of {h} must be probabilities summing to 1, got {k}", field="kernels")
            syms += [s for s in k if s not in syms]
        self.symbols = syms


def predictive(model: Model, w: dict, symbol: str) -> float:
    """The mixture probability π(symbol) = Σ_p w(p) ν_p(symbol) under weights ``w``."""
    return sum(w[h] * model.kernels[h].get(symbol, 0.0) for h in w)


def bayes_update(model: Model, w: dict, symbol: str) -> dict:
    """The posterior weights after observing ``symbol`` (a new dict; ``w`` is not changed).
    Raises InputError when every hypothesis gives the symbol probability 0."""
    z = predictive(model, w, symbol)
    if z <= 0:
        raise InputError(f"symbol {symbol!r} has probability 0 under every hypothesis", field="sequence")
    return {h: w[h] * model.kernels[h].get(symbol, 0.0) / z for h in w}


def parse_sequence(text: str, model: Model) -> list[tuple[str | None, str]]:
    """``"do(?) B do(A) A"`` -> [(None, "agent"), ("B", "world"), ("A", "agent"), ("A", "world")]."""
    out = []
    for tok in text.replace(",", " ").split():
        m = _TOKEN.match(tok)
        sym, who = (m.group(1), "agent") if m else (tok, "world")
        if sym == "?":
            if who != "agent":
                raise InputError("'?' (let the agent choose) only makes sense as do(?)", field="sequence")
            out.append((None, who))
            continue
        if sym not in model.symbols:
            raise InputError(f"unknown symbol {sym!r} (kernels define {', '.join(model.symbols)})", field="sequence")
        out.append((sym, who))
    if not out:
        raise InputError("expected at least one slot, e.g. 'do(?) B'", field="sequence")
    return out


def run(model: Model, sequence: list[tuple[str | None, str]]) -> dict:
    """Slot-by-slot posteriors of both updaters on one shared history."""
    w_do = dict(model.priors)
    w_obs = dict(model.priors)
    steps = []
    for i, (sym, who) in enumerate(sequence, 1):
        policy = {s: predictive(model, w_do, s) for s in model.symbols}
        chosen = sym is None
        if chosen:
            best = max(policy.values())
            sym = [s for s in model.symbols if policy[s] == best][-1]
        if who == "world":
            w_do = bayes_update(model, w_do, sym)
        w_obs = bayes_update(model, w_obs, sym)
        steps.append({"slot": i, "writer": who, "symbol": sym, "chosen_by_agent": chosen,
                      "policy": policy, "interventional": dict(w_do), "observational": dict(w_obs)})
    return {"priors": model.priors, "kernels": model.kernels, "steps": steps}


def paper_example() -> dict:
    """The worked example of the paper (its priors, kernels and the sequence ``do(?) B``),
    as :func:`run` returns it."""
    m = Model(dict(PAPER_PRIORS), {h: dict(k) for h, k in PAPER_KERNELS.items()})
    return run(m, parse_sequence(PAPER_SEQUENCE, m))


def parse_assignments(items: list[str], what: str) -> dict:
    """``["p_B=0.35", "p_A=0.65"]`` -> {"p_B": 0.35, "p_A": 0.65}."""
    out = {}
    for item in items:
        for part in item.split(","):
            k, sep, v = part.partition("=")
            try:
                out[k.strip()] = float(v)
            except ValueError:
                sep = ""
            if not sep or not k.strip():
                raise InputError(f"expected NAME=NUMBER, got {part!r}", field=what)
    return out


def parse_kernels(items: list[str]) -> dict:
    """``["p_B:A=0.2,B=0.8", "p_A:A=0.9,B=0.1"]`` -> {hyp: {symbol: prob}}."""
    out = {}
    for item in items:
        h, sep, rest = item.partition(":")
        if not sep or not h.strip():
            raise InputError(f"expected HYP:SYMBOL=P,SYMBOL=P, got {item!r}", field="--kernel")
        out[h.strip()] = parse_assignments([rest], "--kernel")
    return out
