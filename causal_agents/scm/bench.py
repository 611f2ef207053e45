"""Experiment grid: data splits x cf supervision x graphs x models x ablations x data sizes x
seeds, resumable and shardable, one table per task.

Each run writes ``runs/<key>.json`` atomically; a rerun skips keys already there. A run on the
standard split is scored on the paper's task, its harder variant, the in-range variant, the
two-factor task, the structural task and its out-of-range-parent variant; a run on the holdout
split (actions never set the goal or safety factor) on the ood_target task. Every task is scored
by the true outcome under the simulator; the paper's task also by the original's action labels.
Cells report the mean over seeds with a 95% bootstrap interval and failure-mode counts.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from causal_agents.errors import InputError
from causal_agents.scm.config import (BENCH_TASKS, CF_SUPERVISION, DATA_SPLITS, MODELS, QUICK, SCM_MODES,
                                      VARIANTS, BenchConfig, task_spec)

__all__ = ["BenchConfig", "make_config", "parse_shard", "run_bench"]

METRICS = ("goal_rate", "violation_rate", "appropriate_deferral", "inappropriate_deferral",
           "safe_non_goal_rate")
TASK_SPECS = BENCH_TASKS  # the tasks every run is scored on


def make_config(quick: bool = False, graphs: str | None = None, models: str | None = None,
                seeds: str | None = None, variants: str | None = None, sizes: str | None = None,
                k: int | None = None, epochs: int | None = None,
                scm_mode: str = BenchConfig.scm_mode, cf_supervision: str | None = None,
                splits: str | None = None, model_epochs: str | None = None) -> BenchConfig:
    """A BenchConfig from the CLI's comma lists (None = the default grid's, or --quick's).
    Raises InputError naming the bad field."""
    c = BenchConfig(**QUICK) if quick else BenchConfig()
    if graphs:
        c.graphs = _split(graphs)
    if models:
        c.models = _split(models)
    if seeds:
        c.seeds = _seeds(seeds)
    if variants:
        c.variants = _split(variants)
    if sizes:
        c.sizes = [int(s) for s in _split(sizes)]
    if k is not None:
        c.k = k
    if epochs is not None:
        c.epochs = epochs
    if cf_supervision:
        c.cf_supervision = _split(cf_supervision)
    if splits:
        c.splits = _split(splits)
    if model_epochs:
        c.model_epochs = _model_epochs(model_epochs)
    if scm_mode not in SCM_MODES:
        raise InputError(f"--scm-mode must be one of {', '.join(SCM_MODES)}, got '{scm_mode}'", field="scm_mode")
    c.scm_mode = scm_mode
    from causal_agents.scm.graphs import GRAPHS

    for name, vals, allowed in (("graphs", c.graphs, GRAPHS), ("models", c.models, MODELS),
                                ("variants", c.variants, VARIANTS),
                                ("cf_supervision", c.cf_supervision, ("default",) + CF_SUPERVISION),
                                ("splits", c.splits, tuple(DATA_SPLITS))):
        for v in vals:
            if v not in allowed:
                what = {"graphs": "graph type", "cf_supervision": "cf supervision"}.get(name, name[:-1])
                raise InputError(f"unknown {what} '{v}' (expected one of {', '.join(allowed)})", field=name)
    if c.k < 2:
        raise InputError(f"K must be at least 2, got {c.k}", field="k")
    return c


def _model_epochs(s: str) -> dict:
    out = {}
    for part in _split(s):
        name, _, num = part.partition("=")
        if name not in MODELS or not num.isdigit() or int(num) < 1:
            raise InputError(f"expected MODEL=EPOCHS (a model of {', '.join(MODELS)}, EPOCHS >= 1), got '{part}'",
                             field="model_epochs")
        out[name] = int(num)
    return out


def parse_shard(shard: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n; InputError otherwise."""
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise InputError(f"expected i/n with 0 <= i < n, got '{shard}'", field="shard")
    return i, n


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _seeds(s: str) -> list[int]:
    out = []
    try:
        for part in _split(s):
            if "-" in part:
                a, b = part.split("-")
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError as e:
        raise InputError(f"bad seed list '{s}' (expected e.g. 0,1,2 or 0-4)", field="seeds") from e
    return out


def run_key(cfg: BenchConfig, g: str, m: str, v: str, n: int, s: int, cs: str, sp: str) -> str:
    """The cache key of one run: everything that changes its result (graph, K, model,
    variant, size, seed, SCM mode, cf supervision, data split, the model's epochs, patience,
    episodes), so changed settings never reuse a cached run."""
    epochs = cfg.model_epochs.get(m, cfg.epochs)
    return (f"{g}-K{cfg.k}-{m}-{v}-n{n}-s{s}-{cfg.scm_mode}-cf_{cs}-{sp}"
            f"-e{epochs}-p{cfg.patience}-ep{cfg.episodes}")


