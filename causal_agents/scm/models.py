"""World models: AC-LSCM and three baselines behind one interface.

Every model maps (x_t, action) to a predicted next observation and can answer a
counterfactual by abduction: recover the noise from the factual transition, swap the
action, keep the noise. Actions are ``a_idx`` (B,) target factor or -1 and ``a_val`` (B,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from causal_agents.scm.actions import action_tensors, batch_actions
from causal_agents.scm.acyclicity import dagma_h, notears_h
from causal_agents.scm.config import DAG_LOSSES, MODELS, ModelConfig
from causal_agents.scm.fused import fused_loss_and_backward

__all__ = ["DAG_LOSSES", "MODELS", "ModelConfig", "WorldModel", "action_tensors", "batch_actions", "build_model"]


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    """Two hidden ReLU layers: i -> h -> h -> o."""
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


class WorldModel(nn.Module):
    """Shared interface; subclasses implement ``step`` and ``loss``."""

    cfg: ModelConfig

    def predict(self, x_t, a_idx, a_val, steps: int = 1) -> torch.Tensor:
        """Predicted observations after the action and steps-1 further no-op steps: (B, steps, K)."""
        raise NotImplementedError

    def counterfactual(self, x_t, x_next, a_idx, a_val, cf_idx, cf_val):
        """Abduction -> action swap -> prediction. Returns (x_cf_hat (B, K), eps_hat (B, K))."""
        raise NotImplementedError

    def adjacency(self) -> torch.Tensor | None:
        return None

    def loss(self, b: dict, epoch: int) -> tuple[torch.Tensor, dict]:
        """Training loss (autograd) and its named parts."""
        raise NotImplementedError

    def loss_and_backward(self, b: dict, epoch: int) -> tuple[torch.Tensor, dict]:
        """``loss`` with its gradients accumulated into ``.grad``; a model may do it faster."""
        total, parts = self.loss(b, epoch)
        if torch.isfinite(total):
            total.backward()
        return total.detach(), parts


# ====================================================================== AC-LSCM
class ACLSCM(WorldModel):
    """AC-LSCM: VAE encoder/decoder, learned adjacency (Gumbel-sigmoid), one MLP per factor run
    as one batched computation, the hard do-operator, counterfactuals by abduction."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        k, h, fh = cfg.k, cfg.hidden, cfg.factor_hidden
        self.enc = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, 2 * k))
        self.dec = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, k))
        self.logits = nn.Parameter(torch.full((k, k), cfg.logit_init))
        self.register_buffer("offdiag", 1.0 - torch.eye(k))
        # K per-factor MLPs stacked: input (masked parents K, action value 1) -> fh -> 1
        b1 = 1.0 / math.sqrt(k + 1)
        self.w1 = nn.Parameter(torch.empty(k, k, fh).uniform_(-b1, b1))   # (K_i, K_j, H)
        self.w1a = nn.Parameter(torch.empty(k, fh).uniform_(-b1, b1))     # (K_i, H) action input
        self.b1 = nn.Parameter(torch.empty(k, fh).uniform_(-b1, b1))
        b2 = 1.0 / math.sqrt(fh)
        self.w2 = nn.Parameter(torch.empty(k, fh).uniform_(-b2, b2))      # (K_i, H)
        self.b2 = nn.Parameter(torch.zeros(k))
        self.fused = True  # loss_and_backward uses scm/fused.py; False: autograd on loss()

    def adjacency(self, sample: bool = False) -> torch.Tensor:
        """(K, K) soft adjacency A[j, i] (edge j -> i); Gumbel-sigmoid while training."""
        lg = self.logits
        if sample:
            u = torch.rand_like(lg).clamp(1e-6, 1 - 1e-6)
            lg = lg + torch.log(u) - torch.log1p(-u)
        return torch.sigmoid(lg / self.cfg.tau) * self.offdiag

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-8, 8)

    def transition_mean(self, z, m, v, adj):
        """All K structural equations in one batched pass. z, m, v: (B, K) -> (B, K).

        The K per-factor first layers with parent masks fold into ONE matmul:
        (B, K_j) @ (K_j, K_i*H), where column block i holds factor i's weights times A[:, i]."""
        k, fh = self.cfg.k, self.cfg.factor_hidden
        w1 = (self.w1 * adj.t().unsqueeze(-1)).transpose(0, 1).reshape(k, k * fh)  # (K_j, K_i*H)
        h = (z @ w1).view(-1, k, fh)                                           # (B, K_i, H)
        h = F.relu(h + v.unsqueeze(-1) * self.w1a + self.b1)
        f = (h * self.w2).sum(-1) + self.b2                                    # (B, K)
        if self.cfg.do_operator:
            f = f * (1 - m) + v * m                          # hard do: equation replaced by the value
        return f

    def edge_strength(self) -> torch.Tensor:
        """(K, K) effective edge weights E[j, i] the structure penalties and the graph read."""
        a = self.adjacency(sample=False)
        if self.cfg.structure_on == "mask":
            return a
        w = self.w1 * a.t().unsqueeze(-1)                    # (K_i, K_j, H)
        return w.pow(2).sum(-1).clamp_min(1e-12).sqrt().t() * self.offdiag  # (K_j, K_i)

    def _adj(self):
        return self.adjacency(sample=self.training)

    def predict(self, x_t, a_idx, a_val, steps: int = 1):
        adj = self._adj()
        m, v = action_tensors(a_idx, a_val, self.cfg.k)
        z, _ = self.encode(x_t)
        out = []
        for s in range(steps):
            z = self.transition_mean(z, m, v, adj)
            out.append(self.dec(z))
            m, v = torch.zeros_like(m), torch.zeros_like(v)
        return torch.stack(out, 1)

    def _abduct(self, z_t, z_next, m, v, m2, v2, adj):
        f = self.transition_mean(z_t, m, v, adj)
        eps = z_next - f                                     # noise that explains the factual outcome
        f_cf = self.transition_mean(z_t, m2, v2, adj)
        z_cf = f_cf + eps * (1 - m2) if self.cfg.do_operator else f_cf + eps
        return z_cf, eps, f, f_cf

    def counterfactual(self, x_t, x_next, a_idx, a_val, cf_idx, cf_val):
        adj = self._adj()
        k = self.cfg.k
        m, v = action_tensors(a_idx, a_val, k)
        m2, v2 = action_tensors(cf_idx, cf_val, k)
        z_t, _ = self.encode(x_t)
        z_n, _ = self.encode(x_next)
        z_cf, eps, _, _ = self._abduct(z_t, z_n, m, v, m2, v2, adj)
        return self.dec(z_cf), eps

    def dag_penalty(self, adj):
        a2 = adj * adj
        if self.cfg.dag == "notears":
            return notears_h(a2)
        if self.cfg.dag == "dagma":
            return dagma_h(a2, self.cfg.dagma_s)
        return a2.sum() * 0.0

    def loss_and_backward(self, b: dict, epoch: int) -> tuple[torch.Tensor, dict]:
        """One training step's loss, gradients accumulated into ``.grad``. In training mode this
        is the fused step (same value and gradients as ``loss``, hand-written backward: no
        graph, ~0.6x the time; scm/fused.py); ``self.fused = False`` runs autograd on ``loss``."""
        if self.training and self.fused:
            return fused_loss_and_backward(self, b, epoch)
        return super().loss_and_backward(b, epoch)

    def loss(self, b: dict, epoch: int) -> tuple[torch.Tensor, dict]:
        """The loss written with autograd: the definition the fused step is tested against.
        Returns the total and its named parts (recon, trans, kl, cf, hinge, l1, h)."""
        c = self.cfg
        bsz = b["x_t"].shape[0]
        adj = self._adj()
        m, v, m2, v2 = batch_actions(b, c.k)
        # one encoder pass for x_t and x_next, one transition pass for factual and counterfactual
        mu_all, logvar_all = self.encode(torch.cat([b["x_t"], b["x_next"]]))
        mu, logvar, mu_n = mu_all[:bsz], logvar_all[:bsz], mu_all[bsz:]
        z_t = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        ff = self.transition_mean(torch.cat([z_t, z_t]), torch.cat([m, m2]), torch.cat([v, v2]), adj)
        f, f_cf = ff[:bsz], ff[bsz:]
        eps = mu_n - f                                       # abduction: noise of the factual step
        z_cf = f_cf + eps * (1 - m2) if c.do_operator else f_cf + eps
        dec = self.dec(torch.cat([z_t, f, z_cf]))
        recon = F.mse_loss(dec[:bsz], b["x_t"])
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1).mean()
        trans = F.mse_loss(f, mu_n) + F.mse_loss(dec[bsz:2 * bsz], b["x_next"])
        parts = {"recon": recon, "trans": trans, "kl": kl}
        total = recon + trans + c.kl_weight * kl
        if c.cf_weight > 0:
            cf = F.mse_loss(dec[2 * bsz:], b["x_cf"])
            parts["cf"] = cf
            total = total + c.cf_weight * cf
        if c.hinge:
            # push factual and counterfactual predictions at least a margin apart (per sample)
            gap = (f_cf - f).pow(2).sum(-1).clamp_min(1e-8).sqrt()
            hinge = F.relu(c.hinge_margin - gap).mean()
            parts["hinge"] = hinge
            total = total + hinge
        if c.dag != "none" or c.l1_weight > 0:
            ramp = min(1.0, (epoch + 1) / c.dag_warmup) if c.dag_warmup > 0 else 1.0
            e = self.edge_strength()
            l1 = e.sum() / (c.k * (c.k - 1))                 # mean edge weight: scale-free in K
            h = self.dag_penalty(e)
            parts["l1"], parts["h"] = l1, h
            total = total + ramp * c.dag_weight * (c.l1_weight * l1 + c.h_weight * h)
            if c.structure_on == "weights" and c.w2_decay > 0:
                total = total + c.w2_decay * self.w2.pow(2).sum()
        return total, parts


