"""`cag train` configuration: one dataclass, three recipes.

``paper``: the published recipe for a pretrained model ("Causal interactive LLM agents that tell the truth", de Freitas and Ortega 2026, sec. 5.2): AdamW lr 2e-5,
default weight decay, grad clip 1.0, batch 1, 4 epochs, no scheduler, bf16 where supported.
``tiny``: the embedded random-init byte-level model learns from scratch, which needs a
large learning rate, warm-up and decay, batches of 8 and more passes.
``cpu``: a small pretrained model (measured on SmolLM2-135M-Instruct) fine-tuned on a CPU,
where the paper's batch 1 and 4 epochs take hours: batches of 4, a larger learning rate that
decays linearly, and fewer passes (benchmarks/bench_truth.py checks the truth experiment's result with it on 3
seeds and two fact banks).
``auto`` picks ``tiny`` for the embedded model, ``cpu`` for a pretrained model trained on a CPU
and ``paper`` on a GPU. Any flag given on the command line overrides the recipe.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, replace

import orjson

from causal_agents.errors import UsageError
from causal_agents.lm.loader import DTYPES, pick_device
from causal_agents.lm.tiny_model import is_tiny
from causal_agents.transcripts.options import TRUNCATE_SIDES

RECIPES = {
    "paper": dict(lr=2e-5, weight_decay=0.01, epochs=4, batch_size=1, grad_accum=1, grad_clip=1.0,
                  scheduler="constant", warmup=0.0, dtype="auto", amp="auto"),
    # A pretrained ~135M model fine-tuned on a CPU (chosen on SmolLM2-135M-Instruct: three passes
    # over half the paper's dialogues, drawn balanced, cost 1.5 passes over all of them; obs needs
    # the repetition to learn the agent's habit of lying, do is unharmed). The lr decays linearly
    # from 8e-4 after a 5% warm-up: a constant 2e-4 left do's margin on the 24-fact bank at
    # +0.71/+0.85 on two seeds, and annealing from a higher peak raised do without moving obs off
    # the lie; 6e-4 still left one seed at the threshold (+0.887 on an AMX Xeon, +1.005 on an AMD
    # EPYC; benchmarks/bench_truth_smollm2.md).
    "cpu": dict(lr=8e-4, weight_decay=0.01, epochs=3, batch_size=4, grad_accum=1, grad_clip=1.0,
                scheduler="linear", warmup=0.05, dtype="auto", amp="auto"),
    # From scratch: a large lr with warm-up and linear decay, 24 passes (benchmarks/bench_truth.py
    # checks the paper's result on 3 seeds).
    "tiny": dict(lr=2e-3, weight_decay=0.01, epochs=24, batch_size=8, grad_accum=1, grad_clip=1.0,
                 scheduler="linear", warmup=0.05, dtype="fp32", amp="off"),
}
SCHEDULERS = ("constant", "linear", "cosine")
ENGINES = ("cag", "trl")               # cag: this package's loop; trl: TRL's SFTTrainer on the same plan
REPORTERS = ("none", "tensorboard", "wandb")
# Mixed precision: bf16 autocast over fp32 master weights. auto: on for fp32 weights on a CPU
# with native bf16 matmuls (avx512_bf16 or amx_bf16), off elsewhere: on a CPU without them bf16
# matmuls are emulated, measured here at 0.18 GFLOP/s against 10 in fp32 (benchmarks/bench_train.py).
AMPS = ("auto", "bf16", "off")


@dataclass
class TrainConfig:
    """Everything `cag train` needs to reproduce a run. Knobs left None take the recipe's value in ``resolved()``."""
    modes: tuple = ("obs",)
    model: str | None = None            # None / "tiny": the embedded model
    tokenizer: str | None = None        # None: the model's own (the byte tokenizer for tiny)
    renderer: str = "plain"
    recipe: str = "auto"
    lr: float | None = None
    weight_decay: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    grad_accum: int | None = None
    grad_clip: float | None = None
    scheduler: str | None = None
    warmup: float | None = None         # fraction of steps (< 1) or a step count (>= 1)
    dtype: str | None = None
    amp: str | None = None              # auto, bf16 or off (see AMPS)
    seed: int = 0
    loss_weighting: str = "token"
    max_length: int | None = None
    truncate: str = "right"             # which end --max-length drops; left keeps the (supervised) end
    group_by_length: bool = True
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple = ("q_proj", "k_proj", "v_proj", "o_proj")
    lora_dropout: float = 0.0
    save_every: int = 0                 # checkpoint every N optimizer steps (0: never)
    max_steps: int | None = None        # stop early (a deliberately partial run)
    device: str = "auto"
    threads: int | None = None          # CPU threads (None: torch's default)
    tag_options: dict = field(default_factory=dict)
    engine: str = "cag"
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% more time
    report_to: tuple = ()               # experiment trackers beside metrics.jsonl: tensorboard, wandb

    def resolved(self) -> "TrainConfig":
        """A copy with ``auto`` resolved and every recipe knob filled in. A value outside its
        choices is a UsageError (exit 2) naming the flag."""
        _choose("--recipe", self.recipe, ("auto", *RECIPES))
        recipe = auto_recipe(self.model, self.device) if self.recipe == "auto" else self.recipe
        vals = {k: (getattr(self, k) if getattr(self, k) is not None else v) for k, v in RECIPES[recipe].items()}
        cfg = replace(self, recipe=recipe, **vals)
        for flag, value, allowed in (("--scheduler", cfg.scheduler, SCHEDULERS), ("--engine", cfg.engine, ENGINES),
                                     ("--amp", cfg.amp, AMPS), ("--dtype", cfg.dtype, DTYPES),
                                     ("--truncate", cfg.truncate, TRUNCATE_SIDES),
                                     *(("--report-to", r, REPORTERS) for r in cfg.report_to)):
            _choose(flag, value, allowed)
        for flag, value in (("--lr", cfg.lr), ("--weight-decay", cfg.weight_decay), ("--grad-clip", cfg.grad_clip),
                            ("--warmup", cfg.warmup)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{flag} must be a finite number >= 0, got {value!r}")
        for flag, value in (("--epochs", cfg.epochs), ("--batch-size", cfg.batch_size),
                            ("--grad-accum", cfg.grad_accum)):
            if value < 1:
                raise UsageError(f"{flag} must be at least 1, got {value}")
        return replace(cfg, report_to=tuple(r for r in cfg.report_to if r != "none"))

    def as_dict(self) -> dict:
        """A JSON-ready dict (tuples as lists), as written to cag_config.json."""
        d = asdict(self)
        d["modes"] = list(self.modes)
        d["lora_targets"] = list(self.lora_targets)
        d["report_to"] = list(self.report_to)
        return d

    def fingerprint(self, mode: str, data_digest: str) -> str:
        """What a checkpoint must match to be resumed: everything that changes this mode's
        weights (not max_steps, save_every, device, threads or the other modes trained beside it)."""
        skip = {"max_steps", "save_every", "device", "threads", "modes", "report_to", "gradient_checkpointing"}
        d = {k: v for k, v in self.as_dict().items() if k not in skip}
        d["mode"] = mode
        d["data"] = data_digest
        return hashlib.sha256(orjson.dumps(d, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def auto_recipe(model: str | None, device: str = "auto") -> str:
    """What ``--recipe auto`` picks: ``tiny`` for the embedded model, ``cpu`` for a pretrained
    model when training runs on a CPU, ``paper`` on a GPU."""
    if is_tiny(model):
        return "tiny"
    return "cpu" if pick_device(device).type == "cpu" else "paper"


def _choose(flag: str, value, allowed) -> None:
    if value not in allowed:
        raise UsageError(f"unknown {flag} {value!r} (expected {', '.join(allowed)})")
