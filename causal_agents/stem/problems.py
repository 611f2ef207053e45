"""Seeded STEM problem splits ("Continual, interactive, causal agents" (de Freitas and Ortega, 2026): 200 SFT / 200 agent / 100 test by default.

Each split is balanced over the ten skills (item i gets skill i mod 10, then the order is
shuffled) and drawn from its own RNG, seeded by ``(seed, split name)``, so the test split
does not change when the other splits' sizes do. Splits are disjoint: test is drawn first,
then agent, then SFT, and a problem whose (skill, inputs) was already drawn is redrawn.

Records:
- problem (``agent``, ``test``): ``id, split, domain, skill, form, question, solution,
  answer, unit, tol_abs, tol_rel``.
- SFT (``sft``): the same fields minus ``question``/``solution``, plus OpenAI-style
  ``messages``: the question as a ``user`` message with ``provenance: context`` (the question
  frames the example and is never a target, as in the paper) and the worked solution as an
  ``assistant`` message with ``author: teacher, provenance: world`` (a teacher wrote it, so
  it is evidence, though it sits in the assistant slot). ``cag tag`` reads it as openai.

Calculator variant (causal_agents/stem/variants.py): the same problems, drawn from the same
RNG; problem records also carry ``variant``, ``calc_work`` and ``calc_expression``, and the
SFT demonstration is the solution in the calculator format: teacher assistant message (the
working and the call), ``tool`` message (the calculator's result, world), teacher assistant
message (the final line). The plain variant's records are exactly as before.
"""

from __future__ import annotations

import os
import random
from collections import Counter

from causal_agents.errors import CagError, InputError
from causal_agents.stem.skills import SKILLS
from causal_agents.stem.variants import (CALCULATOR, DEFAULT_VARIANT, PLAIN, calculator_solution, check_variant,
                                         solution_messages)

SPLITS = ("sft", "agent", "test")
DEFAULT_COUNTS = {"sft": 200, "agent": 200, "test": 100}
# Draw order: the held-out split first, so it depends only on (seed, its own size).
_DRAW_ORDER = ("test", "agent", "sft")
MAX_REDRAWS = 1000
EXTENSIONS = ("jsonl", "jsonl.gz", "parquet")
GENERATOR_VERSION = 1


def draw_split(split: str, n: int, seed: int, seen: set | None = None, variant: str = DEFAULT_VARIANT) -> list[dict]:
    """``n`` problem records for one split; ``seen`` holds (skill, inputs) keys to avoid
    and is updated in place. ``variant`` calculator adds its fields (the draws are the same)."""
    seen = set() if seen is None else seen
    rng = random.Random(f"cag-stem:{seed}:{split}")
    names = list(SKILLS)
    order = [names[i % len(names)] for i in range(n)]
    rng.shuffle(order)
    out = []
    for i, name in enumerate(order):
        skill = SKILLS[name]
        for _ in range(MAX_REDRAWS):
            made = skill.make(rng)
            key = (name, made.key)
            if key not in seen:
                break
        else:
            raise CagError(f"cannot draw {order.count(name)} distinct {name} problems for split {split!r} "
                           f"after {MAX_REDRAWS} redraws; ask for fewer problems")
        seen.add(key)
        out.append({"id": f"stem-{split}-{i:04d}", "split": split, "domain": skill.domain, "skill": name,
                    "form": made.form, "question": made.question, "solution": made.solution,
                    "answer": made.answer, "unit": skill.unit, "tol_abs": skill.tol_abs,
                    "tol_rel": skill.tol_rel})
        if variant == CALCULATOR:
            out[-1].update(variant=CALCULATOR, calc_work=made.work, calc_expression=made.expression)
    return out


def generate(seed: int = 0, counts: dict | None = None, variant: str = DEFAULT_VARIANT) -> dict[str, list[dict]]:
    """All splits as problem records, keyed by split name."""
    check_variant(variant)
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    seen: set = set()
    drawn = {s: draw_split(s, counts[s], seed, seen, variant) for s in _DRAW_ORDER}
    return {s: drawn[s] for s in SPLITS}


def sft_record(problem: dict, variant: str = DEFAULT_VARIANT) -> dict:
    """A problem as an OpenAI-chat SFT example with an explicit teacher demonstration (in the
    calculator format for ``variant`` calculator)."""
    drop = ("question", "solution", "calc_work", "calc_expression")
    rec = {k: v for k, v in problem.items() if k not in drop}
    if variant == CALCULATOR:
        answer = solution_messages(calculator_solution(problem, "teacher"), "teacher", "world")
    else:
        answer = [{"role": "assistant", "content": problem["solution"], "author": "teacher", "provenance": "world"}]
    rec["messages"] = [{"role": "user", "content": problem["question"], "provenance": "context"}, *answer]
    return rec


def parse_counts(items: list[str]) -> dict:
    """``["sft=20", "test=10"]`` -> ``{"sft": 20, "test": 10}``."""
    out = {}
    for item in items:
        name, sep, val = item.partition("=")
        name = name.strip()
        if not sep or name not in SPLITS:
            raise InputError(f"-n expects SPLIT=COUNT with SPLIT one of {', '.join(SPLITS)}, got {item!r}")
        try:
            n = int(val)
        except ValueError:
            raise InputError(f"-n expects a whole number after '=', got {item!r}") from None
        if n < 0:
            raise InputError(f"-n expects a count >= 0, got {item!r}")
        out[name] = n
    return out


def write_splits(out_dir: str, seed: int = 0, counts: dict | None = None, ext: str = "jsonl",
                 variant: str = DEFAULT_VARIANT) -> dict:
    """Generate and write ``sft.<ext>``, ``agent.<ext>``, ``test.<ext>`` and
    ``manifest.json`` into ``out_dir``; returns the manifest (``variant`` recorded in it
    when it is not the plain one).

    Everything is generated before anything is written, and each file is written atomically,
    so a failure leaves no partial file.
    """
    from causal_agents.formats.io import write_json_atomic, write_records

    if ext not in EXTENSIONS:
        raise InputError(f"unknown extension {ext!r} (expected one of {', '.join(EXTENSIONS)})")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError("exists and is not a directory (expected a directory for the splits)", file=out_dir)
    splits = generate(seed, counts, variant)
    files = {}
    for name in SPLITS:
        path = os.path.join(out_dir, f"{name}.{ext}")
        write_records(path, (sft_record(p, variant) for p in splits[name]) if name == "sft" else splits[name])
        files[name] = path
    manifest = {
        "generator": "cag data stem", "version": GENERATOR_VERSION, "seed": seed,
        "counts": {s: len(splits[s]) for s in SPLITS}, "files": files,
        "per_skill": {s: dict(sorted(Counter(p["skill"] for p in splits[s]).items())) for s in SPLITS},
        "skills": {k: {"domain": v.domain, "title": v.title, "unit": v.unit, "tol_abs": v.tol_abs,
                       "tol_rel": v.tol_rel} for k, v in SKILLS.items()},
    }
    if variant != PLAIN:
        manifest["variant"] = variant
    write_json_atomic(os.path.join(out_dir, "manifest.json"), manifest)
    return manifest