# ====================================================================== baselines
class ObsAbduction(WorldModel):
    """Counterfactual for models without structural noise: the residual in observation
    space is the abducted noise, added to the prediction under the other action."""

    def counterfactual(self, x_t, x_next, a_idx, a_val, cf_idx, cf_val):
        eps = x_next - self.predict(x_t, a_idx, a_val)[:, 0]
        return self.predict(x_t, cf_idx, cf_val)[:, 0] + eps, eps

    def loss(self, b, epoch):
        pred = self.predict(b["x_t"], b["a_idx"], b["a_val"])[:, 0]
        trans = F.mse_loss(pred, b["x_next"])
        parts = {"trans": trans}
        total = trans + self.extra_loss(b, parts)
        if self.cfg.cf_weight > 0:
            cf = F.mse_loss(self.counterfactual(b["x_t"], b["x_next"], b["a_idx"], b["a_val"],
                                                b["cf_idx"], b["cf_val"])[0], b["x_cf"])
            parts["cf"] = cf
            total = total + self.cfg.cf_weight * cf
        return total, parts

    def extra_loss(self, b, parts):
        return 0.0


class MLPModel(ObsAbduction):
    """VAE-style: encoder to a Gaussian latent, MLP transition on [z, action], decoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        k, h = cfg.k, cfg.hidden
        self.enc = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, 2 * k))
        self.trans = mlp(3 * k, h, k)
        self.dec = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, k))

    def predict(self, x_t, a_idx, a_val, steps: int = 1):
        z, _ = self.enc(x_t).chunk(2, -1)
        m, v = action_tensors(a_idx, a_val, self.cfg.k)
        out = []
        for _ in range(steps):
            z = self.trans(torch.cat([z, m, v], -1))
            out.append(self.dec(z))
            m, v = torch.zeros_like(m), torch.zeros_like(v)
        return torch.stack(out, 1)

    def extra_loss(self, b, parts):
        mu, logvar = self.enc(b["x_t"]).chunk(2, -1)
        logvar = logvar.clamp(-8, 8)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = F.mse_loss(self.dec(z), b["x_t"])
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1).mean()
        parts["recon"], parts["kl"] = recon, kl
        return recon + self.cfg.kl_weight * kl


class GRUModel(ObsAbduction):
    """Dreamer-style: a deterministic recurrent state updated by a GRU cell from the action."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        k, h = cfg.k, cfg.hidden
        self.enc = nn.Sequential(nn.Linear(k, h), nn.Tanh())
        self.cell = nn.GRUCell(2 * k, h)
        self.dec = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, k))

    def predict(self, x_t, a_idx, a_val, steps: int = 1):
        hdn = self.enc(x_t)
        m, v = action_tensors(a_idx, a_val, self.cfg.k)
        out = []
        for _ in range(steps):
            hdn = self.cell(torch.cat([m, v], -1), hdn)
            out.append(self.dec(hdn))
            m, v = torch.zeros_like(m), torch.zeros_like(v)
        return torch.stack(out, 1)


