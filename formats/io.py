"""Streaming readers and atomic writers for transcript files.

Readers yield ``(location, record)`` pairs lazily: JSONL line by line (constant memory),
JSON arrays element by element (causal_agents.formats.jsonarray), pretty-printed JSON objects one at a time, Parquet
in row batches. ``location`` is ``{"file": ..., "line": n}`` or ``{"file": ..., "row": n}``
so every error and every tagged record can point back to its source.
"""

from __future__ import annotations

import functools
import glob
import gzip
import io
import os
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import orjson

from causal_agents.errors import InputError
from causal_agents.formats import jsonarray as limits  # the reading limits: MAX_RECORD_BYTES, MAX_DEPTH
from causal_agents.formats.exactjson import exact_ints, is_int_overflow, loads_record
from causal_agents.formats.jsonarray import Rejoined

STDIN = "-"
PARQUET_BATCH_ROWS = 1024
# Bytes looked at to tell a JSON array from JSON lines or pretty-printed objects.
SNIFF_BYTES = 65536
_JSONL_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
GLOB_CHARS = set("*?[")
UTF8_BOM = b"\xef\xbb\xbf"
IO_BUFFER = 1 << 20  # bytes buffered per input and output file


# What a directory given as input is searched for (anything else under it is skipped and counted).
TRANSCRIPT_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson", ".parquet", ".pq", ".traj", ".eval")


def expand_paths(paths: Iterable[str], skipped: dict | None = None) -> list[str]:
    """Expand globs (quoted by the user so the shell left them alone) and directories (every
    file under it with a transcript suffix, sorted; hidden files and folders are not entered);
    keep order. ``skipped``, when given, collects the files a directory held that were left
    out, by reason."""
    out: list[str] = []
    for p in paths:
        if p != STDIN and not os.path.exists(p) and GLOB_CHARS & set(p):
            hits = sorted(glob.glob(p, recursive=True))
            if not hits:
                raise InputError("no file matches this pattern", file=p)
            out.extend(hits)
        elif p != STDIN and os.path.isdir(p):
            found = list(_walk(p, skipped if skipped is not None else {}))
            if not found:
                raise InputError("no transcript files under this directory (looked for "
                                 f"{', '.join(TRANSCRIPT_SUFFIXES)})", file=p)
            out.extend(found)
        else:
            out.append(p)
    if not out:
        raise InputError("no input files given")
    return out


def _walk(top: str, skipped: dict) -> Iterator[str]:
    """Files under ``top`` with a transcript suffix, in sorted path order (so runs are
    reproducible whatever order the file system lists them in)."""
    yield from sorted(_files_under(top, skipped))


def _files_under(top: str, skipped: dict) -> Iterator[str]:
    for d, dirs, files in os.walk(top):
        hidden = [x for x in dirs if x.startswith(".")]
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for x in hidden:
            skipped.setdefault("hidden folder", []).append(os.path.join(d, x))
        for name in sorted(files):
            path = os.path.join(d, name)
            if name.startswith("."):
                skipped.setdefault("hidden file", []).append(path)
            elif not name.endswith(TRANSCRIPT_SUFFIXES):
                skipped.setdefault("not a transcript file suffix", []).append(path)
            else:
                yield path


def is_parquet(path: str) -> bool:
    """True for a ``.parquet`` / ``.pq`` path (the only layout told by extension: it is binary)."""
    return path.endswith(".parquet") or path.endswith(".pq")


def read_records(path: str, required_any: tuple[str, ...] = ()) -> Iterator[tuple[dict, Any]]:
    """Yield ``(location, record)`` from one file or ``-`` (stdin): Parquet, or JSON text
    (plain or gzip) laid out as JSON lines, one JSON array of records, or one (or several
    concatenated) pretty-printed JSON objects. The layout is read from the content, never
    from the extension (see ``sniff_layout``).

    An empty input is an error: a pipeline that silently produced nothing is a bug upstream.
    """
    if path != STDIN and not os.path.exists(path):
        raise InputError("no such file", file=path)
    if path != STDIN and os.path.isdir(path):
        raise InputError("is a directory; expected a file (give the directory itself as an input to read every "
                         "transcript file under it)", file=path)
    if is_parquet(path):
        yield from _read_parquet(path, required_any)
    else:
        yield from _read_json_text(path)


