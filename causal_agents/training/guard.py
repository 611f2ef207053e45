"""The divergence rule: a run whose loss, gradient or weights stop being finite numbers stops
with one line (mode, step, value, the likely cause) and exit 1, before anything is saved as
finished: no completion marker, no final model. Both engines (cag's loop, TRL) check here."""

from __future__ import annotations

import math

from causal_agents.errors import CagError


class Diverged(CagError):
    """Training produced a non-finite loss, gradient or weight."""


def _cause(lr: float) -> str:
    return (f"the likely cause is a learning rate too large for this model (--lr {lr:g}); nothing was saved "
            "as a finished run (rerun with a smaller --lr and --overwrite)")


def check_step(mode: str, step: int, loss: float, grad_norm: float | None, lr: float) -> None:
    """Raise Diverged when optimizer step ``step`` (1-based, as in metrics.jsonl) has a
    non-finite loss or gradient norm; called before the optimizer applies it."""
    bad = [f"loss {loss}"] if not math.isfinite(loss) else []
    if grad_norm is not None and not math.isfinite(grad_norm):
        bad.append(f"gradient norm {grad_norm}")
    if bad:
        raise Diverged(f"[{mode}] training diverged at step {step}: {' and '.join(bad)}; {_cause(lr)}")


def check_finite_weights(model, mode: str, step: int, lr: float) -> None:
    """Raise Diverged if any weight of ``model`` is NaN or infinite (the last check before
    weights are saved)."""
    import torch

    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise Diverged(f"[{mode}] training diverged by step {step}: weight {name} holds NaN or infinite "
                           f"values; {_cause(lr)}")


def grad_norm(params, clip: float | None):
    """The global gradient norm (a tensor), clipping to ``clip`` when it is set and positive."""
    import torch

    if clip and clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    grads = [p.grad for p in params if p.grad is not None]
    total = getattr(torch.nn.utils, "get_total_norm", None)
    if total is not None:
        return total(grads)
    return torch.nn.utils.clip_grad_norm_(params, float("inf"))
