"""Option dataclasses of the transcript commands, in a module that imports nothing heavy, so
the CLI reads its defaults from here while `cag --help` stays instant."""

from __future__ import annotations

from dataclasses import dataclass

TRUNCATE_SIDES = ("right", "left")  # which end --max-length drops


@dataclass
class StatsOptions:
    """How `cag stats` (and everything that counts like it) renders and tokenizes."""

    tokenizer: str | None = None   # None: cag's offline byte-level tokenizer
    renderer: str = "plain"
    max_length: int | None = None  # report what truncation to this length would lose
    truncate: str = "right"        # which end truncation drops (labels.Encoded.truncate)
