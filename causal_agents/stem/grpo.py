"""GRPO ("Continual, interactive, causal agents" (de Freitas and Ortega, 2026, eqs. 10-11; Shao et al. 2024) for the STEM stream experiment.

Written here rather than taken from TRL: TRL is not a dependency of cag, and its
GRPOTrainer (with datasets, accelerate and pandas behind it) is far heavier than a CPU smoke
run can afford. The pieces are small and tested on their own:

- :func:`group_advantages`: A_jk = (r_jk - mean_k r_j) / sqrt(var_k r_j + 1e-6) (population
  variance, eq. 10); a flat group (all rewards equal) has all-zero advantages and is skipped.
- :func:`grpo_loss`: per token, -min(ρ A, clip(ρ, 1-ε, 1+ε) A) + β KL(π_θ || π_ref), with the
  non-negative k3 estimator KL ≈ exp(q - p) - (q - p) - 1 (p, q: log-probs under the policy and
  the reference); averaged over each completion's tokens, then over completions.

One update step per non-flat prompt group (the paper: 50 groups of 8, 26 non-flat updates),
with ``inner_steps`` gradient steps on the same samples so the clipped ratio matters (with
one inner step ρ = 1 and GRPO reduces to a normalised policy gradient). The policy is a LoRA
adapter on the SFT model; the reference is the same network with the adapter switched off,
so no second copy of the weights is held. Rewards: 1 if the verifier passes, else 0.

Calculator variant: a completion holds the tool's result lines too; they are the world's,
not the policy's actions, so the policy-gradient and KL terms cover only the agent's tokens
(:func:`completion_batch` masks the tool's out).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

from causal_agents.errors import CagError
from causal_agents.stem.variants import DEFAULT_VARIANT, TOOL_HEADER, TOOL_ROLE


@dataclass
class GRPOConfig:
    """GRPO's settings: group size and count, KL weight, clipping, learning rate, decoding."""
    k: int = 8                  # samples per prompt group (the paper's K)
    groups: int = 50            # prompt groups (the paper: 50)
    temperature: float = 1.0    # exploration within a group
    clip_eps: float = 0.2       # PPO clip range
    beta: float = 0.04          # KL weight (DeepSeekMath's value)
    lr: float = 1e-5
    inner_steps: int = 2        # gradient steps per group on the same samples
    max_new_tokens: int = 160
    batch_size: int = 32        # sampling batch
    seed: int = 0
    variant: str = DEFAULT_VARIANT  # plain or calculator (causal_agents/stem/variants.py)

    def as_dict(self) -> dict:
        """The settings as a plain dict (for the run summary)."""
        return asdict(self)


def group_advantages(rewards):
    """(G, K) rewards -> (G, K) standardised advantages (eq. 10)."""
    mean = rewards.mean(-1, keepdim=True)
    var = ((rewards - mean) ** 2).mean(-1, keepdim=True)
    return (rewards - mean) / (var + 1e-6).sqrt()


def grpo_loss(logp, old_logp, ref_logp, adv, mask, clip_eps: float = 0.2, beta: float = 0.04):
    """Clipped surrogate plus KL to the reference (eq. 11), and diagnostics.

    logp, old_logp, ref_logp, mask: (N, T) per completion token (mask 1 on completion tokens);
    adv: (N,). ``logp`` carries the gradient; the others are constants.
    """
    import torch

    ratio = torch.exp(logp - old_logp)                                     # (N, T)
    a = adv[:, None]                                                       # (N, 1)
    surrogate = torch.minimum(ratio * a, ratio.clamp(1 - clip_eps, 1 + clip_eps) * a)
    d = ref_logp - logp
    kl = torch.exp(d) - d - 1                                              # (N, T), >= 0
    per_tok = -surrogate + beta * kl
    m = mask.float()
    per_seq = (per_tok * m).sum(-1) / m.sum(-1).clamp(min=1)               # (N,)
    loss = per_seq.mean()
    with torch.no_grad():
        clipped = ((ratio - 1).abs() > clip_eps).float()
        stats = {"kl": float((kl * m).sum() / m.sum().clamp(min=1)),
                 "clip_frac": float((clipped * m).sum() / m.sum().clamp(min=1))}
    return loss, stats


def completion_chunks(sample) -> list[tuple[str, bool]]:
    """A sampled attempt as ``(text, the agent wrote it)`` chunks, each line with its newline:
    a string is one agent line; parts alternate agent lines and tool results (``Tool: r``)."""
    if isinstance(sample, str):
        return [(sample + "\n", True)]
    return [(TOOL_HEADER + p["text"] + "\n", False) if p["role"] == TOOL_ROLE else (p["text"] + "\n", True)
            for p in sample]


