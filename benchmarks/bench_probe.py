"""Batched margin scoring vs one completion at a time, side by side on the same model.

usage: python benchmarks/bench_probe.py [--model RUN_DIR] [--repeats 5] [--batch-size N]

Without --model: the embedded tiny model (random weights; speed does not depend on them) with
both tokenizers it runs with: the word-level one `cag reproduce truth` fits to its dialogues
(~30-token prompts), and the offline byte-level default (~125-byte prompts).
"One at a time" is ``score_one``: a plain forward pass over prompt + completion per completion.
"""

from __future__ import annotations

import argparse
import os
import time


def measure(model, tok, pairs, repeats: int, batch_size: int) -> dict:
    from causal_agents.truth.probes import score_completions, score_one

    times = {"single": [], "batched": []}
    for _ in range(repeats):  # interleaved, so load changes hit both alike
        t = time.perf_counter()
        single = [[score_one(model, tok, p, c) for c in cs] for p, cs in pairs]
        times["single"].append(time.perf_counter() - t)
        t = time.perf_counter()
        batched = score_completions(model, tok, pairs, batch_size=batch_size)
        times["batched"].append(time.perf_counter() - t)
    err = max(abs(a - b) for rs, rb in zip(single, batched) for a, b in zip(rs, rb))
    best = {k: min(v) for k, v in times.items()}
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {"best": best, "median": med, "speedup": best["single"] / best["batched"],
            "speedup_median": med["single"] / med["batched"], "max_diff": err}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--facts", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the library's")
    args = ap.parse_args()

    import torch

    from causal_agents.truth.dialogues import CONTEXT, generate, load_facts
    from causal_agents.lm.loader import load_model
    from causal_agents.truth.probes import ProbeOptions, margin_prompt
    from causal_agents.truth.reproduce import PACKAGED_FACTS

    facts = load_facts(args.facts or PACKAGED_FACTS)
    pairs = [(margin_prompt(CONTEXT, f), [f.true, f.false]) for f in facts]
    bs = args.batch_size or ProbeOptions().batch_size
    configs = []
    if args.model:
        configs.append((args.model, *load_model(args.model)))
    else:
        from causal_agents.lm.tiny_model import tiny_model
        from causal_agents.transcripts.word_tokenizer import fit_word_tokenizer
        from causal_agents.transcripts.tokenizer import load_tokenizer

        word = fit_word_tokenizer([r["text"] for r in generate(facts, n=480, p_lie=0.6, p_tail=0.5, seed=0)])
        byte = load_tokenizer(None)
        configs += [("tiny, word tokenizer (reproduce truth)", tiny_model(word, 0).eval(), word),
                    ("tiny, byte tokenizer", tiny_model(byte, 0).eval(), byte)]
    print(f"margin scoring, {len(facts)} facts x 2 completions, batch {bs} facts, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, best / median of {args.repeats}")
    print(f"{'model':<40}{'tokens':>8}{'one at a time s':>17}{'batched s':>11}{'speed-up':>10}{'median':>8}"
          f"{'max |diff|':>12}")
    for name, model, tok in configs:
        r = measure(model, tok, pairs, args.repeats, bs)
        n_tok = len(tok(pairs[0][0] + pairs[0][1][0], add_special_tokens=False)["input_ids"])
        print(f"{name:<40}{n_tok:>8}{r['best']['single']:>17.3f}{r['best']['batched']:>11.3f}"
              f"{r['speedup']:>9.1f}x{r['speedup_median']:>7.1f}x{r['max_diff']:>12.1e}")
    print("tokens: prompt + true completion of the first fact")


if __name__ == "__main__":
    main()
