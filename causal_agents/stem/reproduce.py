"""`cag reproduce stream`: the experiment of "Continual, interactive, causal agents" (de Freitas and Ortega, 2026)
end to end.

generator -> SFT (teacher split, 1 epoch) -> stream (frozen SFT policy on the agent split
until N wrong attempts) -> methods from the SFT model (obs stream, do stream, SFT+oracle,
ReST, GRPO) -> held-out evaluation of base, SFT and every method under both protocols.

Every method is a LoRA adapter on the same SFT model (the SFT adapter merged into its base,
saved once as ``sft-merged/``). The obs and do streams are one paired ``cag train`` run:
same initialisation, same batches in the same order, only the labels differ.

Output directory: ``data/`` (splits), ``stream.jsonl``, one run directory per method,
``eval.json`` (per-item outcomes and raw answers), ``result.json`` (the tables' data,
token accounting and the time spent per stage).

``variant`` calculator runs the same experiment with attempts that may call a calculator
(causal_agents/stem/variants.py: teacher, oracle, stream, ReST, GRPO and evaluation all use
the format). ``size`` scales the splits, the stream's wrong attempts and the ReST/GRPO prompt
groups by one fraction (:data:`SIZES` names a few), the paper's sizes staying the default.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

from causal_agents.errors import InputError
from causal_agents.stem.problems import DEFAULT_COUNTS
from causal_agents.stem.variants import DEFAULT_VARIANT, PLAIN, check_variant

METHODS = ("sft", "obs_stream", "do_stream", "sft_oracle", "rest", "grpo")
# --size names: fractions of the preset's sizes (paper: 200/200/100 problems, 400 wrong
# attempts, 50 ReST/GRPO groups; quarter: 50/50/25, 100, 12)
SIZES = {"paper": 1.0, "half": 0.5, "quarter": 0.25, "tenth": 0.1}
# --recipe: how the supervised methods train; a flag given on the command line wins over it.
# paper: the paper's (LoRA, lr 1e-4, batch 1, one SFT epoch). cpu: a pretrained small model on a
# CPU, measured on SmolLM2-135M-Instruct (calculator variant, seed 0, 2-core CPU): the paper's
# recipe at --size quarter (50 SFT problems) left the SFT model writing no calculator call in
# 100 attempts and solving 0 of 25 test problems; 200 SFT problems (the paper's split, whatever
# --size), 2 SFT epochs, lr 5e-4, batch 8 had it call the calculator in 13 of 15 attempts and
# solve 4 of 16. A line is at most ~40 tokens, so answers stop at 64 (a model looping on digits
# then costs 64 decoding steps, not 160). auto: cpu for a pretrained model on a CPU, paper on
# a GPU, and the tiny recipe for the embedded model.
STREAM_RECIPES = {
    "paper": {},
    "cpu": {"lr": 5e-4, "batch_size": 8, "sft_epochs": 2, "max_new_tokens": 64, "n_sft": 200},
}


@dataclass
class StreamExperiment:
    """Every setting of `cag reproduce stream`, defaults at the paper's sizes; the CLI reads
    its defaults from here."""
    model: str | None = None            # None: the embedded tiny model
    seed: int = 0
    variant: str = DEFAULT_VARIANT      # plain (the paper's) or calculator: attempts may call a calculator
    size: str = "paper"                 # the --size the sizes below were scaled by (recorded; see scale())
    recipe: str = "auto"                # paper, cpu (STREAM_RECIPES) or auto; resolved by experiment()
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
        """The settings as a plain dict (``methods`` a list), as result.json records them."""
        d = asdict(self)
        d["methods"] = list(self.methods)
        return d


def quick(exp: StreamExperiment) -> StreamExperiment:
    """CI smoke size: a few problems, short answers, one epoch (minutes on 2 CPU cores)."""
    return replace(exp, counts={"sft": 20, "agent": 10, "test": 10}, n_wrong=8, rest_k=2, rest_groups=4,
                   grpo_k=2, grpo_groups=3, max_new_tokens=24, sft_epochs=1, epochs=1, gen_batch_size=16)


def parse_size(size: str) -> float:
    """A --size value as a fraction: a name of :data:`SIZES` or a number in (0, 1]. Raises
    InputError (field --size) otherwise."""
    if size in SIZES:
        return SIZES[size]
    try:
        f = float(size)
    except (TypeError, ValueError):
        f = None
    if f is None or not 0 < f <= 1:
        raise InputError(f"expected one of {', '.join(SIZES)} or a fraction in (0, 1], got {size!r}", field="--size")
    return f


def scale(exp: StreamExperiment, size: str) -> StreamExperiment:
    """``exp`` with its split sizes, wrong attempts to collect and ReST/GRPO prompt groups
    multiplied by the fraction ``size`` names (rounded, at least 1; K, epochs and decoding
    unchanged)."""
    f = parse_size(size)

    def n(x: int) -> int:
        return max(1, round(x * f))

    return replace(exp, size=size, counts={k: n(v) for k, v in exp.counts.items()}, n_wrong=n(exp.n_wrong),
                   rest_groups=n(exp.rest_groups), grpo_groups=n(exp.grpo_groups))


def experiment(quick_size: bool = False, counts: dict | None = None, methods: str | None = None,
               k: int | None = None, groups: int | None = None, size: str | None = None,
               **fields) -> StreamExperiment:
    """The experiment a command line asks for: the paper's sizes (or :func:`quick`'s), scaled
    by ``size`` (:func:`scale`), then ``counts`` (split name -> size), ``methods``
    (comma-separated), ``k`` and ``groups`` (both ReST's and GRPO's) and any other
    :class:`StreamExperiment` field in ``fields``; a value of None keeps the preset's. Raises
    InputError, its field the command-line option, for a split size under 1, an unknown
    method, size or variant."""
    exp = quick(StreamExperiment()) if quick_size else StreamExperiment()
    if size is not None:
        exp = scale(exp, size)
    check_variant(fields.get("variant") or exp.variant)
    sizes = dict(exp.counts)
    for name, v in (counts or {}).items():
        if v is not None:
            if v < 1:
                raise InputError("must be at least 1", field=f"--n-{name}")
            sizes[name] = v
    over = {f: v for f, v in fields.items() if v is not None}
    over["recipe"] = recipe = _recipe(fields.get("recipe") or exp.recipe, fields.get("model"),
                                      fields.get("device") or exp.device)
    for f, v in STREAM_RECIPES.get(recipe, {}).items():
        if f == "n_sft":
            if not quick_size and (counts or {}).get("sft") is None:
                sizes["sft"] = v
        elif f not in over and not (quick_size and f == "max_new_tokens"):
            over[f] = v
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


def _recipe(name: str, model: str | None, device: str) -> str:
    """The --recipe a reproduction runs: ``auto`` resolved (``tiny`` for the embedded model)."""
    from causal_agents.lm.tiny_model import is_tiny
    from causal_agents.training.config import auto_recipe

    if name not in ("auto", *STREAM_RECIPES):
        raise InputError(f"expected one of auto, {', '.join(STREAM_RECIPES)}, got {name!r}", field="--recipe")
    # the embedded model keeps its own recipe whatever was asked (auto_recipe gives it "tiny")
    return auto_recipe(model, device) if name == "auto" or is_tiny(model) else name


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

    from causal_agents.lm.loader import load_model

    model, tok = load_model(run_dir, device, merge_lora=True)
    tmp = out_dir + ".tmp"

    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return os.path.abspath(out_dir)


def run(exp: StreamExperiment, out: str, resume: bool = False, overwrite: bool = False, log=print,
        progress: bool = True) -> dict:
    """Run the experiment of "Continual, interactive, causal agents" (de Freitas and Ortega,
    2026) into the directory ``out`` and return result.json's content: the evaluation tables'
    data (``eval``), time per stage, supervised positions per method, each stage's summary
    and the run directories.

    ``resume`` keeps finished stages (the stream file, complete run directories);
    ``overwrite`` replaces a finished reproduction. Raises CagError for an unknown method, a
    method list without ``sft``, or a finished reproduction in ``out`` without either flag.
    Every intermediate file is written atomically.
    """
    from causal_agents.errors import CagError
    from causal_agents.formats.io import write_json_atomic
    from causal_agents.stem.evaluate import slim

    unknown = [m for m in exp.methods if m not in METHODS]
    if unknown:
        raise CagError(f"unknown method(s) {unknown} (expected some of {', '.join(METHODS)})")
    if "sft" not in exp.methods:
        raise CagError("every method starts from the SFT model: keep 'sft' in --methods")
    out = os.path.abspath(out)
    if os.path.exists(os.path.join(out, "result.json")) and not (resume or overwrite):
        raise CagError(f"{out} already holds a finished reproduction; use --resume, --overwrite or another --out")
    if resume:
        _check_resumed_variant(out, exp.variant)
    os.makedirs(out, exist_ok=True)
    r = _Run(exp, out, resume, dict(resume=resume, overwrite=overwrite, progress=progress, log=log), log)
    r.data()
    r.sft()
    r.stream()
    r.stream_methods()
    if "sft_oracle" in exp.methods:
        r.oracle()
    if "rest" in exp.methods:
        r.rest()
    if "grpo" in exp.methods:
        r.grpo(progress)
    ev = r.evaluate()
    result = {"variant": exp.variant, "size": exp.size, "eval": slim(ev), "timings": r.times,
              "total_seconds": round(sum(r.times.values()), 2), "supervised": _accounting(r.info), **r.info,
              "runs": r.runs, "out": out}
    write_json_atomic(os.path.join(out, "result.json"), result)
    return result


class _Run:
    """One reproduction's stages, in order; each records its time and summary. From the
    stream on every method starts from the SFT weights (``start``: merged when LoRA), and
    the tiny recipe still applies when the experiment runs on the tiny model."""

    def __init__(self, exp: StreamExperiment, out: str, resume: bool, tkw: dict, log):
        from causal_agents.lm.tiny_model import is_tiny

        self.exp, self.out, self.resume, self.tkw, self.log = exp, out, resume, tkw, log
        self.tiny = is_tiny(exp.model)
        self.times: dict[str, float] = {}
        self.info: dict = {"experiment": exp.as_dict()}
        self.runs: dict = {}

    @contextmanager
    def stage(self, name: str):
        t = time.perf_counter()
        self.log(f"== {name}")
        try:
            yield
        finally:
            self.times[name] = round(self.times.get(name, 0.0) + time.perf_counter() - t, 2)

    def trained(self, run_dir: str) -> bool:
        from causal_agents.training.rundir import is_complete

        return self.resume and is_complete(run_dir)

    def cfg_from_sft(self, modes: tuple, epochs: int | None = None):
        return _train_cfg(self.exp, self.start, modes, self.exp.epochs if epochs is None else epochs, self.tiny)

    def data(self) -> None:
        from causal_agents.formats.io import write_records
        from causal_agents.stem.problems import generate

        with self.stage("data"):
            self.splits = generate(self.exp.seed, self.exp.counts, self.exp.variant)
            for name, rows in self.splits.items():
                write_records(os.path.join(self.out, "data", f"{name}.jsonl"), rows)
        self.base_model = self.exp.model
        if self.tiny:
            # Save the tiny model's initial weights as an ordinary model directory: every stage
            # (and the "base" row of the evaluation) then loads the same weights by path, and a
            # LoRA adapter points at a plain base checkpoint.
            self.base_model = save_tiny_base(os.path.join(self.out, "base-model"), self.exp.seed)

    def sft(self) -> None:
        from causal_agents.stem.methods import sft_records, tag_all
        from causal_agents.training.loop import train

        exp = self.exp
        sft_dir = os.path.join(self.out, "sft")
        with self.stage("sft"):
            sft = tag_all(sft_records(self.splits["sft"], exp.variant), "sft")
            cfg = _train_cfg(exp, self.base_model, ("do",), exp.sft_epochs, self.tiny)
            self.info["sft"] = train(cfg, sft, sft_dir, "sft", **self.tkw)["do"]
            self.start = (merge_run(sft_dir, os.path.join(self.out, "sft-merged"), exp.device) if exp.lora
                          else os.path.abspath(sft_dir))
        self.runs["sft"] = sft_dir

    def stream(self) -> None:
        from causal_agents.formats.io import read_json, read_records, write_json_atomic, write_records
        from causal_agents.stem.collect import CollectOptions, collect, stream_accounting
        from causal_agents.lm.loader import load_model

        exp = self.exp
        stream_path = os.path.join(self.out, "stream.jsonl")
        with self.stage("stream"):
            if self.resume and os.path.exists(stream_path + ".summary.json"):
                self.records = [r for _, r in read_records(stream_path)]
                summ = read_json(stream_path + ".summary.json")
            else:
                model, tok = load_model(self.start, device=exp.device, merge_lora=True)
                opts = CollectOptions(n_wrong=exp.n_wrong, budget=exp.budget, batch_size=exp.gen_batch_size,
                                      max_new_tokens=exp.max_new_tokens, temperature=exp.temperature, seed=exp.seed,
                                      verdicts=exp.verdicts, variant=exp.variant)
                self.records, summ = collect(model, tok, self.splits["agent"], opts)
                del model
                write_records(stream_path, self.records)
                summ["stats"] = stream_accounting(self.records, tokenizer=None if self.tiny else self.start)
                write_json_atomic(stream_path + ".summary.json", summ)
            self.info["stream"] = summ
            self.log(f"stream: {summ['turns']} turns, {summ['wrong']} wrong, {summ['correct']} correct; "
                     f"{summ['stats']['line']}")

    def stream_methods(self) -> None:
        """The obs and do streams: one paired run (same plan, only the labels differ)."""
        from causal_agents.stem.methods import tag_all
        from causal_agents.training.loop import train

        modes = tuple(m for m, name in (("obs", "obs_stream"), ("do", "do_stream")) if name in self.exp.methods)
        if not modes:
            return
        with self.stage("obs/do stream"):
            tagged = tag_all(self.records, "stream")
            d = os.path.join(self.out, "stream-train")
            if self.exp.verdicts or len(modes) == 1:
                res = train(self.cfg_from_sft(modes), tagged, d, "stream", **self.tkw)
            else:
                # without verdicts a right first attempt supervises nothing under do and is
                # refused there, so the two masks no longer share one plan: train them apart
                res = {m: train(self.cfg_from_sft((m,)), tagged, os.path.join(d, m), "stream", **self.tkw)[m]
                       for m in modes}
            for m in modes:
                self.runs[f"{m}_stream"] = res[m]["run_dir"]
                self.info[f"{m}_stream"] = res[m]

    def oracle(self) -> None:
        from causal_agents.stem.methods import oracle_records, tag_all
        from causal_agents.training.loop import train

        with self.stage("sft+oracle"):
            recs = oracle_records(self.records)
            d = os.path.join(self.out, "sft_oracle")
            self.info["sft_oracle"] = train(self.cfg_from_sft(("do",)), tag_all(recs, "oracle"), d, "oracle",
                                            **self.tkw)["do"]
            self.info["sft_oracle"]["rows"] = len(recs)
            self.runs["sft_oracle"] = d

    def rest(self) -> None:
        from causal_agents.formats.io import read_json
        from causal_agents.stem.methods import rest_sample, rest_select, sft_records, tag_all
        from causal_agents.lm.loader import load_model
        from causal_agents.training.loop import train

        exp = self.exp
        with self.stage("rest"):
            d = os.path.join(self.out, "rest")
            if self.trained(d):
                self.info["rest"] = read_json(os.path.join(d, "cag_run.json"))
            else:
                model, tok = load_model(self.start, device=exp.device, merge_lora=True)
                groups = self.splits["agent"][:exp.rest_groups]
                samples = rest_sample(model, tok, groups, exp.rest_k, 1.0, exp.max_new_tokens, exp.gen_batch_size,
                                      exp.seed, exp.variant)
                del model
                chosen, counts = rest_select(groups, samples)
                self.info["rest_selection"] = counts
                recs = chosen + sft_records(self.splits["sft"], exp.variant)  # SFT replay
                self.log(f"rest: {counts['selected']} selected of {counts['samples']} samples in {counts['groups']} "
                         f"groups, +{len(self.splits['sft'])} SFT replay")
                self.info["rest"] = train(self.cfg_from_sft(("obs",)), tag_all(recs, "rest"), d, "rest",
                                          **self.tkw)["obs"]
            self.runs["rest"] = d

    def grpo(self, progress: bool) -> None:
        from causal_agents.formats.io import read_json
        from causal_agents.stem.grpo import GRPOConfig, train_grpo

        exp = self.exp
        with self.stage("grpo"):
            d = os.path.join(self.out, "grpo")
            if self.trained(d):
                self.info["grpo"] = read_json(os.path.join(d, "cag_run.json"))
            else:
                gcfg = GRPOConfig(k=exp.grpo_k, groups=exp.grpo_groups, beta=exp.grpo_beta, clip_eps=exp.grpo_clip,
                                  lr=exp.grpo_lr if exp.grpo_lr is not None else (1e-3 if self.tiny else 5e-5),
                                  max_new_tokens=exp.max_new_tokens, batch_size=exp.gen_batch_size, seed=exp.seed,
                                  variant=exp.variant)
                self.info["grpo"] = train_grpo(self.start, self.splits["agent"], d, gcfg, lora=exp.lora,
                                               lora_r=exp.lora_r, lora_alpha=exp.lora_alpha, device=exp.device,
                                               log=self.log, progress=progress)
            self.runs["grpo"] = d

    def evaluate(self) -> dict:
        from causal_agents.formats.io import write_json_atomic
        from causal_agents.stem.evaluate import evaluate_models

        exp = self.exp
        with self.stage("eval"):
            models = [("base", self.base_model)] + [(m, self.runs[m]) for m in METHODS if m in self.runs]
            # the gated protocol repairs the SFT policy's wrong answers (the stream's frozen policy)
            ev = evaluate_models(os.path.join(self.out, "data", "test.jsonl"), models, base="sft",
                                 max_new_tokens=exp.max_new_tokens, batch_size=exp.gen_batch_size,
                                 repair_verdict=exp.verdicts, device=exp.device, seed=exp.seed, log=self.log,
                                 variant=exp.variant)
            write_json_atomic(os.path.join(self.out, "eval.json"), ev)
        return ev


def _check_resumed_variant(out: str, variant: str) -> None:
    """Refuse to resume a reproduction of the other variant: its stages would mix two formats
    (``--overwrite`` replaces every stage, so it needs no check)."""
    from causal_agents.errors import CagError
    from causal_agents.formats.io import read_json

    for name in ("result.json", "stream.jsonl.summary.json"):
        path = os.path.join(out, name)
        if os.path.exists(path):
            had = read_json(path).get("variant", PLAIN)
            if had != variant:
                raise CagError(f"{out} holds a {had}-variant reproduction ({name}); use another --out for "
                               f"--variant {variant}")


def _accounting(info: dict) -> dict:
    """Supervised positions per trained method (the paper's fig. 2)."""
    out = {}
    for m in ("sft", "obs_stream", "do_stream", "sft_oracle", "rest"):
        r = info.get(m)
        if isinstance(r, dict) and "supervised_tokens" in r:
            out[m] = r["supervised_tokens"]
    return out
