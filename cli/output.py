"""One output helper: data to stdout as plain JSON (never through Rich), people to stderr.

Every line for people goes through ``info``, the error boundary (cli.main) or a console made
here, and each escapes control characters (``errors.printable``): text from the data never
reaches the terminal raw."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from causal_agents.errors import printable


def emit_json(obj: Any) -> None:
    """Machine output: one JSON document on stdout, newline-terminated."""
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    sys.stdout.flush()


def console(stderr: bool = True, **kw):
    """A Rich console (on stderr unless told, so tables never mix with piped data) whose text
    has its control characters escaped: a table cell from the data cannot drive the terminal."""
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs):
            return super().render_str(printable(text), **kwargs)

        def _render_buffer(self, buffer) -> str:
            # Rich's own colours come from styles, not from a segment's text: escape the
            # text of every segment but Rich's control segments (cursor moves of a live view).
            return super()._render_buffer(
                (s if s.control else s._replace(text=printable(s.text))) for s in buffer)

    if stderr:
        # Piped stderr gets a fixed, wide layout instead of Rich's 80-column guess.
        kw.setdefault("width", None if sys.stderr.isatty() else 120)
    return SafeConsole(stderr=stderr, **kw)


def info(msg: str) -> None:
    """A line for people, on stderr (control characters escaped)."""
    print(printable(msg), file=sys.stderr)


class SafeText:
    """A text stream whose writes have control characters escaped (for third-party code that
    prints to stderr itself: click's usage errors)."""

    def __init__(self, f):
        self._f = f

    def write(self, s: str) -> int:
        return self._f.write(printable(s))

    def __getattr__(self, name):
        return getattr(self._f, name)
