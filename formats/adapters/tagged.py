"""Records already gated by ``cag tag`` (``segments``): passed through after validation, so
tagging is idempotent (the check lives with the gates, in causal_agents.transcripts.provenance)."""

from __future__ import annotations

NAME = "tagged"
ORDER = 0
KEYS = ("segments",)
RULES = "output of `cag tag`; passes through unchanged (tagging is idempotent)"
SAMPLES = ()
CONSUMED = ("segments",)
read = None


def matches(rec: dict) -> bool:
    return "segments" in rec
