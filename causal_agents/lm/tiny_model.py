"""The embedded default model: a small Qwen2-style causal LM with random weights over cag's
offline byte-level tokenizer, so `cag train` and `cag reproduce truth` run anywhere.

It is a real ``Qwen2ForCausalLM``: a run directory saved from it loads with
``AutoModelForCausalLM.from_pretrained``. The size is chosen for a 2-core CPU: the truth
experiment (two models, 480 dialogues) trains in minutes and still shows the paper's result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TINY = "tiny"  # the --model value (or no --model) that selects this model


def is_tiny(model: str | None) -> bool:
    """True when ``model`` selects the embedded tiny model (no --model, "" or "tiny")."""
    return model in (None, "", TINY)


@dataclass(frozen=True)
class TinySpec:
    """The tiny model's shape (each size's reason beside it)."""
    hidden_size: int = 128        # wide enough to memorise 33 facts x 2 claims, cheap on CPU
    num_hidden_layers: int = 4    # 4 layers: enough to route "who is speaking" to the claim
    num_attention_heads: int = 4  # head dim 32
    num_key_value_heads: int = 2  # grouped-query attention, as in Qwen2
    intermediate_size: int = 384  # 3x hidden: MLP cost is most of the step on CPU
    max_position_embeddings: int = 1024  # dialogues are ~400 bytes; headroom for probes

    def as_dict(self) -> dict:
        """The shape as a plain dict."""
        return asdict(self)


def tiny_config(tokenizer, spec: TinySpec = TinySpec()):
    """A ``Qwen2Config`` of ``spec``'s shape over ``tokenizer``'s vocabulary, embeddings tied."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        rope_theta=10000.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attention_dropout=0.0,
        use_cache=True,
    )


def tiny_model(tokenizer, seed: int, spec: TinySpec = TinySpec()):
    """Random weights, deterministic given ``seed`` (float32: CPUs have no fast bf16 matmul)."""
    import torch
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(tiny_config(tokenizer, spec))
    return model
