"""`cag eval`: evaluate trained policies. `cag eval stem`: held-out STEM solve accuracy."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.options import default
from causal_agents.cli.output import console, emit_json, info
from causal_agents.stem.evaluate import evaluate_models

eval_app = typer.Typer(help="Evaluate trained policies on held-out data.", no_args_is_help=True)


def parse_model_specs(specs: list[str]) -> list[tuple[str, str | None]]:
    """``NAME=PATH`` or ``PATH`` (named after its directory); ``tiny`` is the embedded model."""
    import os

    out = []
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep:
            path = s
            name = os.path.basename(os.path.normpath(s)) or s
        if not name or not path:
            raise typer.BadParameter(f"expected NAME=PATH or PATH, got {s!r}", param_hint="--model")
        out.append((name, None if path == "tiny" else path))
    return out


@eval_app.command("stem")
def stem(
    test: Annotated[str, typer.Argument(help="Held-out problem file from `cag data stem` (test.jsonl or .parquet).")],
    model: Annotated[List[str], typer.Option("--model", "-m", help="NAME=PATH (repeatable): a `cag train` run directory, local model "
                                             "or hub name; PATH alone is named after its directory; 'tiny' is the embedded model.")],
    gguf_file: o.GgufFile = None,
    base: Annotated[Optional[str], typer.Option("--base", help="The first-attempt policy of the gated protocol and of the "
                                                "stream-matched table (the frozen SFT model of \"Continual, interactive, causal agents\" (de Freitas and Ortega, 2026)) (default: the first --model).")] = None,
    gated: Annotated[List[str], typer.Option("--gated", help="Policies that get the verifier-gated repair protocol (repeatable) (default: all).")] = [],
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest answer, in tokens.")] = default(evaluate_models, "max_new_tokens"),
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts decoded together.")] = default(evaluate_models, "batch_size"),
    repair_verdict: Annotated[bool, typer.Option("--repair-verdict/--no-repair-verdict", help="Show the verifier's verdict in the repair prompt "
                                                 "(match how the stream was collected: `cag stream --verdicts`).")] = default(evaluate_models, "repair_verdict"),
    outputs: Annotated[Optional[str], typer.Option("--outputs", help="Also write every policy's raw answers here (JSONL: method, id, first, repair).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Weights of the 'tiny' model.")] = default(evaluate_models, "seed"),
    variant: o.Variant = default(evaluate_models, "variant"),
    device: o.Device = default(evaluate_models, "device"),
    json: Annotated[bool, typer.Option("--json", help="Print the full result (both protocols, per skill, per domain, "
                                       "stream-matched; per-item outcomes) as one JSON object.")] = False,
) -> None:
    """Held-out solve accuracy with Wilson 95% intervals, under both protocols, labelled.

    single: one greedy answer per question, graded by the verifier (every method). gated: accept the base policy's answer when the verifier passes it, otherwise the method gets one repair attempt with the base policy's wrong attempt (and verdict) in context (the released notebook's do-stream and SFT+oracle numbers). Also prints per-skill accuracy and the stream-matched table: accuracy on the items the base policy got wrong.

    Example: cag eval stem data/stem/test.jsonl -m sft=runs/stream/sft -m do=runs/stream/do_stream --base sft
    """
    from causal_agents.stem.evaluate import slim, write_outputs

    model = o.with_gguf(model, gguf_file)

    specs = parse_model_specs(model)
    result = evaluate_models(test, specs, base=base, gated=gated or None, max_new_tokens=max_new_tokens,
                             batch_size=batch_size, repair_verdict=repair_verdict, device=device, seed=seed, log=info,
                             variant=variant)
    if outputs:
        write_outputs(outputs, result)
    if json:
        emit_json(result)
        return
    print_tables(slim(result), title=f"STEM held-out solve accuracy ({result['settings']['variant']} variant)")


def _acc(cell: dict | None) -> str:
    if not cell or not cell["n"]:
        return "-"
    lo, hi = cell["ci95"]
    return f"{100 * cell['accuracy']:.1f} [{100 * lo:.0f}, {100 * hi:.0f}] ({cell['solved']}/{cell['n']})"


def print_tables(result: dict, title: str = "STEM held-out solve accuracy") -> None:
    """The comparison, per-skill and stream-matched tables, on stderr."""
    from rich.table import Table

    methods = result["methods"]
    t = Table(title=f"{title}: n={result['n']}, % with Wilson 95% interval")
    t.add_column("method", no_wrap=True)
    t.add_column("single-shot", justify="right")
    t.add_column(f"gated repair (base: {result['base']})", justify="right")
    for name, r in methods.items():
        t.add_row(name, _acc(r["single"]["overall"]), _acc(r.get("gated", {}).get("overall")))
    console().print(t)
    skills = sorted({s for r in methods.values() for s in r["single"]["per_skill"]})
    t = Table(title="Per skill, single-shot (solved/n)")
    t.add_column("skill", no_wrap=True)
    for name in methods:
        t.add_column(name, justify="right")
    for s in skills:
        t.add_row(s, *(f"{c['solved']}/{c['n']}" if (c := r["single"]["per_skill"].get(s)) else "-"
                       for r in methods.values()))
    console().print(t)
    t = Table(title=f"Stream-matched: the {result['base_wrong']} items the base policy ({result['base']}) got wrong")
    t.add_column("method", no_wrap=True)
    t.add_column("single-shot", justify="right")
    t.add_column("gated repair", justify="right")
    for name, r in methods.items():
        t.add_row(name, _acc(r["matched"]["single"]), _acc(r["matched"].get("gated")))
    console().print(t)
    info("single-shot: one greedy answer per question. gated repair: the base policy's verified answer is kept; "
         "otherwise one repair attempt with its wrong attempt in context.")