def plan_runs(cfg: BenchConfig) -> list[dict]:
    """The grid, most informative first: per data split and cf supervision, every model's full
    variant at the main size, then the AC-LSCM ablations, then the data-size control (AC-LSCM
    full at the smaller sizes)."""
    main_n = max(cfg.sizes)
    runs = []

    def add(g, m, v, n, cs, sp):
        for s in cfg.seeds:
            runs.append({"graph": g, "model": m, "variant": v, "n": n, "seed": s, "cf": cs, "split": sp,
                         "scm_mode": cfg.scm_mode, "key": run_key(cfg, g, m, v, n, s, cs, sp)})

    for sp in cfg.splits:
        for cs in cfg.cf_supervision:
            for g in cfg.graphs:
                for m in cfg.models:
                    if m != "aclscm" or "full" in cfg.variants:
                        add(g, m, "full", main_n, cs, sp)
                if "aclscm" not in cfg.models:
                    continue
                for v in cfg.variants:
                    if v != "full":
                        add(g, "aclscm", v, main_n, cs, sp)
                for n in cfg.sizes:
                    if n != main_n and "full" in cfg.variants:
                        add(g, "aclscm", "full", n, cs, sp)
    return runs


def _train_run(cfg: BenchConfig, r: dict):
    from causal_agents.scm.config import cf_settings, default_original_protocol
    from causal_agents.scm.runs import model_config
    from causal_agents.scm.simulator import make_scm, simulate
    from causal_agents.scm.train import TrainConfig, train

    scm_seed = 0 if cfg.scm_mode == "shared" else r["seed"]
    scm = make_scm(r["graph"], cfg.k, scm_seed=scm_seed)
    targets = None if DATA_SPLITS[r["split"]]["targets"] == "all" else list(range(1, cfg.k - 1))
    data = simulate(scm, r["n"], seed=r["seed"], targets=targets)
    cf_weight, cf_pairs = cf_settings(r["model"], None if r["cf"] == "default" else r["cf"])
    kw = dict(VARIANTS[r["variant"]])
    if r["model"] == "aclscm":
        kw["cf_weight"] = cf_weight
    mcfg = model_config(r["model"], cfg.k, **kw)
    tcfg = TrainConfig(epochs=cfg.model_epochs.get(r["model"], cfg.epochs), patience=cfg.patience, seed=r["seed"], model=mcfg, cf_pairs=cf_pairs,
                       original_protocol=default_original_protocol(r["model"]))
    return scm, scm_seed, data, train(data, scm, tcfg)


def run_one(cfg: BenchConfig, r: dict) -> dict:
    """Train one grid run from scratch, evaluate it (prediction, graph, the lagged-regression
    graph of the same data, the extrapolation probe), plan its split's tasks; the run's record."""
    from causal_agents.scm.evaluate import lagged_regression_graph, probe_actions
    from causal_agents.scm.runs import evaluate_with, plan_with

    scm, scm_seed, data, res = _train_run(cfg, r)
    model = res["model"]
    ev = evaluate_with(model, scm, n=2000, seed=r["seed"])
    ev["linreg_graph"] = lagged_regression_graph(data, scm)
    ev["probe"] = probe_actions(model, scm, seed=r["seed"])
    tasks = {}
    for name in DATA_SPLITS[r["split"]]["tasks"]:
        spec = task_spec(episodes=cfg.episodes, **BENCH_TASKS[name])
        try:
            p = plan_with(model, scm, spec, seed=r["seed"])
            p.pop("picks", None)
            p["failure_mode"] = failure_mode(p["true"])
        except InputError as e:  # e.g. a graph with no structural task (a chain's goal factor)
            p = {"skipped": str(e)}
        tasks[name] = p
    return {**r, "scm_seed": scm_seed, "train": res["summary"], "eval": ev, "tasks": tasks}


def failure_mode(t: dict) -> str:
    """Name the way a planner failed on a task (true-outcome scoring)."""
    if t["violation_rate"] > 0.05:
        return "unsafe"
    if t["goal_rate"] == 0 and t["safe_non_goal_rate"] > 0:
        return "passive"
    if t["goal_ceiling"] > 0 and t["goal_rate"] < 0.9 * t["goal_ceiling"]:
        if t["inappropriate_deferral"] > 0.2:
            return "over-deferral"
        return "mis-rank"
    return "ok"


