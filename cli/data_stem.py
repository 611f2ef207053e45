"""`cag data stem`: seeded STEM problem splits for the verifier-stream experiment."""

from __future__ import annotations

from typing import Annotated, List

import typer

from causal_agents.cli.data import data_app
from causal_agents.cli.output import emit_json, info


@data_app.command("stem")
def stem(
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for sft.EXT, agent.EXT, test.EXT and manifest.json.")],
    seed: Annotated[int, typer.Option("--seed", help="RNG seed; the same seed gives byte-identical files.")] = 0,
    n: Annotated[List[str], typer.Option("-n", help="SPLIT=COUNT (repeatable) to change a split's size, "
                                         "e.g. -n sft=20 -n test=10. Defaults: sft=200 agent=200 test=100.")] = [],
    ext: Annotated[str, typer.Option("--ext", help="File type of the splits: jsonl, jsonl.gz or parquet.")] = "jsonl",
    json_: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON on stdout.")] = False,
) -> None:
    """Write seeded, disjoint, skill-balanced STEM splits (10 skills, 3 domains).

    sft: OpenAI chat records (question as a context user turn, the teacher's worked
    solution as a world-written assistant turn) that `cag tag` reads. agent, test: problem
    records (question, solution, answer, unit, tol_abs, tol_rel, domain, skill).

    Example: cag data stem --out data/stem --seed 0 -n test=100
    """
    from causal_agents.stem import parse_counts, write_splits

    manifest = write_splits(out, seed=seed, counts=parse_counts(n), ext=ext)
    if json_:
        emit_json(manifest)
    else:
        for split, path in manifest["files"].items():
            info(f"{split}: {manifest['counts'][split]:,} problems -> {path}")
