"""Training-step cost: do vs obs, cag's trainer vs a bare PyTorch loop, and cag's achieved FLOP
rate vs this CPU's matmul rate, side by side in one run.

usage: python benchmarks/bench_train.py [--steps 40] [--repeats 3] [--threads 1]
                                        [--model tiny|smollm2|PATH] [--batch-size N] [--amp auto|bf16|off]
                                        [--trl] [--all-rows]
Same model, same data (480 truth dialogues, seed 0), same plan for every run. Runs alternate
(in a rotating order) so load changes on a shared machine hit all alike; the table reports the
best and median of the repeats. The bare loop is what a hand-written loop does: HF's built-in
loss over full logits, under the same autocast choice as cag. FLOP rate: 6 x parameters x
(non-pad tokens / s), against a 1024^3 matmul at the same thread count, fp32 and bf16.
TRL's SFTTrainer (`--trl`, needs trl and datasets: `pip install -e ".[trl]"`) runs in its default
configuration on the same pre-tokenized examples with cag's obs labels, the same batch size,
learning rate and number of steps: what a TRL user gets (its own sampler, collator and loss).
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
    ap.add_argument("--model", default="tiny", help="tiny, smollm2 (the cached SmolLM2 directory) or a path")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--amp", default=None, help="auto, bf16 or off (default: the recipe's)")
    ap.add_argument("--trl", action="store_true", help="also time TRL's SFTTrainer, default config")
    ap.add_argument("--all-rows", action="store_true",
                    help="also time cag obs with the LM head on every position (no skipping of unsupervised rows)")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from causal_agents.truth.dialogues import generate, load_facts
    from causal_agents.transcripts.provenance import TagOptions, tag_record
    from causal_agents.truth.reproduce import PACKAGED_FACTS
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.data import collate, plan_steps
    from causal_agents.lm.loader import pick_amp
    from causal_agents.lm.smollm2 import require_smollm2
    from causal_agents.training.loop import prepare, train
    from causal_agents.training.model import build_model, lr_lambda

    torch.set_num_threads(args.threads)
    model_name = None if args.model == "tiny" else (require_smollm2() if args.model == "smollm2" else args.model)
    load0 = open("/proc/loadavg").read().split()[:3]
    rows = generate(load_facts(PACKAGED_FACTS), n=480, seed=0)
    records = [tag_record(r, {"file": "bench", "line": i + 1}, TagOptions()) for i, r in enumerate(rows)]
    cfg = TrainConfig(modes=("obs", "do"), model=model_name, max_steps=args.steps, threads=args.threads,
                      batch_size=args.batch_size, amp=args.amp).resolved()
    prep = prepare(cfg, records, "bench")
    plan = plan_steps([len(e.input_ids) for e in prep.examples], cfg.batch_size, 1, 1, cfg.epochs, cfg.seed)
    amp = pick_amp(cfg.amp, torch.device("cpu"), torch.float32)
    n_tokens = sum(len(prep.examples[i].input_ids) for step in plan[:args.steps] for mb in step for i in mb)

    def cag_run(mode: str) -> float:
        with tempfile.TemporaryDirectory() as d:
            from dataclasses import replace

            res = train(replace(cfg, modes=(mode,)), records, d, progress=False, prepared=prep, log=lambda m: None)
            return res[mode]["seconds"]

    def cag_all_rows_run(mode: str = "obs") -> float:
        """cag with the LM head on every position, as before it skipped the rows no mode supervises."""
        import causal_agents.training.loop as loop

        keep = loop.head_rows
        loop.head_rows = lambda ex, idx, T: torch.ones(len(idx), T - 1, dtype=torch.bool)
        try:
            return cag_run(mode)
        finally:
            loop.head_rows = keep

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
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
        return time.perf_counter() - t

    trl_tokens: list[int] = []

    def trl_run(mode: str = "obs") -> float:
        """TRL's SFTTrainer, default config, on cag's examples and labels (fp32, no autocast)."""
        import datasets
        from transformers import TrainerCallback
        from trl import SFTConfig, SFTTrainer

        ex = prep.examples
        ds = datasets.Dataset.from_dict({"input_ids": [e.input_ids.tolist() for e in ex],
                                         "labels": [e.labels[mode].tolist() for e in ex]})
        clock = {}
        trl_tokens.clear()

        class Clock(TrainerCallback):  # time the steps only, not TRL's set-up
            def on_train_begin(self, *a, **k):
                clock["t"] = time.perf_counter()

            def on_train_end(self, *a, **k):
                clock["s"] = time.perf_counter() - clock["t"]

        with tempfile.TemporaryDirectory() as d:
            conf = SFTConfig(output_dir=d, per_device_train_batch_size=cfg.batch_size, max_steps=args.steps,
                             learning_rate=cfg.lr, weight_decay=cfg.weight_decay, max_grad_norm=cfg.grad_clip,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=True,
                             dataloader_num_workers=0, seed=cfg.seed, bf16=False, fp16=False,
                             disable_tqdm=True, dataset_kwargs={"skip_prepare_dataset": True},
                             remove_unused_columns=False)
            model = build_model(cfg, prep.tokenizer, torch.float32)
            tr = SFTTrainer(model=model, args=conf, train_dataset=ds, processing_class=prep.tokenizer,
                            callbacks=[Clock()])
            tr.train()
        # TRL samples its own batches: compare tokens per second, with TRL's own count of the
        # (non-pad) tokens it trained on
        trl_tokens.append(int(float(tr.state.log_history[-1]["num_tokens"])))
        return clock["s"]

    def matmul_rate(dtype) -> float:
        a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
        a @ b
        best_t = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(4):
                a @ b
            best_t = min(best_t, (time.perf_counter() - t) / 4)
        return 2 * 1024 ** 3 / best_t / 1e9

    rates = {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}
    n_params = build_model(cfg, prep.tokenizer, torch.float32).num_parameters()
    runs = {"cag obs": lambda: cag_run("obs"), "cag do": lambda: cag_run("do"), "bare obs": lambda: bare_run("obs")}
    if args.all_rows:
        runs["cag allrows"] = lambda: cag_all_rows_run("obs")
    if args.trl:
        runs["trl obs"] = lambda: trl_run("obs")
    times = {k: [] for k in runs}
    names = list(runs)
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate: no run always goes first
            times[name].append(runs[name]())
    print(f"{args.steps} steps of batch {cfg.batch_size}, model {args.model} ({n_params / 1e6:.1f}M parameters), "
          f"{n_tokens:,} tokens, torch threads {args.threads}, bf16 autocast {'on' if amp else 'off'}, "
          f"{args.repeats} alternating repeats; load before {load0}, after {open('/proc/loadavg').read().split()[:3]}")
    print(f"{'run':<12}{'best s':>9}{'median s':>10}{'ms/step':>9}")
    for k, v in times.items():
        print(f"{k:<12}{min(v):>9.2f}{statistics.median(v):>10.2f}{1000 * min(v) / args.steps:>9.1f}")
    b = {k: min(v) for k, v in times.items()}
    m = {k: statistics.median(v) for k, v in times.items()}
    print(f"do/obs step cost:      best {b['cag do'] / b['cag obs']:.3f}   median {m['cag do'] / m['cag obs']:.3f}"
          "   (target within 2%)")
    print(f"cag/bare PyTorch loop: best {b['cag obs'] / b['bare obs']:.3f}   median {m['cag obs'] / m['bare obs']:.3f}"
          "   (target >= 1.0x the bare loop's speed: ratio <= 1.0)")
    if args.all_rows:
        print(f"head on supervised rows only vs every row: best {b['cag obs'] / b['cag allrows']:.3f}   median "
              f"{m['cag obs'] / m['cag allrows']:.3f}   (time ratio; cag allrows/bare: best "
              f"{b['cag allrows'] / b['bare obs']:.3f}   median {m['cag allrows'] / m['bare obs']:.3f})")
    if args.trl:
        k = trl_tokens[0] / n_tokens  # TRL's tokens per cag token in the same number of steps
        print(f"cag/TRL SFTTrainer:    best {b['trl obs'] / (k * b['cag obs']):.3f}x  median "
              f"{m['trl obs'] / (k * m['cag obs']):.3f}x   (tokens/s, cag over TRL; TRL trained {trl_tokens[0]:,} "
              f"tokens in its {args.steps} steps; target >= 1.5x)")
    flops = 6 * n_params * n_tokens / b["cag obs"] / 1e9
    print(f"cag obs: {n_tokens / b['cag obs']:.1f} tokens/s = {flops:.2f} GFLOP/s; 1024^3 matmul at {args.threads} "
          f"thread(s): fp32 {rates['fp32']:.2f}, bf16 {rates['bf16']:.2f} GFLOP/s -> "
          f"{100 * flops / rates['bf16']:.0f}% of bf16, {100 * flops / rates['fp32']:.0f}% of fp32")


if __name__ == "__main__":
    main()
