"""The tiny-model reproduction of the truth experiment on several seeds: the table of the paper's
numbers (mean Δ, facts preferring the lie, probe counts) per seed and mode, with wall times.

usage: python benchmarks/bench_truth.py [--seeds 0 1 2] [--jobs 1] [--out runs/bench-truth] [-- extra reproduce args]
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


def run_seed(seed: int, out: str, extra: list[str], entry: str) -> dict:
    t = time.perf_counter()
    cmd = [sys.executable, entry, "reproduce", "truth", "--seed", str(seed), "--out", os.path.join(out, f"seed{seed}"),
           "--overwrite", "--no-progress", "--json", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"seed {seed} failed: {p.stderr.strip().splitlines()[-1:]}")
    res = json.loads(p.stdout)
    res["wall_s"] = time.perf_counter() - t
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="runs/bench-truth")
    ap.add_argument("--from-results", action="store_true", help="only print the table from OUT/seed*/result.json")
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.from_results:
        results = []
        for s in args.seeds:
            with open(os.path.join(args.out, f"seed{s}", "result.json")) as f:
                r = json.load(f)
            r["wall_s"] = r["timings"]["total_s"]
            results.append(r)
    else:
        entry = launcher()
        with ThreadPoolExecutor(max_workers=args.jobs) as ex:
            results = list(ex.map(lambda s: run_seed(s, args.out, extra, entry), args.seeds))
    nf = results[0]["facts"]
    print(f"truth experiment, {results[0]['model']} model, {results[0]['dialogues']['n']} dialogues, "
          f"jobs {args.jobs}, cpu count {os.cpu_count()}")
    print(f"{'seed':>4} {'obs Δ':>8} {'do Δ':>8} {'lie-pref obs':>12} {'lie-pref do':>11} "
          f"{'truth contra obs/do':>19} {'lie corrects obs/do':>19} {'train s':>8} {'wall s':>7}")
    ok = True
    for r in results:
        o, d = r["obs"], r["do"]
        print(f"{r['seed']:>4} {o['mean_margin']:>+8.3f} {d['mean_margin']:>+8.3f} {o['lie_preferred']:>9}/{nf} "
              f"{d['lie_preferred']:>8}/{nf} {o['truth_contradictions']:>12}/{d['truth_contradictions']:<6} "
              f"{o['lie_corrections']:>12}/{d['lie_corrections']:<6} {r['timings']['train_s']:>8.0f} {r['wall_s']:>7.0f}")
        ok &= o["mean_margin"] < 0 < d["mean_margin"] and o["lie_preferred"] > nf / 2 > d["lie_preferred"]
    print("paper's pattern (obs Δ < 0 < do Δ, most facts prefer the lie under obs, few under do) on every seed:",
          "yes" if ok else "NO")


if __name__ == "__main__":
    main()
