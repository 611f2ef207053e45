"""Token classes and character spans: the one place their codes are defined.

A renderer turns tagged segments into one string plus spans ``(start, end, cls, seg,
trainable)`` that tile the text exactly; ``cls`` is a :class:`TokenClass`. The label builder
turns spans into a class per token, and each mask mode supervises a set of classes.
"""

from __future__ import annotations

from enum import IntEnum


class TokenClass(IntEnum):
    """Who a token's characters came from, as far as the loss is concerned."""

    CONTEXT = 0   # system prompts, questions, preambles: never supervised
    PROTOCOL = 1  # role headers and template markup: supervised in both modes
    WORLD = 2     # written by the world (users, tools, verifiers, teachers): evidence
    AGENT = 3     # written by the agent being trained: an intervention, no loss under do


CONTEXT, PROTOCOL, WORLD, AGENT = (int(c) for c in TokenClass)
CLASS_NAMES = tuple(c.name.lower() for c in TokenClass)  # ("context", "protocol", "world", "agent")
GATE_CLASS = {"context": CONTEXT, "world": WORLD, "agent": AGENT}

Span = tuple  # (start, end, cls, seg, trainable)


def display_role(role: str) -> str:
    """``user`` -> ``User``; roles written with capitals (``Agent``) are kept as written."""
    return role[:1].upper() + role[1:] if role.islower() else role
