"""Training-step cost: do vs obs, and cag's trainer vs a bare PyTorch loop, side by side.

usage: python benchmarks/bench_train.py [--steps 40] [--repeats 3] [--threads 1]
Same model (the embedded tiny one), same data (480 truth dialogues, seed 0), same plan.
Runs alternate (in a rotating order) so load changes on a shared machine hit all alike;
the table reports the best and median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from causal_agents.truth.dialogues import generate, load_facts
    from causal_agents.transcripts.provenance import TagOptions, tag_record
    from causal_agents.truth.reproduce import PACKAGED_FACTS
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.data import collate, plan_steps
    from causal_agents.training.loop import prepare, train
    from causal_agents.training.model import build_model, lr_lambda

    torch.set_num_threads(args.threads)
    rows = generate(load_facts(PACKAGED_FACTS), n=480, seed=0)
    records = [tag_record(r, {"file": "bench", "line": i + 1}, TagOptions()) for i, r in enumerate(rows)]
    cfg = TrainConfig(modes=("obs", "do"), max_steps=args.steps, threads=args.threads).resolved()
    prep = prepare(cfg, records, "bench")
    plan = plan_steps([len(e.input_ids) for e in prep.examples], cfg.batch_size, 1, 1, cfg.epochs, cfg.seed)

    def cag_run(mode: str) -> float:
        with tempfile.TemporaryDirectory() as d:
            from dataclasses import replace

            res = train(replace(cfg, modes=(mode,)), records, d, progress=False, prepared=prep, log=lambda m: None)
            return res[mode]["seconds"]

    def bare_run(mode: str = "obs") -> float:
        """What a hand-written loop does: HF's built-in loss (mean over the batch's labels)."""
        model = build_model(cfg, prep.tokenizer, torch.float32)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.scheduler, int(0.05 * len(plan)), len(plan)))
        model.train()
        pad = prep.tokenizer.pad_token_id
        t = time.perf_counter()
        for step in plan[:args.steps]:
            ids, tgt, _ = collate(prep.examples, step[0], mode, pad)
            labels = F.pad(tgt, (1, 0), value=-100)  # unshift: HF shifts inside the loss
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
        return time.perf_counter() - t

    times = {"cag obs": [], "cag do": [], "bare obs": []}
    runs = {"cag obs": lambda: cag_run("obs"), "cag do": lambda: cag_run("do"), "bare obs": lambda: bare_run("obs")}
    names = list(runs)
    for r in range(args.repeats):
        for name in names[r % 3:] + names[:r % 3]:  # rotate the order: no run always goes first
            times[name].append(runs[name]())
    print(f"{args.steps} steps of batch {cfg.batch_size}, tiny model, torch threads {args.threads}, "
          f"{args.repeats} alternating repeats")
    print(f"{'run':<10}{'best s':>9}{'median s':>10}{'ms/step':>9}")
    for k, v in times.items():
        print(f"{k:<10}{min(v):>9.2f}{statistics.median(v):>10.2f}{1000 * min(v) / args.steps:>9.1f}")
    b = {k: min(v) for k, v in times.items()}
    m = {k: statistics.median(v) for k, v in times.items()}
    print(f"do/obs step cost:      best {b['cag do'] / b['cag obs']:.3f}   median {m['cag do'] / m['cag obs']:.3f}"
          "   (target within 2%)")
    print(f"cag/bare PyTorch loop: best {b['cag obs'] / b['bare obs']:.3f}   median {m['cag obs'] / m['bare obs']:.3f}"
          "   (target within 5%)")


if __name__ == "__main__":
    main()
