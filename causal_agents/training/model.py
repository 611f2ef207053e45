"""What a run starts from: its initial weights (with LoRA adapters and gradient checkpointing
as configured) and its learning-rate schedule. Shared by cag's own loop and the TRL engine, so
both engines start from the same weights and follow the same schedule."""

from __future__ import annotations

import math

from causal_agents.errors import CagError
from causal_agents.lm.loader import load_weights
from causal_agents.training.config import TrainConfig


def build_model(cfg: TrainConfig, tokenizer, dtype):
    """Fresh initial weights (LoRA adapters added with ``cfg.lora``); identical for every call
    with the same config and seed."""
    import torch

    model = load_weights(cfg.model, tokenizer, dtype, cfg.seed)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(cfg.seed)  # LoRA's A matrices are random: same seed, same start
        lcfg = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=cfg.lora_dropout, target_modules=list(cfg.lora_targets))
        try:
            model = get_peft_model(model, lcfg)
        except ValueError as e:
            raise CagError(f"--lora-targets {','.join(cfg.lora_targets)}: {e}") from e
    if cfg.gradient_checkpointing:
        # Activations are recomputed in backward: memory per layer instead of per token-layer.
        # Non-reentrant: works with LoRA's frozen inputs without enable_input_require_grads.
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5.2x renamed it
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.config.use_cache = False
    return model


def lr_lambda(scheduler: str, warmup_steps: int, total: int):
    """The LambdaLR multiplier: linear warm-up, then constant, linear or cosine decay to 0 at ``total``."""
    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if scheduler == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total - warmup_steps)
        if scheduler == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f