def _open_bytes(path: str):
    if path == STDIN:
        raw = sys.stdin.buffer
        if not hasattr(raw, "peek"):
            raw = io.BufferedReader(raw)  # test harnesses hand in a BytesIO
        head = raw.peek(2)[:2]
        return gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
    # buffered: peek, not read + seek, so FIFOs and <(...) inputs work; 1 MiB buffers, not
    # 8 KiB: one read per ~250 lines of a chat log (cag tag, 128 MiB: 15% less CPU with both)
    f = open(path, "rb", buffering=IO_BUFFER)
    if f.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f)
    return f


def _skip_bom(f) -> None:
    """Drop a UTF-8 byte order mark at the start of the stream (editors on Windows write one)."""
    if f.peek(len(UTF8_BOM))[:len(UTF8_BOM)] == UTF8_BOM:
        f.read(len(UTF8_BOM))


def _first_byte(f) -> bytes:
    """The first non-whitespace byte, without consuming anything (b"" if none is buffered)."""
    return f.peek(SNIFF_BYTES)[:SNIFF_BYTES].lstrip()[:1]


def layout_of_first_line(line: bytes) -> str:
    """``jsonl`` when the first non-blank line is a JSON value on its own (the JSON-lines fast
    path; a bad value there is reported per line as before), ``objects`` when it opens an
    object that continues on later lines (pretty-printed JSON)."""
    try:
        orjson.loads(line)
        return "jsonl"
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e) or "surrogate in string" in str(e):  # a bad value on one line: its line says so
            return "jsonl"
        return "objects" if line.lstrip().startswith(b"{") else "jsonl"


def sniff_layout(path: str) -> str:
    """``array``, ``jsonl`` or ``objects`` for a regular (plain or gzip) JSON text file."""
    f = _open_bytes(path)
    try:
        if not hasattr(f, "peek"):
            f = io.BufferedReader(f)
        _skip_bom(f)
        if _first_byte(f) == b"[":
            return "array"
        for line in _lines(f):
            if not line.isspace():
                return "jsonl" if _too_long(line) else layout_of_first_line(line)
        return "jsonl"
    finally:
        f.close()


def _read_json_text(path: str) -> Iterator[tuple[dict, Any]]:
    name = "<stdin>" if path == STDIN else path
    f = _open_bytes(path)
    seen = 0
    try:
        _skip_bom(f)
        if _first_byte(f) == b"[":
            for item in _read_array(f, name):
                seen += 1
                yield item
            return
        lineno, head = 0, None
        lines = _lines(f)  # each at most MAX_RECORD_BYTES: a longer one is never held whole
        for lineno, line in enumerate(lines, 1):
            if not line.isspace():  # blank line; isspace() scans without copying the line
                head = line
                break
        if head is None:
            return
        if not _too_long(head) and layout_of_first_line(head) == "objects":
            for item in _read_objects(Rejoined(head, f), name, lineno, path):
                seen += 1
                yield item
            return
        seen += 1
        yield _long_line(head, f, name, lineno) if _too_long(head) else parse_line(head, name, lineno)
        for lineno, line in enumerate(lines, lineno + 1):
            if len(line) >= limits.MAX_RECORD_BYTES:
                seen += 1
                yield _long_line(line, f, name, lineno)
            elif not line.isspace():
                seen += 1
                yield parse_line(line, name, lineno)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read ({e})", file=name) from e
    finally:
        if f is not sys.stdin.buffer:
            f.close()
        if seen == 0 and sys.exc_info()[0] is None:
            raise empty_input(name)


