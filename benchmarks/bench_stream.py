"""Stream experiment throughput: attempts per second for the tiny model by sampling batch
size (ratios to one prompt at a time, measured side by side in one run), verifier grading
rate, and the time split across the stages of `cag reproduce stream --quick`.

    python benchmarks/bench_stream.py [--prompts 32] [--max-new-tokens 96] [--batches 1,8,32]
                                      [--repeats 2] [--skip-pipeline]

The tiny model has random weights, so it rarely writes a newline and every attempt runs to
--max-new-tokens: the rates are for full-length attempts (the worst case). Configurations are
interleaved and each keeps its best of --repeats runs, because the CPU may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _util, also under run_in_tree.py
from _util import PY, table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-pipeline", action="store_true")
    args = ap.parse_args()

    import torch

    from causal_agents.transcripts.render_stream import prompt
    from causal_agents.stem.problems import generate
    from causal_agents.lm.loader import load_model
    from causal_agents.stem.sample import sample
    from causal_agents.stem.verifier import verify_problem

    problems = generate(args.seed, {"sft": 0, "agent": args.prompts, "test": 0})["agent"]
    prompts = [prompt(p["question"]) for p in problems]
    model, tok = load_model(None, seed=args.seed)
    batches = [int(b) for b in args.batches.split(",")]
    best: dict[int, tuple[float, float, int]] = {}
    for _ in range(args.repeats):
        for b in batches:
            # one prompt at a time is slow: time it on a slice, the rate is what matters
            ps = prompts[: max(b, min(len(prompts), 8))] if b == 1 else prompts
            w0, c0 = time.perf_counter(), time.process_time()
            outs = sample(model, tok, ps, args.max_new_tokens, b, temperature=0.7, seed=args.seed)
            w, c = time.perf_counter() - w0, time.process_time() - c0
            rate = len(outs) / w
            if b not in best or rate > len(ps) / best[b][0]:
                best[b] = (w, c, len(ps))
    base_rate = best[batches[0]][2] / best[batches[0]][0]
    rows = []
    for b in batches:
        w, c, n = best[b]
        rows.append((b, n, f"{w:.2f}", f"{c:.2f}", f"{n / w:.2f}", f"{(n / w) / base_rate:.2f}x"))
    print(f"Sampling, tiny model, {args.max_new_tokens} new tokens per attempt, torch threads {torch.get_num_threads()}")
    print(table(rows, ("batch", "attempts", "wall s", "cpu s", "attempts/s", f"vs batch {batches[0]}")))

    texts = [p["solution"] for p in problems] + ["Final answer: 1e99 J"] * len(problems)
    t0 = time.perf_counter()
    reps = max(1, 2000 // len(texts))
    for _ in range(reps):
        for p, t in zip(problems + problems, texts):
            verify_problem(p, t)
    dt = time.perf_counter() - t0
    print(f"\nVerifier: {reps * len(texts) / dt:,.0f} gradings/s "
          f"({(reps * len(texts) / dt) / (best[batches[-1]][2] / best[batches[-1]][0]):,.0f}x the best sampling rate)")

    if args.skip_pipeline:
        return
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        cmd = [PY, "-m", "causal_agents.cli", "reproduce", "stream", "--quick", "--out", os.path.join(d, "r"),
               "--no-progress", "--json", "--seed", str(args.seed)]
        if os.environ.get("CAG_TREE"):  # run inside a worktree through the shim
            cmd = [PY, "/work/run_in_tree.py", os.environ["CAG_TREE"], *cmd[1:]]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"reproduce failed: {r.stderr.decode()[-2000:]}")
        res = json.loads(r.stdout)
    tm = res["timings"]
    total = sum(tm.values())
    rows = [(k, f"{v:.1f}", f"{100 * v / total:.0f}%") for k, v in tm.items()]
    s = res["stream"]
    print(f"\n`cag reproduce stream --quick` (tiny model): {wall:.0f}s wall including start-up; "
          f"stream {s['turns']} turns at {s['attempts_per_s']} attempts/s")
    print(table(rows, ("stage", "seconds", "share")))


if __name__ == "__main__":
    main()