def run_bench(cfg: BenchConfig, out: str, progress: bool = True, shard: tuple[int, int] = (0, 1)) -> dict:
    """Run (or resume) the grid. ``shard=(i, n)``: this process runs every n-th missing run
    starting at i, so n processes can share a grid; each then aggregates what exists."""
    from causal_agents.formats.io import read_json, write_json_atomic

    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    runs = plan_runs(cfg)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(runs), desc="scm bench", unit="run", dynamic_ncols=True)
    results = []
    for j, r in enumerate(runs):
        path = os.path.join(out, "runs", r["key"] + ".json")
        if os.path.exists(path):
            results.append(read_json(path))  # resumable: finished runs are not redone
        elif j % shard[1] != shard[0]:
            pass  # another shard's run
        else:
            rec = run_one(cfg, r)
            write_json_atomic(path, rec)
            results.append(read_json(path))
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(r["key"])
    if bar is not None:
        bar.close()
    cells = aggregate(results, cfg.bootstrap)
    md = markdown(cells, cfg)
    write_json_atomic(os.path.join(out, "results.json"), {"config": asdict(cfg), "cells": cells})
    from causal_agents.formats.io import atomic_path

    with atomic_path(os.path.join(out, "results.md")) as tmp, open(tmp, "w") as f:
        f.write(md)
    return {"cells": cells, "markdown": md, "cells_json": cells_json(cells)}


def _ms(vals, resamples: int = 2000) -> dict:
    """Mean, std and a 95% percentile-bootstrap interval of the mean over seeds (a seeded
    resampling, so a rerun prints the same interval); one seed gives a zero-width interval."""
    v = np.asarray([x for x in vals if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return {"mean": float("nan"), "std": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    rng = np.random.default_rng(0)
    means = v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(1)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=0)), "lo": float(np.percentile(means, 2.5)),
            "hi": float(np.percentile(means, 97.5)), "n": int(len(v))}


def _cell_key(r: dict) -> tuple:
    split = r.get("split", "standard")
    if r.get("scm_mode", "per-seed") == "shared":
        split += " (shared SCM)"  # one SCM for every seed, as the original: its own cell
    return (r["graph"], r["model"], r["variant"], r["n"], r.get("cf", "default"), split)


