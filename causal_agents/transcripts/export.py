"""`cag export`: cag's labels as a tokenized dataset that other trainers use unchanged.

Rows come from the one label builder (``labels.encode_batch``) inside the `cag stats`
accounting pass, so the counts in the metadata are `cag stats`'s by construction. Columns:

- ``input_ids``, ``attention_mask`` (all 1: rows are unpadded);
- ``labels``: unshifted (trainers shift inside the loss), IGNORE_INDEX (-100) where not
  supervised; with ``mask="both"``, ``labels_obs`` and ``labels_do``;
- ``assistant_masks`` (1 = supervised; ``assistant_masks_obs`` / ``_do`` with both): TRL
  <= 1.6 drops ``labels`` when packing but keeps this column;
- ``token_class`` (labels.TokenClass codes: context, protocol, world, agent) and ``id``.

Parquet shards are streamed (one row group per chunk of transcripts, flat memory) into a
temporary directory beside the target, which is renamed into place when complete; a failed
export leaves nothing behind. Rows with nothing to supervise under an exported mode (under
do: no world-written token, what `cag stats` reports as empty_do) are refused and reported:
TRL silently drops all -100 rows, so they would vanish from the counts. No torch here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np
import orjson

from causal_agents.errors import CagError
from causal_agents.transcripts.labels import CLASS_NAMES, IGNORE_INDEX, MODES, TRUNCATE_SIDES

FORMATS = ("parquet", "hf")
META_FILE = "cag_export.json"
SCHEMA_KEY = b"cag_export"        # Parquet footer key holding the same metadata as META_FILE
EXPORT_VERSION = 1
MAX_EXAMPLES = 20                 # refused ids listed in the metadata (all are counted)
COMMAND = "cag export"            # the writer named in the output manifest (formats.outputs)


@dataclass
class ExportOptions:
    """What `cag export` writes: masks, output layout, truncation, shard size and columns."""
    tokenizer: str | None = None
    renderer: str = "plain"
    modes: tuple = ("do",)        # ("obs",), ("do",) or ("obs", "do") (labels_obs / labels_do)
    format: str = "parquet"
    max_length: int | None = None  # None: rows keep their full length
    truncate: str = "right"        # right: drop the end; left: keep the (supervised) end
    shard_rows: int = 50_000       # rows per Parquet shard; row groups are one chunk each
    minimal: bool = False          # only input_ids, attention_mask, labels (Axolotl)
    overwrite: bool = False
    tag_options: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.format not in FORMATS:
            raise CagError(f"unknown export format {self.format!r} (expected {', '.join(FORMATS)})")
        if not self.modes or any(m not in MODES for m in self.modes):
            raise CagError(f"unknown mask {self.modes!r} (expected obs, do or both)")
        if self.truncate not in TRUNCATE_SIDES:
            raise CagError(f"unknown truncation side {self.truncate!r} (expected left or right)")
        if self.max_length is not None and self.max_length < 2:
            raise CagError(f"--max-length must be at least 2, got {self.max_length}")
        if self.shard_rows < 1:
            raise CagError(f"--shard-rows must be at least 1, got {self.shard_rows}")
        if self.minimal and len(self.modes) > 1:
            raise CagError("--minimal writes one labels column; export one mask (obs or do), not both")

    def label_columns(self) -> dict:
        """mode -> (labels column, assistant-mask column)."""
        if len(self.modes) == 1:
            return {self.modes[0]: ("labels", "assistant_masks")}
        return {m: (f"labels_{m}", f"assistant_masks_{m}") for m in self.modes}


def schema(opts: ExportOptions):
    import pyarrow as pa

    cols = [("input_ids", pa.list_(pa.int32())), ("attention_mask", pa.list_(pa.int8()))]
    for lab, am in opts.label_columns().values():
        cols.append((lab, pa.list_(pa.int32())))
        if not opts.minimal:
            cols.append((am, pa.list_(pa.int8())))
    if not opts.minimal:
        cols += [("token_class", pa.list_(pa.int8())), ("id", pa.string())]
    return pa.schema(cols)


def _empty(enc, mode: str) -> bool:
    # the rule `cag train` refuses by: under do, role headers alone are no evidence
    return not enc.has_evidence() if mode == "do" else not enc.supervised(mode).any()


class _Rows:
    """Turns each chunk of encodings into one Arrow record batch and tallies what it wrote."""

    def __init__(self, opts: ExportOptions, writer):
        self.opts, self.writer = opts, writer
        self.rows = self.tokens = 0
        self.supervised = {m: 0 for m in opts.modes}
        self.by_role = {}                      # role -> mode -> supervised tokens exported
        self.lost = {m: 0 for m in MODES}
        self.refused = {"count": 0, "examples": [], "supervised": {m: 0 for m in opts.modes}}

    def __call__(self, records: list[dict], encs: list) -> None:
        kept = []
        for rec, enc in zip(records, encs):
            if self.opts.max_length is not None:
                enc, lost = enc.truncate(self.opts.max_length, self.opts.truncate)
                for m in MODES:
                    self.lost[m] += lost[m]
            if any(_empty(enc, m) for m in self.opts.modes):
                self._refuse(rec, enc)
                continue
            kept.append((rec, enc))
        if kept:
            self.writer.write(self._batch(kept))

    def _refuse(self, rec: dict, enc) -> None:
        self.refused["count"] += 1
        if len(self.refused["examples"]) < MAX_EXAMPLES:
            self.refused["examples"].append(rec.get("id"))
        for m in self.opts.modes:
            self.refused["supervised"][m] += int(enc.supervised(m).sum())

    def _batch(self, kept: list):
        import pyarrow as pa

        encs = [e for _, e in kept]
        lengths = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        ids = np.concatenate([e.input_ids for e in encs]).astype(np.int32)

        def lst(values):
            return pa.ListArray.from_arrays(offsets, pa.array(values))

        cols = {"input_ids": lst(ids), "attention_mask": lst(np.ones(len(ids), dtype=np.int8))}
        for m, (lab, am) in self.opts.label_columns().items():
            sup = np.concatenate([e.supervised(m) for e in encs])
            cols[lab] = lst(np.where(sup, ids, IGNORE_INDEX).astype(np.int32))
            if not self.opts.minimal:
                cols[am] = lst(sup.astype(np.int8))
            self.supervised[m] += int(sup.sum())
            self._tally_roles(kept, m)
        if not self.opts.minimal:
            cols["token_class"] = lst(np.concatenate([e.classes for e in encs]).astype(np.int8))
            cols["id"] = pa.array([r.get("id") for r, _ in kept], type=pa.string())
        self.rows += len(kept)
        self.tokens += int(lengths.sum())
        return pa.record_batch(list(cols.values()), schema=schema(self.opts))

    def _tally_roles(self, kept: list, mode: str) -> None:
        for rec, enc in kept:
            counts = np.bincount(enc.segment[enc.supervised(mode)], minlength=len(rec["segments"]))
            for seg, n in zip(rec["segments"], counts):
                if n:
                    row = self.by_role.setdefault(seg["role"], {m: 0 for m in self.opts.modes})
                    row[mode] += int(n)


class _Shards:
    """Parquet shards written as chunks arrive. Every shard stays open until the end so that
    its footer can carry the final metadata (counts are known only after the last row)."""

    def __init__(self, folder: str, opts: ExportOptions):
        self.folder, self.opts = folder, opts
        self.writers, self.paths = [], []
        self._in_shard = 0

    def write(self, batch) -> None:
        import pyarrow.parquet as pq

        start = 0
        while start < batch.num_rows:
            if not self.writers or self._in_shard >= self.opts.shard_rows:
                path = os.path.join(self.folder, f"train-{len(self.paths):05d}.parquet")
                # the Arrow schema is stored at close, with the final metadata (see close)
                self.writers.append(pq.ParquetWriter(path, schema(self.opts), compression="zstd", store_schema=False))
                self.paths.append(path)
                self._in_shard = 0
            take = min(batch.num_rows - start, self.opts.shard_rows - self._in_shard)
            self.writers[-1].write_batch(batch.slice(start, take))
            self._in_shard += take
            start += take

    def names(self) -> list[str]:
        return [f"train-{i:05d}-of-{len(self.paths):05d}.parquet" for i in range(len(self.paths))]

    def close(self, meta: dict | None) -> None:
        """Close every shard (with ``meta`` in its footer) and give them their final names
        (``train-00000-of-00003.parquet``: the split `datasets.load_dataset(DIR)` infers)."""
        import base64

        for w in self.writers:
            if meta is not None:
                blob = orjson.dumps(meta)
                # ARROW:schema is where readers (pyarrow, datasets, pandas) get the schema and its
                # metadata from: written here by hand, as the writer would, but with the counts
                arrow = schema(self.opts).with_metadata({SCHEMA_KEY: blob}).serialize().to_pybytes()
                w.add_key_value_metadata({b"ARROW:schema": base64.b64encode(arrow), SCHEMA_KEY: blob})
            w.close()
        self.writers = []
        if meta is not None:
            for p, name in zip(self.paths, self.names()):
                os.replace(p, os.path.join(self.folder, name))


def tokenizer_facts(tok) -> dict:
    """Name and hashes that tell a trainer's tokenizer from the one the labels were made with."""
    template = getattr(tok, "chat_template", None)
    backend = getattr(tok, "_tokenizer", None)
    return {
        "tokenizer": getattr(tok, "name_or_path", None) or "byte",
        "tokenizer_hash": hashlib.sha256(backend.to_str().encode()).hexdigest()[:16] if backend is not None else None,
        "chat_template_hash": (hashlib.sha256(template.encode()).hexdigest()[:16]
                               if isinstance(template, str) else None),
        "vocab_size": len(tok),
        "pad_token_id": tok.pad_token_id,
        "eos_token_id": tok.eos_token_id,
    }


