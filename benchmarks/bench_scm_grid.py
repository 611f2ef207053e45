"""The issue-14 grid (K=10) sized for a shared 2-core CPU; resumable and shardable like
`cag scm bench` (same run files). Every scm module is imported before the first run, so editing
the tree while the grid runs cannot change a running grid halfway.

    python benchmarks/bench_scm_grid.py OUT SHARD [GRID]   (SHARD: i/n, e.g. 0/2)
    python benchmarks/bench_scm_grid.py OUT report         (one table over every run in OUT)
"""

import sys

import causal_agents.formats.io  # noqa: F401
import causal_agents.scm.acyclicity  # noqa: F401
import causal_agents.scm.evaluate  # noqa: F401
import causal_agents.scm.fused  # noqa: F401
import causal_agents.scm.plan  # noqa: F401
import causal_agents.scm.runs  # noqa: F401
import causal_agents.scm.tasks  # noqa: F401
import causal_agents.scm.train  # noqa: F401
import orjson  # noqa: F401
from causal_agents.scm.bench import make_config, parse_shard, run_bench

_COMMON = dict(seeds="0-2", sizes="2000", epochs=60, model_epochs="transformer_orig=20")
_MODELS = "aclscm,transformer_orig,transformer,mlp,own_factor"
# run in this order (most informative first); each is resumable on its own
GRIDS = {
    "main": [
        # every model, both cf supervisions, the standard split (paper, hard, in_range, two_factor,
        # structural, ood_parent)
        dict(models=_MODELS, variants="full", cf_supervision="none,observed", splits="standard", **_COMMON),
        # the AC-LSCM ablations and the simplified model
        dict(models="aclscm", variants="no_do,dagma,simple_dagma,simple_nodag", cf_supervision="observed",
             splits="standard", **_COMMON),
        # unseen intervention targets: each model's default cf supervision
        dict(models=_MODELS, variants="full", cf_supervision="default", splits="holdout", **_COMMON),
    ],
    # --scm-mode shared (one SCM for every seed, as the original) beside per-seed
    "shared": [dict(models="aclscm,transformer,mlp,own_factor", variants="full", cf_supervision="default",
                    splits="standard", scm_mode="shared", **_COMMON)],
    # three more seeds on the unseen-target split for the models the ood_target claim compares
    "holdout_more": [dict(models="aclscm,transformer,own_factor", variants="full", cf_supervision="default",
                          splits="holdout", **{**_COMMON, "seeds": "3-5"})],
    # the paper's 13 seeds for the headline (seeds 0-2 come from "main"): transformer_orig both
    # ways and AC-LSCM, on the standard split
    "seeds13": [dict(models="transformer_orig", variants="full", cf_supervision="none,observed", splits="standard",
                     **{**_COMMON, "seeds": "3-12"}),
                dict(models="aclscm", variants="full", cf_supervision="observed", splits="standard",
                     **{**_COMMON, "seeds": "3-12"})],
    # K = 20 and 50: every model, each its default cf supervision, the standard split
    "k20": [dict(models=_MODELS, variants="full", cf_supervision="default", splits="standard", k=20, **_COMMON)],
    "k50": [dict(models=_MODELS, variants="full", cf_supervision="default", splits="standard", k=50, **_COMMON)],
    # K = 50 with 5x the data and the original's 200 epochs: is AC-LSCM's K = 50 collapse at
    # 2,000 samples a matter of data? (AC-LSCM and the MLP: the cheap models at this K)
    "k50_10k": [dict(models="aclscm,mlp", variants="full", cf_supervision="default", splits="standard", k=50,
                     seeds="0-2", sizes="10000", epochs=200)],
    "smoke": [dict(models="transformer_orig,mlp,aclscm", variants="full", cf_supervision="observed",
                   splits="standard,holdout", seeds="0", sizes="300", epochs=1, k=6)],
}


TASK_ORDER = ("paper", "hard", "in_range", "two_factor", "ood_target", "structural", "ood_parent")


def summary(cells: list[dict], metric: str = "violation_rate", second: str | None = "appropriate_deferral") -> str:
    """One compact table per metric: METRIC [95% interval] (/ the second metric's mean) per task and model."""
    from causal_agents.scm.bench import _ci

    title = metric + (f" [95% interval] / {second}" if second else " [95% interval]")
    lines = [f"## Summary: {title} (true outcome)", "",
             "| model | variant | cf | " + " | ".join(TASK_ORDER) + " |", "|---" * (3 + len(TASK_ORDER)) + "|"]
    rows: dict[tuple, dict] = {}
    for c in cells:
        cf = c["cf"] if c["cf"] != "default" else ("observed" if c["model"] == "aclscm" else "none")
        shared = " (shared SCM)" if "shared" in c["split"] else ""
        rows.setdefault((c["model"], c["variant"] + shared, cf), {}).update(c["tasks"])
    for (m, v, cf), tasks in rows.items():
        cols = []
        for t in TASK_ORDER:
            tv = tasks.get(t)
            if tv is None or "skipped" in tv:
                cols.append("-")
                continue
            tail = f" / {tv['true'][second]['mean']:.2f}" if second else ""
            cols.append(f"{_ci(tv['true'][metric])}{tail}")
        lines.append(f"| {m} | {v} | {cf} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


def report(out: str) -> str:
    """Aggregate every finished run under OUT/runs (all grids) into OUT/results_all.md."""
    import glob
    import os

    from causal_agents.formats.io import atomic_path, read_json
    from causal_agents.scm.bench import aggregate, markdown

    import re

    results = [read_json(f) for f in sorted(glob.glob(os.path.join(out, "runs", "*.json")))]
    # the cells do not carry K: one OUT holds one K (the k20 and k50 grids get their own OUT)
    ks = sorted({int(re.search(r"-K(\d+)-", r["key"]).group(1)) for r in results})
    if len(ks) > 1:
        sys.exit(f"{out}: runs at K = {ks} would be averaged together; give each K its own OUT")
    cells = aggregate(results)

    def most(pattern: str):  # the header's sample size and epochs: the largest any run used
        vals = [int(m.group(1)) for r in results if (m := re.search(pattern, r["key"]))]
        return max(vals) if vals else None

    head = {**GRIDS["main"][0], "k": ks[0] if ks else None}
    if results:
        head.update(sizes=str(most(r"-n(\d+)-")), epochs=most(r"-e(\d+)-"))
    md = (summary(cells) + "\n" + summary(cells, "goal_rate", None) + "\n" + markdown(cells, make_config(**head)))
    with atomic_path(os.path.join(out, "results_all.md")) as tmp, open(tmp, "w") as f:
        f.write(md)
    return md


def main(argv):
    out, shard = argv[0], argv[1] if len(argv) > 1 else "0/1"
    if shard == "report":
        print(report(out))
        return
    for kw in GRIDS[argv[2] if len(argv) > 2 else "main"]:
        res = run_bench(make_config(**kw), out, progress=False, shard=parse_shard(shard))
    print(res["markdown"])


if __name__ == "__main__":
    main(sys.argv[1:])
