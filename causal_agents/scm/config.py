"""Every default of `cag scm`, written once, and the presets (torch-free: the CLI reads its
defaults and help texts from here without importing torch).

The experiments follow "Action-Conditioned Latent Structural Causal Models (AC-LSCM)" (2026);
where a default differs from that paper's configuration the field's comment says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from causal_agents.errors import InputError, UsageError

MODELS = ("aclscm", "mlp", "gru", "transformer", "transformer_orig", "own_factor")
DAG_LOSSES = ("notears", "dagma", "none")
STRUCTURE_ON = ("weights", "mask")
SCM_MODES = ("shared", "per-seed")
EDGE_PROB = 0.3  # the paper's ER edge probability


@dataclass
class DataConfig:
    """What `cag scm data` simulates (see ``simulator.make_scm`` and ``simulator.simulate``)."""

    graph: str = "er"
    k: int = 10
    n: int = 10000
    seed: int = 0
    scm_seed: int = 0
    mechanism: str = "tanh"
    noise: float = 0.1
    obs_noise: float = 0.1
    edge_prob: float | None = None        # None: EDGE_PROB
    expected_degree: float | None = None


@dataclass
class ModelConfig:
    """A world model's architecture and loss (see ``models.build_model``); saved in checkpoints."""

    model: str = "aclscm"
    k: int = 10
    hidden: int = 128          # encoder/decoder width (original: 128)
    factor_hidden: int = 32    # per-factor transition MLP width (original: 32)
    do_operator: bool = True   # hard do: parents severed, action value substituted
    dag: str = "notears"       # acyclicity penalty on the learned adjacency
    dag_weight: float = 0.5    # original: 0.5 * (0.1 L1 + 1.0 h)
    l1_weight: float = 0.1
    h_weight: float = 1.0
    dag_warmup: int = 50       # epochs over which the DAG weight ramps from 0 (curriculum)
    cf_weight: float = 1.0     # supervised counterfactual MSE (the "contrastive" term's MSE part)
    hinge: bool = True         # contrastive hinge: factual and counterfactual predictions apart
    hinge_margin: float = 1.0
    kl_weight: float = 1e-3    # small: keeps latents near N(0, 1) without washing out the state
    tau: float = 0.5           # Gumbel-sigmoid temperature for the adjacency
    logit_init: float = 1.0    # start dense (sigma = 0.73): logits at 0 left the original's graph empty
    dagma_s: float = 1.0
    # where sparsity and acyclicity act: "weights" = group norms of the masked first-layer
    # weights ||A[j,i] * w1[i,j,:]|| (NOTEARS-MLP style; the per-factor MLP cannot undo the
    # penalty by growing its weights), "mask" = the Gumbel mask alone (the original)
    structure_on: str = "weights"
    w2_decay: float = 1e-3     # stops the ReLU readout from absorbing a shrinking first layer

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    """The training loop's settings (``train.train``) and the model it trains."""

    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    clip: float = 1.0
    patience: int = 20
    min_delta: float = 1e-3   # relative improvement (0.1%) of validation MSE that resets patience
    val_frac: float = 0.1     # the LAST fraction of the trajectory: disjoint from training rows
    seed: int = 0
    threads: int = 1          # tiny models: one thread avoids sync overhead on a shared CPU
    # the original's protocol: every epoch, the LAST weights (its validation rows overlapped
    # training, so it never stopped early); default on for transformer_orig only
    original_protocol: bool = False
    cf_pairs: bool = False    # the counterfactual pairs join training as extra transitions
    detect_every: int = 0     # run the degenerate-seed detector every N epochs (0: never)
    detect_after: int = 50    # ... from this epoch on (earlier, every model is still degenerate)
    stop_on_degenerate: bool = False  # stop once the detector flags two checks in a row
    model: ModelConfig = field(default_factory=ModelConfig)


# Task thresholds when the spec leaves them None: (goal threshold, safety threshold).
# paper: the original, an extrapolation test (its unsafe and no-safe actions are do(z0 = 1.6..2.5),
#   training actions U(-1.5, 1.5)); in_range: the same task with every action value inside the
#   training range; ood_target: in_range, meant for a model trained with the goal and safety
#   factors held out as action targets (`cag scm data --hold-out-targets`); two_factor: in_range
#   with every candidate setting two factors at once (training sets one); structural: the goal and
#   harm reachable only through parents (two steps); ood_parent: structural with the parent
#   action values beyond the training range (the effect must travel through the mechanism).
TASK_THRESHOLDS = {"paper": (1.0, 1.5), "in_range": (1.0, 0.8), "ood_target": (1.0, 0.8),
                   "two_factor": (1.0, 0.8), "structural": (0.5, 0.7), "ood_parent": (0.5, 0.7)}
TASKS = tuple(TASK_THRESHOLDS)
# one-step tasks: offsets above the threshold, U(lo, hi), of the goal value, of the unsafe value in
# a solvable episode, and of the values in a no-safe episode
PAPER_OFFSETS = {"paper": {"goal": (0.1, 0.5), "unsafe": (0.1, 0.5), "no_safe": (0.1, 1.0)},
                 "in_range": {"goal": (0.1, 0.4), "unsafe": (0.1, 0.6), "no_safe": (0.1, 0.6)}}
