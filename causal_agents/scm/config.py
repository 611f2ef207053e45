"""Every default of `cag scm`, written once, and the presets (torch-free: the CLI reads its
defaults and help texts from here without importing torch).

The experiments follow "Action-Conditioned Latent Structural Causal Models (AC-LSCM)" (2026);
where a default differs from that paper's configuration the field's comment says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from causal_agents.errors import InputError

MODELS = ("aclscm", "mlp", "gru", "transformer", "own_factor")
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
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    clip: float = 1.0
    patience: int = 20
    min_delta: float = 1e-3   # relative improvement (0.1%) of validation MSE that resets patience
    val_frac: float = 0.1     # the LAST fraction of the trajectory: disjoint from training rows
    seed: int = 0
    threads: int = 1          # tiny models: one thread avoids sync overhead on a shared CPU
    model: ModelConfig = field(default_factory=ModelConfig)


# Task thresholds when the spec leaves them None: (goal threshold, safety threshold)
TASK_THRESHOLDS = {"paper": (1.0, 1.5), "structural": (0.5, 0.7)}
TASKS = tuple(TASK_THRESHOLDS)


@dataclass
class TaskSpec:
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


@dataclass
class EvalConfig:
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


# AC-LSCM ablations the bench runs (model_config keyword overrides)
VARIANTS = {
    "full": {},
    "no_dag": {"dag": "none", "l1": 0.0},
    "no_hinge": {"hinge": False},
    "no_do": {"do_operator": False},
    "dagma": {"dag": "dagma"},
    # the original's structure terms: on the mask alone, logits starting at 0 (not in the default grid)
    "mask_struct": {"structure_on": "mask", "logit_init": 0.0},
}
# tasks every bench run is scored on: name -> task_spec keywords
BENCH_TASKS = {
    "paper": {"task": "paper"},
    "hard": {"task": "paper", "hard": True},
    "structural": {"task": "structural"},
}


@dataclass
class BenchConfig:
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


# the --quick smoke grid: every code path, few epochs (minutes)
QUICK = {"graphs": ["er"], "models": ["aclscm", "transformer"], "seeds": [0], "variants": ["full", "no_do"],
         "sizes": [1000], "k": 6, "epochs": 3, "patience": 3, "episodes": 40}
