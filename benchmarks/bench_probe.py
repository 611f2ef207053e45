"""Batched margin scoring vs one completion at a time, side by side on the same model.

usage: python benchmarks/bench_probe.py [--model RUN_DIR] [--repeats 3]
Without --model: the embedded tiny model (random weights; speed does not depend on them).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--facts", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    import torch

    from causal_agents.dialogues import CONTEXT, load_facts
    from causal_agents.probes import load_for_probe, margin_prompt, score_completions, score_one
    from causal_agents.reproduce import PACKAGED_FACTS

    facts = load_facts(args.facts or PACKAGED_FACTS)
    if args.model:
        model, tok = load_for_probe(args.model)
    else:
        from causal_agents.tiny_model import tiny_model
        from causal_agents.tokenizer import load_tokenizer

        tok = load_tokenizer(None)
        model = tiny_model(tok, 0).eval()
    pairs = [(margin_prompt(CONTEXT, f), [f.true, f.false]) for f in facts]
    times = {"one at a time": [], "batched": []}
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        t = time.perf_counter()
        single = [[score_one(model, tok, p, c) for c in cs] for p, cs in pairs]
        times["one at a time"].append(time.perf_counter() - t)
        t = time.perf_counter()
        batched = score_completions(model, tok, pairs, batch_size=args.batch_size)
        times["batched"].append(time.perf_counter() - t)
    err = max(abs(a - b) for rs, rb in zip(single, batched) for a, b in zip(rs, rb))
    best = {k: min(v) for k, v in times.items()}
    print(f"margin scoring, {len(facts)} facts x 2 completions, torch threads {torch.get_num_threads()}")
    print(f"{'method':<16}{'best s':>10}{'median s':>10}")
    for k, v in times.items():
        print(f"{k:<16}{best[k]:>10.3f}{sorted(v)[len(v) // 2]:>10.3f}")
    print(f"speed-up (best/best): {best['one at a time'] / best['batched']:.1f}x   max |score diff| {err:.2e}")


if __name__ == "__main__":
    main()
