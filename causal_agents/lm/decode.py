"""The one batched decoder: greedy or sampled continuations of many prompts on any causal LM.

Used by the truth probes (greedy replies cut at the first newline) and by STEM stream
sampling (one-line attempts, greedy or sampled; with :func:`decode_with_tool`, lines that
call a tool, the tool's result, and the next line).

Batching: prompts are left-padded so every row's next token sits in the last column, and
decoding runs on the key/value cache; a row that has finished writes pads until the whole
batch is done. Sampling is deterministic given ``seed``: each batch draws from its own
``torch.Generator`` seeded by (seed, batch index), so results do not depend on which other
batches ran before (but do depend on ``batch_size``: padding changes float rounding).
"""

from __future__ import annotations

from causal_agents.errors import CagError

STOPS = ("newline", "line")

_TABLES: dict = {}


def cache_name(model) -> str:
    """The name of the KV-cache argument and output of ``model``'s forward: ``cache`` in
    transformers versions that renamed it (5.2x warns on every call of the old name and drops
    it in 5.40), ``past_key_values`` before. Read from the signature of the model under any
    PEFT wrapper, since ``PeftModel.forward`` takes ``**kwargs``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(getattr(base, "forward", base)).parameters else "past_key_values"


def token_tables(tok):
    """Per vocabulary id, two bool tensors: does the token contain a newline; does it hold
    non-space text before its first newline (never for a special token). Decoded in one
    batched call (a 150k vocabulary takes well under a second) and cached per vocabulary."""
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


def decode(model, tok, prompts: list[str], max_new_tokens: int, batch_size: int, temperature: float = 0.0,
           top_p: float = 1.0, seed: int = 0, stop: str = "newline") -> list[str]:
    """Continue each prompt; returns one decoded continuation per prompt, in order (pads and
    special tokens dropped, the stopping token kept: callers cut the line they want).

    A row stops at the end-of-text token, after ``max_new_tokens``, or at a newline token:
    ``stop="newline"`` the first one; ``stop="line"`` the first one after a token holding
    non-space text, so the continuation holds its first non-empty line. ``temperature`` 0 is
    greedy (``top_p`` and ``seed`` unused); otherwise nucleus sampling from
    ``softmax(logits / temperature)`` with mass ``top_p``. Prompts are tokenized without
    special tokens. The model's mode (eval/train) is left as it is.
    """
    if temperature < 0:
        raise CagError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise CagError(f"top_p must be in (0, 1], got {top_p}")
    if stop not in STOPS:
        raise CagError(f"stop must be one of {', '.join(STOPS)}, got {stop!r}")
    device = next(model.parameters()).device
    has_nl, content = (t.to(device) for t in token_tables(tok))
    out: list[str] = []
    for b, s in enumerate(range(0, len(prompts), batch_size)):
        rows = _decode_batch(model, tok, prompts[s:s + batch_size], max_new_tokens, temperature, top_p,
                             seed * 1_000_003 + b, has_nl, content, stop)
        pad = _pad_id(tok)
        out += [tok.decode([t for t in row if t != pad], skip_special_tokens=True) for row in rows]
    return out


def first_line(text: str) -> str:
    """The first non-empty line of a continuation, stripped (what ``stop="line"`` decodes)."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def decode_with_tool(model, tok, prompts: list[str], max_new_tokens: int, batch_size: int, tool,
                     tool_header: str, max_calls: int, temperature: float = 0.0, top_p: float = 1.0,
                     seed: int = 0) -> list[list[tuple[str, str]]]:
    """Line-by-line decoding with a tool: each row writes one line (``stop="line"``, at most
    ``max_new_tokens`` tokens); ``tool(line)`` returns the tool's result text when the line
    calls it, else None. A row whose line called the tool (and has calls left of
    ``max_calls``) gets ``line + "\\n" + tool_header + result + "\\n"`` appended to its prompt
    and writes its next line; all rows that stopped on a tool call continue together, in one
    batched :func:`decode` call per round (their prompts re-encoded from the text). A row ends
    at its first line without a tool call, or at the call limit.

    Returns per prompt, in order, its parts: ``("agent", line)`` and ``("tool", result)``.
    The first round samples with ``seed`` (so the first lines are what ``decode(...,
    stop="line")`` writes with it), round ``r >= 1`` with ``seed * 1009 + r``: deterministic
    given ``seed``. The tool must not raise (it is called on whatever the model wrote)."""
    if max_calls < 0:
        raise CagError(f"max_calls must be >= 0, got {max_calls}")
    parts: list[list[tuple[str, str]]] = [[] for _ in prompts]
    texts = list(prompts)
    active = list(range(len(prompts)))
    for r in range(max_calls + 1):
        outs = decode(model, tok, [texts[i] for i in active], max_new_tokens, batch_size, temperature, top_p,
                      seed if r == 0 else seed * 1009 + r, stop="line")
        going = []
        for i, out in zip(active, outs):
            line = first_line(out)
            parts[i].append(("agent", line))
            result = tool(line) if r < max_calls else None
            if result is not None:
                parts[i].append(("tool", result))
                texts[i] += line + "\n" + tool_header + result + "\n"
                going.append(i)
        active = going
        if not active:
            break
    return parts


