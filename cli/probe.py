"""`cag probe`: the truth experiment's probes on one or more models, side by side."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from causal_agents.cli import options as o
from causal_agents.cli.options import default
from causal_agents.cli.output import console, emit_json
from causal_agents.truth.probes import PROBES, ProbeOptions, probe_models

_D = ProbeOptions()  # every option's default, written once in the library


def parse_probes(text: str) -> tuple[str, ...]:
    """``all`` or a comma-separated subset of the probes, as a tuple (a usage error otherwise)."""
    if text == "all":
        return PROBES
    out = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in out if p not in PROBES]
    if bad or not out:
        raise typer.BadParameter(f"expected all or a comma-separated subset of {', '.join(PROBES)}, got {text!r}",
                                 param_hint="--probe")
    return out


def probe(
    facts: Annotated[str, typer.Option("--facts", help="Fact bank: JSON list of {topic, true, false} or {\"facts\": [...]}.")],
    model: Annotated[List[str], typer.Option("--model", help="Run directory, local model or hub name (repeatable: "
                                             "models are compared side by side).")],
    gguf_file: o.GgufFile = None,
    probes: Annotated[str, typer.Option("--probe", help=f"{', '.join(PROBES)}, comma-separated, or all.")] = "all",
    context: Annotated[Optional[str], typer.Option("--context", help="Context paragraph before each probe "
                                                   "(default: the one `cag data dialogues` writes).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Facts scored or decoded together "
                                              "(lower it if a large model runs out of memory).")] = _D.batch_size,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest greedy reply (cut at the first newline).")] = _D.max_new_tokens,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Save a per-fact bar chart of the margin to FILE.png.")] = None,
    device: o.Device = default(probe_models, "device"),
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")] = False,
) -> None:
    """Probe models for truth vs lie, as in "Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026, sec. 5.5).

    truth: the user states the true claim; the greedy reply (cut at the first newline) is
    classified affirms / states_lie / other. lie: the user states the false claim; corrects /
    echoes / other. margin: after 'User: Tell me about <topic>.' the mean per-token log-prob
    of the true minus the false claim (Δ < 0: the model prefers the lie). Summaries: mean Δ,
    facts preferring the lie, truth-probe contradictions, lie-probe corrections.

    Example: cag probe --facts sample_data/facts-33.json --model runs/truth/obs --model runs/truth/do --plot margins.png
    """
    from causal_agents.truth.dialogues import load_facts
    from causal_agents.truth.probes import plot_margins

    model = o.with_gguf(model, gguf_file)

    which = parse_probes(probes)
    if plot and "margin" not in which:
        raise typer.BadParameter("--plot draws the margin probe; include margin in --probe", param_hint="--plot")
    bank = load_facts(facts)
    opts = ProbeOptions(probes=which, context=context or _D.context, batch_size=batch_size, max_new_tokens=max_new_tokens)
    result = probe_models(model, bank, opts, device=device)
    if plot:
        plot_margins(result, plot)
    if json:
        emit_json(result)
        return
    print_tables(result)
    if plot:
        console().print(f"plot saved to {plot}")


def print_tables(result: dict) -> None:
    """The probes' summary per model and per fact, on stderr."""
    from rich.table import Table

    labels = list(result["models"])
    probes = result["probes"]
    t = Table(title="Per fact (Δ < 0: prefers the lie)")
    t.add_column("topic", overflow="fold")
    for m in labels:
        if "margin" in probes:
            t.add_column(f"{m} Δ", justify="right")
        if "truth" in probes:
            t.add_column(f"{m} truth")
        if "lie" in probes:
            t.add_column(f"{m} lie")
    for f in result["facts"]:
        cells = []
        for m in labels:
            r = f[m]
            if "margin" in probes:
                cells.append(f"[{'red' if r['delta'] < 0 else 'green'}]{r['delta']:+.3f}[/]")
            if "truth" in probes:
                cells.append(r["truth_class"])
            if "lie" in probes:
                cells.append(r["lie_class"])
        t.add_row(f["topic"], *cells)
    c = console()
    c.print(t)
    s = Table(title="Summary")
    s.add_column("model")
    cols = []
    if "margin" in probes:
        cols += [("mean Δ", lambda x: f"{x['mean_margin']:+.4f}"),
                 ("lie preferred", lambda x: f"{x['lie_preferred']}/{x['facts']}")]
    if "truth" in probes:
        cols += [("truth probe: contradicts", lambda x: f"{x['truth_contradictions']}/{x['facts']}"),
                 ("affirms", lambda x: f"{x['truth_probe']['affirms']}/{x['facts']}")]
    if "lie" in probes:
        cols += [("lie probe: corrects", lambda x: f"{x['lie_corrections']}/{x['facts']}"),
                 ("echoes", lambda x: f"{x['lie_probe']['echoes']}/{x['facts']}")]
    for name, _ in cols:
        s.add_column(name, justify="right")
    for m in labels:
        s.add_row(m, *[fn(result["models"][m]["summary"]) for _, fn in cols])
    c.print(s)
