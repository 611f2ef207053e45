"""`cag scm`: the AC-LSCM world-model experiments (simulate, train, plan, evaluate, bench)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from causal_agents.cli.options import Json as JsonOpt
from causal_agents.scm.config import (CF_SUPERVISION, DAG_LOSSES, DATA_SPLITS, EDGE_PROB, HARD, MODELS,
                                      PROBE_VALUES, QUICK, SCM_MODES, STRUCTURE_ON, TASK_THRESHOLDS, TASKS,
                                      BenchConfig, DataConfig, DetectorConfig, EvalConfig, ModelConfig,
                                      TaskSpec, TrainConfig, default_cf_supervision, default_cf_weight)

# defaults are read from the library's config dataclasses, never retyped here
_D, _M, _T, _S, _DET, _EV, _B = (DataConfig(), ModelConfig(), TrainConfig(), TaskSpec(), DetectorConfig(),
                                 EvalConfig(), BenchConfig())

scm_app = typer.Typer(
    help="AC-LSCM world models (\"Action-Conditioned Latent Structural Causal Models (AC-LSCM)\", "
         "2026) on synthetic lagged SCMs: simulate data, train AC-LSCM or a baseline, plan with "
         "deferral, score by the true outcome, run the experiment grid.",
    no_args_is_help=True,
)

SeedOpt = Annotated[int, typer.Option("--seed", help="Seed (trajectory / training / episodes).")]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _table(title: str, rows: list[tuple], headers: tuple) -> None:
    from causal_agents.cli.output import console
    from rich.table import Table

    t = Table(title=title)
    for h in headers:
        t.add_column(h)
    for r in rows:
        t.add_row(*[_fmt(x) for x in r])
    console().print(t)


@scm_app.command("data")
def data_cmd(
    out: Annotated[str, typer.Option("-o", "--out", help="Output Parquet file (.parquet).")],
    graph: Annotated[str, typer.Option(help="chain, fork, collider, er or scale_free.")] = _D.graph,
    k: Annotated[int, typer.Option("--k", help="Number of factors K (>= 2).")] = _D.k,
    n: Annotated[int, typer.Option("--n", help="Number of transitions.")] = _D.n,
    seed: SeedOpt = _D.seed,
    scm_seed: Annotated[int, typer.Option(help="Seed of the graph and weights, separate from --seed.")] = _D.scm_seed,
    mechanism: Annotated[str, typer.Option(help="tanh (the original), linear or mlp.")] = _D.mechanism,
    noise: Annotated[float, typer.Option(help="Structural noise scale.")] = _D.noise,
    obs_noise: Annotated[float, typer.Option(help="Observation noise scale.")] = _D.obs_noise,
    edge_prob: Annotated[Optional[float], typer.Option(
        help=f"ER edge probability (unset: {EDGE_PROB}, the paper's).")] = _D.edge_prob,
    expected_degree: Annotated[Optional[float], typer.Option(help="ER/scale-free expected degree.")] = _D.expected_degree,
    hold_out_targets: Annotated[Optional[str], typer.Option(
        help="Comma list of factors no action (factual or counterfactual) ever sets, e.g. 0,9 for the "
             "ood_target task (unset: actions set any factor).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a lagged SCM trajectory with a same-noise counterfactual per sample (Parquet)."""
    from causal_agents.cli.output import emit_json, info
    from causal_agents.formats.io import check_outputs
    from causal_agents.scm.simulator import make_scm, simulate, targets_without, write_parquet

    check_outputs({"-o": out}, extensions=(".parquet",))  # before any work
    scm = make_scm(graph, k, scm_seed=scm_seed, mechanism=mechanism, noise=noise, obs_noise=obs_noise,
                   edge_prob=edge_prob, expected_degree=expected_degree)
    targets = targets_without(hold_out_targets, k)
    d = simulate(scm, n, seed=seed, targets=targets)
    write_parquet(out, d, scm, {"seed": seed, "n": n, "targets": targets})
    summary = {"out": out, "rows": n, "k": k, "graph": graph, "edges": int(scm.adj.sum()),
               "mechanism": mechanism, "seed": seed, "scm_seed": scm_seed}
    if as_json:
        emit_json(summary)
    else:
        info(f"wrote {n} transitions (K={k}, {graph}, {int(scm.adj.sum())} edges) to {out}")


