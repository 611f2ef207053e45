"""Acyclicity penalties h(S) on S = A*A (elementwise), computed on the tiny (K, K) matrix in
numpy with hand-written gradients: autograd through torch.linalg.matrix_exp cost a fifth of
every training step at K=10.

NOTEARS: h = tr(exp(S)) - K,               dh/dS = exp(S)^T
DAGMA:   h = -log det(sI - S) + K log s,  dh/dS = (sI - S)^{-T}   (valid while sI - S is an
         M-matrix; outside that domain we fall back to NOTEARS for the step and say so in the docs)
"""

from __future__ import annotations

import math

import numpy as np
import torch


def expm(m: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring with a 10-term Taylor series (float64);
    ample for the small non-negative matrices the penalty sees."""
    norm = np.abs(m).sum(1).max()
    s = max(0, int(math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0)
    a = m / (2 ** s)
    out = np.eye(len(m))
    term = np.eye(len(m))
    for i in range(1, 11):  # after scaling to norm <= 0.5 the 10-term remainder is < 1e-9
        term = term @ a / i
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def h_and_grad(s: np.ndarray, kind: str, scale: float = 1.0) -> tuple[float, np.ndarray]:
    """Value and gradient dh/dS of the penalty on a float64 numpy S (the fused training step
    calls this directly; ``notears_h``/``dagma_h`` wrap it for autograd)."""
    k = len(s)
    if kind == "dagma":
        m = scale * np.eye(k) - s
        sign, logabs = np.linalg.slogdet(m)
        # the log-det barrier is only meaningful inside the M-matrix domain (spectral radius < s)
        if sign > 0 and np.max(np.abs(np.linalg.eigvals(s))) < scale:
            return -logabs + k * math.log(scale), np.linalg.inv(m).T
    e = expm(s)
    return float(np.trace(e)) - k, e.T


class _Penalty(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, kind: str, scale: float):
        h, grad = h_and_grad(s.detach().double().numpy(), kind, scale)
        ctx.save_for_backward(torch.from_numpy(np.ascontiguousarray(grad)).to(s.dtype))
        return s.new_tensor(h)

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return g * grad, None, None


def notears_h(s: torch.Tensor) -> torch.Tensor:
    return _Penalty.apply(s, "notears", 1.0)


def dagma_h(s: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """DAGMA's barrier; outside its domain this step falls back to NOTEARS (see module doc)."""
    return _Penalty.apply(s, "dagma", scale)
