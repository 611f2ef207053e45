"""Streaming readers and atomic writers for transcript files.

Readers yield ``(location, record)`` pairs lazily: JSONL line by line (constant memory),
Parquet in row batches. ``location`` is ``{"file": ..., "line": n}`` or ``{"file": ..., "row": n}``
so every error and every tagged record can point back to its source.
"""

from __future__ import annotations

import glob
import gzip
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import orjson

from causal_agents.errors import InputError

STDIN = "-"
PARQUET_BATCH_ROWS = 1024
_JSONL_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
GLOB_CHARS = set("*?[")


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Expand globs (quoted by the user so the shell left them alone); keep order."""
    out: list[str] = []
    for p in paths:
        if p != STDIN and not os.path.exists(p) and GLOB_CHARS & set(p):
            hits = sorted(glob.glob(p, recursive=True))
            if not hits:
                raise InputError("no file matches this pattern", file=p)
            out.extend(hits)
        else:
            out.append(p)
    if not out:
        raise InputError("no input files given")
    return out


def is_parquet(path: str) -> bool:
    return path.endswith(".parquet") or path.endswith(".pq")


def read_records(path: str, required_any: tuple[str, ...] = ()) -> Iterator[tuple[dict, Any]]:
    """Yield ``(location, record)`` from one JSONL/JSONL.gz/Parquet file or ``-`` (stdin).

    An empty input is an error: a pipeline that silently produced nothing is a bug upstream.
    """
    if path != STDIN and not os.path.exists(path):
        raise InputError("no such file", file=path)
    if is_parquet(path):
        yield from _read_parquet(path, required_any)
    else:
        yield from _read_jsonl(path)


def _open_bytes(path: str):
    if path == STDIN:
        raw = sys.stdin.buffer
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        return gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        return gzip.GzipFile(fileobj=f)
    f.seek(0)
    return f


def _read_jsonl(path: str) -> Iterator[tuple[dict, Any]]:
    name = "<stdin>" if path == STDIN else path
    f = _open_bytes(path)
    seen = 0
    try:
        for lineno, line in enumerate(f, 1):
            if line.isspace():  # blank line; isspace() scans without copying the line
                continue
            seen += 1
            yield parse_line(line, name, lineno)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read ({e})", file=name) from e
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    if seen == 0:
        raise empty_input(name)


def empty_input(name: str) -> InputError:
    return InputError("empty input: no records (expected one JSON object per line)", file=name)


def parse_line(line: bytes, name: str, lineno: int) -> tuple[dict, Any]:
    """``(location, record)``, or ``(location, InputError)`` for a line that is not a JSON object."""
    loc = {"file": name, "line": lineno}
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "UTF-8" in msg or "utf-8" in msg:
            return loc, InputError("bytes are not valid UTF-8 (expected UTF-8 JSON)", file=name, line=lineno)
        return loc, InputError(f"malformed JSON ({msg}); expected one JSON object per line", file=name, line=lineno)
    if not isinstance(rec, dict):
        return loc, InputError(f"expected a JSON object, got {type(rec).__name__}", file=name, line=lineno)
    return loc, rec


def _read_parquet(path: str, required_any: tuple[str, ...]) -> Iterator[tuple[dict, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputError(f"not a readable Parquet file ({e})", file=path) from e
    cols = set(pf.schema_arrow.names)
    if required_any and not cols & set(required_any):
        raise InputError(f"Parquet file has columns {sorted(cols)}; expected one of "
                         f"{', '.join(required_any)}", file=path)
    if pf.metadata.num_rows == 0:
        raise InputError("empty input: the Parquet file has no rows", file=path)
    row = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for rec in batch.to_pylist():
            yield {"file": path, "row": row}, _drop_nulls(rec)
            row += 1


def _drop_nulls(rec: dict) -> dict:
    """Parquet stores absent struct fields as nulls; treat them as absent, like JSON."""
    return {k: v for k, v in rec.items() if v is not None}


# ---------------------------------------------------------------- writing


@contextmanager
def atomic_path(target: str):
    """Yield a temp path beside ``target``; rename onto it only if the block succeeds."""
    d = os.path.dirname(os.path.abspath(target)) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=d)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class RecordWriter:
    """Write records to stdout (JSONL), or atomically to ``.jsonl``, ``.jsonl.gz`` or ``.parquet``.

    Use as a context manager: on an exception the temp file is removed and the target
    is never created, so no partial output is left behind.
    """

    def __init__(self, target: str | None, arrow_schema=None, spool_stdout: bool = False):
        # spool_stdout: hold stdout output in a temp file until the block succeeds, so a
        # failed run prints nothing rather than a partial stream.
        self.target = target
        self._spool = spool_stdout
        self.count = 0
        self._schema = arrow_schema
        self._buf: list[dict] = []
        self._ctx = None

    def __enter__(self):
        if self.target in (None, STDIN):
            self._fh = tempfile.TemporaryFile() if self._spool else sys.stdout.buffer
        else:
            self._ctx = atomic_path(self.target)
            self._tmp = self._ctx.__enter__()
            if is_parquet(self.target):
                self._fh = None
                self._pq_writer = None
            elif self.target.endswith(".gz"):
                self._fh = gzip.open(self._tmp, "wb")
            elif self.target.endswith(".jsonl") or self.target.endswith(".json"):
                self._fh = open(self._tmp, "wb")
            else:
                self._ctx.__exit__(None, None, None)
                raise InputError("unknown output type (expected .jsonl, .jsonl.gz or .parquet)", file=self.target)
        return self

    def raw_handle(self, n: int):
        """The JSONL byte stream, for appending ``n`` records already serialised (parallel
        tagging copies worker output straight in)."""
        if self._fh is None:
            raise ValueError("raw JSONL appends need a JSONL target")
        self.count += n
        return self._fh

    def write(self, rec: dict) -> None:
        self.count += 1
        if self._fh is None:
            self._buf.append(rec)
            if len(self._buf) >= PARQUET_BATCH_ROWS:
                self._flush_parquet()
        else:
            self._fh.write(orjson.dumps(rec, option=_JSONL_OPTS))

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buf:
            return
        table = pa.Table.from_pylist(self._buf, schema=self._schema)
        if self._pq_writer is None:
            self._pq_writer = pq.ParquetWriter(self._tmp, table.schema)
        self._pq_writer.write_table(table)
        self._buf = []

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._ctx is None:
                if self._spool:
                    if exc_type is None:
                        self._fh.seek(0)
                        shutil.copyfileobj(self._fh, sys.stdout.buffer, 1 << 20)
                    self._fh.close()
                sys.stdout.buffer.flush()
                return False
            if self._fh is None:
                if exc_type is None:
                    self._flush_parquet()
                if self._pq_writer is not None:
                    self._pq_writer.close()
                elif exc_type is None:  # no rows: still write a valid, empty file
                    import pyarrow as pa
                    import pyarrow.parquet as pq
                    pq.write_table(pa.Table.from_pylist([], schema=self._schema), self._tmp)
            else:
                self._fh.close()
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())
            raise
        return self._ctx.__exit__(exc_type, exc, tb)


def write_json_atomic(path: str, obj: Any) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def read_json(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            return orjson.loads(f.read())
    except FileNotFoundError as e:
        raise InputError("no such file", file=path) from e
    except orjson.JSONDecodeError as e:
        raise InputError(f"malformed JSON ({e})", file=path) from e



def write_records(target: str | None, records: Iterable[dict]) -> int:
    """Write ``records`` through one :class:`RecordWriter` (stdout when ``target`` is None;
    otherwise atomically to .jsonl, .jsonl.gz or .parquet: nothing is left behind if a record
    or the iterable fails). Returns the number written."""
    with RecordWriter(target) as w:
        for r in records:
            w.write(r)
    return w.count
