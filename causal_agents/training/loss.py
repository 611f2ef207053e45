"""The training loss without the whole batch's logits: the LM head and the cross-entropy run
over chunks of positions, and the gradients of the hidden states and of the head's weight are
formed chunk by chunk in the same pass (as fused linear cross-entropy kernels do).

Full logits at batch 8 x 1,000 positions x SmolLM2's 49,152 tokens are 1.6 GB in fp32, plus
their gradient; at 4,096 positions and a 151k vocabulary (Qwen2.5) they are 2.5 GB per
sequence. Chunked, the loss holds one chunk's logits (about 128 MB) at a time, and no logit is
computed twice: one matmul forward and two backward per position, as with full logits.

The loss value is the same as full logits' ``sum(w * NLL) * scale`` to float tolerance
(tests/training/test_loss.py), and every position costs the same whatever the mask, so the
obs and do runs of a pair take the same time per step.
"""

from __future__ import annotations

import torch

# Positions per chunk: chunk x vocabulary logits stay near 2^25 floats (128 MB in fp32).
CHUNK_ELEMENTS = 1 << 25


def chunk_rows(vocab: int) -> int:
    """Rows (positions) per chunk so that one chunk's logits stay near the chunk budget."""
    return max(64, CHUNK_ELEMENTS // max(1, vocab))


class LinearCrossEntropy(torch.autograd.Function):
    """``sum_i w_i * NLL(h_i @ W^T, t_i) * scale`` over rows with ``t_i >= 0`` and ``w_i > 0``.

    h: (N, H) hidden states; weight: (V, H) the LM head; tgt: (N,) labels; w: (N,) weights.
    ``cdt``: the matmul dtype (bf16 under mixed precision); softmax, the loss and the
    accumulated weight gradient stay fp32."""

    @staticmethod
    def forward(ctx, h, weight, tgt, w, scale: float, rows: int, cdt):
        need_w = weight.requires_grad
        gh = torch.empty_like(h)
        gw = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        wc = weight.to(cdt)
        for i in range(0, h.shape[0], rows):
            hc = h[i:i + rows].to(cdt)                          # (n, H)
            logits = (hc @ wc.T).float()                        # (n, V): the only chunk-sized tensor
            t = tgt[i:i + rows]
            ww = torch.where(t >= 0, w[i:i + rows], 0.0).float()  # (n,)
            tt = t.clamp(min=0)
            lse = torch.logsumexp(logits, dim=-1)               # (n,)
            nll = lse - logits.gather(1, tt[:, None]).squeeze(1)
            total += (nll * ww).sum()
            # d(sum w * nll)/d logits = w * (softmax - onehot), written over the logits in place
            g = logits.sub_(lse[:, None]).exp_()
            g.scatter_add_(1, tt[:, None], -torch.ones_like(ww)[:, None])
            g.mul_(ww[:, None])
            gc = g.to(cdt)
            gh[i:i + rows] = (gc @ wc).to(gh.dtype)
            if need_w:
                gw += (gc.T @ hc).float()
        ctx.scale = scale
        ctx.weight_dtype = weight.dtype
        ctx.save_for_backward(gh, gw if need_w else torch.empty(0))
        ctx.need_w = need_w
        return total * scale

    @staticmethod
    def backward(ctx, grad_out):
        gh, gw = ctx.saved_tensors
        s = grad_out * ctx.scale
        g_weight = (gw * s).to(ctx.weight_dtype) if ctx.need_w else None
        return (gh * s.to(gh.dtype)), g_weight, None, None, None, None, None


def head_parts(model):
    """(backbone, LM head) of a causal LM whose logits are exactly ``head(backbone(ids))``, or
    None (then the caller computes full logits): a DDP wrapper (its forward must run for the
    gradient all-reduce), a head with a bias, or logits that are scaled or soft-capped."""
    if hasattr(model, "module"):  # DDP
        return None
    m = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: LoRA layers are in place
    cfg = getattr(m, "config", None)
    if cfg is None or any(getattr(cfg, k, None) not in (None, 1.0) for k in
                          ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")):
        return None
    head = m.get_output_embeddings() if hasattr(m, "get_output_embeddings") else None
    body = m.get_decoder() if hasattr(m, "get_decoder") else None
    if not isinstance(head, torch.nn.Linear) or head.bias is not None or body is None or body is m:
        return None
    return body, head


def chunked_loss(body, head, ids, tgt, w, scale: float, amp: bool, rows=None):
    """The loss of one micro-batch from the backbone's hidden states; ``amp``: bf16 matmuls with
    fp32 master weights (autocast over the backbone, bf16 head matmuls). ``rows``: (B, T-1)
    bool, the positions the head runs on (None: all); a position outside it must carry no label
    (``training.data.head_rows``: context and pads, about a fifth of a chat transcript)."""
    with torch.autocast(device_type=ids.device.type, dtype=torch.bfloat16, enabled=amp):
        h = body(input_ids=ids).last_hidden_state              # (B, T, H)
    h = h[:, :-1].reshape(-1, h.shape[-1])  # (B*(T-1), H): position t predicts token t + 1, as tgt and w
    tgt, w = tgt.reshape(-1), w.reshape(-1)
    if rows is not None:
        keep = rows.reshape(-1).nonzero().squeeze(1)
        h, tgt, w = h.index_select(0, keep), tgt[keep], w[keep]  # the skipped rows get zero gradient
    cdt = torch.bfloat16 if amp else head.weight.dtype
    return LinearCrossEntropy.apply(h, head.weight, tgt, w, scale, chunk_rows(head.weight.shape[0]), cdt)
