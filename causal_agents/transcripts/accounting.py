"""Token accounting: what each mask mode supervises, per class, gate, role and file.

Records stream through the label builder in chunks; each chunk's per-segment counts become
an Arrow table that DuckDB aggregates into running totals, so memory stays flat however
large the input (a glob of Parquet files larger than memory works).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from causal_agents.transcripts.labels import CLASS_NAMES, MODES, SUPERVISED_BY, WORLD, encode_batch
from causal_agents.transcripts.options import StatsOptions  # noqa: F401  (re-exported: callers build it here)
from causal_agents.transcripts.redact import COUNT_KEY as REDACTED_KEY

CHUNK_RECORDS = 512
# A chunk also ends once its text reaches this many characters, so memory follows the
# bytes in flight, not the record count (512 records of 20 KB were 10 MB of text at once).
CHUNK_CHARS = 1 << 20
# One record's text may not exceed this (characters); a longer one is an error naming it.
# The label builder tokenizes a long record in pieces and keeps about 10 bytes a token, so
# memory follows the largest record's tokens and text (one 10 MB message: about 400 MB peak
# with the byte tokenizer, `benchmarks/bench_memory.py`); the limit keeps that bounded. A
# tokenizer that cannot be cut into pieces (``pieces.split_rule``) still holds about 200
# bytes a token for the whole record.
MAX_RECORD_CHARS = 16 << 20
GROUPS = ("file", "role", "gate")
COUNT_BLOCK = 1 << 20  # tokens counted per numpy pass: bounds the temporaries of a long record


@dataclass
class Totals:
    """Counts kept outside DuckDB while records stream: transcripts seen and examples of empty do-masks."""
    transcripts: int = 0
    empty_do: list = field(default_factory=list)  # ids of records whose do-mask has no world token
    redacted: dict = field(default_factory=dict)  # secret kind -> count (`--redact secrets`, meta.cag_redacted)


def _chunks(records: Iterable[dict], n: int, max_chars: int | None = None) -> Iterator[list[dict]]:
    """Lists of at most ``n`` records and about ``max_chars`` characters of text (a record
    longer than that is a chunk of its own)."""
    max_chars = CHUNK_CHARS if max_chars is None else max_chars
    buf, chars = [], 0
    for r in records:
        size = check_record_size(r)
        if buf and chars + size > max_chars:
            yield buf
            buf, chars = [], 0
        buf.append(r)
        chars += size
        if len(buf) == n:
            yield buf
            buf, chars = [], 0
    if buf:
        yield buf


def check_record_size(r: dict) -> int:
    """``record_chars(r)``, or an InputError naming the record when it is over MAX_RECORD_CHARS
    (`cag stats`, `cag show` and the commands that count with them share this limit)."""
    size = record_chars(r)
    if size > MAX_RECORD_CHARS:
        src = r.get("source") if isinstance(r.get("source"), dict) else {}
        from causal_agents.errors import InputError, location

        raise InputError(f"record {r.get('id')!r} holds {size:,} characters of text, over the limit of "
                         f"{MAX_RECORD_CHARS:,} per record", **location(src))
    return size


def record_chars(rec: dict) -> int:
    """The characters a record renders to, roughly: what sizes a stats chunk and the per-record limit."""
    return sum(len(s.get("text") or "") for s in rec.get("segments") or ())


def chunk_tables(records: list[dict], encs: list, opts: StatsOptions, totals: Totals):
    """Per-segment and per-record Arrow tables for one chunk, computed on the token arrays
    of the whole chunk (a few numpy passes, not one per transcript).

    Each token counts once under a key (segment, class, trainable) and every count follows
    from those: a mode's supervision is a function of class and trainability. The keys are
    built a block of tokens at a time, so temporaries stay a few MB however long a record."""
    import pyarrow as pa

    nsegs = np.fromiter((len(r["segments"]) for r in records), dtype=np.int64, count=len(records))
    nseg = int(nsegs.sum())
    counts = _counts(encs, np.cumsum(nsegs) - nsegs, nseg)  # (segments, classes, trainable)
    supervised = {m: (counts[:, :, 1] * SUPERVISED_BY[m]).sum(axis=1) for m in MODES}
    files = [r["source"]["file"] if isinstance(r.get("source"), dict) else "" for r in records]
    seg_cols = {
        "file": np.repeat(np.asarray(files, dtype=object), nsegs),
        "role": [s["role"] for r in records for s in r["segments"]],
        "gate": [s["gate"] for r in records for s in r["segments"]],
        "tokens": counts.sum(axis=(1, 2)),
        "obs": supervised["obs"],
        "do": supervised["do"],
    }
    for c, name in enumerate(CLASS_NAMES):
        seg_cols[name] = counts[:, c, :].sum(axis=1)
    # A record whose do-mask supervises no world token has no evidence to learn from
    # (``labels.evidence``: trainable world tokens that do supervises).
    world_do = counts[:, WORLD, 1] * SUPERVISED_BY["do"][WORLD]
    has = np.bincount(np.repeat(np.arange(len(records)), nsegs), weights=world_do, minlength=len(records)) > 0
    for i in np.nonzero(~has)[0][: max(0, 20 - len(totals.empty_do))]:
        totals.empty_do.append(records[i].get("id"))
    lost = {"obs": np.zeros(len(records), np.int64), "do": np.zeros(len(records), np.int64)}
    if opts.max_length:
        for i, e in enumerate(encs):
            for m, v in e.truncation_lost(opts.max_length, opts.truncate).items():
                lost[m][i] = v
    rec_cols = {"file": files, "empty_do": (~has).astype(np.int64), "lost_obs": lost["obs"],
                "lost_do": lost["do"], "straddling": [e.straddling for e in encs]}
    return pa.table(seg_cols), pa.table(rec_cols)


def _counts(encs: list, seg_offsets: np.ndarray, nseg: int) -> np.ndarray:
    """(nseg, classes, 2) int64: tokens per segment of the chunk, class and trainable."""
    ncls = len(CLASS_NAMES)
    counts = np.zeros(nseg * ncls * 2, dtype=np.int64)
    for block in _blocks(encs, seg_offsets):
        key = np.concatenate([e.segment[a:b].astype(np.int64) + off for e, a, b, off in block])
        key *= ncls
        key += np.concatenate([e.classes[a:b] for e, a, b, _ in block])
        key *= 2
        key += np.concatenate([e.trainable[a:b] for e, a, b, _ in block])
        counts += np.bincount(key, minlength=len(counts))
    return counts.reshape(nseg, ncls, 2)


def _blocks(encs: list, seg_offsets: np.ndarray, size: int = COUNT_BLOCK) -> Iterator[list[tuple]]:
    """Lists of (encoding, start, stop, segment offset) slices of about ``size`` tokens in all."""
    block, n = [], 0
    for e, off in zip(encs, seg_offsets):
        for a in range(0, len(e), size):
            b = min(len(e), a + size)
            block.append((e, a, b, int(off)))
            n += b - a
            if n >= size:
                yield block
                block, n = [], 0
    if block:
        yield block


def compute_stats(records: Iterable[dict], opts: StatsOptions, tokenizer=None, progress=None,
                  on_chunk=None) -> dict:
    """`cag stats`: stream ``records`` through the label builder in chunks and aggregate in DuckDB.

    Returns the report `cag stats --json` prints (transcripts, tokens, supervised per mode,
    by_class/gate/role/file, empty_do, straddling_tokens); its counts are exactly what `cag
    train` supervises with the same options. ``on_chunk(records, encodings)``, if given, sees
    every chunk's encodings as they are counted (`cag export` writes its rows from them: one
    tokenization, the counts are the exported labels by construction)."""
    import duckdb

    from causal_agents.transcripts.tokenizer import load_tokenizer

    tok = tokenizer or load_tokenizer(opts.tokenizer)
    con = duckdb.connect()
    con.execute("SET threads TO 1")  # tiny aggregates; threads only add overhead here
    sums = ", ".join(f'SUM("{c}")::BIGINT AS "{c}"' for c in ("tokens", "obs", "do", *CLASS_NAMES))
    con.execute("CREATE TABLE agg (file VARCHAR, role VARCHAR, gate VARCHAR, segments BIGINT, tokens BIGINT, "
                'obs BIGINT, "do" BIGINT, ' + ", ".join(f"{c} BIGINT" for c in CLASS_NAMES) + ")")
    con.execute("CREATE TABLE recs (file VARCHAR, transcripts BIGINT, empty_do BIGINT, lost_obs BIGINT, "
                "lost_do BIGINT, straddling BIGINT)")
    totals = Totals()
    for chunk in _chunks(records, CHUNK_RECORDS):
        encs = encode_batch(chunk, tok, opts.renderer)
        if on_chunk is not None:
            on_chunk(chunk, encs)
        seg, rec_rows = chunk_tables(chunk, encs, opts, totals)  # noqa: F841 - read by DuckDB by name
        con.execute(f"INSERT INTO agg SELECT file, role, gate, COUNT(*), {sums} FROM seg GROUP BY ALL")
        con.execute("INSERT INTO recs SELECT file, COUNT(*), SUM(empty_do), SUM(lost_obs), SUM(lost_do), "
                    "SUM(straddling) FROM rec_rows GROUP BY ALL")
        totals.transcripts += len(chunk)
        for r in chunk:
            for kind, n in ((r.get("meta") or {}).get(REDACTED_KEY) or {}).items():
                totals.redacted[kind] = totals.redacted.get(kind, 0) + n
        if progress is not None:
            progress(len(chunk))
    return _report(con, totals, tok, opts)


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _grouped(con, key: str) -> dict:
    rows = _rows(con, f"SELECT {key} AS k, SUM(segments)::BIGINT AS segments, SUM(tokens)::BIGINT AS tokens, "
                      'SUM(obs)::BIGINT AS obs, SUM("do")::BIGINT AS "do", '
                      + ", ".join(f"SUM({c})::BIGINT AS {c}" for c in CLASS_NAMES)
                      + f" FROM agg GROUP BY {key} ORDER BY tokens DESC, k")
    return {r.pop("k"): r for r in rows}


def _report(con, totals: Totals, tok, opts: StatsOptions) -> dict:
    tot = _rows(con, "SELECT COALESCE(SUM(tokens), 0)::BIGINT AS tokens, COALESCE(SUM(obs), 0)::BIGINT AS obs, "
                     'COALESCE(SUM("do"), 0)::BIGINT AS "do", '
                     + ", ".join(f"COALESCE(SUM({c}), 0)::BIGINT AS {c}" for c in CLASS_NAMES) + " FROM agg")[0]
    rec = _rows(con, "SELECT COALESCE(SUM(empty_do), 0)::BIGINT AS empty_do, COALESCE(SUM(lost_obs), 0)::BIGINT "
                     "AS lost_obs, COALESCE(SUM(lost_do), 0)::BIGINT AS lost_do, COALESCE(SUM(straddling), 0)::BIGINT "
                     "AS straddling FROM recs")[0]
    by_file = _grouped(con, "file")
    for f, n in con.execute("SELECT file, SUM(transcripts)::BIGINT FROM recs GROUP BY file").fetchall():
        by_file[f]["transcripts"] = n
    report = {
        "transcripts": totals.transcripts,
        "tokens": tot["tokens"],
        "supervised": {m: tot[m] for m in MODES},
        "fraction": {m: (tot[m] / tot["tokens"] if tot["tokens"] else 0.0) for m in MODES},
        "by_class": {c: tot[c] for c in CLASS_NAMES},
        "by_gate": _grouped(con, "gate"),
        "by_role": _grouped(con, "role"),
        "by_file": by_file,
        "empty_do": {"count": rec["empty_do"], "examples": totals.empty_do},
        "straddling_tokens": rec["straddling"],
        "redacted": dict(sorted(totals.redacted.items())),
        "tokenizer": getattr(tok, "name_or_path", None) or "byte",
        "renderer": opts.renderer,
    }
    if opts.max_length:
        report["truncation"] = {"max_length": opts.max_length, "lost": {"obs": rec["lost_obs"], "do": rec["lost_do"]}}
    return report


def summary_line(report: dict) -> str:
    """The style of "Continual, interactive, causal agents" (de Freitas and Ortega, 2026): 'obs supervises 51,121 of 81,131 positions (63.0%); do ...'."""
    n, s = report["tokens"], report["supervised"]
    pct = (lambda k: 100.0 * s[k] / n if n else 0.0)
    return (f"obs supervises {s['obs']:,} of {n:,} positions ({pct('obs'):.1f}%); "
            f"do supervises {s['do']:,} ({pct('do'):.1f}%)")
