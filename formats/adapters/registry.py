"""The format registry: every input format is one module of this package, and this module
finds them. Detection, ``--format`` names, the fields a format consumes (the rest of a record
goes to ``meta``), the Parquet column check and the README's format table all come from here,
so a new format is one new module.

A format module declares:
- ``NAME`` (the ``--format`` name), ``ORDER`` (detection order: lower is tried first),
  ``KEYS`` (the fields that identify it, main one first), ``RULES`` (how each block gates,
  for the docs), ``SAMPLES`` (files in sample_data/), ``CONSUMED`` (top-level fields read into
  segments);
- ``matches(rec)``: whether one record has this format's shape (ambiguous key fields such as
  ``instruction``, ``question``, ``history`` and ``messages`` are decided by shape, not name);
- ``read(rec, opts)``: the record's plain messages (see ``base``);
- optionally ``fast_segments(rec, template)``: for big logs, the tagged segments of the
  format's common record shapes built directly from ``template(role)`` (the segment to copy
  for a plain message of that role, or None where the gate needs the general path), or None
  for a record off that path, which ``read`` then reads to the same segments or the error;
- optionally ``REFUSES = True``: a format recognised only so that its ``read`` can refuse it
  with the reason (an evaluation set with no answers), instead of being misread as another;
- optionally ``record_meta(rec)``: facts about a record its consumed fields would otherwise
  lose (a response's count of alternative candidates), merged into the tagged ``meta``;
- for formats whose unit is a whole file (a session log, an eval log holding many samples):
  ``file_matches(first_record)`` and ``transcripts(records, opts)``, which turns the file's
  ``(location, record)`` pairs into ``(location, transcript record)`` pairs; and, for a
  container that is not JSON text (a zip), ``open_container(path, head)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterator

from causal_agents.errors import InputError, UsageError
from causal_agents.formats.adapters.base import Message, ReadOptions, is_message_row, keys_of


@dataclass(frozen=True)
class Format:
    """One input format, as its module declares it (see the module docstring)."""
    name: str
    order: int
    keys: tuple[str, ...]
    rules: str
    samples: tuple[str, ...]
    consumed: frozenset[str]
    matches: Callable[[dict], bool]
    read: Callable[[dict, ReadOptions], list[Message]] | None
    file_matches: Callable[[dict], bool] | None = None
    transcripts: Callable[[Iterator[tuple[dict, Any]], ReadOptions], Iterator[tuple[dict, Any]]] | None = None
    open_container: Callable[[str, bytes], Iterator[tuple[dict, Any]] | None] | None = None
    record_meta: Callable[[dict], dict] | None = None  # what a record says beyond its fields (kept in meta)
    refuses: bool = False  # recognised only to refuse it with a reason (an evaluation set with no answers)
    whole_file: bool = False  # a file of this format is read as a whole (its records are not transcripts)
    # the tagged segments of a record's common shapes built directly, or None (then ``read`` it)
    fast_segments: Callable[[dict, Callable[[str], dict | None]], list[dict] | None] | None = None

    @staticmethod
    def of(mod: ModuleType) -> "Format":
        return Format(name=mod.NAME, order=mod.ORDER, keys=tuple(mod.KEYS), rules=mod.RULES,
                      samples=tuple(mod.SAMPLES), consumed=frozenset(("id", *mod.CONSUMED)),
                      matches=mod.matches, read=mod.read, file_matches=getattr(mod, "file_matches", None),
                      transcripts=getattr(mod, "transcripts", None),
                      open_container=getattr(mod, "open_container", None),
                      record_meta=getattr(mod, "record_meta", None), refuses=getattr(mod, "REFUSES", False),
                      whole_file=getattr(mod, "transcripts", None) is not None,
                      fast_segments=getattr(mod, "fast_segments", None))


_NOT_FORMATS = {"base", "registry"}


def _load() -> tuple[Format, ...]:
    pkg = importlib.import_module("causal_agents.formats.adapters")
    mods = [importlib.import_module(f"{pkg.__name__}.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)
            if m.name not in _NOT_FORMATS and not m.name.startswith("_")]
    fmts = sorted((Format.of(m) for m in mods), key=lambda f: (f.order, f.name))
    names = [f.name for f in fmts]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise RuntimeError(f"two format modules share the name {sorted(dup)}")
    return tuple(fmts)


REGISTRY: tuple[Format, ...] = _load()
BY_NAME: dict[str, Format] = {f.name: f for f in REGISTRY}
FORMATS: tuple[str, ...] = tuple(BY_NAME)
_RECORD_FORMATS = tuple(f for f in REGISTRY if f.read is not None or f.name == "tagged")
_FILE_FORMATS = tuple(f for f in REGISTRY if f.file_matches is not None)
# Every field that identifies some format (a Parquet file needs one of them as a column).
ALL_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for f in REGISTRY for k in f.keys))


def get(name: str) -> Format:
    """The format named ``name``; an unknown name is a usage error listing the formats."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UsageError(f"--format expects one of {', '.join(FORMATS)}, got {name!r}") from None


