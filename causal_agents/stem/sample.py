"""Batched sampling of one-line attempts from any causal LM (or the embedded tiny model).

A policy continues the stream prompt ``Question:\\n{q}\\nProposed solution:\\n`` and its
attempt is the first non-empty line it writes (the stream renderer ends every segment with
a newline, so the attempt's own newline is where the agent stops talking).

Decoding (batching, the key/value cache, seeded sampling) is ``causal_agents.lm.decode``,
shared with the truth probes.
"""

from __future__ import annotations

from causal_agents.lm.decode import decode, token_tables  # noqa: F401  (token_tables: re-exported)


def load_policy(model: str | None, seed: int = 0, device: str = "auto"):
    """(model, tokenizer): ``None``/``"tiny"`` builds the embedded tiny model with random
    weights from ``seed``; anything else is a run directory, local model or hub name."""
    from causal_agents.training.config import is_tiny
    from causal_agents.training.loop import pick_device

    if is_tiny(model):
        from causal_agents.lm.tiny_model import tiny_model
        from causal_agents.transcripts.tokenizer import load_tokenizer

        tok = load_tokenizer(None)
        return tiny_model(tok, seed).to(pick_device(device)).eval(), tok
    from causal_agents.truth.probes import load_for_probe

    m, tok = load_for_probe(model, device)
    if hasattr(m, "merge_and_unload"):  # a LoRA run: fold the adapter in, decoding is then a plain forward
        m = m.merge_and_unload().eval()
    return m, tok


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
