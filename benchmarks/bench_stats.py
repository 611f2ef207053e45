"""`cag stats` throughput vs the tokenizer's own batch encoding of the same texts.

Target: stats >= 0.7 of the tokenizer's throughput (the tokenizer is the floor; rendering,
offsets -> classes, DuckDB aggregation must be nearly free), with the byte tokenizer and
with a real one (SmolLM2's 49,152-token BPE, whose merges of a role prefix's space with the
next word make a straddling token in every turn). Both measured in-process on the same
rendered texts, side by side, best of --repeat runs.

    python benchmarks/bench_stats.py [--size-mb 40] [--tokenizer byte --tokenizer PATH]
    (default: byte, and SmolLM2 when causal_agents.lm.smollm2 can provide it)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _util import table  # noqa: E402
from bench_tag import make_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=40)
    ap.add_argument("--tokenizer", action="append", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from causal_agents.lm.smollm2 import smollm2_dir
    from causal_agents.transcripts.provenance import TagOptions
    from causal_agents.transcripts.render import render_plain
    from causal_agents.transcripts.tagging import iter_tagged
    from causal_agents.transcripts.tokenizer import load_tokenizer

    src = f"/tmp/bench_stats_{args.size_mb}.jsonl"
    if not os.path.exists(src):
        make_file(src, args.size_mb, seed=1)
    records = list(iter_tagged([src], TagOptions()))
    texts = [render_plain(r["segments"])[0] for r in records]
    names = args.tokenizer or ["byte", *filter(None, [smollm2_dir(install=True)])]
    print(f"{len(records):,} transcripts; load before: {open('/proc/loadavg').read().split()[:3]}")
    for name in names:
        run_one(load_tokenizer(name), records, texts, args.repeat)
    print(f"load after: {open('/proc/loadavg').read().split()[:3]}")


def run_one(tok, records, texts, repeat: int) -> None:
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats

    n_tokens = None

    def bare():
        # The tokenizer's own batch encoding, in the same chunk size stats uses.
        nonlocal n_tokens
        n = 0
        for i in range(0, len(texts), 512):
            n += sum(len(x) for x in tok(texts[i:i + 512], add_special_tokens=False)["input_ids"])
        n_tokens = n

    def stats():
        rep = compute_stats(iter(records), StatsOptions(), tokenizer=tok)
        assert rep["tokens"] == n_tokens, (rep["tokens"], n_tokens)

    def best(fn):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    t_bare = best(bare)
    t_stats = best(stats)
    rows = [("tokenizer batch encode", f"{t_bare:.2f}", f"{n_tokens / t_bare / 1e6:.2f}", "1.00"),
            ("cag stats (label builder + DuckDB)", f"{t_stats:.2f}", f"{n_tokens / t_stats / 1e6:.2f}",
             f"{t_bare / t_stats:.2f}")]
    print(f"\ntokenizer {getattr(tok, 'name_or_path', '?')}: {n_tokens:,} tokens")
    print(table(rows, ("run", "seconds", "Mtok/s", "throughput ratio")))
    print(f"target: ratio >= 0.70 (got {t_bare / t_stats:.2f})")


if __name__ == "__main__":
    main()
