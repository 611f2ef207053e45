"""`cag reproduce stream`: the seed paper 002 experiment end to end.

generator -> SFT (teacher split, 1 epoch) -> stream (frozen SFT policy on the agent split
until N wrong attempts) -> methods from the SFT model (obs stream, do stream, SFT+oracle,
ReST, GRPO) -> held-out evaluation of base, SFT and every method under both protocols.

Every method is a LoRA adapter on the same SFT model (the SFT adapter merged into its base,
saved once as ``sft-merged/``). The obs and do streams are one paired ``cag train`` run:
same initialisation, same batches in the same order, only the labels differ.

Output directory: ``data/`` (splits), ``stream.jsonl``, one run directory per method,
``eval.json`` (per-item outcomes and raw answers), ``result.json`` (the tables' data,
token accounting and the time spent per stage).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace

from causal_agents.errors import InputError
from causal_agents.stem.problems import DEFAULT_COUNTS

METHODS = ("sft", "obs_stream", "do_stream", "sft_oracle", "rest", "grpo")


@dataclass
class StreamExperiment:
    model: str | None = None            # None: the embedded tiny model
    seed: int = 0
    counts: dict = field(default_factory=lambda: dict(DEFAULT_COUNTS))
    methods: tuple = METHODS
    # stream collection (the paper: 400 wrong attempts, 785 turns)
    n_wrong: int = 400
    budget: int | None = None
    temperature: float = 0.7
    verdicts: bool = True
    # training (LoRA by default, as in the paper)
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lr: float | None = None             # None: 1e-4 for LoRA on a real model, the tiny recipe's otherwise
    sft_epochs: int = 1                 # "We train for only one epoch on purpose"
    epochs: int = 2                     # every method after SFT
    batch_size: int | None = None       # None: the recipe's (tiny 8, paper 1)
    # ReST and GRPO (the paper: K = 8, 50 groups)
    rest_k: int = 8
    rest_groups: int = 50
    grpo_k: int = 8
    grpo_groups: int = 50
    grpo_beta: float = 0.04
    grpo_clip: float = 0.2
    grpo_lr: float | None = None        # None: 5e-5 (LoRA) on a real model, 1e-3 on the tiny one
    # decoding
    max_new_tokens: int = 160
    gen_batch_size: int = 32
    device: str = "auto"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["methods"] = list(self.methods)
        return d


def quick(exp: StreamExperiment) -> StreamExperiment:
    """CI smoke size: a few problems, short answers, one epoch (minutes on 2 CPU cores)."""
    return replace(exp, counts={"sft": 20, "agent": 10, "test": 10}, n_wrong=8, rest_k=2, rest_groups=4,
                   grpo_k=2, grpo_groups=3, max_new_tokens=24, sft_epochs=1, epochs=1, gen_batch_size=16)


def experiment(quick_size: bool = False, counts: dict | None = None, methods: str | None = None,
               k: int | None = None, groups: int | None = None, **fields) -> StreamExperiment:
    """The experiment a command line asks for: the paper's sizes (or :func:`quick`'s), then
    ``counts`` (split name -> size), ``methods`` (comma-separated), ``k`` and ``groups`` (both
    ReST's and GRPO's) and any other :class:`StreamExperiment` field in ``fields``; a value of
    None keeps the preset's. Raises InputError, its field the command-line option, for a split
    size under 1 or an unknown method."""
    exp = quick(StreamExperiment()) if quick_size else StreamExperiment()
    sizes = dict(exp.counts)
    for name, v in (counts or {}).items():
        if v is not None:
            if v < 1:
                raise InputError("must be at least 1", field=f"--n-{name}")
            sizes[name] = v
    over = {f: v for f, v in fields.items() if v is not None}
    if k is not None:
        over.update(rest_k=k, grpo_k=k)
    if groups is not None:
        over.update(rest_groups=groups, grpo_groups=groups)
    if methods:
        ms = tuple(m.strip() for m in methods.split(",") if m.strip())
        bad = [m for m in ms if m not in METHODS]
        if bad:
            raise InputError(f"unknown {bad}; expected some of {', '.join(METHODS)}", field="--methods")
        over["methods"] = ms
    return replace(exp, counts=sizes, **over)


def _train_cfg(exp: StreamExperiment, model: str | None, modes: tuple, epochs: int, tiny: bool):
    from causal_agents.training.config import TrainConfig

    lr = exp.lr if exp.lr is not None else (None if tiny else (1e-4 if exp.lora else None))
    return TrainConfig(modes=modes, model=model, renderer="stream", recipe="tiny" if tiny else "paper",
                       lr=lr, epochs=epochs, batch_size=exp.batch_size, seed=exp.seed, lora=exp.lora,
                       lora_r=exp.lora_r, lora_alpha=exp.lora_alpha, device=exp.device)


def save_tiny_base(out_dir: str, seed: int) -> str:
    """The embedded tiny model's random initial weights (from ``seed``) as a model directory."""
    import shutil

    from causal_agents.lm.tiny_model import tiny_model
    from causal_agents.transcripts.tokenizer import load_tokenizer

    tok = load_tokenizer(None)
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tiny_model(tok, seed).save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return os.path.abspath(out_dir)


