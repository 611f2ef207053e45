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


class _Notears(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s):
        e = expm(s.detach().double().numpy())
        ctx.save_for_backward(torch.from_numpy(e.T.copy()).to(s.dtype))
        return s.new_tensor(float(np.trace(e)) - len(e))

    @staticmethod
    def backward(ctx, g):
        (et,) = ctx.saved_tensors
        return g * et


class _Dagma(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, scale: float):
        k = s.shape[0]
        m = scale * np.eye(k) - s.detach().double().numpy()
        sign, logabs = np.linalg.slogdet(m)
        inv_t = np.linalg.inv(m).T
        ctx.save_for_backward(torch.from_numpy(inv_t.copy()).to(s.dtype))
        return s.new_tensor(-logabs + k * math.log(scale))

    @staticmethod
    def backward(ctx, g):
        (inv_t,) = ctx.saved_tensors
        return g * inv_t, None


def notears_h(s: torch.Tensor) -> torch.Tensor:
    return _Notears.apply(s)


def dagma_h(s: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    m = scale * np.eye(s.shape[0]) - s.detach().double().numpy()
    sign, _ = np.linalg.slogdet(m)
    # the log-det barrier is only meaningful inside the M-matrix domain (spectral radius < s)
    if sign <= 0 or np.max(np.abs(np.linalg.eigvals(s.detach().double().numpy()))) >= scale:
        return notears_h(s)
    return _Dagma.apply(s, scale)