def _lines(f) -> Iterator[bytes]:
    """The lines of a binary stream, each cut at MAX_RECORD_BYTES (``readline(limit)`` reads
    no further: a gzip that unpacks to one 3 GiB line costs one limit's worth of memory)."""
    return iter(functools.partial(f.readline, limits.MAX_RECORD_BYTES), b"")


def _too_long(line: bytes) -> bool:
    return len(line) >= limits.MAX_RECORD_BYTES and not line.endswith(b"\n")


def _long_line(line: bytes, f, name: str, lineno: int) -> tuple[dict, Any]:
    """The error for a line over MAX_RECORD_BYTES (a bad record like any other: --on-error
    skip skips it); the rest of the line is read past a block at a time, never held."""
    if not line.endswith(b"\n"):
        while True:
            line = f.readline(1 << 20)
            if not line or line.endswith(b"\n"):
                break
    return {"file": name, "line": lineno}, InputError(
        f"line longer than {limits.MAX_RECORD_BYTES:,} bytes, the limit per record", file=name, line=lineno)


def _read_array(f, name: str) -> Iterator[tuple[dict, Any]]:
    """Elements of one top-level JSON array, read element by element (memory stays flat
    whatever the array's size; see causal_agents.formats.jsonarray). Location: ``row`` = the
    element's index."""
    from causal_agents.formats.jsonarray import ArrayReader

    reopen = None if name == "<stdin>" else lambda: _reopened(name)
    for row, rec in enumerate(ArrayReader(f, name, reopen)):
        yield {"file": name, "row": row}, _object_or_error(rec, name, row)


def _reopened(path: str):
    f = _open_bytes(path)
    if not hasattr(f, "peek"):
        f = io.BufferedReader(f)
    _skip_bom(f)
    return f


def _read_objects(f, name: str, lineno: int, path: str) -> Iterator[tuple[dict, Any]]:
    """One pretty-printed JSON object (a trajectory file), or several concatenated (``jq .``
    output). Location: ``row`` = the object's index in the file."""
    import ijson

    from causal_agents.formats.jsonarray import Guarded, GuardError

    row = -1
    try:
        guarded = Guarded(f, base=0)
        for row, rec in enumerate(ijson.items(guarded, "", multiple_values=True, use_float=True, buf_size=IO_BUFFER)):
            yield {"file": name, "row": row}, _object_or_error(rec, name, row)
    except GuardError as e:
        raise InputError(f"object {e.index + 1}: {e}", file=name) from None
    except ijson.JSONError as e:
        if is_int_overflow(e) and path != STDIN:
            # ijson's C parser stops at an integer beyond 64 bits; its Python one reads it exactly
            g = _open_bytes(path)
            try:
                _skip_bom(g)
                items = ijson.get_backend("python").items(g, "", multiple_values=True, use_float=True)
                for n, rec in enumerate(items):
                    if n > row:
                        yield {"file": name, "row": n}, _object_or_error(exact_ints(rec), name, n)
            except ijson.JSONError as e2:
                raise InputError(f"malformed JSON in object {row + 2} ({_first_line(e2)}); expected JSON lines, "
                                 "a JSON array or JSON objects", file=name) from e2
            finally:
                g.close()
            return
        if row >= 0 or path == STDIN:
            raise InputError(f"malformed JSON in object {row + 1} ({_first_line(e)}); expected JSON lines, "
                             "a JSON array or JSON objects", file=name) from e
        # Nothing parsed: it was a JSON-lines file with a bad first line; report it line by line.
        with open(path, "rb") if not _is_gzip(path) else gzip.open(path, "rb") as g:
            for n, line in enumerate(_lines(g), 1):
                if n >= lineno and _too_long(line):
                    yield _long_line(line, g, name, n)
                elif n >= lineno and not line.isspace():
                    yield parse_line(line, name, n)


