"""Streaming tag pipeline: files in, tagged records out, every bad record accounted for.

Records in = records out + rejects. ``on_error="fail"`` raises the first InputError (the CLI
prints it and writes nothing); ``"skip"`` hands each reject to a callback.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from causal_agents.errors import InputError, UsageError, location
from causal_agents.formats.adapters import ALL_KEYS, BY_NAME, file_records, key_fields, message_rows_record, sniff
from causal_agents.formats.io import expand_paths, read_records
from causal_agents.transcripts.provenance import TagOptions, tag_record

ON_ERROR = ("fail", "skip")


@dataclass
class TagCounts:
    """Records read, tagged and rejected: read = tagged + rejected. ``skipped_files``: files
    a directory given as input held that were not read, by reason."""
    read: int = 0
    tagged: int = 0
    rejected: int = 0
    skipped_files: dict = field(default_factory=dict)

    def skipped_line(self) -> str | None:
        """One line on the files skipped under input directories (None when none were)."""
        if not self.skipped_files:
            return None
        n = sum(len(v) for v in self.skipped_files.values())
        why = "; ".join(f"{len(v):,} {reason} (e.g. {v[0]})" for reason, v in sorted(self.skipped_files.items()))
        return f"skipped {n:,} file{'s' if n != 1 else ''} under the input directories: {why}"


def input_files(paths: Iterable[str], opts: TagOptions, counts: TagCounts) -> list[str]:
    """The files to read: globs and directories expanded. A file found under a directory whose
    first record is of no known format (a settings file beside the logs) is skipped and
    counted, not an error: the directory was given, not the file."""
    out = []
    for p in paths:
        if p == "-" or not os.path.isdir(p):
            out += expand_paths([p])
            continue
        for f in expand_paths([p], counts.skipped_files):
            if opts.messages_key is None and not opts.group_by_file and sniff(f, opts.format) is None:
                counts.skipped_files.setdefault("empty or of no known format", []).append(f)
            else:
                out.append(f)
    return out


def iter_tagged(paths: Iterable[str], opts: TagOptions | None = None, on_error: str = "fail",
                on_reject: Callable[[dict, object, InputError], None] | None = None,
                counts: TagCounts | None = None, shard: tuple[int, int] | None = None) -> Iterator[dict]:
    """Tagged records of ``paths`` (see ``tag_record``) in input order, rejects handled as
    ``on_error`` says. ``shard=(i, n)``: only the records whose position in the whole input
    (all paths, counted from 0) is i modulo n, so n workers given the same inputs tag disjoint
    parts that together are the whole; the others are not even parsed into tags (their errors
    are their own shard's)."""
    opts = opts or TagOptions()
    check_on_error(on_error)
    counts = counts if counts is not None else TagCounts()
    needed = (ALL_KEYS if opts.format is None else (opts.text_key,) if opts.format == "text"
              else key_fields(opts.format)) if opts.messages_key is None else (opts.messages_key,)
    position = -1
    for path in input_files(paths, opts, counts):
        if opts.group_by_file:
            records = ((loc, rec, None) for loc, rec in _grouped(read_records(path, required_any=needed)))
        else:
            records = file_records(path, opts.format if opts.messages_key is None else None, opts.reading, needed)
        for loc, rec, fmt in records:
            position += 1
            if shard is not None and position % shard[1] != shard[0]:
                continue
            counts.read += 1
            try:
                if isinstance(rec, InputError):
                    raise rec
                out = tag_record(rec, loc, opts, fmt)
            except InputError as e:
                if on_error == "fail":
                    raise
                counts.rejected += 1
                if on_reject is not None:
                    # a whole-file format's transcript record is the adapter's own working form,
                    # not input the user could fix and resend: the source points at the file
                    whole = fmt is not None and BY_NAME[fmt].whole_file
                    on_reject(loc, None if isinstance(rec, InputError) or whole else rec, e)
                continue
            counts.tagged += 1
            yield out


def check_on_error(on_error: str) -> None:
    """``fail`` or ``skip``, else a UsageError naming --on-error."""
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error expects fail or skip, got {on_error!r}")


def _grouped(records):
    """``--group-by-file``: every row of one file (one message per line) as one transcript."""
    rows = list(records)
    if rows:
        loc = rows[0][0]
        try:
            yield loc, message_rows_record(rows)
        except InputError as e:
            yield loc, e


def all_rejected(counts: TagCounts) -> InputError | None:
    """``--on-error skip`` that rejected every record produced nothing: that is a failure."""
    if counts.read and counts.tagged == 0:
        return InputError(f"all {counts.read:,} records rejected (see the rejects file for why)")
    return None


def tagged_arrow_schema():
    """Arrow schema of a tagged record (Parquet output); meta travels as a JSON string."""
    import pyarrow as pa

    seg = pa.struct([("role", pa.string()), ("author", pa.string()), ("text", pa.string()),
                     ("gate", pa.string()), ("rule", pa.string()), ("weight", pa.float32()),
                     ("name", pa.string()), ("tool_call_id", pa.string())])
    src = pa.struct([("file", pa.string()), ("line", pa.int64()), ("row", pa.int64())])
    return pa.schema([("id", pa.string()), ("source", src), ("format", pa.string()),
                      ("segments", pa.list_(seg)), ("meta", pa.string())])


def for_parquet(rec: dict) -> dict:
    """A tagged record shaped for the Parquet schema (meta as a JSON string)."""
    import orjson

    out = dict(rec)
    out["meta"] = orjson.dumps(rec.get("meta") or {}).decode()
    return out


def _tag_into(w, bar, paths, opts, on_error, on_reject, counts, workers, parquet, shard) -> None:
    if shard is not None:  # one worker of several (see iter_tagged): positions span all inputs
        for rec in iter_tagged(paths, opts, on_error, on_reject, counts, shard=shard):
            _write(w, rec, parquet, on_error, on_reject, counts)
        return
    for path in input_files(paths, opts, counts):
        if not parquet and workers > 1 and not opts.group_by_file and _worth_parallel(path, opts):
            _tag_parallel(path, opts, w, on_error, on_reject, counts, workers, bar)
            continue
        for rec in iter_tagged([path], opts, on_error, on_reject, counts):
            _write(w, rec, parquet, on_error, on_reject, counts)
            if counts.tagged % 4096 == 0:
                bar.update(4096)


def tag_to_file(paths: list[str], opts: TagOptions, output: str | None, on_error: str = "fail",
                rejects_path: str | None = None, workers: int = 1, shard: tuple[int, int] | None = None) -> TagCounts:
    """``cag tag``: write tagged records to ``output`` (stdout when None) atomically; rejects
    (skip mode) go to ``rejects_path`` as JSONL ``{source, error, record}``.

    Large JSONL inputs are tagged by ``workers`` processes (0: one per CPU, at most 8), in
    blocks of whole lines written back in input order, so the output is identical to a
    serial run."""
    from contextlib import ExitStack

    from causal_agents.formats.io import RecordWriter, check_outputs, is_parquet

    # before any work: a bad -o/--rejects must not cost a run, an input or the tagged records
    check_outputs({"-o": output, "--rejects": rejects_path if on_error == "skip" else None},
                  inputs=expand_paths(paths))
    counts = TagCounts()
    parquet = output is not None and is_parquet(output)
    workers = workers or min(8, os.cpu_count() or 1)
    check_on_error(on_error)
    failure = None
    with ExitStack() as stack:
        rejects = (stack.enter_context(RecordWriter(rejects_path))
                   if on_error == "skip" and rejects_path else None)

        def on_reject(loc, rec, err):
            if rejects is not None:
                rejects.write({"source": loc, "error": str(err), "record": _jsonable(rec)})

        # stdout is held back until the run succeeds, in skip mode too: a consumer in a
        # pipeline cannot see the exit code, so a failed run must print nothing at all
        try:
            with RecordWriter(output, arrow_schema=tagged_arrow_schema() if parquet else None,
                              spool_stdout=True) as w, _progress() as bar:
                _tag_into(w, bar, paths, opts, on_error, on_reject, counts, workers, parquet, shard)
                failure = all_rejected(counts)
                if failure is not None:
                    raise failure  # inside the writer's block: no empty output file is left behind
        except InputError as e:
            if e is not failure:
                raise
    if failure is not None:
        raise failure  # after the rejects file is complete: it says why each record failed
    return counts


def _write(w, rec: dict, parquet: bool, on_error: str, on_reject, counts: TagCounts) -> None:
    try:
        w.write(for_parquet(rec) if parquet else rec)
    except TypeError as e:  # a value JSON cannot hold (Parquet decimals, bytes)
        _unwritable(rec, e, on_error, on_reject, counts)


def _unwritable(rec: dict, err: TypeError, on_error: str, on_reject, counts: TagCounts) -> None:
    """A tagged record the output cannot hold is a bad record like any other."""
    src = rec.get("source") or {}
    if "Recursion limit" in str(err):  # orjson writes at most 254 levels of arrays and objects
        e = InputError("a field nests arrays and objects deeper than the 254 levels a JSON output holds",
                       **location(src))
    else:
        e = InputError(f"a field holds a value JSON cannot represent ({err}); convert it to a string or number",
                       **location(src))
    if on_error == "fail":
        raise e
    counts.tagged -= 1
    counts.rejected += 1
    on_reject(src, rec, e)


def _jsonable(rec):
    """A rejected record as JSON can hold it: Parquet bytes and decimals become strings, so a
    reject is written like any other instead of crashing the run."""
    import orjson

    if rec is None:
        return None
    try:
        orjson.dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY)
        return rec
    except TypeError:
        return orjson.loads(orjson.dumps(rec, default=_as_text, option=orjson.OPT_SERIALIZE_NUMPY))


