"""`cag reproduce truth`: the whole truth experiment of
"Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026, sec. 5) in one call.

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
from causal_agents.formats.io import write_json_atomic

PACKAGED_FACTS = os.path.join(os.path.dirname(__file__), "data", "facts-33.json")
MODES = ("obs", "do")
# Dialogues per recipe: the paper's 480; the CPU recipe halves them and makes three passes, which
# fits the per-fact agent distribution (what obs learns) in 1.5x the time of one pass over 480
# (benchmarks/bench_truth.py: 3 seeds, two fact banks, SmolLM2-135M; two passes left obs short).
DIALOGUES = {"paper": 480, "tiny": 480, "cpu": 240}
# How the dialogues are drawn per recipe (truth.dialogues.SAMPLINGS): the paper's draws with
# replacement; the CPU recipe's half-size set is stratified, since with 7 dialogues per fact random
# draws make some facts' agent a truth-teller, and what obs learns is each fact's lie rate.
SAMPLING = {"paper": "random", "tiny": "random", "cpu": "balanced"}


def reproduce_truth(out: str, model: str | None = None, seed: int = 0, data_seed: int | None = None,
                    facts: str | None = None, n: int | None = None, p_lie: float = 0.6, p_tail: float = 0.5,
                    sampling: str | None = None,
                    train_overrides: dict | None = None, parallel: bool = True, overwrite: bool = False,
                    resume: bool = False, progress: bool = True, device: str = "auto", tokenizer: str | None = None,
                    log=print) -> dict:
    """Run the truth experiment of "Causal interactive LLM agents that tell the truth"
    (de Freitas and Ortega, 2026, sec. 5) into the directory ``out`` and return result.json's
    content: per mode (obs, do) the margin, the probe counts, supervised tokens, final loss
    and run directory; the dialogue counts, seeds, recipe and timings.

    ``n``: dialogues (None: 480, the paper's, or 240 with the ``cpu`` recipe, see DIALOGUES);
    ``sampling``: ``random`` or ``balanced`` (None: the recipe's, see SAMPLING).
    ``model``: a hub name or path, None for the embedded tiny model (which gets a word
    tokenizer fitted to the dialogues unless ``tokenizer`` names one). ``seed`` seeds the
    weights and batches, ``data_seed`` (default ``seed``) the dialogues; ``facts``: a fact
    bank path (default the packaged 33 facts). ``train_overrides``: TrainConfig fields.
    Raises CagError if ``out`` holds a finished reproduction and neither ``overwrite`` nor
    ``resume`` is set, or if the stats counts and the training labels disagree.
    """
    from causal_agents.truth.dialogues import load_facts
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.loop import train

    t0 = time.perf_counter()
    timings = {}
    result_path = os.path.join(out, "result.json")
    if os.path.exists(result_path) and not (overwrite or resume):
        raise CagError(f"{out} already holds a finished reproduction; use --overwrite or another --out")
    bank = load_facts(facts or PACKAGED_FACTS)
    dseed = seed if data_seed is None else data_seed
    cfg = TrainConfig(modes=MODES, model=model, seed=seed, device=device, **(train_overrides or {})).resolved()
    n = DIALOGUES[cfg.recipe] if n is None else n
    sampling = SAMPLING[cfg.recipe] if sampling is None else sampling
    from causal_agents.truth.dialogues import check_sampling

    check_sampling(sampling)
    os.makedirs(out, exist_ok=True)
    rows, records, dialogues_path = _write_dialogues(out, bank, n, p_lie, p_tail, dseed, sampling)
    cfg = replace(cfg, tokenizer=_tokenizer_for(out, model, tokenizer, rows))
    prep = _prepare_checked(cfg, records, dialogues_path, model)
    log(prep.summary_line())
    timings["prepare_s"] = round(time.perf_counter() - t0, 1)
    t1 = time.perf_counter()
    runs = train(cfg, records, out, source=dialogues_path, resume=resume, overwrite=overwrite, progress=progress,
                 prepared=prep, log=log, parallel=parallel)
    timings["train_s"] = round(time.perf_counter() - t1, 1)
    t2 = time.perf_counter()
    probes, plot_path = _probe(out, runs, bank, device, model)
    timings["probe_s"] = round(time.perf_counter() - t2, 1)
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    result = _result(probes, prep, runs, cfg, bank, rows, dseed, seed, model)
    result["dialogues"]["sampling"] = sampling
    result["plot"] = plot_path
    result["timings"] = timings
    write_json_atomic(result_path, result)
    return result


def _write_dialogues(out: str, bank, n: int, p_lie: float, p_tail: float, seed: int, sampling: str):
    """Steps 1-2: the dialogues, written as the text transcripts `cag tag` reads, and their
    tagged records through the same pipeline as `cag tag`. Returns (rows, records, path)."""
    from causal_agents.formats.io import write_records
    from causal_agents.transcripts.provenance import TagOptions
    from causal_agents.transcripts.tagging import iter_tagged
    from causal_agents.truth.dialogues import generate

    dialogues_path = os.path.join(out, "dialogues.jsonl")
    rows = generate(bank, n=n, p_lie=p_lie, p_tail=p_tail, seed=seed, sampling=sampling)
    write_records(dialogues_path, rows)
    records = list(iter_tagged([dialogues_path], TagOptions()))
    write_records(os.path.join(out, "tagged.jsonl"), records)
    return rows, records, dialogues_path


def _tokenizer_for(out: str, model: str | None, tokenizer: str | None, rows: list[dict]) -> str | None:
    """The tiny model gets a word-level tokenizer fitted to these dialogues (see
    transcripts/word_tokenizer.py), saved in OUT/tokenizer and used by stats, training and
    the probes alike; a named tokenizer or a real model's own is used as it is."""
    from causal_agents.lm.tiny_model import is_tiny

    tokenizer = tokenizer if tokenizer is not None else ("fit" if is_tiny(model) else None)
    if tokenizer != "fit":
        return tokenizer
    from causal_agents.transcripts.word_tokenizer import fit_word_tokenizer

    tok_dir = os.path.join(out, "tokenizer")
    fit_word_tokenizer([r["text"] for r in rows]).save_pretrained(tok_dir)
    return tok_dir


def _prepare_checked(cfg, records: list[dict], dialogues_path: str, model: str | None):
    """Steps 3-4 share the label builder: the training plan, checked against what `cag stats`
    counts for the same records (the counts must agree)."""
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats
    from causal_agents.lm.tiny_model import is_tiny
    from causal_agents.training.loop import prepare

    prep = prepare(cfg, records, dialogues_path)
    stats = compute_stats(iter(records), StatsOptions(tokenizer=cfg.tokenizer or (None if is_tiny(model) else model),
                                                      renderer=cfg.renderer), tokenizer=prep.tokenizer)
    counted = {m: stats["supervised"][m] for m in prep.supervised}
    if counted != prep.supervised:
        raise CagError(f"internal: stats counts {counted} differ from training labels {prep.supervised}")
    return prep


def _probe(out: str, runs: dict, bank, device: str, model: str | None):
    """Step 5: probe the base model (a pretrained one: the tiny model starts from random
    weights, which say nothing) and both trained models; writes probes.json and margins.png.
    Returns (probes, plot path)."""
    from causal_agents.lm.tiny_model import is_tiny
    from causal_agents.truth.probes import ProbeOptions, plot_margins, probe_models

    paths, labels = [runs[m]["run_dir"] for m in MODES], list(MODES)
    if not is_tiny(model):
        paths, labels = [model, *paths], ["base", *labels]
    probes = probe_models(paths, bank, ProbeOptions(), device=device, labels=labels)
    plot_path = os.path.join(out, "margins.png")
    plot_margins(probes, plot_path)
    write_json_atomic(os.path.join(out, "probes.json"), probes)
    return probes, plot_path


def _result(probes: dict, prep, runs: dict, cfg, bank, rows: list[dict], dseed: int, seed: int,
            model: str | None) -> dict:
    """result.json's content, less the plot path and the timings."""
    result = {}
    for m in probes["models"]:
        s = probes["models"][m]["summary"]
        result[m] = {"mean_margin": s["mean_margin"], "lie_preferred": s["lie_preferred"],
                     "truth_contradictions": s["truth_contradictions"], "lie_corrections": s["lie_corrections"],
                     "truth_probe": s["truth_probe"], "lie_probe": s["lie_probe"]}
        if m in runs:
            result[m].update(supervised_tokens=prep.supervised[m], final_loss=runs[m]["final_loss"],
                             run_dir=runs[m]["run_dir"])
    result["facts"] = len(bank)
    result["dialogues"] = {"n": len(rows), "lied": sum(r["lied"] for r in rows), "tail": sum(r["tail"] for r in rows),
                           "seed": dseed}
    result["tokens"] = prep.tokens
    result["seed"] = seed
    result["model"] = model or "tiny"
    result["tokenizer"] = cfg.tokenizer or "model's own"
    result["recipe"] = {k: getattr(cfg, k) for k in ("recipe", "lr", "epochs", "batch_size", "scheduler", "warmup",
                                                     "dtype", "amp")}
    return result
