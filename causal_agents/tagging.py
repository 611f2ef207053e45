"""Streaming tag pipeline: files in, tagged records out, every bad record accounted for.

Records in = records out + rejects. ``on_error="fail"`` raises the first InputError (the CLI
prints it and writes nothing); ``"skip"`` hands each reject to a callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from causal_agents.errors import InputError
from causal_agents.formats.adapters import KEY_FIELDS
from causal_agents.formats.io import expand_paths, read_records
from causal_agents.provenance import TagOptions, tag_record

ON_ERROR = ("fail", "skip")


@dataclass
class TagCounts:
    read: int = 0
    tagged: int = 0
    rejected: int = 0


def iter_tagged(paths: Iterable[str], opts: TagOptions | None = None, on_error: str = "fail",
                on_reject: Callable[[dict, object, InputError], None] | None = None,
                counts: TagCounts | None = None) -> Iterator[dict]:
    opts = opts or TagOptions()
    if on_error not in ON_ERROR:
        raise InputError(f"--on-error expects fail or skip, got {on_error!r}")
    counts = counts if counts is not None else TagCounts()
    needed = tuple(KEY_FIELDS.values()) if opts.format is None else (KEY_FIELDS[opts.format],)
    for path in expand_paths(paths):
        for loc, rec in read_records(path, required_any=needed):
            counts.read += 1
            try:
                if isinstance(rec, InputError):
                    raise rec
                out = tag_record(rec, loc, opts)
            except InputError as e:
                if on_error == "fail":
                    raise
                counts.rejected += 1
                if on_reject is not None:
                    on_reject(loc, None if isinstance(rec, InputError) else rec, e)
                continue
            counts.tagged += 1
            yield out


def tagged_arrow_schema():
    """Arrow schema of a tagged record (Parquet output); meta travels as a JSON string."""
    import pyarrow as pa

    seg = pa.struct([("role", pa.string()), ("author", pa.string()), ("text", pa.string()),
                     ("gate", pa.string()), ("rule", pa.string()), ("weight", pa.int8()),
                     ("name", pa.string()), ("tool_call_id", pa.string())])
    src = pa.struct([("file", pa.string()), ("line", pa.int64()), ("row", pa.int64())])
    return pa.schema([("id", pa.string()), ("source", src), ("format", pa.string()),
                      ("segments", pa.list_(seg)), ("meta", pa.string())])


def for_parquet(rec: dict) -> dict:
    import orjson

    out = dict(rec)
    out["meta"] = orjson.dumps(rec.get("meta") or {}).decode()
    return out


def tag_to_file(paths: list[str], opts: TagOptions, output: str | None, on_error: str = "fail",
                rejects_path: str | None = None) -> TagCounts:
    """``cag tag``: write tagged records to ``output`` (stdout when None) atomically; rejects
    (skip mode) go to ``rejects_path`` as JSONL ``{source, error, record}``."""
    from contextlib import ExitStack

    from causal_agents.formats.io import RecordWriter, is_parquet

    counts = TagCounts()
    parquet = output is not None and is_parquet(output)
    with ExitStack() as stack:
        rejects = (stack.enter_context(RecordWriter(rejects_path))
                   if on_error == "skip" and rejects_path else None)

        def on_reject(loc, rec, err):
            if rejects is not None:
                rejects.write({"source": loc, "error": str(err), "record": rec})

        w = stack.enter_context(RecordWriter(output, arrow_schema=tagged_arrow_schema() if parquet else None,
                                             spool_stdout=on_error == "fail"))
        for rec in iter_tagged(paths, opts, on_error, on_reject, counts):
            w.write(for_parquet(rec) if parquet else rec)
    return counts