def _first_line(e: Exception) -> str:
    """ijson's messages quote the text over several lines; the error stays one line."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(":")


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _object_or_error(rec: Any, name: str, row: int) -> Any:
    if isinstance(rec, dict):
        return rec
    return InputError(f"expected a JSON object, got {_json_type(rec)}", file=name, row=row)


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number")


def empty_input(name: str) -> InputError:
    """The error for an input with no records (a pipeline that produced nothing is a bug upstream)."""
    return InputError("empty input: no records (expected JSON lines, a JSON array or JSON objects)", file=name)


def parse_line(line: bytes, name: str, lineno: int) -> tuple[dict, Any]:
    """``(location, record)``, or ``(location, InputError)`` for a line that is not a JSON object."""
    loc = {"file": name, "line": lineno}
    try:
        rec = loads_record(line)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "depth limit" in msg:
            return loc, InputError(f"nested deeper than {limits.MAX_DEPTH:,} levels of arrays and objects (the limit)",
                                   file=name, line=lineno)
        if "surrogate in string" in msg:  # orjson: "no low surrogate in string", "invalid high ..."
            from causal_agents.formats.jsonarray import LONE_SURROGATE

            return loc, InputError(f"a string {LONE_SURROGATE}", file=name, line=lineno)
        if line.startswith(UTF8_BOM):
            return loc, InputError("the line starts with a UTF-8 byte order mark (U+FEFF), allowed only at the start "
                                   "of a file (were files joined with cat?)", file=name, line=lineno)
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
    # Only files with column types JSON cannot hold pay for the per-value walk below.
    walk = any(_needs_walk(f.type) for f in pf.schema_arrow)
    batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS)
    while True:
        try:
            batch = next(batches, None)
            recs = batch.to_pylist() if batch is not None else None
        except Exception as e:  # damaged pages surface only here, as several pyarrow types
            raise InputError(f"corrupt Parquet data near row {row} ({type(e).__name__}: {str(e)[:160]})",
                             file=path) from e
        if recs is None:
            return
        for rec in recs:
            loc = {"file": path, "row": row}
            row += 1
            rec = _drop_nulls(rec)
            if walk:
                try:
                    rec = _jsonable(rec, "")
                except InputError as e:
                    yield loc, e.at(path, row=row - 1)
                    continue
            yield loc, rec


def _drop_nulls(rec: dict) -> dict:
    """Parquet stores absent struct fields as nulls; treat them as absent, like JSON."""
    return {k: v for k, v in rec.items() if v is not None}


def _needs_walk(t) -> bool:
    import pyarrow as pa

    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or pa.types.is_decimal(t) or pa.types.is_duration(t) or pa.types.is_time(t):
        return True
    if pa.types.is_struct(t):
        return any(_needs_walk(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _needs_walk(t.value_type)
    if pa.types.is_map(t):
        return _needs_walk(t.key_type) or _needs_walk(t.item_type)
    return False


_JSON_SCALARS = (str, int, float, bool, type(None))


def _jsonable(v: Any, field: str) -> Any:
    """Bytes (HF ``Image``/``Audio`` structs ``{bytes, path}``) become a placeholder, so the
    path is kept and nothing binary reaches JSON; any other value JSON cannot hold is an
    error naming its field."""
    if isinstance(v, _JSON_SCALARS):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return f"<{len(v):,} bytes>"
    if isinstance(v, dict):
        return {k: _jsonable(x, f"{field}.{k}" if field else str(k)) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, f"{field}[{i}]") for i, x in enumerate(v)]
    import datetime
    import decimal

    if isinstance(v, decimal.Decimal) and v.is_finite():
        return float(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    raise InputError(f"a {type(v).__name__} value cannot be written as JSON (expected text, numbers, "
                     "lists or structs)", field=field)


# ---------------------------------------------------------------- writing


OUTPUT_EXTENSIONS = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".pq")


def is_special(path: str) -> bool:
    """True for an existing target that is not a regular file (a FIFO, a device node, a
    socket, whether named directly or through a symlink): renaming a temp file onto it would
    replace the node itself, so writers open it and write to it directly instead."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def check_outputs(outputs: dict[str, str | None], inputs: Iterable[str] = (),
                  extensions: tuple[str, ...] | dict[str, tuple[str, ...]] = OUTPUT_EXTENSIONS) -> None:
    """Validate output paths before any work, so a bad one never costs a run or a file.

    ``outputs`` maps an option name (``-o``, ``--rejects``) to its path (None or ``-``:
    stdout, not checked). Each path needs a known extension (a FIFO or device node takes
    any name), a writable directory to land in, and must not be an input or another output.
    ``extensions``: one tuple for every option, or a tuple per option name.
    """
    seen: dict[str, str] = {}
    ins = {_identity(p): p for p in inputs if p != STDIN and os.path.exists(p)}
    for opt, path in outputs.items():
        if path in (None, STDIN):
            continue
        if os.path.isdir(path):
            raise InputError(f"{opt} is a directory; expected a file", file=path)
        ident = _identity(path)
        if ident in ins:  # first: the one mistake that would cost data, named as such
            raise InputError(f"{opt} is also an input ({ins[ident]}); writing it would destroy the input",
                             file=path)
        special = is_special(path)
        exts = extensions[opt] if isinstance(extensions, dict) else extensions
        if not special and not path.endswith(exts):
            raise InputError(f"{opt}: unknown output type (expected {', '.join(exts)}; "
                             "extensions are case-sensitive)", file=path)
        _check_parent(opt, path)
        if ident in seen and not special:
            raise InputError(f"{opt} is the same file as {seen[ident]}", file=path)
        seen[ident] = opt


