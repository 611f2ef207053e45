"""Action tensors shared by the models and the fused training step (one module both import,
so neither imports the other for them).

An action is ``a_idx`` (B,) the target factor or -1 (no action) and ``a_val`` (B,) its value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def action_tensors(a_idx: torch.Tensor, a_val: torch.Tensor, k: int):
    """(B,) index/value -> one-hot mask m (B, K) and value v (B, K) (zero where not acted).

    (B, J) index/value: J simultaneous interventions on distinct factors (-1 = none); m and v
    are then the sums of the J one-hot masks and values."""
    if a_idx.dim() == 2:
        m = F.one_hot(a_idx.clamp(min=0), k).to(a_val.dtype) * (a_idx >= 0).unsqueeze(-1).to(a_val.dtype)
        return m.sum(1), (m * a_val.unsqueeze(-1)).sum(1)
    m = F.one_hot(a_idx.clamp(min=0), k).to(a_val.dtype) * (a_idx >= 0).unsqueeze(1).to(a_val.dtype)
    return m, m * a_val.unsqueeze(1)


def batch_actions(b: dict, k: int):
    """Action tensors of a batch (m, v, m2, v2); training batches carry them precomputed
    (fewer small ops)."""
    if "m" in b:
        return b["m"], b["v"], b["m2"], b["v2"]
    m, v = action_tensors(b["a_idx"], b["a_val"], k)
    m2, v2 = action_tensors(b["cf_idx"], b["cf_val"], k)
    return m, v, m2, v2
