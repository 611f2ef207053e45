"""AC-LSCM's training loss with a hand-written backward pass.

At batch 64 and K=10 every tensor is tiny, so a training step costs what autograd's
bookkeeping costs: ~310 small ops forward and backward, each with a graph node and saved
tensors. This computes the same loss as ``ACLSCM.loss`` and all parameter gradients in one
no-grad pass of ~270 plain ops (no graph, no boolean masks, relu gradients in one kernel);
a fwd+bwd costs ~0.6x the autograd one. The trainer calls it through
``ACLSCM.loss_and_backward``.

``ACLSCM.loss`` stays the definition: tests check that values and gradients agree for every
option (do-operator, hinge, counterfactual weight, DAG loss, where structure acts).
The random draws (Gumbel noise of the adjacency, then the latent sample) are taken in the same
order as the reference, so both give the same numbers under the same seed.
"""

from __future__ import annotations

import numpy as np
import torch

from causal_agents.scm.actions import batch_actions
from causal_agents.scm.acyclicity import h_and_grad


def _relu_back(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Gradient through relu given its output: one kernel, no boolean mask tensor."""
    return torch.ops.aten.threshold_backward(grad, out, 0.0)


def _sig_grad(s: torch.Tensor, tau: float) -> torch.Tensor:
    """d sigmoid(x / tau) / dx at s = sigmoid(x / tau)."""
    return s * (1 - s) / tau


def sample_adjacency(model):
    """``model.adjacency(sample=True)`` without autograd: (sigmoid before the diagonal mask, adjacency)."""
    u = torch.rand_like(model.logits).clamp_(1e-6, 1 - 1e-6)
    a_s = torch.sigmoid((model.logits + torch.logit(u)) / model.cfg.tau)
    return a_s, a_s * model.offdiag


def adjacency_backward(model, a_s, g_adj):
    """d loss / d logits through the sampled adjacency."""
    return g_adj * model.offdiag * _sig_grad(a_s, model.cfg.tau)


def transition_forward(model, z, m, v, adj):
    """``model.transition_mean(z, m, v, adj)`` without autograd, plus what the backward needs."""
    k, fh = model.cfg.k, model.cfg.factor_hidden
    n = z.shape[0]
    w1t = model.w1.transpose(0, 1)                            # (K_j, K_i, H)
    w1m = (w1t * adj.unsqueeze(-1)).reshape(k, k * fh)        # parent-masked first layers
    p = torch.addmm((v.unsqueeze(-1) * model.w1a + model.b1).view(n, k * fh), z, w1m)
    q = p.view(n, k, fh).relu_()
    r = (q * model.w2).sum(-1) + model.b2
    f = r * (1 - m) + v * m if model.cfg.do_operator else r
    return f, (z, m, v, adj, w1t, w1m, q)


def transition_backward(model, cache, g_f):
    """Gradients of the transition given d loss / d output: (g_z, g_adj, {param: grad})."""
    z, m, v, adj, w1t, w1m, q = cache
    n, k, fh = q.shape
    g_r = g_f * (1 - m) if model.cfg.do_operator else g_f
    g_p = _relu_back(g_r.unsqueeze(-1) * model.w2, q)         # (N, K_i, H)
    g_p2 = g_p.view(n, k * fh)
    g_w1m = (z.t() @ g_p2).view(k, k, fh)                     # (K_j, K_i, H)
    grads = {"w1": (g_w1m * adj.unsqueeze(-1)).transpose(0, 1), "w1a": (g_p * v.unsqueeze(-1)).sum(0),
             "b1": g_p.sum(0), "w2": (q * g_r.unsqueeze(-1)).sum(0), "b2": g_r.sum(0)}
    return g_p2 @ w1m.t(), (g_w1m * w1t).sum(-1), grads


@torch.no_grad()
def fused_loss_and_backward(model, b: dict, epoch: int) -> tuple[torch.Tensor, dict]:
    """``model.loss(b, epoch)`` in training mode, with every parameter's gradient written to
    ``.grad`` (accumulated, as ``backward`` would); see module doc."""
    c = model.cfg
    k, tau = c.k, c.tau
    x_t, x_n = b["x_t"], b["x_next"]
    bsz = x_t.shape[0]
    n_el = bsz * k                                           # mse_loss denominator
    m, v, m2, v2 = batch_actions(b, k)
    o = model.offdiag
    we1, be1 = model.enc[0].weight, model.enc[0].bias
    we2, be2 = model.enc[2].weight, model.enc[2].bias
    wd1, bd1 = model.dec[0].weight, model.dec[0].bias
    wd2, bd2 = model.dec[2].weight, model.dec[2].bias
    w1, w2, logits = model.w1, model.w2, model.logits

    # ---- forward (the reference's order of random draws: Gumbel noise, then the latent sample)
    a_s, adj = sample_adjacency(model)
    x2 = torch.cat([x_t, x_n])
    he = torch.addmm(be1, x2, we1.t()).relu_()
    oe = torch.addmm(be2, he, we2.t())
    mu, mu_n = oe[:bsz, :k], oe[bsz:, :k]
    lv_raw = oe[:bsz, k:]
    lv = lv_raw.clamp(-8, 8)
    noise = torch.randn_like(mu)
    std = (0.5 * lv).exp()
    z = mu + noise * std
    ff, tcache = transition_forward(model, torch.cat([z, z]), torch.cat([m, m2]), torch.cat([v, v2]), adj)
    f, f_cf = ff[:bsz], ff[bsz:]
    eps = mu_n - f
    free2 = 1 - m2
    z_cf = f_cf + eps * free2 if c.do_operator else f_cf + eps
    d = torch.cat([z, f, z_cf])
    hd = torch.addmm(bd1, d, wd1.t()).relu_()
    y = torch.addmm(bd2, hd, wd2.t())
    targets = torch.cat([x_t, x_n, b["x_cf"]]) if c.cf_weight > 0 else torch.cat([x_t, x_n])
    diff = y[:len(targets)] - targets
    sq = diff.pow(2).view(-1, n_el).mean(1)                   # recon, trans (decoded), cf
    fd = f - mu_n
    trans_lat = fd.pow(2).mean()
    kl = -0.5 * (1 + lv - mu.pow(2) - lv.exp()).sum(-1).mean()
    recon, trans = sq[0], trans_lat + sq[1]
    parts = {"recon": recon, "trans": trans, "kl": kl}
    total = recon + trans + c.kl_weight * kl

    # ---- backward: gradients of total, from the decoder back to the encoder and the graph
    gy = torch.zeros_like(y)
    gy[:len(targets)] = diff * (2.0 / n_el)
    if c.cf_weight > 0:
        parts["cf"] = sq[2]
        total = total + c.cf_weight * sq[2]
        gy[2 * bsz:] *= c.cf_weight
    g_wd2 = gy.t() @ hd
    g_bd2 = gy.sum(0)
    g_hd = _relu_back(gy @ wd2, hd)
    g_wd1 = g_hd.t() @ d
    g_bd1 = g_hd.sum(0)
    g_d = g_hd @ wd1
    g_z, g_f, g_zcf = g_d[:bsz], g_d[bsz:2 * bsz], g_d[2 * bsz:]
    g_fcf = g_zcf.clone()
    g_eps = g_zcf * free2 if c.do_operator else g_zcf
    g_mun = g_eps + fd * (-2.0 / n_el)
    g_f = g_f - g_eps + fd * (2.0 / n_el)
    if c.hinge:
        dd = f_cf - f
        s2 = dd.pow(2).sum(-1)
        gap = s2.clamp_min(1e-8).sqrt()
        slack = c.hinge_margin - gap
        parts["hinge"] = slack.relu().mean()
        total = total + parts["hinge"]
        # d relu(margin - gap)/d dd = -[slack > 0][s2 >= 1e-8] dd / gap, averaged over the batch
        coef = ((slack > 0) & (s2 >= 1e-8)).to(dd.dtype) / (gap * bsz)
        g_dd = -coef.unsqueeze(-1) * dd
        g_fcf = g_fcf + g_dd
        g_f = g_f - g_dd
    g_z2, g_adj, grads = transition_backward(model, tcache, torch.cat([g_f, g_fcf]))
    g_z = g_z + g_z2[:bsz] + g_z2[bsz:]
    # z = mu + noise * std, std = exp(lv / 2); KL on (mu, lv)
    g_mu = g_z + (c.kl_weight / bsz) * mu
    g_lv = (g_z * noise * 0.5 * std + (c.kl_weight * 0.5 / bsz) * (lv.exp() - 1))
    g_lv = torch.ops.aten.hardtanh_backward(g_lv, lv_raw, -8.0, 8.0)  # clamp(-8, 8)
    g_oe = torch.zeros_like(oe)
    g_oe[:bsz, :k] = g_mu
    g_oe[bsz:, :k] = g_mun
    g_oe[:bsz, k:] = g_lv
    g_we2 = g_oe.t() @ he
    g_be2 = g_oe.sum(0)
    g_he = _relu_back(g_oe @ we2, he)
    g_we1 = g_he.t() @ x2
    g_be1 = g_he.sum(0)
    g_logits = adjacency_backward(model, a_s, g_adj)
    g_w1, g_w2 = grads["w1"], grads["w2"]

    if c.dag != "none" or c.l1_weight > 0:
        ramp = min(1.0, (epoch + 1) / c.dag_warmup) if c.dag_warmup > 0 else 1.0
        scale = ramp * c.dag_weight
        a0s = torch.sigmoid(logits / tau)
        a0 = a0s * o
        if c.structure_on == "mask":
            e = a0
        else:
            wa = w1 * a0.t().unsqueeze(-1)                    # (K_i, K_j, H)
            t_ = wa.pow(2).sum(-1)
            en = t_.clamp_min(1e-12).sqrt()
            e = en.t() * o
        l1 = e.sum() / (k * (k - 1))
        if c.dag == "none":
            h, g_s = 0.0, None
        else:
            h, g_s_np = h_and_grad((e * e).double().numpy(), c.dag, c.dagma_s)
            g_s = torch.from_numpy(np.ascontiguousarray(g_s_np)).to(e.dtype)
        parts["l1"], parts["h"] = l1, e.new_tensor(h)
        total = total + scale * (c.l1_weight * l1 + c.h_weight * h)
        g_e = torch.full_like(e, scale * c.l1_weight / (k * (k - 1)))
        if g_s is not None:
            g_e = g_e + (scale * c.h_weight * 2) * g_s * e
        if c.structure_on == "mask":
            g_a0 = g_e
        else:
            g_en = (g_e * o).t()
            g_t = g_en * (0.5 / en) * (t_ >= 1e-12)
            g_wa = 2 * wa * g_t.unsqueeze(-1)
            g_w1 = g_w1 + g_wa * a0.t().unsqueeze(-1)
            g_a0 = (g_wa * w1).sum(-1).t()
            if c.w2_decay > 0:
                total = total + c.w2_decay * w2.pow(2).sum()
                g_w2 = g_w2 + (2 * c.w2_decay) * w2
        g_logits = g_logits + g_a0 * o * _sig_grad(a0s, tau)

    grads |= {"enc.0.weight": g_we1, "enc.0.bias": g_be1, "enc.2.weight": g_we2, "enc.2.bias": g_be2,
              "dec.0.weight": g_wd1, "dec.0.bias": g_bd1, "dec.2.weight": g_wd2, "dec.2.bias": g_bd2,
              "logits": g_logits, "w1": g_w1, "w2": g_w2}
    for name, prm in model.named_parameters():
        if prm.grad is None:
            # fused Adam reads .grad with the parameter's (contiguous) layout
            prm.grad = grads[name].contiguous()
        else:
            prm.grad += grads[name]
    return total, parts