def _as_text(v):
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", "replace")
    return str(v)


def _progress():
    from tqdm import tqdm

    # disable=None: a bar on an interactive terminal only, never in logs or pipes
    return tqdm(unit=" records", desc="tag", disable=None, leave=False)


PARALLEL_BLOCK = 4 << 20


def _worth_parallel(path: str, opts: TagOptions) -> bool:
    """Plain (seekable, uncompressed) JSON-lines files big enough to split (never a JSON
    array or pretty-printed objects, whatever the extension), whose lines are transcripts
    (never a session log, which is one transcript however long)."""
    from causal_agents.formats.io import sniff_layout

    if path == "-" or path.endswith((".parquet", ".pq")) or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            return False
    if not (os.path.getsize(path) > 2 * PARALLEL_BLOCK and sniff_layout(path) == "jsonl"):
        return False
    try:
        fmt = sniff(path, opts.format if opts.messages_key is None else None)
    except InputError:
        return True  # the workers report the bad line where it is
    return fmt is None or not BY_NAME[fmt].whole_file


def _line_ranges(path: str, block: int):
    """``(start, end, first line number)`` byte ranges of whole lines. Only newlines are
    counted here; the workers read and parse their own ranges (nothing big crosses a pipe)."""
    from causal_agents.formats.io import UTF8_BOM

    with open(path, "rb") as f:
        # a byte order mark is not part of the first line (the serial reader drops it too)
        start, lineno = (len(UTF8_BOM), 1) if f.read(len(UTF8_BOM)) == UTF8_BOM else (0, 1)
        f.seek(start)
        while True:
            buf = f.read(block)
            if not buf:
                return
            buf += f.readline()  # finish the line the block cut
            yield start, start + len(buf), lineno
            start += len(buf)
            lineno += buf.count(b"\n")


