"""`cag bayes`: the two-hypothesis worked example of "Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026, sec. 4)."""

from __future__ import annotations

from typing import Annotated, List

import typer

from causal_agents.cli.output import console, emit_json
from causal_agents.truth.bayes import PAPER_KERNELS, PAPER_PRIORS, PAPER_SEQUENCE


def bayes(
    prior: Annotated[List[str], typer.Option(
        "--prior", help="HYP=W (repeatable or comma-separated); normalised. Default: "
        + ",".join(f"{h}={w:g}" for h, w in PAPER_PRIORS.items()) + ".")] = [],
    kernel: Annotated[List[str], typer.Option(
        "--kernel", help="HYP:SYMBOL=P,SYMBOL=P (repeatable), the hypothesis' next-symbol probabilities. "
        "Default: " + " and ".join(f"{h}:" + ",".join(f"{s}={p:g}" for s, p in k.items())
                                   for h, k in PAPER_KERNELS.items()) + ".")] = [],
    sequence: Annotated[str, typer.Option(
        "--sequence", help="Slots in order: X is world-written (evidence), do(X) agent-written "
        f"(an intervention), do(?) lets the agent choose by its policy. Default: '{PAPER_SEQUENCE}'.")] = "",
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")] = False,
) -> None:
    """Observational vs interventional posterior updates over a sequence of (symbol, writer).

    With no arguments prints the paper's example: the agent's policy gives pi(B) = 0.345, so it
    writes A; the observational updater drops w(p_B) to 0.1069 while the interventional one
    keeps 0.35; after a world-written B they reach 0.4891 and 0.8116.

    Example: cag bayes --sequence 'do(?) B B do(A) A' --json
    """
    from causal_agents.truth.bayes import Model, parse_assignments, parse_kernels, parse_sequence, run

    priors = parse_assignments(prior, "--prior") if prior else dict(PAPER_PRIORS)
    kernels = parse_kernels(kernel) if kernel else {h: dict(k) for h, k in PAPER_KERNELS.items()}
    model = Model(priors, kernels)
    result = run(model, parse_sequence(sequence or PAPER_SEQUENCE, model))
    if json:
        emit_json(result)
        return
    _table(result, model)


def _table(result: dict, model) -> None:
    from rich.table import Table

    hyps = list(model.priors)
    t = Table(title="Posterior weights: interventional (do) vs observational (obs)")
    t.add_column("slot", justify="right")
    t.add_column("writer")
    t.add_column("symbol")
    for s in model.symbols:
        t.add_column(f"pi({s}) before", justify="right")
    for h in hyps:
        t.add_column(f"do w({h})", justify="right")
        t.add_column(f"obs w({h})", justify="right")
    t.add_row("0", "", "prior", *([""] * len(model.symbols)),
              *[f"{model.priors[h]:.4f}" for h in hyps for _ in (0, 1)])
    for st in result["steps"]:
        sym = f"{'do(' + st['symbol'] + ')' if st['writer'] == 'agent' else st['symbol']}"
        if st["chosen_by_agent"]:
            sym += " (chosen)"
        t.add_row(str(st["slot"]), st["writer"], sym, *[f"{st['policy'][s]:.4f}" for s in model.symbols],
                  *[f"{st[k][h]:.4f}" for h in hyps for k in ("interventional", "observational")])
    console().print(t)
