"""Log-prob scoring of completions after prompts, on any causal LM.

``score_completions`` is the batched scorer (the truth experiment's margin probe uses it):
each prompt's completions form a token tree under tree attention, the trees of many prompts
are packed into the rows of one pass, and the prefix all prompts share runs once, its
key/value cache repeated (benchmarks/bench_probe.py measures the gain). ``score_one`` is the
plain one-at-a-time baseline it is tested against.
"""

from __future__ import annotations

from causal_agents.errors import InputError
from causal_agents.lm.decode import cache_name


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def _completion_tree(prompt: list[int], comps: list[list[int]], k0: int):
    """One prompt's token tree: its tokens after the shared prefix as a chain, then the
    completions as a trie under its last token, so a token several completions share
    ("Water boils at" in both claims of a fact) runs once.

    Returns (tokens, positions, parents, paths): ``parents[n]`` is the index of node n's parent
    (-1: the shared prefix in the cache); ``paths[c]`` lists the nodes of completion c."""
    tokens = prompt[k0:]
    positions = list(range(k0, len(prompt)))
    parents = list(range(-1, len(tokens) - 1))
    children: dict[tuple[int, int], int] = {}
    paths = []
    root = len(tokens) - 1                                     # the prompt's last token
    for comp in comps:
        node, path = root, []
        for depth, t in enumerate(comp):
            child = children.get((node, t))
            if child is None:
                child = children[(node, t)] = len(tokens)
                tokens.append(t)
                positions.append(len(prompt) + depth)
                parents.append(node)
            path.append(child)
            node = child
        paths.append(path)
    return tokens, positions, parents, paths


def score_completions(model, tok, pairs: list[tuple[str, list[str]]], batch_size: int = 64) -> list[list[float]]:
    """Mean per-token log-prob of each completion after its prompt.

    ``pairs``: (prompt, [completion, ...]). Prompt and completion are tokenized separately and
    concatenated, so the completion's tokens are the same whatever the prompt ends with.
    Batched with no repeated work: each prompt's completions form a token tree under it (tree
    attention: a 4D mask lets each token see only its own ancestors, positions restart at each
    branch); the trees of ``batch_size`` prompts are packed into the rows of one forward pass,
    and the token prefix all of them share (the context paragraph, "User: Tell me about ")
    runs once, its key/value cache repeated across the rows. Equal to ``score_one`` on each
    completion (tested). An empty completion scores NaN. Raises InputError on an empty prompt.
    """
    if model.config._attn_implementation not in ("sdpa", "eager"):
        # other kernels (flash-attention) take no custom 4D mask: score one at a time
        return [[score_one(model, tok, p, c) for c in comps] for p, comps in pairs]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    # one tokenizer call for every prompt and completion (the Rust side batches them)
    texts = [t for p, comps in pairs for t in (p, *comps)]
    enc = iter(tok(texts, add_special_tokens=False)["input_ids"] if texts else [])
    encoded = [(next(enc), [next(enc) for _ in comps]) for _, comps in pairs]
    out: list[list[float]] = []
    for s in range(0, len(pairs), batch_size):
        chunk = encoded[s:s + batch_size]
        if any(not p for p, _ in chunk):
            raise InputError("an empty prompt: a completion is scored from the token before it", field="prompt")
        k0 = _shared_prefix(chunk)
        trees = [_completion_tree(p, comps, k0) for p, comps in chunk]
        lp = _score_trees(model, trees, _pack(trees), chunk[0][0][:k0], pad)
        for i, tree in enumerate(trees):
            out.append([sum(lp[(i, n)] for n in path) / len(path) if path else float("nan") for path in tree[3]])
    return out


def _shared_prefix(chunk) -> int:
    """Tokens all the chunk's prompts start with, stopping before each prompt's last token
    (its logits score the completion)."""
    k0 = max(0, min(len(p) for p, _ in chunk) - 1)
    first = chunk[0][0]
    for p, _ in chunk[1:]:
        n = 0
        while n < k0 and p[n] == first[n]:
            n += 1
        k0 = n
    return k0


