"""One output helper: data to stdout as plain JSON (never through Rich), people to stderr."""

from __future__ import annotations

import sys
from typing import Any

import orjson


def emit_json(obj: Any) -> None:
    """Machine output: one JSON document on stdout, newline-terminated."""
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    sys.stdout.flush()


def console():
    """A Rich console on stderr, so tables never mix with piped data."""
    from rich.console import Console

    # Piped stderr gets a fixed, wide layout instead of Rich's 80-column guess.
    return Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def info(msg: str) -> None:
    """A line for people, on stderr."""
    print(msg, file=sys.stderr)