def _metadata(opts: ExportOptions, tok, report: dict, rows: _Rows) -> dict:
    from causal_agents import __version__

    return {
        "cag_export": EXPORT_VERSION,
        "cag_version": __version__,
        **tokenizer_facts(tok),
        "renderer": opts.renderer,
        "mask": "both" if len(opts.modes) > 1 else opts.modes[0],
        "label_columns": {m: c[0] for m, c in opts.label_columns().items()},
        "columns": schema(opts).names,
        "ignore_index": IGNORE_INDEX,
        "labels_shifted": False,
        "token_classes": list(CLASS_NAMES),
        "max_length": opts.max_length,
        "truncate": opts.truncate if opts.max_length else None,
        "tag_options": opts.tag_options,
        # what `cag stats` reports for the same data and options (before truncation and refusals)
        "stats": {"transcripts": report["transcripts"], "tokens": report["tokens"],
                  "supervised": {m: report["supervised"][m] for m in opts.modes},
                  "by_role": {r: {m: v[m] for m in opts.modes} | {"tokens": v["tokens"]}
                              for r, v in report["by_role"].items()},
                  "empty_do": report["empty_do"]["count"]},
        # what the exported rows supervise: stats minus refused rows minus truncation
        "exported": {"rows": rows.rows, "tokens": rows.tokens, "supervised": rows.supervised,
                     "by_role": rows.by_role},
        "refused": rows.refused,
        "truncation_lost": {m: rows.lost[m] for m in opts.modes},
        "format": opts.format,
    }


