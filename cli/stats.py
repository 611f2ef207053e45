"""`cag stats`: token accounting, what the obs and do masks supervise, per class, gate, role, file."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.output import console, emit_json, info
from causal_agents.transcripts.options import StatsOptions

D = lambda name: o.default(StatsOptions, name)  # noqa: E731 - defaults come from StatsOptions


def stats(inputs: o.Inputs, tokenizer: o.Tokenizer = D("tokenizer"), renderer: o.Renderer = D("renderer"),
          by: Annotated[str, typer.Option("--by", help="Group the table by file, role or gate.")] = "role",
          max_length: Annotated[Optional[int], typer.Option(
              "--max-length", help="Also report the supervised tokens that truncation to N tokens would lose.")] = D("max_length"),
          format: o.Format = None, self_: o.Selves = [], role_map: o.RoleMap = [], text_role: o.TextRoles = [],
          messages_key: o.MessagesKey = None, group_by_file: o.GroupByFile = False,
          demonstrations: o.Demonstrations = False, text_key: o.TextKey = None, branches: o.Branches = "last", redact: o.Redact = [],
          json: o.Json = False) -> None:
    """Count tokens and what each mask mode supervises, through the same label builder `cag train` uses.

    Takes tagged or untagged transcripts (tagging on the fly with the same options as
    `cag tag`). Prints 'obs supervises N of T positions (x%); do supervises M (y%)' and a
    table on stderr; --json prints one object (transcripts, tokens, supervised, by_gate,
    by_role, by_file, by_class, empty_do) on stdout.

    Example: cag tag logs.jsonl | cag stats - --json
    """
    from causal_agents.transcripts.accounting import GROUPS, compute_stats, summary_line
    from causal_agents.transcripts.provenance import AgentGateRules
    from causal_agents.transcripts.render import get_renderer
    from causal_agents.transcripts.tagging import TagCounts, iter_tagged

    if by not in GROUPS:
        raise typer.BadParameter(f"expected one of {', '.join(GROUPS)}", param_hint="--by")
    from tqdm import tqdm

    get_renderer(renderer)  # a bad --renderer is a usage error before any work
    opts = o.tag_options(self_, role_map, text_role, format, messages_key, group_by_file, demonstrations, text_key,
                         branches, redact)
    rules = AgentGateRules()
    counts = TagCounts()
    records = rules.watch(iter_tagged(inputs, opts, counts=counts))
    # disable=None: a bar on an interactive terminal only, never in logs or pipes
    with tqdm(unit=" transcripts", desc="stats", disable=None, leave=False) as bar:
        report = compute_stats(records, StatsOptions(tokenizer=tokenizer, renderer=renderer, max_length=max_length),
                               progress=bar.update)
    for line in [*opts.warnings(), *filter(None, [rules.hint(opts), counts.skipped_line()])]:
        info(line)
    if json:
        emit_json(report)
        return
    _table(report, by)
    info(summary_line(report))
    if report["redacted"]:
        info(f"redacted {sum(report['redacted'].values()):,} secrets: "
             + ", ".join(f"{n:,} {kind}" for kind, n in report["redacted"].items()))
    if report["empty_do"]["count"]:
        info(f"warning: {report['empty_do']['count']:,} transcript(s) supervise no world-written token under do "
             f"(e.g. {report['empty_do']['examples'][:3]}); cag train refuses them")


def _table(report: dict, by: str) -> None:
    from rich.table import Table

    t = Table(title=f"{report['transcripts']:,} transcripts, {report['tokens']:,} tokens "
                    f"({report['renderer']} renderer, tokenizer {report['tokenizer']})")
    t.add_column(by, no_wrap=True)
    from causal_agents.transcripts.spans import CLASS_NAMES

    cols = ("segments", "tokens", *CLASS_NAMES, "obs", "do")
    for c in cols:
        t.add_column(c, justify="right")
    for k, row in report[f"by_{by}"].items():
        t.add_row(str(k), *(f"{row[c]:,}" for c in cols))
    console().print(t)