def _identity(path: str):
    """What makes two names the same file: (device, inode) when it exists, else its real path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.realpath(path)


def _check_parent(opt: str, path: str) -> None:
    # the writer creates missing directories, so the nearest existing ancestor must take them
    d = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(d):
        d = os.path.dirname(d)
    if not os.path.isdir(d):
        raise InputError(f"{opt}: {d} is not a directory", file=path)
    if not os.access(d, os.W_OK | os.X_OK):
        raise InputError(f"{opt}: directory {d} is not writable", file=path)


@contextmanager
def atomic_path(target: str):
    """Yield a temp path beside ``target``; rename onto it only if the block succeeds.

    A target that is not a regular file (FIFO, device) is yielded as is: written directly,
    never replaced by a rename."""
    if is_special(target):
        yield target
        return
    d = os.path.dirname(os.path.abspath(target)) or "."
    os.makedirs(d, exist_ok=True)
    tmp = None
    try:  # from the temp file's creation on: a signal at any point after it removes it
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=d)
        os.close(fd)
        # mkstemp makes 0600: a new output gets the usual permissions, a rewritten one keeps
        # its own (a private 0600 transcript stays private)
        os.chmod(tmp, _kept_mode(target))
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _kept_mode(target: str) -> int:
    """The permission bits an output at ``target`` gets: an existing file's own, else 0666 less the umask."""
    try:
        st = os.stat(target)
    except OSError:
        return 0o666 & ~_umask()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o666 & ~_umask()


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
            # checked before the temp file exists: a bad name must never replace the target
            check_outputs({"output": self.target})
            self._ctx = atomic_path(self.target)
            self._tmp = self._ctx.__enter__()
            if is_parquet(self.target):
                self._fh = None
                self._pq_writer = None
            elif self.target.endswith(".gz"):
                self._fh = gzip.open(self._tmp, "wb")
            else:  # .jsonl, .json, or a FIFO/device written as JSONL
                self._fh = open(self._tmp, "wb", buffering=IO_BUFFER)
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
            if self._ctx is not None:  # stdout has no temp file to remove
                self._ctx.__exit__(*sys.exc_info())
            raise
        return self._ctx.__exit__(exc_type, exc, tb)


def write_json_atomic(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file beside it, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def read_json(path: str) -> Any:
    """Read one JSON document; a missing or malformed file is one InputError naming it."""
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