def key_fields(fmt: str) -> tuple[str, ...]:
    """The fields that identify format ``fmt``, its main key field first (a record needs one)."""
    return BY_NAME[fmt].keys


def detect_format(rec: dict) -> str:
    """The format of one record, by shape; a record of no known format is an InputError
    listing its keys and the formats cag reads."""
    for f in _RECORD_FORMATS:
        if f.matches(rec):
            return f.name
    if is_message_row(rec):
        raise InputError("this record is one message ({role, text|content}), not a transcript: the file holds "
                         "one message per line; read the whole file as one transcript with --group-by-file")
    raise InputError(f"cannot tell the format: this record has the keys {keys_of(rec)}; cag reads "
                     + ", ".join(f"{f.name} ({' or '.join(f.keys)})" for f in REGISTRY)
                     + "; force one with --format NAME, or read OpenAI messages under any key with --messages-key KEY")


def file_format(first: Any) -> Format | None:
    """The whole-file format whose first record is ``first`` (a Claude Code session, a Codex
    rollout, an OpenHands event array, an Inspect log), or None: read record by record."""
    if isinstance(first, dict):
        for f in _FILE_FORMATS:
            if f.file_matches(first):
                return f
    return None


def to_messages(rec: dict, fmt: str, opts: ReadOptions | None = None) -> list[Message]:
    """The plain messages of one record of format ``fmt``."""
    f = BY_NAME[fmt]
    if f.read is None:
        raise ValueError(f"format {fmt} has no message reader")
    return f.read(rec, opts or ReadOptions())


def markdown_table() -> str:
    """The README's format table, made from the registry (a test keeps the README equal to it)."""
    rows = ["| format | key fields | how each block gates | sample |", "|---|---|---|---|"]
    for f in REGISTRY:
        keys = ", ".join(f"`{k}`" for k in f.keys)
        samples = ", ".join(f"`{s}`" for s in f.samples)
        rows.append(f"| `{f.name}` | {keys} | {f.rules} | {samples} |")
    return "\n".join(rows)


def file_records(path: str, forced: str | None = None, opts: ReadOptions | None = None,
                 required_any: tuple[str, ...] = ()) -> Iterator[tuple[dict, Any, str | None]]:
    """``(location, record or InputError, format or None)`` for one input file: a whole-file
    format (told from the file's first record, or forced) yields its transcripts, each with its
    format's name; any other file yields its records, to be detected one by one (format None
    unless forced)."""
    import itertools

    from causal_agents.formats.io import STDIN, read_records

    opts = opts or ReadOptions()
    forced_fmt = get(forced) if forced else None
    if path != STDIN:
        for f in _CONTAINERS if forced_fmt is None else (forced_fmt,) if forced_fmt.open_container else ():
            rows = f.open_container(path, _head(path))
            if rows is not None:
                yield from ((loc, rec, f.name) for loc, rec in _collector_paused(f.transcripts(rows, opts)))
                return
    records = read_records(path, required_any=required_any)
    first = next(records, None)
    if first is None:
        return
    fmt = forced_fmt or file_format(first[1])
    chained = itertools.chain([first], records)
    if fmt is not None and fmt.whole_file:
        yield from ((loc, rec, fmt.name) for loc, rec in _collector_paused(fmt.transcripts(chained, opts)))
    else:
        yield from ((loc, rec, forced) for loc, rec in chained)


_CONTAINERS = tuple(f for f in REGISTRY if f.open_container is not None)


def _collector_paused(transcripts: Iterator) -> Iterator:
    """A whole-file format's transcripts, each built with the cyclic garbage collector paused:
    reading a big session keeps a tuple or dict per row (a million for a 1 GiB log) and makes
    no reference cycles, so the collector, left on, rescans them all again and again (a fifth
    of a Claude Code run, a third of a Codex one). It runs again between transcripts."""
    import gc

    while True:
        was = gc.isenabled()
        gc.disable()
        try:
            item = next(transcripts, None)
        finally:
            if was:
                gc.enable()
        if item is None:
            return
        yield item


def _head(path: str) -> bytes:
    import os

    if not os.path.isfile(path):
        return b""
    with open(path, "rb") as fh:
        return fh.read(8)


def sniff(path: str, forced: str | None = None) -> str | None:
    """The format of file ``path`` as the reader would take it, from its first record only:
    a container's or whole-file format's name, else the first record's detected format. None
    when the file is empty or its first record is of no known format (a directory's stray
    JSON files are skipped on this); a malformed first record is that record's error."""
    from causal_agents.formats.io import read_records

    if forced:
        return forced
    head = _head(path)
    for f in _CONTAINERS:
        rows = f.open_container(path, head)
        if rows is not None:
            return f.name
    try:
        loc, first = next(read_records(path), (None, None))
    except InputError as e:
        if e.detail.startswith("empty input"):
            return None
        raise
    if isinstance(first, InputError):
        raise first
    if first is None:
        return None
    whole = file_format(first)
    if whole is not None:
        return whole.name
    try:
        return detect_format(first)
    except InputError:
        return None


if __name__ == "__main__":  # python -m causal_agents.formats.adapters.registry: the README table
    print(markdown_table())
