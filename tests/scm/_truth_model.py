"""A world model that predicts with the true noise-free SCM: the best any model can do, so
planner and task tests can tell a task's ceiling from a model's error."""

import numpy as np
import torch


class TruthModel(torch.nn.Module):
    """``predict`` steps the true SCM with zero noise (J-wide actions too)."""

    def __init__(self, scm):
        super().__init__()
        self.scm = scm

    def predict(self, x_t, a_idx, a_val, steps=1):
        z, idx, val = x_t.double().numpy(), a_idx.numpy(), a_val.double().numpy()
        out = []
        for _ in range(steps):
            z = self.scm.step(z, np.zeros_like(z), idx, val)
            out.append(z)
            idx, val = np.full(len(z), -1), np.zeros(len(z))
        return torch.as_tensor(np.stack(out, 1), dtype=torch.float32)