def merge_run(run_dir: str, out_dir: str, device: str = "auto") -> str:
    """A LoRA run directory -> a plain model directory (adapter merged into its base), so
    every method after SFT starts from the same weights with a fresh adapter."""
    import shutil

    from causal_agents.stem.sample import load_policy

    model, tok = load_policy(run_dir, device=device)  # merges a LoRA adapter into its base
    tmp = out_dir + ".tmp"

    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return os.path.abspath(out_dir)


def run(exp: StreamExperiment, out: str, resume: bool = False, overwrite: bool = False, log=print,
        progress: bool = True) -> dict:
    from causal_agents.errors import CagError
    from causal_agents.formats.io import RecordWriter, read_json, write_json_atomic
    from causal_agents.stem.problems import generate
    from causal_agents.stem.evaluate import evaluate_models, slim
    from causal_agents.stem.collect import CollectOptions, collect, stream_accounting
    from causal_agents.stem.methods import oracle_records, rest_sample, rest_select, sft_records, tag_all
    from causal_agents.stem.sample import load_policy
    from causal_agents.training.config import is_tiny
    from causal_agents.training.loop import is_complete, train

    unknown = [m for m in exp.methods if m not in METHODS]
    if unknown:
        raise CagError(f"unknown method(s) {unknown} (expected some of {', '.join(METHODS)})")
    if "sft" not in exp.methods:
        raise CagError("every method starts from the SFT model: keep 'sft' in --methods")
    out = os.path.abspath(out)
    if os.path.exists(os.path.join(out, "result.json")) and not (resume or overwrite):
        raise CagError(f"{out} already holds a finished reproduction; use --resume, --overwrite or another --out")
    os.makedirs(out, exist_ok=True)
    tiny = is_tiny(exp.model)
    times: dict[str, float] = {}
    info: dict = {"experiment": exp.as_dict()}

    def stage(name):
        class _T:
            def __enter__(self):
                self.t = time.perf_counter()
                log(f"== {name}")

            def __exit__(self, *a):
                times[name] = round(times.get(name, 0.0) + time.perf_counter() - self.t, 2)
        return _T()

    def trained(run_dir: str) -> bool:
        return resume and is_complete(run_dir)

    with stage("data"):
        splits = generate(exp.seed, exp.counts)
        for name, rows in splits.items():
            with RecordWriter(os.path.join(out, "data", f"{name}.jsonl")) as w:
                for r in rows:
                    w.write(r)
    base_model = exp.model
    if tiny:
        # Save the tiny model's initial weights as an ordinary model directory: every stage
        # (and the "base" row of the evaluation) then loads the same weights by path, and a
        # LoRA adapter points at a plain base checkpoint.
        base_model = save_tiny_base(os.path.join(out, "base-model"), exp.seed)
    tkw = dict(resume=resume, overwrite=overwrite, progress=progress, log=log)
    sft_dir = os.path.join(out, "sft")
    with stage("sft"):
        sft = tag_all(sft_records(splits["sft"]), "sft")
        info["sft"] = train(_train_cfg(exp, base_model, ("do",), exp.sft_epochs, tiny), sft, sft_dir, "sft", **tkw)["do"]
        start = merge_run(sft_dir, os.path.join(out, "sft-merged"), exp.device) if exp.lora else os.path.abspath(sft_dir)
    stream_path = os.path.join(out, "stream.jsonl")
    with stage("stream"):
        if resume and os.path.exists(stream_path + ".summary.json"):
            from causal_agents.formats.io import read_records

            stream = [r for _, r in read_records(stream_path)]
            summ = read_json(stream_path + ".summary.json")
        else:
            model, tok = load_policy(start, device=exp.device)
            opts = CollectOptions(n_wrong=exp.n_wrong, budget=exp.budget, batch_size=exp.gen_batch_size,
                                  max_new_tokens=exp.max_new_tokens, temperature=exp.temperature, seed=exp.seed,
                                  verdicts=exp.verdicts)
            stream, summ = collect(model, tok, splits["agent"], opts)
            del model
            with RecordWriter(stream_path) as w:
                for r in stream:
                    w.write(r)
            summ["stats"] = stream_accounting(stream, tokenizer=None if tiny else start)
            write_json_atomic(stream_path + ".summary.json", summ)
        info["stream"] = summ
        log(f"stream: {summ['turns']} turns, {summ['wrong']} wrong, {summ['correct']} correct; {summ['stats']['line']}")
    runs = {"sft": sft_dir}
    # From here every method starts from the SFT weights (merged when LoRA); the tiny recipe
    # still applies when the experiment runs on the tiny model.
    def cfg_from_sft(modes, epochs=exp.epochs):
        c = _train_cfg(exp, start, modes, epochs, tiny)
        return c
    stream_modes = tuple(m for m, name in (("obs", "obs_stream"), ("do", "do_stream")) if name in exp.methods)
    if stream_modes:
        with stage("obs/do stream"):
            tagged = tag_all(stream, "stream")
            d = os.path.join(out, "stream-train")
            if exp.verdicts or len(stream_modes) == 1:
                res = train(cfg_from_sft(stream_modes), tagged, d, "stream", **tkw)
            else:
                # without verdicts a right first attempt supervises nothing under do and is
                # refused there, so the two masks no longer share one plan: train them apart
                res = {m: train(cfg_from_sft((m,)), tagged, os.path.join(d, m), "stream", **tkw)[m] for m in stream_modes}
            for m in stream_modes:
                runs[f"{m}_stream"] = res[m]["run_dir"]
                info[f"{m}_stream"] = res[m]
    if "sft_oracle" in exp.methods:
        with stage("sft+oracle"):
            recs = oracle_records(stream)
            d = os.path.join(out, "sft_oracle")
            info["sft_oracle"] = train(cfg_from_sft(("do",)), tag_all(recs, "oracle"), d, "oracle", **tkw)["do"]
            info["sft_oracle"]["rows"] = len(recs)
            runs["sft_oracle"] = d
    if "rest" in exp.methods:
        with stage("rest"):
            d = os.path.join(out, "rest")
            if trained(d):
                info["rest"] = read_json(os.path.join(d, "cag_run.json"))
            else:
                model, tok = load_policy(start, device=exp.device)
                groups = splits["agent"][:exp.rest_groups]
                samples = rest_sample(model, tok, groups, exp.rest_k, 1.0, exp.max_new_tokens, exp.gen_batch_size,
                                      exp.seed)
                del model
                chosen, counts = rest_select(groups, samples)
                info["rest_selection"] = counts
                recs = chosen + sft_records(splits["sft"])  # SFT replay
                log(f"rest: {counts['selected']} selected of {counts['samples']} samples in {counts['groups']} groups, "
                    f"+{len(splits['sft'])} SFT replay")
                info["rest"] = train(cfg_from_sft(("obs",)), tag_all(recs, "rest"), d, "rest", **tkw)["obs"]
            runs["rest"] = d
    if "grpo" in exp.methods:
        with stage("grpo"):
            from causal_agents.stem.grpo import GRPOConfig, train_grpo

            d = os.path.join(out, "grpo")
            if trained(d):
                info["grpo"] = read_json(os.path.join(d, "cag_run.json"))
            else:
                gcfg = GRPOConfig(k=exp.grpo_k, groups=exp.grpo_groups, beta=exp.grpo_beta, clip_eps=exp.grpo_clip,
                                  lr=exp.grpo_lr if exp.grpo_lr is not None else (1e-3 if tiny else 5e-5),
                                  max_new_tokens=exp.max_new_tokens, batch_size=exp.gen_batch_size, seed=exp.seed)
                info["grpo"] = train_grpo(start, splits["agent"], d, gcfg, lora=exp.lora, lora_r=exp.lora_r,
                                          lora_alpha=exp.lora_alpha, device=exp.device, log=log, progress=progress)
            runs["grpo"] = d
    with stage("eval"):
        models = [("base", base_model)] + [(m, runs[m]) for m in METHODS if m in runs]
        # the gated protocol repairs the SFT policy's wrong answers (the stream's frozen policy)
        ev = evaluate_models(os.path.join(out, "data", "test.jsonl"), models, base="sft",
                             max_new_tokens=exp.max_new_tokens, batch_size=exp.gen_batch_size,
                             repair_verdict=exp.verdicts, device=exp.device, seed=exp.seed, log=log)
        write_json_atomic(os.path.join(out, "eval.json"), ev)
    result = {"eval": slim(ev), "timings": times, "total_seconds": round(sum(times.values()), 2),
              "supervised": _accounting(info), **info, "runs": runs, "out": out}
    write_json_atomic(os.path.join(out, "result.json"), result)
    return result


def _accounting(info: dict) -> dict:
    """Supervised positions per trained method (the paper's fig. 2)."""
    out = {}
    for m in ("sft", "obs_stream", "do_stream", "sft_oracle", "rest"):
        r = info.get(m)
        if isinstance(r, dict) and "supervised_tokens" in r:
            out[m] = r["supervised_tokens"]
    return out
