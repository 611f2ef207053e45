"""The truth experiment on several seeds and fact banks (tiny or real model): the table of the paper's
numbers (mean Δ, facts preferring the lie, probe counts) per seed and mode, with wall times.

usage: python benchmarks/bench_truth.py [--seeds 0 1 2] [--facts BANK ...] [--jobs 1] [--out runs/bench-truth]
       [-- extra reproduce args, e.g. --model ~/.cache/cag/smollm2-135m-instruct]
Each seed is one `cag reproduce truth --seed N --json` in a subprocess (with the same
causal_agents code as this process). --jobs > 1 runs seeds at the same time: faster in total,
but each wall time then includes the others' load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))  # _truth_helpers


def launcher() -> str:
    from _truth_helpers import launcher_source

    fd, path = tempfile.mkstemp(suffix="_cag.py")
    with os.fdopen(fd, "w") as f:
        f.write(launcher_source())
    return path


def run_seed(seed: int, out: str, extra: list[str], entry: str, facts: str | None) -> dict:
    t = time.perf_counter()
    cmd = [sys.executable, entry, "reproduce", "truth", "--seed", str(seed), "--out", out,
           "--overwrite", "--no-progress", "--json", *(["--facts", facts] if facts else []), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"seed {seed} failed: {p.stderr.strip().splitlines()[-1:]}")
    res = json.loads(p.stdout)
    res["wall_s"] = time.perf_counter() - t
    return res


def _reclassify(r: dict, out: str, bank: str | None) -> None:
    """Recount the probe classes of result ``r`` from OUT/probes.json's stored replies."""
    from causal_agents.truth.dialogues import load_facts
    from causal_agents.truth.probes import reclassify
    from causal_agents.truth.reproduce import PACKAGED_FACTS

    with open(os.path.join(out, "probes.json")) as f:
        probes = reclassify(json.load(f), load_facts(bank or PACKAGED_FACTS))
    for label, m in probes["models"].items():
        s = m["summary"]
        r[label].update({k: s[k] for k in ("truth_probe", "lie_probe", "truth_contradictions", "lie_corrections")})


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cell(r: dict, nf: int) -> str:
    """One model's cell: mean margin, facts preferring the lie, truth-probe and lie-probe classes."""
    tp, lp = r["truth_probe"], r["lie_probe"]
    return (f"{r['mean_margin']:+.3f}, {r['lie_preferred']}/{nf} lie; truth: {tp['affirms']} affirm, "
            f"{tp['states_lie']} contradict; lie: {lp['corrects']} correct, {lp['echoes']} echo")


def meets(r: dict, real: bool) -> bool:
    """The target pattern. Tiny model: obs Δ < 0 < do Δ, most facts prefer the lie under obs, few under
    do. Real model (issue 12): obs Δ < 0 with more than half preferring the lie; do Δ > +1.0 with at most
    15% preferring the lie."""
    o, d, nf = r["obs"], r["do"], r["facts"]
    if real:
        return o["mean_margin"] < 0 and o["lie_preferred"] > nf / 2 and d["mean_margin"] > 1.0 \
            and d["lie_preferred"] <= 0.15 * nf
    return o["mean_margin"] < 0 < d["mean_margin"] and o["lie_preferred"] > nf / 2 > d["lie_preferred"]


def table(results: list[dict]) -> bool:
    """Print one markdown table (bank, seed, base/obs/do cells, train and wall time, load); True when
    every run meets the target pattern."""
    real = results[0]["model"] != "tiny"
    # Runs may name their recipe differently but train alike (a recipe's values given as
    # flags are recorded as "paper" plus overrides): print the values, and every name used.
    names = sorted({str(r["recipe"].get("recipe")) for r in results})
    values = {tuple(sorted((k, v) for k, v in r["recipe"].items() if k != "recipe")) for r in results}
    recipe = (f"recipe {' / '.join(names)}: {dict(next(iter(values)))}" if len(values) == 1
              else "recipes differ per run: " + "; ".join(f"{r['bank']} seed {r['seed']}: {r['recipe']}" for r in results))
    print(f"truth experiment, {results[0]['model']} model, {results[0]['dialogues']['n']} dialogues, "
          f"{recipe}, cpu count {os.cpu_count()}\n")
    print("| bank | seed | base model | obs | do | train s | wall s | load 1/5/15 min after |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for r in results:
        nf = r["facts"]
        base = cell(r["base"], nf) if "base" in r else "-"
        print(f"| {r['bank']} | {r['seed']} | {base} | {cell(r['obs'], nf)} | {cell(r['do'], nf)} | "
              f"{r['timings']['train_s']:.0f} | {r['wall_s']:.0f} | {r.get('load', '-')} |")
        ok &= meets(r, real)
    rule = ("obs Δ < 0 with > half preferring the lie, do Δ > +1.0 with <= 15% preferring the lie" if real else
            "obs Δ < 0 < do Δ, most facts prefer the lie under obs, few under do")
    print(f"\ntarget ({rule}) on every run:", "yes" if ok else "NO")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--facts", nargs="+", default=[None], help="fact banks (default: the packaged 33 facts)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="runs/bench-truth")
    ap.add_argument("--from-results", action="store_true", help="only print the table from OUT/*/result.json")
    ap.add_argument("--reclassify", action="store_true", help="with --from-results: classify the stored greedy "
                    "replies again with today's classifiers (for runs made by an older one)")
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != "--"]
    jobs = [(bank, seed) for bank in args.facts for seed in args.seeds]

    def where(bank, seed):
        name = os.path.splitext(os.path.basename(bank))[0] if bank else "facts-33"
        return name, os.path.join(args.out, f"{name}-seed{seed}")

    def one(job):
        bank, seed = job
        name, out = where(bank, seed)
        if args.from_results:
            with open(os.path.join(out, "result.json")) as f:
                r = json.load(f)
            r["wall_s"] = r["timings"]["total_s"]
            if args.reclassify:
                _reclassify(r, out, bank)
        else:
            r = run_seed(seed, out, extra, entry, bank)
            r["load"] = load()
        r["bank"] = name
        return r

    entry = None if args.from_results else launcher()
    with ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(one, jobs))
    table(results)


if __name__ == "__main__":
    main()
