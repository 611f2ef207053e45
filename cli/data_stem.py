"""`cag data stem`: seeded STEM problem splits for the verifier-stream experiment."""

from __future__ import annotations

from typing import Annotated, List

import typer

from causal_agents.cli import options as o
from causal_agents.cli.options import default
from causal_agents.cli.output import emit_json, info
from causal_agents.stem.problems import DEFAULT_COUNTS, EXTENSIONS, write_splits


def stem(
    out: Annotated[str, typer.Option("--out", "-o", help="Directory for sft.EXT, agent.EXT, test.EXT and manifest.json.")],
    seed: Annotated[int, typer.Option("--seed", help="RNG seed; the same seed gives byte-identical files.")] = default(write_splits, "seed"),
    n: Annotated[List[str], typer.Option("-n", help="SPLIT=COUNT (repeatable) to change a split's size, "
                                         "e.g. -n sft=20 -n test=10. Defaults: " + " ".join(f"{k}={v}" for k, v in DEFAULT_COUNTS.items()) + ".")] = [],
    ext: Annotated[str, typer.Option("--ext", help=f"File type of the splits: {', '.join(EXTENSIONS[:-1])} or {EXTENSIONS[-1]}.")] = default(write_splits, "ext"),
    variant: o.Variant = default(write_splits, "variant"),
    json_: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON on stdout.")] = False,
) -> None:
    """Write seeded, disjoint, skill-balanced STEM splits (10 skills, 3 domains).

    sft: OpenAI chat records (question as a context user turn, the teacher's worked solution as a world-written assistant turn) that `cag tag` reads. agent, test: problem records (question, solution, answer, unit, tol_abs, tol_rel, domain, skill).

    --variant calculator: the same problems; the teacher's solution calls the calculator (sft: teacher turn, tool turn with the calculator's result, teacher turn with the final answer) and the problem records carry calc_work and calc_expression, which `cag stream --variant calculator` needs for its corrections.

    Example: cag data stem --out data/stem --seed 0 -n test=100
    """
    from causal_agents.stem.problems import parse_counts

    manifest = write_splits(out, seed=seed, counts=parse_counts(n), ext=ext, variant=variant)
    if json_:
        emit_json(manifest)
    else:
        for split, path in manifest["files"].items():
            info(f"{split}: {manifest['counts'][split]:,} problems -> {path}")


def stem_grade(
    problems: Annotated[str, typer.Argument(help="Problem file from `cag data stem` (test.jsonl, agent.jsonl or .parquet).")],
    outputs: Annotated[str, typer.Argument(help="Model outputs: one record per problem, {id, output} or {id, outputs: [...]}.")],
    protocol: Annotated[str, typer.Option("--protocol", help="single: grade the first output only. gated: solved if any output passes (repair after a failed verdict, or pass@k).")] = "single",
    json_: Annotated[bool, typer.Option("--json", help="Print the full result (overall, per skill, per domain, per item) as JSON.")] = False,
) -> None:
    """Grade model outputs with the STEM verifier: solve accuracy with Wilson 95% intervals, overall, per domain and per skill.

    Example: cag data stem-grade data/stem/test.jsonl outputs.jsonl --protocol single
    """
    from causal_agents.errors import InputError
    from causal_agents.stem.evaluate import PROTOCOLS, grade_files

    if protocol not in PROTOCOLS:
        raise InputError(f"--protocol expects one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    result = grade_files(problems, outputs, protocol)
    if json_:
        emit_json(result)
        return
    from rich.table import Table

    table = Table(title=f"STEM solve accuracy ({protocol})")
    for col in ("group", "n", "solved", "accuracy", "Wilson 95%"):
        table.add_column(col, justify="left" if col == "group" else "right")
    rows = [("overall", result["overall"])]
    rows += [(f"domain {k}", v) for k, v in result["per_domain"].items()]
    rows += [(f"skill {k}", v) for k, v in result["per_skill"].items()]
    for name, c in rows:
        lo, hi = c["ci95"]
        table.add_row(name, str(c["n"]), str(c["solved"]), f"{c['accuracy']:.3f}", f"[{lo:.3f}, {hi:.3f}]")
    from causal_agents.cli.output import console

    console().print(table)
