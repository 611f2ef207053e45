"""Acyclicity penalties h(S) on S = A*A (elementwise), computed on the tiny (K, K) matrix in
numpy with hand-written gradients: autograd through torch.linalg.matrix_exp cost a fifth of
every training step at K=10.

NOTEARS: h = tr(exp(S)) - K,               dh/dS = exp(S)^T
DAGMA:   h = -log det(sI - S) + K log s,  dh/dS = (sI - S)^{-T}

DAGMA's log-det is an acyclicity function only inside its domain, spectral radius rho(S) < s
(there sI - S is an M-matrix, h >= 0, and h = 0 exactly when S is a DAG); outside it the
determinant can be negative or the value can reward cycles. A dense graph early in training
sits far outside the domain at the paper's s = 1. So the barrier is evaluated at
s_eff = max(s, DAGMA_MARGIN * rho(S)) for that step (DAGMA's own central path also runs s from
large to small): always inside the domain, always a valid barrier, never NOTEARS in disguise.
"""

from __future__ import annotations

import math

import numpy as np
import torch

DAGMA_MARGIN = 1.1  # s_eff at least 10% above the spectral radius: a finite, well-conditioned barrier


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
        return dagma_value_and_grad(s, scale)
    e = expm(s)
    return float(np.trace(e)) - k, e.T


def dagma_scale(s: np.ndarray, scale: float = 1.0) -> float:
    """The s at which the barrier is evaluated: ``scale``, or more where S has a larger spectral
    radius (see module doc)."""
    rho = float(np.max(np.abs(np.linalg.eigvals(s)))) if len(s) else 0.0
    return max(scale, DAGMA_MARGIN * rho)


def dagma_value_and_grad(s: np.ndarray, scale: float = 1.0) -> tuple[float, np.ndarray]:
    """DAGMA's h and dh/dS at s_eff = ``dagma_scale(s, scale)`` (held fixed for the gradient)."""
    k = len(s)
    s_eff = dagma_scale(s, scale)
    m = s_eff * np.eye(k) - s
    sign, logabs = np.linalg.slogdet(m)
    if sign <= 0:  # cannot happen inside the domain; a bug, not a fallback
        raise FloatingPointError(f"DAGMA: sI - S is not an M-matrix at s={s_eff}")
    return float(-logabs + k * math.log(s_eff)), np.linalg.inv(m).T


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
    """NOTEARS' h(S) = tr(exp(S)) - K with its hand-written gradient (autograd-compatible)."""
    return _Penalty.apply(s, "notears", 1.0)


def dagma_h(s: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """DAGMA's log-det barrier, evaluated inside its domain (see module doc)."""
    return _Penalty.apply(s, "dagma", scale)
