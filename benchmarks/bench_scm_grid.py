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
    "smoke": [dict(models="transformer_orig,mlp,aclscm", variants="full", cf_supervision="observed",
                   splits="standard,holdout", seeds="0", sizes="300", epochs=1, k=6)],
}


def report(out: str) -> str:
    """Aggregate every finished run under OUT/runs (all grids) into OUT/results_all.md."""
    import glob
    import os

    from causal_agents.formats.io import atomic_path, read_json
    from causal_agents.scm.bench import aggregate, markdown

    results = [read_json(f) for f in sorted(glob.glob(os.path.join(out, "runs", "*.json")))]
    md = markdown(aggregate(results), make_config(**GRIDS["main"][0]))
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