def aggregate(results: list[dict], resamples: int = 2000) -> list[dict]:
    """One cell per (graph, model, variant, n, cf supervision, split): every metric's mean, std and
    95% bootstrap interval over seeds, failure-mode counts, detector flags, graph recovery."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(_cell_key(r), []).append(r)
    cells = []
    for (g, m, v, n, cs, sp), rs in groups.items():
        ms = lambda xs: _ms(xs, resamples)  # noqa: E731
        pred = [r["eval"]["prediction"] for r in rs]
        cell = {"graph": g, "model": m, "variant": v, "n": n, "cf": cs, "split": sp, "seeds": [r["seed"] for r in rs],
                **{k: ms([p[k] for p in pred]) for k in ("cf_mse", "mse", "intervention_mse", "abduction_mse")},
                "epochs": ms([r["train"]["epochs_run"] for r in rs]),
                "train_seconds": ms([r["train"]["train_seconds"] for r in rs]), "tasks": {}}
        for name, key in (("learned_graph", "graph"), ("linreg_graph", "linreg_graph")):
            gs = [r["eval"][key] for r in rs if r["eval"].get(key)]
            if gs:
                cell[name] = {k: ms([x[k] for x in gs]) for k in ("shd", "tpr", "fdr")}
                cell[name]["empty"] = sum(bool(x.get("empty")) for x in gs)
        probes = [r["eval"]["probe"] for r in rs if "probe" in r["eval"]]
        if probes:
            cell["probe"] = {str(row["value"]): ms([p["rows"][i]["predicted"] for p in probes])
                             for i, row in enumerate(probes[0]["rows"])}
        for t in {t for r in rs for t in r["tasks"]}:
            cell["tasks"][t] = _task_cell(t, rs, ms)
        cells.append(cell)
    return cells


def _task_cell(t: str, rs: list[dict], ms) -> dict:
    ok = [r for r in rs if t in r["tasks"] and "skipped" not in r["tasks"][t]]
    if not ok:
        return {"skipped": next(r["tasks"][t]["skipped"] for r in rs if t in r["tasks"])}
    out = {sc: {mt: ms([r["tasks"][t][sc][mt] for r in ok]) for mt in METRICS} for sc in ("true", "label")}
    modes = [r["tasks"][t]["failure_mode"] for r in ok]
    out["failure_modes"] = {str(r["seed"]): r["tasks"][t]["failure_mode"] for r in ok}
    out["failure_counts"] = {md: modes.count(md) for md in sorted(set(modes))}
    out["flagged_degenerate"] = {str(r["seed"]): r["tasks"][t]["detector"]["degenerate"] for r in ok}
    out["rank_corr"] = ms([r["tasks"][t]["detector"]["rank_corr"] for r in ok])
    out["safety_recall"] = ms([r["tasks"][t]["detector"].get("safety_recall", float("nan")) for r in ok])
    return out


def cells_json(cells: list[dict]) -> list[dict]:
    """The compact list `--json` prints: model, variant, seeds, the headline means, both scorings."""
    out = []
    for c in cells:
        row = {"graph": c["graph"], "model": c["model"], "variant": c["variant"], "n": c["n"], "cf": c["cf"],
               "split": c["split"], "seeds": c["seeds"], "cf_mse": c["cf_mse"]["mean"]}
        for t, tv in c["tasks"].items():
            if "skipped" in tv:
                continue
            for sc in ("true", "label"):
                row.setdefault(sc, {})[t] = {m: tv[sc][m]["mean"] for m in
                                             ("goal_rate", "violation_rate", "appropriate_deferral")}
                row[sc][t]["cf_mse"] = c["cf_mse"]["mean"]
        out.append(row)
    return out


def _ci(d: dict, digits: int = 2) -> str:
    """mean [95% interval]."""
    if not np.isfinite(d["mean"]):
        return "n/a"
    return f"{d['mean']:.{digits}f} [{d['lo']:.{digits}f}, {d['hi']:.{digits}f}]"


def _who(c: dict) -> str:
    return f"| {c['model']} | {c['variant']} | {c['cf']} | {c['split']} | {len(c['seeds'])} "


def markdown(cells: list[dict], cfg: BenchConfig) -> str:
    """The results as markdown tables: prediction and graphs, the extrapolation probe, one table
    per task (true-outcome scoring; the paper's own label scoring beside it for the paper task)."""
    lines = [f"# cag scm bench (K={cfg.k}, n={max(cfg.sizes)}, epochs <= {cfg.epochs}, scm-mode {cfg.scm_mode}, "
             f"seeds {cfg.seeds}); mean [95% bootstrap interval over seeds]", ""]
    lines += ["## Prediction and graph recovery", "",
              "| model | variant | cf | split | seeds | n | cf_mse | intervention_mse | SHD | TPR | FDR | "
              "lagged linreg SHD | epochs |", "|---" * 13 + "|"]
    for c in cells:
        gr, lr = c.get("learned_graph"), c.get("linreg_graph")
        g = (_ci(gr["shd"], 1), _ci(gr["tpr"]), _ci(gr["fdr"])) if gr else ("-", "-", "-")
        lines.append(_who(c) + f"| {c['n']} | {_ci(c['cf_mse'], 4)} | {_ci(c['intervention_mse'], 4)} | "
                     f"{g[0]} | {g[1]} | {g[2]} | {_ci(lr['shd'], 1) if lr else '-'} | {_ci(c['epochs'], 0)} |")
    probe_cells = [c for c in cells if "probe" in c]
    if probe_cells:
        vals = list(probe_cells[0]["probe"])
        lines += ["", "## Extrapolation probe: predicted x0 under do(x0 = v) (truth: v; training |v| <= 1.5)", "",
                  "| model | variant | cf | split | seeds | " + " | ".join(f"v={v}" for v in vals) + " |",
                  "|---" * (5 + len(vals)) + "|"]
        for c in probe_cells:
            lines.append(_who(c) + "| " + " | ".join(_ci(c["probe"][v]) for v in vals) + " |")
    for t in BENCH_TASKS:
        rows = [c for c in cells if t in c["tasks"]]
        if rows:
            lines += _task_table(t, rows)
    return "\n".join(lines) + "\n"


def _task_table(t: str, rows: list[dict]) -> list[str]:
    lines = ["", f"## Task: {t}", "", "| model | variant | cf | split | seeds | scoring | goal | violations | "
             "appropriate deferral | inappropriate deferral | failure modes (count) | flagged degenerate |",
             "|---" * 12 + "|"]
    for c in rows:
        tv = c["tasks"][t]
        if "skipped" in tv:
            lines.append(_who(c) + f"| skipped: {tv['skipped'][:80]} |||||||")
            continue
        for sc in (("true", "label") if t == "paper" else ("true",)):
            fm = ", ".join(f"{m} {k}" for m, k in tv["failure_counts"].items()) if sc == "true" else ""
            fl = sum(tv["flagged_degenerate"].values()) if sc == "true" else ""
            lines.append(_who(c) + f"| {'true outcome' if sc == 'true' else 'action label (paper)'} | "
                         + " | ".join(_ci(tv[sc][m]) for m in METRICS[:4]) + f" | {fm} | {fl} |")
    return lines