class TransformerModel(ObsAbduction):
    """One token per factor ([x_i, acted_i, value_i] + position), 2 encoder layers, d=32."""

    def __init__(self, cfg: ModelConfig, d: int = 32, layers: int = 2, heads: int = 4):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(3, d)
        self.pos = nn.Parameter(torch.randn(cfg.k, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 1)

    def predict(self, x_t, a_idx, a_val, steps: int = 1):
        m, v = action_tensors(a_idx, a_val, self.cfg.k)
        x = x_t
        out = []
        for _ in range(steps):
            tok = self.inp(torch.stack([x, m, v], -1)) + self.pos   # (B, K, d)
            x = self.head(self.body(tok)).squeeze(-1)                # (B, K)
            out.append(x)
            m, v = torch.zeros_like(m), torch.zeros_like(v)
        return torch.stack(out, 1)


class TransformerOrigModel(ObsAbduction):
    """The Transformer baseline of the AC-LSCM paper's code, as it was: every scalar of the input
    (K observed values, then the K-wide action vector: the value at the acted factor, 0 elsewhere)
    is its own token through one Linear(1, d) map plus a learned position, pre-LayerNorm encoder
    blocks, mean-pooled over all 2K tokens, and an MLP predicting all K outputs at once. No shared
    encoder or decoder, and no token's output is tied to its own factor: the pooled MLP is what
    saturates when an action value leaves the training range."""

    def __init__(self, cfg: ModelConfig, d: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(1, d)
        self.pos = nn.Parameter(torch.randn(2 * cfg.k, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, cfg.k))

    def predict(self, x_t, a_idx, a_val, steps: int = 1):
        _, v = action_tensors(a_idx, a_val, self.cfg.k)
        x = x_t
        out = []
        for _ in range(steps):
            tok = self.inp(torch.cat([x, v], -1).unsqueeze(-1)) + self.pos      # (B, 2K, d)
            x = self.head(self.norm(self.body(tok)).mean(1))                    # (B, K)
            out.append(x)
            v = torch.zeros_like(v)
        return torch.stack(out, 1)


class OwnFactorModel(ObsAbduction):
    """Reference that ignores the graph: an action moves only its own factor (do), every other
    factor is predicted at a learned constant. It ties the original task's ceiling, which is
    why that task cannot tell a causal model from this one."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.bias = nn.Parameter(torch.zeros(cfg.k))

    def predict(self, x_t, a_idx, a_val, steps: int = 1):
        m, v = action_tensors(a_idx, a_val, self.cfg.k)
        base = self.bias.expand_as(x_t)
        out = [base * (1 - m) + v * m] + [base] * (steps - 1)
        return torch.stack(out, 1)


def build_model(cfg: ModelConfig) -> WorldModel:
    """The world model ``cfg.model`` names (one of MODELS); InputError for a bad config."""
    from causal_agents.errors import InputError

    if cfg.k < 2:
        raise InputError(f"K must be at least 2, got {cfg.k}", field="k")
    if cfg.dag not in DAG_LOSSES:
        raise InputError(f"unknown DAG loss '{cfg.dag}' (expected one of {', '.join(DAG_LOSSES)})",
                         field="dag")
    table = {"aclscm": ACLSCM, "mlp": MLPModel, "gru": GRUModel, "transformer": TransformerModel,
             "transformer_orig": TransformerOrigModel, "own_factor": OwnFactorModel}
    if cfg.model not in table:
        raise InputError(f"unknown model '{cfg.model}' (expected one of {', '.join(MODELS)})",
                         field="model")
    return table[cfg.model](cfg)