def export_dataset(records, out_dir: str, opts: ExportOptions, tokenizer=None, progress=None) -> dict:
    """Write ``records`` (tagged transcripts) as a tokenized dataset in ``out_dir``; returns the
    metadata also written to ``out_dir/cag_export.json``.

    ``parquet``: ``train-NNNNN-of-MMMMM.parquet`` shards (`datasets.load_dataset(out_dir)`
    and `trl sft --dataset_name out_dir` read them). ``hf``: a `datasets.save_to_disk`
    DatasetDict with a ``train`` split (LLaMA-Factory's ``tokenized_path``). Raises CagError
    if nothing is left to supervise, if ``out_dir`` exists and ``overwrite`` is off, if it
    holds anything a cag export did not write (its ``.cag-output`` manifest lists what it
    wrote: nothing else is ever deleted), or if another process is exporting to it.
    """

    from causal_agents.formats.runlock import run_lock

    opts.check()
    out_dir = os.path.abspath(out_dir)
    # one export per folder for its whole life: a second one stops at once (the lock file
    # beside the folder, removed on the way out); the folder is checked again at the rename
    with run_lock(out_dir, directory=False, what="output folder", remove=True):
        _check_target(out_dir, opts.overwrite)
        return _export(records, out_dir, opts, tokenizer, progress)