def _pad_id(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def left_padded(tok, prompts: list[str], device):
    """(ids, attention, positions), each (B, T): the prompts' tokens right-aligned, pads on the
    left, positions counting from each row's first real token."""
    import torch

    chunk = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    B, T = len(chunk), max(len(c) for c in chunk)
    ids = torch.full((B, T), _pad_id(tok), dtype=torch.long)
    att = torch.zeros((B, T), dtype=torch.long)
    for r, c in enumerate(chunk):
        ids[r, T - len(c):] = torch.tensor(c)
        att[r, T - len(c):] = 1
    ids, att = ids.to(device), att.to(device)
    return ids, att, (att.cumsum(-1) - 1).clamp(min=0)


def _decode_batch(model, tok, prompts, max_new_tokens, temperature, top_p, gen_seed, has_nl, content, stop):
    """Token ids written per row, (B, steps) as lists, pads after a row's stop."""
    import torch

    device = has_nl.device
    pad, eos = _pad_id(tok), tok.eos_token_id
    ids, att, pos = left_padded(tok, prompts, device)
    gen = None
    if temperature > 0:
        gen = torch.Generator(device=device)
        gen.manual_seed(gen_seed)
    B = ids.shape[0]
    done = torch.zeros(B, dtype=torch.bool, device=device)
    started = torch.zeros(B, dtype=torch.bool, device=device)         # wrote a non-space character
    steps, past, cur_ids, cur_pos = [], None, ids, pos
    kv = cache_name(model)
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            o = model(input_ids=cur_ids, attention_mask=att, position_ids=cur_pos, use_cache=True,
                      **{kv: past})
            past = getattr(o, kv)
            logits = o.logits[:, -1].float()                          # (B, V)
            if has_nl.numel() < logits.shape[-1]:
                # ids past the tokenizer's vocabulary (a model's padded embedding rows):
                # neither a newline nor text
                has_nl, content = (torch.cat([t, t.new_zeros(logits.shape[-1] - t.numel())]) for t in (has_nl, content))
            nxt = _pick(logits, temperature, top_p, gen)              # (B,)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            steps.append(nxt)
            ended = has_nl[nxt] if stop == "newline" else has_nl[nxt] & (started | content[nxt])
            if eos is not None:
                ended |= nxt == eos
            started |= content[nxt]
            done |= ended
            if bool(done.all()):
                break
            att = torch.cat([att, torch.ones_like(att[:, :1])], dim=1)
            cur_pos = cur_pos[:, -1:] + 1
            cur_ids = nxt[:, None]
    return torch.stack(steps, 1).tolist()


def _pick(logits, temperature: float, top_p: float, gen):
    """(B,) next tokens: argmax at temperature 0, else a draw from the top-p nucleus."""
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
