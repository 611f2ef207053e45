"""Experiment grid: graphs x models x seeds x ablations x data sizes, resumable, one table.

Each run writes ``runs/<key>.json`` atomically; a rerun skips keys already there. Every run is
scored on three tasks: the paper's own task, its harder variant (no-safe 0.5, upstream
distractors, goal margin 0.1) and the structural task, each under the true-outcome scoring
and the original's action-label scoring.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from causal_agents.errors import InputError

VARIANTS = {
    "full": {},
    "no_dag": {"dag": "none", "l1": 0.0},
    "no_hinge": {"hinge": False},
    "no_do": {"do_operator": False},
    "dagma": {"dag": "dagma"},
    # the original's structure terms: on the mask alone, logits starting at 0 (not in the default grid)
    "mask_struct": {"structure_on": "mask", "logit_init": 0.0},
}
TASK_SPECS = {
    "paper": dict(task="paper"),
    "hard": dict(task="paper", no_safe_frac=0.5, distractors=True, goal_margin=0.1),
    "structural": dict(task="structural"),
}
METRICS = ("goal_rate", "violation_rate", "appropriate_deferral", "inappropriate_deferral",
           "safe_non_goal_rate")


@dataclass
class BenchConfig:
    graphs: list = field(default_factory=lambda: ["er"])
    models: list = field(default_factory=lambda: ["aclscm", "mlp", "gru", "transformer", "own_factor"])
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    variants: list = field(default_factory=lambda: ["full", "no_dag", "no_hinge", "no_do", "dagma"])
    sizes: list = field(default_factory=lambda: [10000, 2000])
    k: int = 10
    epochs: int = 200
    patience: int = 20
    scm_mode: str = "per-seed"
    episodes: int = 100

    @classmethod
    def make(cls, quick=False, graphs=None, models=None, seeds=None, variants=None, sizes=None,
             k=10, epochs=None, scm_mode="per-seed") -> "BenchConfig":
        c = cls()
        if quick:  # a CI-sized smoke grid: every code path, few epochs
            c = cls(graphs=["er"], models=["aclscm", "transformer"], seeds=[0], variants=["full", "no_do"],
                    sizes=[1000], k=min(k, 6) if k == 10 else k, epochs=3, patience=3, episodes=40)
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
        if not quick or k != 10:
            c.k = k
        if epochs is not None:
            c.epochs = epochs
        if scm_mode not in ("shared", "per-seed"):
            raise InputError(f"--scm-mode must be shared or per-seed, got '{scm_mode}'", field="scm_mode")
        c.scm_mode = scm_mode
        from causal_agents.scm.graphs import GRAPHS
        from causal_agents.scm.models import MODELS

        for g in c.graphs:
            if g not in GRAPHS:
                raise InputError(f"unknown graph type '{g}' (expected one of {', '.join(GRAPHS)})", field="graphs")
        for m in c.models:
            if m not in MODELS:
                raise InputError(f"unknown model '{m}' (expected one of {', '.join(MODELS)})", field="models")
        for v in c.variants:
            if v not in VARIANTS:
                raise InputError(f"unknown variant '{v}' (expected one of {', '.join(VARIANTS)})", field="variants")
        if c.k < 2:
            raise InputError(f"K must be at least 2, got {c.k}", field="k")
        return c


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


def run_key(cfg: BenchConfig, g: str, m: str, v: str, n: int, s: int) -> str:
    """The cache key of one run: everything that changes its result (graph, K, model,
    variant, size, seed, SCM mode, epochs, patience, episodes), so changed settings never
    reuse a cached run."""
    return f"{g}-K{cfg.k}-{m}-{v}-n{n}-s{s}-{cfg.scm_mode}-e{cfg.epochs}-p{cfg.patience}-ep{cfg.episodes}"


def plan_runs(cfg: BenchConfig) -> list[dict]:
    """The grid, most informative first: every model's full variant at the main size, then the
    AC-LSCM ablations, then the data-size control (AC-LSCM full at the smaller sizes)."""
    main_n = max(cfg.sizes)
    runs = []

    def add(g, m, v, n):
        for s in cfg.seeds:
            runs.append({"graph": g, "model": m, "variant": v, "n": n, "seed": s,
                         "key": run_key(cfg, g, m, v, n, s)})

    for g in cfg.graphs:
        for m in cfg.models:
            if m != "aclscm" or "full" in cfg.variants:
                add(g, m, "full", main_n)
        if "aclscm" in cfg.models:
            for v in cfg.variants:
                if v != "full":
                    add(g, "aclscm", v, main_n)
            if "full" in cfg.variants:
                for n in cfg.sizes:
                    if n != main_n:
                        add(g, "aclscm", "full", n)
    return runs


def run_one(cfg: BenchConfig, r: dict) -> dict:
    from causal_agents.scm.runs import evaluate_with, model_config, plan_with
    from causal_agents.scm.simulator import make_scm, simulate
    from causal_agents.scm.tasks import TaskSpec
    from causal_agents.scm.train import TrainConfig, train

    scm_seed = 0 if cfg.scm_mode == "shared" else r["seed"]
    scm = make_scm(r["graph"], cfg.k, scm_seed=scm_seed)
    data = simulate(scm, r["n"], seed=r["seed"])
    mcfg = model_config(r["model"], cfg.k, **VARIANTS[r["variant"]])
    tcfg = TrainConfig(epochs=cfg.epochs, patience=cfg.patience, seed=r["seed"], model=mcfg)
    res = train(data, scm, tcfg)
    model = res["model"]
    ev = evaluate_with(model, scm, n=2000, seed=r["seed"])
    tasks = {}
    for name, kw in TASK_SPECS.items():
        spec = TaskSpec(episodes=cfg.episodes, **kw)
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
    cells = aggregate(results)
    md = markdown(cells, cfg)
    write_json_atomic(os.path.join(out, "results.json"), {"config": asdict(cfg), "cells": cells})
    from causal_agents.formats.io import atomic_path

    with atomic_path(os.path.join(out, "results.md")) as tmp, open(tmp, "w") as f:
        f.write(md)
    return {"cells": cells, "markdown": md, "cells_json": cells_json(cells)}


def _ms(vals) -> dict:
    v = np.asarray([x for x in vals if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=0))}


def aggregate(results: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["graph"], r["model"], r["variant"], r["n"]), []).append(r)
    cells = []
    for (g, m, v, n), rs in groups.items():
        cell = {"graph": g, "model": m, "variant": v, "n": n, "seeds": [r["seed"] for r in rs],
                "cf_mse": _ms([r["eval"]["prediction"]["cf_mse"] for r in rs]),
                "mse": _ms([r["eval"]["prediction"]["mse"] for r in rs]),
                "intervention_mse": _ms([r["eval"]["prediction"]["intervention_mse"] for r in rs]),
                "abduction_mse": _ms([r["eval"]["prediction"]["abduction_mse"] for r in rs]),
                "epochs": _ms([r["train"]["epochs_run"] for r in rs]),
                "train_seconds": _ms([r["train"]["train_seconds"] for r in rs]),
                "tasks": {}}
        graphs = [r["eval"]["graph"] for r in rs if r["eval"].get("graph")]
        if graphs:
            cell["shd"] = _ms([x["shd"] for x in graphs])
            cell["tpr"] = _ms([x["tpr"] for x in graphs])
            cell["fdr"] = _ms([x["fdr"] for x in graphs])
            cell["empty_graphs"] = sum(x["empty"] for x in graphs)
        for t in TASK_SPECS:
            ok = [r for r in rs if "skipped" not in r["tasks"][t]]
            if not ok:
                cell["tasks"][t] = {"skipped": rs[0]["tasks"][t]["skipped"]}
                continue
            cell["tasks"][t] = {
                sc: {mt: _ms([r["tasks"][t][sc][mt] for r in ok]) for mt in METRICS}
                for sc in ("true", "label")}
            cell["tasks"][t]["failure_modes"] = {str(r["seed"]): r["tasks"][t]["failure_mode"] for r in ok}
            cell["tasks"][t]["flagged_degenerate"] = {str(r["seed"]): r["tasks"][t]["detector"]["degenerate"]
                                                      for r in ok}
            cell["tasks"][t]["rank_corr"] = _ms([r["tasks"][t]["detector"]["rank_corr"] for r in ok])
            cell["tasks"][t]["safety_recall"] = _ms([r["tasks"][t]["detector"].get("safety_recall", float("nan"))
                                                     for r in ok])
        cells.append(cell)
    return cells


def cells_json(cells: list[dict]) -> list[dict]:
    """The compact list `--json` prints: model, variant, seeds, the headline means, both scorings."""
    out = []
    for c in cells:
        row = {"graph": c["graph"], "model": c["model"], "variant": c["variant"], "n": c["n"],
               "seeds": c["seeds"], "cf_mse": c["cf_mse"]["mean"]}
        for t, tv in c["tasks"].items():
            if "skipped" in tv:
                continue
            for sc in ("true", "label"):
                row.setdefault(sc, {})[t] = {m: tv[sc][m]["mean"] for m in
                                             ("goal_rate", "violation_rate", "appropriate_deferral")}
                row[sc][t]["cf_mse"] = c["cf_mse"]["mean"]
        out.append(row)
    return out


def _pm(d: dict, digits: int = 3) -> str:
    if not np.isfinite(d["mean"]):
        return "n/a"
    return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"


def markdown(cells: list[dict], cfg: BenchConfig) -> str:
    lines = [f"# cag scm bench (K={cfg.k}, scm-mode {cfg.scm_mode}, seeds {cfg.seeds})", ""]
    lines += ["## Prediction", "", "| graph | model | variant | n | seeds | mse | cf_mse | intervention_mse | "
              "abduction_mse | SHD | TPR | FDR | empty graphs | epochs | train s |", "|---" * 15 + "|"]
    for c in cells:
        g = ((_pm(c["shd"], 1), _pm(c["tpr"], 2), _pm(c["fdr"], 2), str(c["empty_graphs"])) if "shd" in c
             else ("-", "-", "-", "-"))
        lines.append(f"| {c['graph']} | {c['model']} | {c['variant']} | {c['n']} | {len(c['seeds'])} | "
                     f"{_pm(c['mse'], 4)} | {_pm(c['cf_mse'], 4)} | {_pm(c['intervention_mse'], 4)} | "
                     f"{_pm(c['abduction_mse'], 4)} | {g[0]} | {g[1]} | {g[2]} | {g[3]} | {_pm(c['epochs'], 0)} | "
                     f"{_pm(c['train_seconds'], 0)} |")
    for t in TASK_SPECS:
        lines += ["", f"## Task: {t}", "",
                  "| graph | model | variant | n | scoring | goal | violations | appropriate deferral | "
                  "inappropriate deferral | safe non-goal | failure modes (seed: mode) | flagged degenerate |",
                  "|---" * 12 + "|"]
        for c in cells:
            tv = c["tasks"][t]
            if "skipped" in tv:
                lines.append(f"| {c['graph']} | {c['model']} | {c['variant']} | {c['n']} | skipped: "
                             f"{tv['skipped'][:80]} |||||||")
                continue
            for sc, label in (("true", "true outcome"), ("label", "action label (paper)")):
                fm = ", ".join(f"{s}: {m}" for s, m in tv["failure_modes"].items()) if sc == "true" else ""
                fl = ", ".join(s for s, d in tv["flagged_degenerate"].items() if d) or "none"
                lines.append(f"| {c['graph']} | {c['model']} | {c['variant']} | {c['n']} | {label} | "
                             + " | ".join(_pm(tv[sc][m]) for m in METRICS)
                             + f" | {fm} | {fl if sc == 'true' else ''} |")
    return "\n".join(lines) + "\n"
