"""Batched sampling of one-line attempts from any causal LM (or the embedded tiny model).

A policy continues the stream prompt ``Question:\\n{q}\\nProposed solution:\\n`` and its
attempt is the first non-empty line it writes (the stream renderer ends every segment with
a newline, so the attempt's own newline is where the agent stops talking).

Decoding (batching, the key/value cache, seeded sampling) is ``causal_agents.lm.decode``,
shared with the truth probes.
"""

from __future__ import annotations

from causal_agents.lm.decode import decode, token_tables  # noqa: F401  (token_tables: re-exported)




def first_line(text: str) -> str:
    """The attempt: the first non-empty line of a continuation, stripped."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def sample(model, tok, prompts: list[str], max_new_tokens: int = 160, batch_size: int = 32,
           temperature: float = 0.0, top_p: float = 1.0, seed: int = 0) -> list[str]:
    """One attempt per prompt, through the shared decoder (``causal_agents.lm.decode``):
    ``temperature`` 0 is greedy, otherwise nucleus sampling seeded by ``seed``. Puts the model
    in eval mode. Returns the first non-empty line of each continuation, stripped."""
    model.eval()
    texts = decode(model, tok, prompts, max_new_tokens, batch_size, temperature, top_p, seed, stop="line")
    return [first_line(t) for t in texts]
