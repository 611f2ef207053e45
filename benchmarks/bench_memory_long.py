"""Peak memory of one training step on a long transcript: full logits vs the chunked loss.

The embedded tiny model widened to a 151,646-token vocabulary (Qwen2.5's), one sequence of
--length 4096 tokens, one forward+backward of cag's loss (causal_agents.training.loop.loss_step)
with full logits (the loss before the chunked one) and chunked. Each variant runs in its own
fresh process; the number is that process's peak resident memory during the step minus its
resident memory just before it (model, optimizer-free). Target: chunked / full <= 0.5.

    python benchmarks/bench_memory_long.py [--length 4096] [--vocab 151646]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _one(chunked: bool, length: int, vocab: int, q) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from causal_agents.training.loop import loss_step

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=length,
                      tie_word_embeddings=True)
    model = Qwen2ForCausalLM(cfg).train()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (1, length), generator=g)
    tgt = ids[:, 1:].clone()
    w = torch.ones(1, length - 1)
    before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loss = loss_step(model, ids, tgt, w, 1.0 / (length - 1), chunked=chunked)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put({"chunked": chunked, "before_mb": before, "peak_mb": peak, "setup_peak_mb": peak_before,
           "step_mb": peak - before, "loss": float(loss)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--vocab", type=int, default=151646)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")  # a fresh process each: ru_maxrss is a process-wide high-water mark
    res = {}
    for chunked in (False, True):
        q = ctx.Queue()
        p = ctx.Process(target=_one, args=(chunked, args.length, args.vocab, q))
        p.start()
        res[chunked] = q.get()
        p.join()
        if res[chunked]["setup_peak_mb"] > res[chunked]["before_mb"] + 1:
            print(f"note: setup peaked above the pre-step level ({res[chunked]['setup_peak_mb']:.0f} MB); "
                  "the step's figure is a lower bound")
    print(f"one training step, T={args.length}, vocabulary {args.vocab:,}, tiny model (hidden 128, 4 layers)")
    print(f"{'loss':<14}{'step peak MB':>14}{'loss value':>12}")
    for chunked, name in ((False, "full logits"), (True, "chunked")):
        print(f"{name:<14}{res[chunked]['step_mb']:>14.0f}{res[chunked]['loss']:>12.5f}")
    print(f"ratio chunked/full: {res[True]['step_mb'] / res[False]['step_mb']:.3f}   (target <= 0.5)")
    print(f"load: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
