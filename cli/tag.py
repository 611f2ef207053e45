"""`cag tag`: infer who wrote every segment (agent, world or context) and say which rule decided."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import info


def tag(inputs: o.Inputs, output: o.Output = None, format: o.Format = None, self_: o.Selves = [],
        role_map: o.RoleMap = [], text_role: o.TextRoles = [], on_error: o.OnError = "fail",
        rejects: o.Rejects = None, messages_key: o.MessagesKey = None, group_by_file: o.GroupByFile = False,
        demonstrations: o.Demonstrations = False, text_key: o.TextKey = None, branches: o.Branches = "last", redact: o.Redact = [],
        workers: Annotated[int, typer.Option(
            "--workers", help="Processes for large JSONL inputs (0: one per CPU, at most 8). Pays off on "
            "idle many-core machines; output order and content do not depend on it.")] = 1,
        shard: Annotated[Optional[str], typer.Option(
            "--shard", help="I/N: tag only records I, I+N, I+2N, ... of the whole input (0 <= I < N), one "
            "worker of N; `cag stats 'tagged-*.parquet'` over the N outputs counts what one run would.")] = None) -> None:
    """Tag transcripts with provenance gates, one tagged JSON record per input transcript.

    Reads chat data (OpenAI messages, ShareGPT, Alpaca, function-calling sets), agent logs
    (Claude Code sessions, Codex rollouts, Anthropic, Responses API and Gemini requests,
    OpenHands, SWE-agent, tau-bench, Inspect AI logs), plain 'Role: text' and verifier streams,
    told apart by shape per file and per record (--format names them all); JSON lines, JSON
    arrays, pretty-printed JSON, Parquet, or a directory (every transcript file under it).
    Each segment gets gate agent|world|context and the rule that decided it: provenance-field,
    demo-field, self, other-author, format-author, role-map, demonstrations, role-default (or
    tools-field for tool schemas, a context segment).

    Example: cag tag ~/.claude/projects --redact secrets -o tagged.parquet
    """
    from causal_agents.transcripts.tagging import tag_to_file

    opts = o.tag_options(self_, role_map, text_role, format, messages_key, group_by_file, demonstrations, text_key,
                         branches, redact)
    part = _parse_shard(shard) if shard is not None else None
    if on_error == "skip" and rejects is None:
        rejects = f"{output}.rejects.jsonl" if output else "rejects.jsonl"
    counts = tag_to_file(inputs, opts, output, on_error=on_error, rejects_path=rejects, workers=workers,
                         shard=part)
    msg = f"tagged {counts.tagged:,} of {counts.read:,} records"
    if on_error == "skip":
        msg += f"; {counts.rejected:,} rejected -> {rejects}"
    info(msg)
    if counts.skipped_line():
        info(counts.skipped_line())
    for line in opts.warnings():
        info(line)


def _parse_shard(value: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise typer.BadParameter(f"expected I/N (e.g. 0/4), got {value!r}", param_hint="--shard") from None
    if not (n >= 1 and 0 <= i < n):
        raise typer.BadParameter(f"expected 0 <= I < N, got {value!r}", param_hint="--shard")
    return i, n
