"""Batched sampling of one-line attempts from any causal LM (or the embedded tiny model).

A policy continues the stream prompt ``Question:\\n{q}\\nProposed solution:\\n`` and its
attempt is the first non-empty line it writes (the stream renderer ends every segment with
a newline, so the attempt's own newline is where the agent stops talking).

Batching: prompts are left-padded so every row's next token sits in the last column, and
decoding runs on the key/value cache; a row that has finished writes pads until the whole
batch is done. Sampling is deterministic given ``seed``: each batch draws from its own
``torch.Generator`` seeded by (seed, batch index), so results do not depend on which other
batches ran before (but do depend on ``batch_size``: padding changes float rounding).
"""

from __future__ import annotations

from causal_agents.errors import CagError


_TABLES: dict = {}


def token_tables(tok):
    """Per vocabulary id: does the token contain a newline; does it hold non-space text
    before its first newline. Decoded in one batched call (a 150k vocabulary takes well
    under a second) and cached per vocabulary."""
    import torch

    vocab = tok.get_vocab()
    key = (type(tok).__name__, len(vocab), getattr(tok, "name_or_path", None), hash(tuple(sorted(vocab.items())[:64])))
    if key in _TABLES:
        return _TABLES[key]
    n = max(len(tok), max(vocab.values()) + 1)
    texts = tok.batch_decode([[i] for i in range(n)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    has_nl = torch.tensor(["\n" in t for t in texts], dtype=torch.bool)
    content = torch.tensor([bool(t.split("\n", 1)[0].strip()) for t in texts], dtype=torch.bool)
    specials = [i for i in tok.all_special_ids if i is not None and i < n]
    content[specials] = False  # an end-of-text token is not the agent's text
    _TABLES[key] = (has_nl, content)
    return _TABLES[key]


def first_line(text: str) -> str:
    """The attempt: the first non-empty line of a continuation, stripped."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def sample(model, tok, prompts: list[str], max_new_tokens: int = 160, batch_size: int = 32,
           temperature: float = 0.0, top_p: float = 1.0, seed: int = 0) -> list[str]:
    """One attempt per prompt (``temperature`` 0: greedy). Returns the first non-empty line
    of each continuation, stripped."""
    import torch

    if temperature < 0:
        raise CagError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise CagError(f"top_p must be in (0, 1], got {top_p}")
    model.eval()
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    has_nl, content = (t.to(device) for t in token_tables(tok))
    eos = tok.eos_token_id
    out: list[str] = []
    for b, s in enumerate(range(0, len(prompts), batch_size)):
        chunk = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts[s:s + batch_size]]
        B, T = len(chunk), max(len(c) for c in chunk)
        ids = torch.full((B, T), pad, dtype=torch.long)
        att = torch.zeros((B, T), dtype=torch.long)
        for r, c in enumerate(chunk):
            ids[r, T - len(c):] = torch.tensor(c)
            att[r, T - len(c):] = 1
        ids, att = ids.to(device), att.to(device)
        pos = (att.cumsum(-1) - 1).clamp(min=0)                       # (B, T)
        gen = None
        if temperature > 0:
            gen = torch.Generator(device=device)
            gen.manual_seed(seed * 1_000_003 + b)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        started = torch.zeros(B, dtype=torch.bool, device=device)     # wrote a non-space character
        steps, past, cur_ids, cur_pos = [], None, ids, pos
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                o = model(input_ids=cur_ids, attention_mask=att, position_ids=cur_pos, past_key_values=past,
                          use_cache=True)
                past = o.past_key_values
                logits = o.logits[:, -1].float()                      # (B, V)
                nxt = _pick(logits, temperature, top_p, gen)          # (B,)
                nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
                steps.append(nxt)
                ended = has_nl[nxt] & (started | content[nxt])
                if eos is not None:
                    ended |= nxt == eos
                started |= content[nxt]
                done |= ended
                if bool(done.all()):
                    break
                att = torch.cat([att, torch.ones_like(att[:, :1])], dim=1)
                cur_pos = cur_pos[:, -1:] + 1
                cur_ids = nxt[:, None]
        rows = torch.stack(steps, 1).tolist()                         # (B, steps)
        for row in rows:
            out.append(first_line(tok.decode([t for t in row if t != pad], skip_special_tokens=True)))
    return out


def _pick(logits, temperature: float, top_p: float, gen):
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)               # (B, V)
    if top_p < 1:
        sp, si = probs.sort(-1, descending=True)
        keep = sp.cumsum(-1) - sp < top_p                             # always keeps the top token
        sp = sp * keep
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)