def _check_target(out_dir: str, overwrite: bool) -> None:
    """An existing ``out_dir`` is replaced only with ``overwrite`` and only if everything in it
    is listed in the manifest cag export left there (formats.outputs); else CagError."""
    from causal_agents.formats.outputs import require_own

    if not os.path.lexists(out_dir):
        return
    if not overwrite:
        raise CagError(f"{out_dir} already exists; use --overwrite to replace it, or another -o")
    require_own(out_dir, COMMAND, hint="use another -o")


def _export(records, out_dir: str, opts: ExportOptions, tokenizer, progress) -> dict:
    from causal_agents.formats.outputs import write_manifest
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats
    from causal_agents.transcripts.tokenizer import load_tokenizer

    tok = tokenizer or load_tokenizer(opts.tokenizer)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.", suffix=".tmp", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would make the export private to its writer
    shards = _Shards(tmp, opts)
    try:
        rows = _Rows(opts, shards)
        report = compute_stats(records, StatsOptions(renderer=opts.renderer), tokenizer=tok, progress=progress,
                               on_chunk=rows)
        if rows.rows == 0:
            raise CagError(f"nothing to export: all {report['transcripts']:,} transcript(s) supervise nothing "
                           f"under --mask {'/'.join(opts.modes)} (check the roles with `cag stats`)")
        meta = _metadata(opts, tok, report, rows)
        meta["shards"] = shards.names() if opts.format == "parquet" else []
        shards.close(meta)
        if opts.format == "hf":
            _to_hf(tmp, opts)
        with open(os.path.join(tmp, META_FILE), "wb") as f:
            f.write(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")
        write_manifest(tmp, COMMAND, os.listdir(tmp))  # what a later --overwrite may delete
        _commit(tmp, out_dir, opts.overwrite)
    except BaseException:
        shards.close(None)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _to_hf(folder: str, opts: ExportOptions) -> None:
    """Convert the staged shards into a save_to_disk DatasetDict in ``folder`` (memory-mapped
    Arrow throughout: from_parquet writes its cache to disk, never holds the rows)."""
    try:
        import datasets
    except ImportError as e:
        raise CagError("--format hf needs the datasets package: pip install 'cag[hf]'") from e
    files = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".parquet"))
    cache = os.path.join(folder, ".cache")
    ds = datasets.Dataset.from_parquet(files, cache_dir=cache, features=None, keep_in_memory=False)
    datasets.DatasetDict({"train": ds}).save_to_disk(os.path.join(folder, ".hf"))
    del ds
    for f in files:
        os.unlink(f)
    shutil.rmtree(cache, ignore_errors=True)
    for name in os.listdir(os.path.join(folder, ".hf")):
        os.replace(os.path.join(folder, ".hf", name), os.path.join(folder, name))
    os.rmdir(os.path.join(folder, ".hf"))


def _commit(tmp: str, out_dir: str, overwrite: bool) -> None:
    """Move the finished export into place. ``out_dir`` is checked again first (a folder that
    appeared while the export ran is never replaced without --overwrite and proof that cag
    export wrote it); an existing one is moved aside and removed only once the new one is in
    place."""
    _check_target(out_dir, overwrite)
    old = None
    if os.path.lexists(out_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.", suffix=".old", dir=os.path.dirname(out_dir))
        os.rmdir(old)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_metadata(path: str) -> dict:
    """The export metadata of a directory (cag_export.json) or of one Parquet shard (footer)."""
    if os.path.isdir(path):
        with open(os.path.join(path, META_FILE), "rb") as f:
            return orjson.loads(f.read())
    import pyarrow.parquet as pq

    md = pq.read_schema(path).metadata or {}
    if SCHEMA_KEY not in md:
        raise CagError(f"{path} carries no cag export metadata")
    return orjson.loads(md[SCHEMA_KEY])
