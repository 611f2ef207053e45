"""`cag export`: cag's labels as a tokenized dataset (Parquet shards or a datasets directory)
that TRL, Axolotl and LLaMA-Factory train on unchanged (docs/README-export.md)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import emit_json, info


def export(
    inputs: o.Inputs,
    output: Annotated[str, typer.Option("-o", "--output", help="Output directory (written atomically: a temporary "
                                        "directory beside it, renamed when complete).", show_default=False)],
    mask: Annotated[str, typer.Option("--mask", help="obs, do, or both (obs,do): both writes labels_obs/labels_do "
                                      "and assistant_masks_obs/assistant_masks_do instead of labels and "
                                      "assistant_masks.")] = "do",
    tokenizer: o.Tokenizer = None,
    renderer: o.Renderer = "plain",
    to: Annotated[str, typer.Option("--to", help="parquet: train-NNNNN-of-MMMMM.parquet shards (datasets."
                                    "load_dataset(DIR), trl sft --dataset_name DIR, Axolotl). hf: a datasets."
                                    "save_to_disk DatasetDict with a train split (LLaMA-Factory tokenized_path; "
                                    "needs the datasets package).")] = "parquet",
    max_length: Annotated[Optional[int], typer.Option(
        "--max-length", help="Truncate rows to N tokens (supervised tokens lost are reported). Trainers truncate "
        "or drop long rows silently otherwise (TRL max_length 1024, Axolotl drops).")] = None,
    truncate: Annotated[str, typer.Option("--truncate", help="With --max-length: right drops the end, left keeps "
                                          "the end (where the supervised verdicts of a long transcript are).")] = "right",
    shard_rows: Annotated[int, typer.Option("--shard-rows", help="Rows per Parquet shard.")] = 50_000,
    minimal: Annotated[bool, typer.Option("--minimal", help="Only input_ids, attention_mask and labels (Axolotl's "
                                          "pre-tokenized format takes exactly these).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output directory that cag export wrote (anything else in it: refused, nothing deleted).")] = False,
    format: o.Format = None, self_: o.Selves = [], role_map: o.RoleMap = [], text_role: o.TextRoles = [],
    messages_key: o.MessagesKey = None, group_by_file: o.GroupByFile = False, demonstrations: o.Demonstrations = False,
    text_key: o.TextKey = None, branches: o.Branches = "last", redact: o.Redact = [],
    json: o.Json = False,
) -> None:
    """Export tokenized transcripts with cag's labels, through the same label builder as `cag stats`.

    Columns: input_ids, attention_mask, labels (unshifted, -100 where not supervised),
    assistant_masks (1 = supervised), token_class (0 context, 1 protocol, 2 world, 3 agent)
    and id. DIR/cag_export.json (also in every Parquet footer) records the tokenizer name and
    hashes, the renderer, the mask, cag's version and the supervised counts per role, both as
    `cag stats` reports them and as exported. Transcripts with nothing to supervise under the
    mask (under do: no world-written token) are refused and reported, never exported.
    --json prints the metadata on stdout.

    Example: cag export logs.jsonl --self my-agent --mask do -o export/
    """
    from causal_agents.cli.train import parse_modes
    from causal_agents.transcripts.export import FORMATS, ExportOptions, export_dataset
    from causal_agents.transcripts.labels import TRUNCATE_SIDES
    from causal_agents.transcripts.tagging import iter_tagged

    if to not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}, got {to!r}", param_hint="--to")
    if truncate not in TRUNCATE_SIDES:
        raise typer.BadParameter(f"expected left or right, got {truncate!r}", param_hint="--truncate")

    tag_opts = o.tag_options(self_, role_map, text_role, format, messages_key, group_by_file, demonstrations, text_key,
                             branches, redact)
    opts = ExportOptions(tokenizer=tokenizer, renderer=renderer, modes=parse_modes(mask), format=to,
                         max_length=max_length, truncate=truncate, shard_rows=shard_rows, minimal=minimal,
                         overwrite=overwrite, tag_options=tag_opts.as_dict())
    opts.check()
    from causal_agents.formats.outputs import check_output_folder

    check_output_folder("-o", output, inputs, replaced=True)  # before any work
    from tqdm import tqdm

    with tqdm(unit=" transcripts", desc="export", disable=None, leave=False) as bar:
        meta = export_dataset(iter_tagged(inputs, tag_opts), output, opts, progress=bar.update)
    if json:
        emit_json(meta)
    _report(meta, output)


def _report(meta: dict, output: str) -> None:
    ex = meta["exported"]
    sup = ", ".join(f"{m} {n:,}" for m, n in ex["supervised"].items())
    stats = ", ".join(f"{m} {n:,}" for m, n in meta["stats"]["supervised"].items())
    info(f"exported {ex['rows']:,} of {meta['stats']['transcripts']:,} transcripts, {ex['tokens']:,} tokens; "
         f"supervised {sup} (cag stats: {stats}) -> {output}")
    lost = {m: n for m, n in meta["truncation_lost"].items() if n}
    if lost:
        info(f"truncation to {meta['max_length']:,} tokens ({meta['truncate']}) loses "
             + ", ".join(f"{m} {n:,}" for m, n in lost.items()) + " supervised tokens")
    ref = meta["refused"]
    if ref["count"]:
        info(f"warning: refused {ref['count']:,} transcript(s) with nothing to supervise under --mask "
             f"{meta['mask']} (under do: no world-written token; e.g. {ref['examples'][:3]}); not exported")