def _pack(trees) -> list[list[int]]:
    """Tree indices per row: rows no longer than the longest tree, filled first fit, longest
    first (the mask keeps trees sharing a row apart, and rows carry almost no padding)."""
    T = max(len(t[0]) for t in trees)
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(trees)), key=lambda i: -len(trees[i][0])):
        r = next((r for r, left in enumerate(room) if left >= len(trees[i][0])), None)
        if r is None:
            rows.append([])
            room.append(T)
            r = len(rows) - 1
        rows[r].append(i)
        room[r] -= len(trees[i][0])
    return rows


def _row_inputs(trees, rows, k0: int, pad: int):
    """(ids, positions, sees, where) for the packed rows: ``sees[r, i, j]`` says column i
    attends to j (the shared prefix, its ancestors and itself); ``where[tree]`` is (row,
    column of its first node)."""
    import numpy as np

    T = max(len(t[0]) for t in trees)
    ids = np.full((len(rows), T), pad, dtype=np.int64)
    pos = np.zeros((len(rows), T), dtype=np.int64)
    sees = np.zeros((len(rows), T, k0 + T), dtype=bool)
    sees[:, np.arange(T), k0 + np.arange(T)] = True        # a pad sees only itself
    where = {}
    for r, members in enumerate(rows):
        at = 0
        for i in members:
            tokens, positions, parents, _ = trees[i]
            where[i] = (r, at)
            ids[r, at:at + len(tokens)] = tokens
            pos[r, at:at + len(tokens)] = positions
            sees[r, at:at + len(tokens), :k0] = True
            for n, par in enumerate(parents):
                if par >= 0:
                    sees[r, at + n] |= sees[r, at + par]
            at += len(tokens)
    return ids, pos, sees, where


def _score_trees(model, trees, rows, prefix: list[int], pad: int) -> dict:
    """Log-prob of every scored token, keyed (tree, node): one cached pass over ``prefix``
    (repeated across the rows), then one pass over the packed rows under the tree mask."""
    import torch

    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    k0 = len(prefix)
    ids, pos, sees, where = _row_inputs(trees, rows, k0, pad)
    mask = torch.zeros((len(rows), 1) + sees.shape[1:], dtype=dtype)
    mask.masked_fill_(torch.from_numpy(~sees)[:, None], torch.finfo(dtype).min)
    # every scored token once: (tree, node) -> (row, column of its predictor, token)
    picks = {(i, n): (where[i][0], where[i][1] + trees[i][2][n], trees[i][0][n])
             for i in range(len(trees)) for path in trees[i][3] for n in path}
    with torch.inference_mode():
        cache, kv = None, cache_name(model)
        if k0 > 0:
            cache = getattr(model(input_ids=torch.tensor([prefix], device=device), use_cache=True), kv)
            cache.batch_repeat_interleave(len(rows))
        logits = model(input_ids=torch.from_numpy(ids).to(device), position_ids=torch.from_numpy(pos).to(device),
                       attention_mask=mask.to(device), use_cache=cache is not None,
                       **{kv: cache}).logits  # (R, T, V)
        if not picks:
            return {}
        rr, cc, tt = (torch.tensor(x, device=device) for x in zip(*picks.values()))
        lp = torch.log_softmax(logits[rr, cc].float(), dim=-1)[torch.arange(len(picks), device=device), tt]
        return dict(zip(picks, lp.tolist()))


def score_one(model, tok, prompt: str, completion: str) -> float:
    """One completion at a time, plainly: one forward pass over prompt + completion, no cache,
    no mask (the baseline the batched scorer is measured and tested against)."""
    import torch

    p, c = _ids(tok, prompt), _ids(tok, completion)
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([p + c], device=device)).logits[0]
    logp = torch.log_softmax(logits[len(p) - 1:len(p) + len(c) - 1].float(), dim=-1)
    return float(logp[torch.arange(len(c), device=device), torch.tensor(c, device=device)].mean())