def completion_batch(tok, prompts: list[str], completions: list):
    """Right-padded ids (N, T) and a mask (N, T-1) over the positions that predict the
    completion tokens the agent wrote. ``completions[i]``: a string (all the agent's) or
    ``(text, agent)`` chunks (:func:`completion_chunks`); tool chunks stay in the context,
    unmasked. Prompt and chunks are tokenized separately, as the sampler saw them."""
    import torch

    rows = []
    for p, c in zip(prompts, completions):
        ids = tok(p, add_special_tokens=False)["input_ids"]
        agent = [False] * len(ids)
        for text, mine in ([(c, True)] if isinstance(c, str) else c):
            t = tok(text, add_special_tokens=False)["input_ids"]
            ids, agent = ids + t, agent + [mine] * len(t)
        rows.append((ids, agent))
    T = max(len(i) for i, _ in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), T - 1), dtype=torch.bool)
    for r, (i, agent) in enumerate(rows):
        ids[r, :len(i)] = torch.tensor(i)
        mask[r, :len(i) - 1] = torch.tensor(agent[1:], dtype=torch.bool)  # position t predicts token t+1
    return ids, mask


def token_logprobs(model, ids):
    """(N, T) ids -> (N, T-1) log-prob of each next token (right padding needs no mask)."""
    import torch

    logits = model(input_ids=ids).logits[:, :-1].float()                  # (N, T-1, V)
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)


def train_grpo(start_model: str | None, problems: list[dict], out: str, cfg: GRPOConfig = GRPOConfig(),
               lora: bool = True, lora_r: int = 8, lora_alpha: int = 16, device: str = "auto", log=None,
               progress: bool = False) -> dict:
    """GRPO from ``start_model`` (a model directory, hub name, or None for the tiny model) on
    the first ``cfg.groups`` problems; writes a run directory like ``cag train`` does
    (adapter or model, tokenizer, cag_config.json, cag_run.json last)."""
    import torch

    from causal_agents.transcripts.render_stream import prompt
    from causal_agents.stem.sample import sample
    from causal_agents.training.config import TrainConfig
    from causal_agents.lm.loader import load_model_tokenizer, pick_device, pick_dtype
    from causal_agents.training.model import build_model
    from causal_agents.training.rundir import save_final
    from causal_agents.stem.variants import attempt_text
    from causal_agents.stem.verifier import verify_problem

    if cfg.k < 2:
        raise CagError("GRPO needs at least 2 samples per group (--grpo-k)")
    tcfg = TrainConfig(modes=("obs",), model=start_model, renderer="stream", lora=lora, lora_r=lora_r,
                       lora_alpha=lora_alpha, lr=cfg.lr, seed=cfg.seed, device=device).resolved()
    dev = pick_device(device)
    tok = load_model_tokenizer(tcfg.model, tcfg.tokenizer)
    model = build_model(tcfg, tok, pick_dtype(tcfg.dtype, dev)).to(dev)
    ref = None
    if not lora:  # a frozen copy of the start weights
        import copy

        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    groups = problems[:cfg.groups]
    flat = updates = 0
    history = []
    mpath = os.path.join(out, "metrics.jsonl")
    with open(mpath, "w") as mfile:
        for g, p in enumerate(groups):
            x = prompt(p["question"])
            samples = sample(model, tok, [x] * cfg.k, cfg.max_new_tokens, cfg.batch_size, cfg.temperature,
                             seed=cfg.seed * 100_003 + g, variant=cfg.variant)
            rewards = torch.tensor([[float(verify_problem(p, attempt_text(s)).passed) for s in samples]])  # (1, K)
            if bool((rewards == rewards[0, 0]).all()):
                flat += 1
                continue
            adv = group_advantages(rewards)[0].to(dev)                                       # (K,)
            ids, mask = completion_batch(tok, [x] * cfg.k, [completion_chunks(s) for s in samples])
            ids, mask = ids.to(dev), mask.to(dev)
            model.eval()
            with torch.no_grad():
                old = token_logprobs(model, ids)
                if ref is None:
                    with model.disable_adapter():
                        ref_lp = token_logprobs(model, ids)
                else:
                    ref_lp = token_logprobs(ref, ids)
            model.train()
            for _ in range(cfg.inner_steps):
                loss, st = grpo_loss(token_logprobs(model, ids), old, ref_lp, adv, mask, cfg.clip_eps, cfg.beta)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
            updates += 1
            row = {"group": g, "reward_mean": float(rewards.mean()), "loss": float(loss.detach()), **st}
            history.append(row)
            mfile.write(__import__("json").dumps(row) + "\n")
            if log and progress:
                log(f"grpo group {g + 1}/{len(groups)}: reward {row['reward_mean']:.2f}, kl {st['kl']:.4f}")
    summary = {"method": "grpo", "groups": len(groups), "flat_groups": flat, "updates": updates,
               "seconds": round(time.perf_counter() - t0, 2), "config": cfg.as_dict(), "run_dir": out,
               "start_model": start_model or "tiny", "complete": True}
    model.eval()
    save_final(model, tok, tcfg, out, summary)
    return summary