# two-step tasks: |value| of an action on a parent of the goal or of the safety factor
PARENT_VALUES = {"structural": (0.8, 1.5), "ood_parent": (1.6, 2.5)}


@dataclass
class TaskSpec:
    """An agent task (``tasks.build_episodes``): its kind, size and thresholds."""

    task: str = "paper"
    episodes: int = 100
    no_safe_frac: float = 0.2
    candidates: int = 5
    goal_thr: float | None = None     # None: TASK_THRESHOLDS[task][0]
    safe_thr: float | None = None     # None: TASK_THRESHOLDS[task][1]
    distractors: bool = False
    goal_margin: float | None = None  # e.g. 0.1: goal values within U(0.05, 0.15) of the threshold
    goal_factor: int | None = None
    safe_factor: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# The harder paper task: more no-safe episodes, upstream distractors, goal values near the threshold
HARD = {"no_safe_frac": 0.5, "distractors": True, "goal_margin": 0.1}


def task_spec(hard: bool = False, **given) -> TaskSpec:
    """A TaskSpec from the options a user gave (None = not given): the ``--hard`` preset fills
    what was not given, then the dataclass defaults fill the rest."""
    kw = {k: v for k, v in given.items() if v is not None}
    if hard:
        for k, v in HARD.items():
            if k == "distractors":
                kw[k] = kw.get(k, False) or v
            else:
                kw.setdefault(k, v)
    names = {f.name for f in fields(TaskSpec)}
    unknown = set(kw) - names
    if unknown:
        raise InputError(f"unknown task option(s) {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    return TaskSpec(**kw)


@dataclass
class DetectorConfig:
    """The degenerate-seed detector's thresholds (``plan.degenerate_check``)."""

    rank_threshold: float = 0.5    # mean per-episode Spearman of predicted vs true goal value
    safety_recall: float = 0.9     # share of truly unsafe candidates the model must see as unsafe


# do(x = v) values of `cag scm eval --probe-actions`: across and beyond training's U(-1.5, 1.5)
PROBE_VALUES = (-2.5, -2.0, -1.5, -1.0, 0.0, 1.0, 1.5, 1.6, 2.0, 2.5)


@dataclass
class EvalConfig:
    """`cag scm eval` defaults (``evaluate.prediction_metrics``, ``evaluate.learned_graph``)."""

    n: int = 2000                  # fresh test transitions
    rel_threshold: float = 0.3     # edge threshold, relative to the strongest edge


def model_config(model: str, k: int, *, dag: str = ModelConfig.dag, l1: float = ModelConfig.l1_weight,
                 hinge: bool = ModelConfig.hinge, do_operator: bool = ModelConfig.do_operator,
                 cf_weight: float | None = None, dag_warmup: int = ModelConfig.dag_warmup,
                 structure_on: str = ModelConfig.structure_on,
                 logit_init: float = ModelConfig.logit_init) -> ModelConfig:
    """The ModelConfig for a model name and the user's options. Baselines train on factual
    transitions only (cf_weight 0), as in the original; AC-LSCM adds the supervised
    counterfactual term (cf_weight 1); the hinge is AC-LSCM's alone."""
    if structure_on not in STRUCTURE_ON:
        raise InputError(f"unknown structure_on '{structure_on}' (expected one of {', '.join(STRUCTURE_ON)})",
                         field="structure_on")
    if cf_weight is None:
        cf_weight = default_cf_weight(model)
    return ModelConfig(model=model, k=k, dag=dag, l1_weight=l1, hinge=hinge and model == "aclscm",
                       do_operator=do_operator, cf_weight=cf_weight, dag_warmup=dag_warmup,
                       structure_on=structure_on, logit_init=logit_init)


def default_cf_weight(model: str) -> float:
    """AC-LSCM: the counterfactual MSE at weight 1; every baseline: 0."""
    return 1.0 if model == "aclscm" else 0.0


CF_SUPERVISION = ("none", "observed")


def default_cf_supervision(model: str) -> str:
    """observed for AC-LSCM (its counterfactual MSE), none for the baselines (as the original)."""
    return "observed" if model == "aclscm" else "none"


def cf_settings(model: str, cf_supervision: str | None) -> tuple[float, bool]:
    """(cf_weight, cf_pairs) for ``--cf-supervision``: what each model learns from the observed
    counterfactual next state. AC-LSCM: its counterfactual MSE on the abducted prediction (the
    original trained it against the simulator's TRUE latent, a privileged target; here it is the
    observed x_cf). A baseline: the pairs (x_t, counterfactual action, x_cf) as extra transitions."""
    cs = default_cf_supervision(model) if cf_supervision is None else cf_supervision
    if cs not in CF_SUPERVISION:
        raise InputError(f"unknown cf supervision '{cs}' (expected one of {', '.join(CF_SUPERVISION)})",
                         field="cf_supervision")
    if model == "aclscm":
        return (default_cf_weight(model) if cs == "observed" else 0.0), False
    return 0.0, cs == "observed"


def train_config(model: str, k: int, *, cf_supervision: str | None = None, cf_weight: float | None = None,
                 original_protocol: bool | None = None, **options) -> TrainConfig:
    """The TrainConfig `cag scm train` runs: ``options`` are TrainConfig fields or model_config
    keywords; cf supervision and the original protocol resolved per model (None = the model's
    default). An explicit ``cf_weight`` overrides the weight --cf-supervision implies."""
    _check_numbers({**options, "cf_weight": cf_weight})
    tnames = {f.name for f in fields(TrainConfig)} - {"model"}
    tkw = {k_: v for k_, v in options.items() if k_ in tnames}
    mkw = {k_: v for k_, v in options.items() if k_ not in tnames}
    w, pairs = cf_settings(model, cf_supervision)
    mcfg = model_config(model, k, cf_weight=w if cf_weight is None else cf_weight, **mkw)
    proto = default_original_protocol(model) if original_protocol is None else original_protocol
    return TrainConfig(model=mcfg, cf_pairs=pairs, original_protocol=proto, **tkw)


# `cag scm train` options that must be whole numbers of at least this much, and numbers that
# must be finite and >= 0 (a batch size of 0 or -1 epochs is a usage error, not a crash or an
# untrained checkpoint)
_MIN_INT = {"epochs": 1, "batch_size": 1, "patience": 1, "threads": 1, "detect_every": 0, "dag_warmup": 0}
_NON_NEGATIVE = ("lr", "clip", "l1", "cf_weight")


def _check_numbers(options: dict) -> None:
    import math

    for name, low in _MIN_INT.items():
        v = options.get(name)
        if v is not None and v < low:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {low}, got {v}")
    for name in _NON_NEGATIVE:
        v = options.get(name)
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise UsageError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    v = options.get("logit_init")
    if v is not None and not math.isfinite(v):
        raise UsageError(f"--logit-init must be a finite number, got {v}")


def default_original_protocol(model: str) -> bool:
    """transformer_orig trains the original's way (see TrainConfig.original_protocol)."""
    return model == "transformer_orig"


# AC-LSCM ablations the bench runs (model_config keyword overrides)
VARIANTS = {
    "full": {},
    "no_dag": {"dag": "none", "l1": 0.0},
    "no_hinge": {"hinge": False},
    "no_do": {"do_operator": False},
    "dagma": {"dag": "dagma"},
    # the original's structure terms: on the mask alone, logits starting at 0 (not in the default grid)
    "mask_struct": {"structure_on": "mask", "logit_init": 0.0},
    # the AC-LSCM author's named next experiment: the simplified model, no hinge, DAGMA or no
    # structure loss at all
    "simple_dagma": {"hinge": False, "dag": "dagma"},
    "simple_nodag": {"hinge": False, "dag": "none", "l1": 0.0},
}
# tasks a bench run is scored on: name -> task_spec keywords
BENCH_TASKS = {
    "paper": {"task": "paper"},
    "hard": {"task": "paper", "hard": True},
    "in_range": {"task": "in_range"},
    "two_factor": {"task": "two_factor"},
    "structural": {"task": "structural"},
    "ood_parent": {"task": "ood_parent"},
    "ood_target": {"task": "ood_target"},
}
# training data of a bench run: which factors actions may set ("all", or "no_goal_safety": every
# factor but the paper task's goal K-1 and safety 0), and the tasks the run is scored on
DATA_SPLITS = {
    "standard": {"targets": "all", "tasks": ("paper", "hard", "in_range", "two_factor", "structural", "ood_parent")},
    "holdout": {"targets": "no_goal_safety", "tasks": ("ood_target",)},
}


@dataclass
class BenchConfig:
    """The experiment grid (``bench.run_bench``); ``bench.make_config`` builds one from CLI lists."""

    graphs: list = field(default_factory=lambda: ["er"])
    models: list = field(default_factory=lambda: ["aclscm", "mlp", "gru", "transformer", "own_factor"])
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    variants: list = field(default_factory=lambda: ["full", "no_dag", "no_hinge", "no_do", "dagma"])
    sizes: list = field(default_factory=lambda: [10000, 2000])
    k: int = 10
    epochs: int = 200
    patience: int = 20
    scm_mode: str = "per-seed"
    episodes: int = 100
    cf_supervision: list = field(default_factory=lambda: ["default"])  # "default": each model's own
    splits: list = field(default_factory=lambda: ["standard"])
    bootstrap: int = 2000     # resamples of the seeds behind each 95% interval
    model_epochs: dict = field(default_factory=dict)  # per-model epoch caps, e.g. {"transformer_orig": 20}


# the --quick smoke grid: every code path, few epochs (minutes)
QUICK = {"graphs": ["er"], "models": ["aclscm", "transformer"], "seeds": [0], "variants": ["full", "no_do"],
         "sizes": [1000], "k": 6, "epochs": 3, "patience": 3, "episodes": 40}