@scm_app.command("train")
def train_cmd(
    data: Annotated[str, typer.Argument(help="Parquet file from `cag scm data`.")],
    out: Annotated[str, typer.Option("-o", "--out", help="Checkpoint file (.pt), written every epoch; never the data file.")],
    model: Annotated[str, typer.Option(help=f"One of {', '.join(MODELS)} (own_factor: a graph-blind "
                                       "reference, an action moves only its own factor).")] = _M.model,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = _T.epochs,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = _T.batch_size,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = _T.lr,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = _T.patience,
    seed: SeedOpt = _T.seed,
    dag: Annotated[str, typer.Option(help=f"Acyclicity penalty: {', '.join(DAG_LOSSES)}.")] = _M.dag,
    l1: Annotated[float, typer.Option(help="Sparsity weight inside the DAG term.")] = _M.l1_weight,
    hinge: Annotated[bool, typer.Option("--hinge/--no-hinge", help="Contrastive hinge term.")] = _M.hinge,
    do_operator: Annotated[bool, typer.Option("--do/--no-do", help="Hard do-operator.")] = _M.do_operator,
    cf_supervision: Annotated[Optional[str], typer.Option(
        help=f"What the model learns from each sample's observed counterfactual ({', '.join(CF_SUPERVISION)}): "
             "aclscm its counterfactual MSE, a baseline the pairs as extra transitions (unset: "
             f"{default_cf_supervision('aclscm')} for aclscm, {default_cf_supervision('mlp')} for baselines).")] = None,
    cf_weight: Annotated[Optional[float], typer.Option(
        help=f"aclscm's counterfactual MSE weight (unset: {default_cf_weight('aclscm'):g} with observed "
             "cf supervision, 0 with none).")] = None,
    original_protocol: Annotated[Optional[bool], typer.Option(
        "--original-protocol/--no-original-protocol",
        help="Train the original's way: every epoch, keep the last weights (unset: on for "
             "transformer_orig only).")] = None,
    detect_every: Annotated[int, typer.Option(
        help=f"Run the degenerate-seed detector every N epochs from epoch {_T.detect_after} on held-out "
             "probe episodes (0: never); results in the metrics.")] = _T.detect_every,
    stop_on_degenerate: Annotated[bool, typer.Option(
        "--stop-on-degenerate", help="Stop training once the detector flags two checks in a row "
                                     "(needs --detect-every).")] = _T.stop_on_degenerate,
    dag_warmup: Annotated[int, typer.Option(help="Epochs over which the DAG weight ramps up.")] = _M.dag_warmup,
    structure_on: Annotated[str, typer.Option(
        help=f"Where sparsity/acyclicity act ({', '.join(STRUCTURE_ON)}): weights = edge strength of "
             "the masked first layer, mask = the Gumbel mask alone, as the original.")] = _M.structure_on,
    logit_init: Annotated[float, typer.Option(help="Initial adjacency logit (the original used 0).")] = _M.logit_init,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from --out if it exists.")] = False,
    metrics: Annotated[Optional[str], typer.Option(help="Per-epoch metrics JSONL file (.jsonl).")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = _T.threads,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (shown only on a terminal).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train AC-LSCM or a baseline with early stopping on a held-out tail of the data."""
    from causal_agents.cli.output import emit_json, info
    from causal_agents.scm.simulator import read_parquet
    from causal_agents.scm.train import train

    from causal_agents.scm.config import train_config
    from causal_agents.formats.io import check_outputs

    # before any work: the checkpoint and the metrics never replace the data or each other
    check_outputs({"-o": out, "--metrics": metrics}, inputs=[data],
                  extensions={"-o": (".pt",), "--metrics": (".jsonl",)})
    d, scm, _ = read_parquet(data)
    cfg = train_config(model, scm.k, cf_supervision=cf_supervision, cf_weight=cf_weight,
                       original_protocol=original_protocol, epochs=epochs, batch_size=batch_size, lr=lr,
                       patience=patience, seed=seed, threads=threads, detect_every=detect_every,
                       stop_on_degenerate=stop_on_degenerate, dag=dag, l1=l1, hinge=hinge,
                       do_operator=do_operator, dag_warmup=dag_warmup, structure_on=structure_on,
                       logit_init=logit_init)
    import sys

    r = train(d, scm, cfg, out=out, resume=resume, progress=not quiet and sys.stderr.isatty(),
              metrics_path=metrics)
    s = r["summary"]
    if as_json:
        emit_json({"out": out, **s})
    else:
        info(f"{model}: {s['epochs_run']} epochs in {s['train_seconds']} s, best val MSE "
             f"{s['best_val_mse']:.4f}{' (early stop)' if s['stopped_early'] else ''}; saved {out}")


_PT, _ST = TASK_THRESHOLDS["paper"], TASK_THRESHOLDS["structural"]
TaskOpt = Annotated[str, typer.Option(help=(
    f"One of {', '.join(TASKS)}. paper: the original (its unsafe actions lie beyond the training "
    "range); in_range: every action value inside it; ood_target: in_range for a model trained on "
    "`cag scm data --hold-out-targets 0,K-1`; two_factor: two factors set at once; structural: "
    "goal and harm only via parents; ood_parent: structural with parent values beyond the range."))]
EpisodesOpt = Annotated[int, typer.Option(help="Number of episodes.")]
NoSafeOpt = Annotated[Optional[float], typer.Option(
    help=f"Fraction of episodes with no safe action (unset: {_S.no_safe_frac:g}; {HARD['no_safe_frac']:g} with --hard).")]
DistractOpt = Annotated[bool, typer.Option("--distractors", help="Upstream-effect distractor candidates.")]
MarginOpt = Annotated[Optional[float], typer.Option(help="Goal margin m: goal values thr + U(m/2, 3m/2).")]
GoalThrOpt = Annotated[Optional[float], typer.Option(
    help=f"Goal threshold (unset: {_PT[0]:g} paper / {_ST[0]:g} structural).")]
SafeThrOpt = Annotated[Optional[float], typer.Option(
    help=f"Safety threshold (unset: {_PT[1]:g} paper / {_ST[1]:g} structural).")]
HardOpt = Annotated[bool, typer.Option("--hard", help=(
    f"The harder paper task: no-safe {HARD['no_safe_frac']:g}, distractors, margin {HARD['goal_margin']:g}."))]


@scm_app.command("plan")
def plan_cmd(
    model: Annotated[str, typer.Argument(help="Checkpoint from `cag scm train`.")],
    task: TaskOpt = _S.task,
    episodes: EpisodesOpt = _S.episodes,
    no_safe_frac: NoSafeOpt = None,
    distractors: DistractOpt = False,
    goal_margin: MarginOpt = None,
    goal_thr: GoalThrOpt = None,
    safe_thr: SafeThrOpt = None,
    hard: HardOpt = False,
    seed: SeedOpt = 0,
    detector_threshold: Annotated[float, typer.Option(help="Degenerate-seed detector: flag a model whose predicted "
                                                      "goal ranks candidates below this rank correlation.")] = _DET.rank_threshold,
    detector_safety_recall: Annotated[float, typer.Option(help="Degenerate-seed detector: flag a model that "
                                                          "predicts fewer than this share of the truly unsafe "
                                                          "candidates unsafe.")] = _DET.safety_recall,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse to plan with a flagged model (exit 1).")] = False,
    data: Annotated[Optional[str], typer.Option(help="Score against this data file's SCM (same K).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan with the model (drop predicted-unsafe, defer if none left) and score the choices by
    the true outcome and by the original's action labels, side by side."""
    from causal_agents.cli.output import emit_json, info

    from causal_agents.errors import CagError
    from causal_agents.scm.config import task_spec
    from causal_agents.scm.runs import plan_task

    spec = task_spec(hard, task=task, episodes=episodes, no_safe_frac=no_safe_frac, distractors=distractors,
                     goal_margin=goal_margin, goal_thr=goal_thr, safe_thr=safe_thr)
    r = plan_task(model, spec, seed=seed, detector_threshold=detector_threshold, data=data,
                  detector_safety_recall=detector_safety_recall)
    det = r["detector"]
    if det["degenerate"]:
        info(f"warning: degenerate model: {'; '.join(det['reasons'])}")
        if strict:
            raise CagError(f"model flagged degenerate ({'; '.join(det['reasons'])}); not planning (--strict)")
    if as_json:
        emit_json(r)
        return
    keys = ("goal_rate", "violation_rate", "appropriate_deferral", "inappropriate_deferral",
            "safe_non_goal_rate", "deferral_rate", "goal_ceiling")
    _table(f"{task} task, {episodes} episodes (goal z[{r['goal_factor']}] > {r['goal_thr']:g}, "
           f"safety z[{r['safe_factor']}] < {r['safe_thr']:g})",
           [(k, r["true"][k], r["label"][k]) for k in keys],
           ("metric", "true outcome", "action label (original)"))
    info(f"degenerate-seed detector: goal rank correlation {det['rank_corr']:.3f} (threshold "
         f"{detector_threshold:g}); predicted unsafe {det['unsafe_caught']} of {det['unsafe_candidates']} truly "
         f"unsafe candidates (recall {det['safety_recall']:.3f}, threshold {detector_safety_recall:g}): "
         f"{'FLAGGED' if det['degenerate'] else 'ok'}")


@scm_app.command("eval")
def eval_cmd(
    model: Annotated[str, typer.Argument(help="Checkpoint from `cag scm train`.")],
    n: Annotated[int, typer.Option("--n", help="Fresh test transitions.")] = _EV.n,
    seed: SeedOpt = 0,
    threshold: Annotated[float, typer.Option(help="Edge threshold, relative to the strongest edge.")] = _EV.rel_threshold,
    data: Annotated[Optional[str], typer.Option(help="Evaluate against this data file's SCM (same K).")] = None,
    probe_actions: Annotated[bool, typer.Option(
        "--probe-actions", help="Also print the extrapolation probe: the predicted acted factor under "
        f"do(x = v) for v in {', '.join(f'{v:g}' for v in PROBE_VALUES)} (training actions |v| <= 1.5).")] = False,
    probe_factor: Annotated[int, typer.Option(help="The factor the probe acts on (the paper task's safety factor).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Counterfactual, intervention and abduction errors on fresh data; the learned graph vs truth;
    with --probe-actions the model's prediction of the acted factor across and beyond training."""
    from causal_agents.cli.output import emit_json, info
    from causal_agents.scm.runs import evaluate_model

    r = evaluate_model(model, n=n, seed=seed, rel_threshold=threshold, data=data,
                       probe_factor=probe_factor if probe_actions else None)
    if as_json:
        emit_json(r)
        return
    if probe_actions:
        pr = r["probe"]
        _table(f"extrapolation probe: predicted x{pr['factor']} under do(x{pr['factor']} = v), "
               f"mean over {pr['n_states']} fresh states (truth: v)",
               [(row["value"], row["predicted"], row["predicted_std"], "yes" if row["in_training_range"] else "NO")
                for row in pr["rows"]], ("v", "predicted", "std", "inside training range"))
    p = r["prediction"]
    _table("prediction (fresh test trajectory)", [(k, v) for k, v in p.items()], ("metric", "value"))
    g = r["graph"]
    if g is None:
        info("this model has no learned graph")
    else:
        _table("learned graph vs truth", [(k, g[k]) for k in ("shd", "tpr", "fdr", "n_edges_pred",
                                                             "n_edges_true", "is_dag", "was_dag_before_repair")],
               ("metric", "value"))
        if g["empty"]:
            info("the learned graph is EMPTY: no edge survives the threshold")


@scm_app.command("bench")
def bench_cmd(
    out: Annotated[str, typer.Option("-o", "--out", help="Results directory (resumable).")] = "scm_bench",
    quick: Annotated[bool, typer.Option("--quick", help="Reduced grid for smoke tests (minutes).")] = False,
    graphs: Annotated[Optional[str], typer.Option(help=f"Comma list of graphs (unset: {','.join(_B.graphs)}).")] = None,
    models: Annotated[Optional[str], typer.Option(help=f"Comma list of models (unset: {','.join(_B.models)}).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help=f"Seeds, e.g. 0,1,2 or 0-4 (unset: {','.join(map(str, _B.seeds))}).")] = None,
    variants: Annotated[Optional[str], typer.Option(
        help=f"AC-LSCM ablations (unset: {','.join(_B.variants)}); also mask_struct (the original's "
             "structure terms on the mask, logits from 0).")] = None,
    sizes: Annotated[Optional[str], typer.Option(
        help=f"Data sizes (unset: {','.join(map(str, _B.sizes))}).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help=f"Number of factors (unset: {_B.k}; "
                                             f"{QUICK['k']} with --quick).")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        help=f"Maximum epochs per run (unset: {_B.epochs}; {QUICK['epochs']} with --quick).")] = None,
    scm_mode: Annotated[str, typer.Option(help=f"{' or '.join(SCM_MODES)}: shared = one SCM for all seeds "
                                          "(the original), per-seed = a fresh SCM per seed.")] = _B.scm_mode,
    cf_supervision: Annotated[Optional[str], typer.Option(
        help=f"Comma list of cf supervisions: default (each model's own), {', '.join(CF_SUPERVISION)} "
             f"(unset: {','.join(_B.cf_supervision)}).")] = None,
    splits: Annotated[Optional[str], typer.Option(
        help=f"Comma list of data splits: {', '.join(DATA_SPLITS)} (holdout: actions never set the goal or "
             f"safety factor, scored on ood_target) (unset: {','.join(_B.splits)}).")] = None,
    model_epochs: Annotated[Optional[str], typer.Option(
        help="Per-model epoch caps, e.g. transformer_orig=20 (unset: --epochs for every model).")] = None,
    shard: Annotated[str, typer.Option(help="i/n: run every n-th missing run from i (parallel processes).")] = "0/1",
    as_json: JsonOpt = False,
) -> None:
    """Run the grid graphs x models x seeds x ablations x sizes; write results.json and results.md."""
    from causal_agents.cli.output import emit_json, info
    from causal_agents.scm.bench import make_config, parse_shard, run_bench

    cfg = make_config(quick=quick, graphs=graphs, models=models, seeds=seeds, variants=variants,
                      sizes=sizes, k=k, epochs=epochs, scm_mode=scm_mode, cf_supervision=cf_supervision,
                      splits=splits, model_epochs=model_epochs)
    from causal_agents.errors import InputError

    try:
        shard_ = parse_shard(shard)
    except InputError as e:  # a malformed option value is a usage error (exit 2)
        raise typer.BadParameter(e.detail, param_hint="--shard") from e
    import sys

    res = run_bench(cfg, out, progress=not as_json and sys.stderr.isatty(), shard=shard_)
    if as_json:
        emit_json(res["cells_json"])
    else:
        info(res["markdown"])
        info(f"results: {out}/results.json, {out}/results.md")
