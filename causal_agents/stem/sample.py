"""Batched sampling of attempts from any causal LM (or the embedded tiny model).

A policy continues the stream prompt ``Question:\\n{q}\\nProposed solution:\\n``. In the
plain variant its attempt is the first non-empty line it writes (the stream renderer ends
every segment with a newline, so the attempt's own newline is where the agent stops
talking). In the calculator variant (causal_agents/stem/variants.py) a line that calls the
calculator (``... calc: 48 / 551``) stops the row, the tool runs, its result is appended
(``Tool: 0.08711434``) and the row writes its next line; the attempt is the parts, in order.

Decoding (batching, the key/value cache, seeded sampling, the tool rounds) is
``causal_agents.lm.decode``, shared with the truth probes.
"""

from __future__ import annotations

from causal_agents.lm.decode import decode, decode_with_tool, first_line, token_tables  # noqa: F401  (re-exported)
from causal_agents.stem.variants import (CALCULATOR, DEFAULT_VARIANT, MAX_TOOL_CALLS, TOOL_HEADER, attempt_parts,
                                         check_variant, tool_call)


def sample(model, tok, prompts: list[str], max_new_tokens: int = 160, batch_size: int = 32,
           temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, variant: str = DEFAULT_VARIANT) -> list:
    """One attempt per prompt, through the shared decoder (``causal_agents.lm.decode``):
    ``temperature`` 0 is greedy, otherwise nucleus sampling seeded by ``seed``. Puts the model
    in eval mode. Plain variant: the first non-empty line of each continuation, stripped.
    Calculator variant: each attempt's parts (``{role: attempt | tool, text}``), at most
    ``max_new_tokens`` tokens per line and :data:`MAX_TOOL_CALLS` calls."""
    check_variant(variant, "variant")
    model.eval()
    if variant == CALCULATOR:
        decoded = decode_with_tool(model, tok, prompts, max_new_tokens, batch_size, tool_call, TOOL_HEADER,
                                   MAX_TOOL_CALLS, temperature, top_p, seed)
        return [attempt_parts(d) for d in decoded]
    texts = decode(model, tok, prompts, max_new_tokens, batch_size, temperature, top_p, seed, stop="line")
    return [first_line(t) for t in texts]
