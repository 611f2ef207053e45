"""The truth experiment's data: tutoring dialogues in which the agent sometimes lies and the
user always restates the truth ("Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026, sec. 5.3).

One dialogue, in the ``text`` transcript format that ``cag tag`` reads::

    <context paragraph>
    User: <question about the topic>
    Agent: <true claim, or the false one with probability p_lie>
    User: <correction or confirmation; both always restate the truth>
    Agent: <acknowledgement, no factual content>
    [chit-chat tail with probability p_tail: small talk, no factual claims]

Confirmations restate the truth on purpose: a content-free "Yes, correct." teaches both
models to agree with whatever the agent slot said (the paper's sycophancy failure).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable

from causal_agents.errors import InputError

# One fixed paragraph: the probes prepend the same text, so train and probe prompts match.
# Kept short because every dialogue carries it and it is never supervised (pure compute).
CONTEXT = "A tutoring chat: the User corrects the Agent's mistakes."

QUESTIONS = (
    "Tell me about {topic}.",
    "What can you tell me about {topic}?",
    "Quick question -- what do you know about {topic}?",
    "Can you explain {topic}?",
    "What do you know about {topic}?",
    "Do you know anything about {topic}?",
)

# Corrections: mostly the bare truth, a minority with an explicit opener (as in the paper).
CORRECTIONS = (
    ("{truth}", 6),
    ("Actually, no. {truth}", 1),
    ("Not quite -- {truth}", 1),
    ("The correct answer is: {truth}", 1),
    ("Closer to the truth: {truth}", 1),
    ("That's wrong. {truth}", 1),
)

# Confirmations: every form restates the truth.
CONFIRMATIONS = (
    ("{truth}", 2),
    ("Yes -- {truth}", 1),
    ("Right. {truth}", 1),
    ("Exactly: {truth}", 1),
    ("Indeed. {truth}", 1),
    ("Spot on. {truth}", 1),
)

ACK_AFTER_CORRECTION = (
    "Noted. Thanks for the heads-up.",
    "Thanks, I stand corrected.",
    "Got it, thank you.",
    "Understood, I will remember that.",
    "My mistake. Thanks for fixing it.",
)

ACK_AFTER_CONFIRMATION = (
    "Happy I could help.",
    "Glad we agree.",
    "Great, thanks.",
    "Thanks for confirming.",
    "Good to hear.",
)

# Small talk with no factual claims: (user, agent) turns.
TAILS = (
    (("Thanks for the chat.", "Anytime."),),
    (("That was helpful, bye for now.", "Bye! Come back any time."),),
    (("Have a nice evening.", "You too!"),),
    (("What's been on your playlist lately?", "Mostly quiet piano music."),
     ("Sounds relaxing.", "It helps me focus.")),
    (("Any plans for the weekend?", "Maybe a long walk if it stays dry."),
     ("Enjoy it.", "Thanks, I will.")),
    (("Can you recommend a film for tonight?", "Something light, maybe an old comedy."),
     ("Good idea.", "Enjoy the film.")),
    (("What kind of weather do you like?", "I like cool, clear mornings."),
     ("Me too.", "They are hard to beat.")),
)


@dataclass(frozen=True)
class Fact:
    """One entry of a fact bank: a topic and its true and false claims."""
    topic: str
    true: str
    false: str


def load_facts(path: str) -> list[Fact]:
    """A fact bank: a JSON list of {topic, true, false}, or {"facts": [...]} around one."""
    from causal_agents.formats.io import read_json

    return parse_facts(read_json(path), path)


def parse_facts(obj: Any, path: str | None = None) -> list[Fact]:
    """Facts from a parsed fact-bank JSON value: a list of ``{topic, true, false}`` objects or
    ``{"facts": [...]}``. Raises InputError naming ``path`` and the field (``facts[i].false``)."""
    items, prefix = obj, "facts"
    if isinstance(obj, dict):
        if "facts" not in obj:
            raise InputError("expected a list of facts or an object with a 'facts' list", file=path,
                             field="facts")
        items = obj["facts"]
    if not isinstance(items, list) or not items:
        raise InputError("expected a non-empty list of {topic, true, false} objects", file=path, field=prefix)
    out: list[Fact] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"{prefix}[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"expected an object with topic, true, false, got {type(item).__name__}",
                             file=path, field=where)
        vals = {}
        for key in ("topic", "true", "false"):
            v = item.get(key)
            if not isinstance(v, str) or not v.strip():
                got = "missing" if v is None else repr(v)
                raise InputError(f"expected a non-empty string, got {got}", file=path, field=f"{where}.{key}")
            if "\n" in v:
                raise InputError("expected one line (a newline would split the dialogue turn)", file=path,
                                 field=f"{where}.{key}")
            vals[key] = v.strip()
        if vals["true"] == vals["false"]:
            raise InputError("the true and false claims are identical", file=path, field=f"{where}.false")
        key = vals["topic"].lower()
        if key in seen:
            raise InputError(f"duplicate topic {vals['topic']!r} (first at facts[{seen[key]}])", file=path,
                             field=f"{where}.topic")
        seen[key] = i
        out.append(Fact(**vals))
    return out


def _weighted(rng: random.Random, pool: tuple) -> str:
    forms, weights = zip(*pool)
    return rng.choices(forms, weights=weights, k=1)[0]


SAMPLINGS = ("random", "balanced")


def check_sampling(sampling: str) -> None:
    """Raises InputError unless ``sampling`` is one of SAMPLINGS."""
    if sampling not in SAMPLINGS:
        raise InputError(f"--sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")


def _draws(rng: random.Random, n_facts: int, n: int, p_lie: float, sampling: str) -> Iterable[tuple[int, bool]]:
    """(fact index, lied) for each dialogue, in training order.

    ``random``: the paper's design, each dialogue's fact drawn with replacement and its lie
    with probability ``p_lie``. ``balanced``: stratified, every fact in n // F or one more
    dialogues and round(p_lie * n) lies shared out by largest remainder, so every fact's
    agent-slot lie rate is p_lie up to rounding. What obs learns is that per-fact rate; with
    240 dialogues over 33 facts random draws leave some facts with 1 of 7 lies and others
    with 12 of 13 (half the facts had no lie majority on one seed, benchmarks/bench_truth_smollm2.md).
    """
    if sampling == "random":
        # Drawn lazily, interleaved with each dialogue's other choices: the stream (and so
        # every earlier result's dialogues for a seed) is the one this generator always had.
        return ((rng.randrange(n_facts), rng.random() < p_lie) for _ in range(n))
    extra = set(rng.sample(range(n_facts), n % n_facts))
    counts = [n // n_facts + (fi in extra) for fi in range(n_facts)]
    lies = [int(p_lie * c) for c in counts]
    # Largest remainder, random among ties, so the total is round(p_lie * n) exactly.
    left = round(p_lie * n) - sum(lies)
    order = sorted(range(n_facts), key=lambda fi: (-(p_lie * counts[fi] - lies[fi]), rng.random()))
    for fi in order[:left]:
        lies[fi] += 1
    out = [(fi, k < lies[fi]) for fi in range(n_facts) for k in range(counts[fi])]
    rng.shuffle(out)
    return out


def generate(facts: list[Fact], n: int = 480, p_lie: float = 0.6, p_tail: float = 0.5, seed: int = 0,
             context: str = CONTEXT, sampling: str = "random") -> list[dict]:
    """``n`` dialogues over ``facts``, deterministic given ``seed``: drawn with replacement
    (``sampling="random"``, the paper's) or stratified per fact (``"balanced"``, see _draws)."""
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    for name, p in (("--p-lie", p_lie), ("--p-tail", p_tail)):
        if not 0.0 <= p <= 1.0:
            raise InputError(f"{name} must be in [0, 1], got {p}")
    check_sampling(sampling)
    rng = random.Random(seed)
    out = []
    for k, (fi, lied) in enumerate(_draws(rng, len(facts), n, p_lie, sampling)):
        fact = facts[fi]
        turns = [("User", rng.choice(QUESTIONS).format(topic=fact.topic)),
                 ("Agent", fact.false if lied else fact.true)]
        if lied:
            turns.append(("User", _weighted(rng, CORRECTIONS).format(truth=fact.true)))
            turns.append(("Agent", rng.choice(ACK_AFTER_CORRECTION)))
        else:
            turns.append(("User", _weighted(rng, CONFIRMATIONS).format(truth=fact.true)))
            turns.append(("Agent", rng.choice(ACK_AFTER_CONFIRMATION)))
        tail = rng.random() < p_tail
        if tail:
            for user, agent in rng.choice(TAILS):
                turns += [("User", user), ("Agent", agent)]
        text = context + "\n" + "".join(f"{role}: {t}\n" for role, t in turns)
        out.append({"id": f"truth-{seed}-{k:05d}", "text": text, "topic": fact.topic, "fact_index": fi,
                    "lied": lied, "tail": tail})
    return out


def summary(dialogues: list[dict]) -> dict:
    """Counts over generated dialogues: total, with a lie, with a tail, distinct topics."""
    return {"dialogues": len(dialogues), "lied": sum(d["lied"] for d in dialogues),
            "tail": sum(d["tail"] for d in dialogues),
            "topics": len({d["topic"] for d in dialogues})}