def _tag_range(job) -> tuple:
    """Worker: tag the lines of one byte range into its own part file.
    Returns (records out, records read, rejects, first error or None, keys noticed)."""
    import orjson

    from causal_agents.formats.io import parse_line

    path, start, end, first_line, opts, on_error, part = job
    with open(path, "rb") as f:
        f.seek(start)
        block = f.read(end - start)
    out, rejects, read = [], [], 0
    for lineno, line in enumerate(block.split(b"\n"), first_line):
        if not line or line.isspace():
            continue
        read += 1
        loc, rec = parse_line(line, path, lineno)
        try:
            if isinstance(rec, InputError):
                raise rec
            out.append(orjson.dumps(tag_record(rec, loc, opts)))
        except InputError as e:
            if on_error == "fail":
                return 0, read, [], str(e), opts.noticed
            rejects.append((loc, None if isinstance(rec, InputError) else rec, str(e)))
    with open(part, "wb") as f:
        if out:
            f.write(b"\n".join(out) + b"\n")
    return len(out), read, rejects, None, opts.noticed


def _worker_init() -> None:
    """Workers die with their parent: the parent handles SIGINT/SIGTERM (it kills the pool
    and removes the part files), and if it is killed outright (SIGKILL) the kernel sends the
    workers SIGTERM (Linux PR_SET_PDEATHSIG) instead of leaving them blocked forever."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the whole group
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent's own cleanup still terminates the pool
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


@contextmanager
def _kill_workers_on_error(ex):
    """On any error or signal, terminate the pool's processes at once: a clean shutdown
    would wait for every running block first."""
    try:
        yield
    except BaseException:
        for p in list((getattr(ex, "_processes", None) or {}).values()):
            p.terminate()
        ex.shutdown(wait=False, cancel_futures=True)
        raise


def _tag_parallel(path, opts, writer, on_error, on_reject, counts: TagCounts, workers: int, bar) -> None:
    import multiprocessing as mp
    import shutil
    import tempfile
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    from causal_agents.formats.io import empty_input

    before = counts.read
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    ranges = _line_ranges(path, PARALLEL_BLOCK)
    with tempfile.TemporaryDirectory(prefix="cag-tag-") as tmp, \
            ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as ex, \
            _kill_workers_on_error(ex):
        pending: deque = deque()

        def submit() -> None:
            nxt = next(ranges, None)
            if nxt is not None:
                part = os.path.join(tmp, f"part-{nxt[0]}")
                pending.append((part, ex.submit(_tag_range, (path, *nxt, opts, on_error, part))))

        for _ in range(2 * workers):  # bounded read-ahead keeps memory and disk flat
            submit()
        while pending:
            part, fut = pending.popleft()
            n_out, n_read, rejects, err, noticed = fut.result()
            counts.read += n_read
            for k, where in noticed.items():  # workers see copies of opts: merge what they noticed
                opts.noticed.setdefault(k, where)
            if err is not None:
                for _, f in pending:
                    f.cancel()
                raise InputError(err)
            submit()
            with open(part, "rb") as src:
                shutil.copyfileobj(src, writer.raw_handle(n_out), 1 << 20)
            os.unlink(part)
            bar.update(n_read)
            counts.tagged += n_out
            for loc, rec, msg in rejects:
                counts.rejected += 1
                on_reject(loc, rec, msg)
    if counts.read == before:
        raise empty_input(path)
