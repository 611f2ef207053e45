"""`cag reproduce truth`: the whole truth experiment of seeds/001 section 5 in one call.

generate dialogues -> tag -> stats -> train obs and do (one initialisation, one plan) ->
probe both -> compare. Every intermediate lands in the output directory:
``dialogues.jsonl``, ``tagged.jsonl``, ``obs/`` and ``do/`` run directories, ``probes.json``,
``margins.png`` and ``result.json``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from causal_agents.errors import CagError

PACKAGED_FACTS = os.path.join(os.path.dirname(__file__), "data", "facts-33.json")
MODES = ("obs", "do")


def reproduce_truth(out: str, model: str | None = None, seed: int = 0, data_seed: int | None = None,
                    facts: str | None = None, n: int = 480, p_lie: float = 0.6, p_tail: float = 0.5,
                    train_overrides: dict | None = None, parallel: bool = True, overwrite: bool = False,
                    resume: bool = False, progress: bool = True, device: str = "auto", tokenizer: str | None = None,
                    log=print) -> dict:
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats
    from causal_agents.truth.dialogues import generate, load_facts
    from causal_agents.formats.io import RecordWriter, write_json_atomic
    from causal_agents.truth.probes import ProbeOptions, plot_margins, probe_models
    from causal_agents.transcripts.provenance import TagOptions
    from causal_agents.transcripts.tagging import iter_tagged
    from causal_agents.lm.tiny_model import is_tiny
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.loop import prepare, train

    t0 = time.perf_counter()
    timings = {}
    result_path = os.path.join(out, "result.json")
    if os.path.exists(result_path) and not (overwrite or resume):
        raise CagError(f"{out} already holds a finished reproduction; use --overwrite or another --out")
    facts_path = facts or PACKAGED_FACTS
    bank = load_facts(facts_path)
    dseed = seed if data_seed is None else data_seed
    os.makedirs(out, exist_ok=True)

    # 1. dialogues, written as the text transcripts `cag tag` reads
    dialogues_path = os.path.join(out, "dialogues.jsonl")
    rows = generate(bank, n=n, p_lie=p_lie, p_tail=p_tail, seed=dseed)
    with RecordWriter(dialogues_path) as w:
        for r in rows:
            w.write(r)
    # 2. tag, through the same pipeline as `cag tag`
    records = list(iter_tagged([dialogues_path], TagOptions()))
    with RecordWriter(os.path.join(out, "tagged.jsonl")) as w:
        for r in records:
            w.write(r)
    # The tiny model gets a word-level tokenizer fitted to these dialogues (see tiny_tokenizer.py);
    # it is saved in OUT/tokenizer and used by stats, training and the probes alike.
    tokenizer = tokenizer if tokenizer is not None else ("fit" if is_tiny(model) else None)
    if tokenizer == "fit":
        from causal_agents.transcripts.word_tokenizer import fit_word_tokenizer

        tok_dir = os.path.join(out, "tokenizer")
        fit_word_tokenizer([r["text"] for r in rows]).save_pretrained(tok_dir)
        tokenizer = tok_dir
    # 3. stats and 4. training share the label builder; the counts must agree
    cfg = TrainConfig(modes=MODES, model=model, tokenizer=tokenizer, seed=seed, device=device,
                      **(train_overrides or {})).resolved()
    prep = prepare(cfg, records, dialogues_path)
    stats = compute_stats(iter(records), StatsOptions(tokenizer=cfg.tokenizer or (None if is_tiny(model) else model),
                                                      renderer=cfg.renderer), tokenizer=prep.tokenizer)
    if stats["supervised"] != prep.supervised:
        raise CagError(f"internal: stats counts {stats['supervised']} differ from training labels {prep.supervised}")
    log(prep.summary_line())
    timings["prepare_s"] = round(time.perf_counter() - t0, 1)
    t1 = time.perf_counter()
    runs = train(cfg, records, out, source=dialogues_path, resume=resume, overwrite=overwrite, progress=progress,
                 prepared=prep, log=log, parallel=parallel)
    timings["train_s"] = round(time.perf_counter() - t1, 1)
    # 5. probes
    t2 = time.perf_counter()
    probes = probe_models([runs[m]["run_dir"] for m in MODES], bank, ProbeOptions(), device=device, labels=list(MODES))
    plot_path = os.path.join(out, "margins.png")
    plot_margins(probes, plot_path)
    write_json_atomic(os.path.join(out, "probes.json"), probes)
    timings["probe_s"] = round(time.perf_counter() - t2, 1)
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    result = {}
    for m in MODES:
        s = probes["models"][m]["summary"]
        result[m] = {"mean_margin": s["mean_margin"], "lie_preferred": s["lie_preferred"],
                     "supervised_tokens": prep.supervised[m], "truth_contradictions": s["truth_contradictions"],
                     "lie_corrections": s["lie_corrections"], "truth_probe": s["truth_probe"],
                     "lie_probe": s["lie_probe"], "final_loss": runs[m]["final_loss"], "run_dir": runs[m]["run_dir"]}
    result["facts"] = len(bank)
    result["dialogues"] = {"n": len(rows), "lied": sum(r["lied"] for r in rows), "tail": sum(r["tail"] for r in rows),
                           "seed": dseed}
    result["tokens"] = prep.tokens
    result["seed"] = seed
    result["model"] = model or "tiny"
    result["tokenizer"] = cfg.tokenizer or "model's own"
    result["recipe"] = {k: getattr(cfg, k) for k in ("recipe", "lr", "epochs", "batch_size", "scheduler", "warmup",
                                                     "dtype")}
    result["plot"] = plot_path
    result["timings"] = timings
    write_json_atomic(result_path, result)
    return result
