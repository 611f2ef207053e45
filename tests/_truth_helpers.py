"""Run `cag` in a subprocess with the same causal_agents code as the calling test process
(an installed package or a source tree mapped in by a shim), for torchrun tests."""


def launcher_source() -> str:
    import os

    import causal_agents
    import causal_agents.cli
    import causal_agents.formats

    dirs = {name: os.path.dirname(mod.__file__) for name, mod in
            (("causal_agents", causal_agents), ("causal_agents.cli", causal_agents.cli),
             ("causal_agents.formats", causal_agents.formats))}
    return f'''import importlib.abc, importlib.util, os, sys
MAP = {dirs!r}
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        d = MAP.get(name)
        if d is None:
            return None
        return importlib.util.spec_from_file_location(name, os.path.join(d, "__init__.py"),
                                                      submodule_search_locations=[d])
sys.meta_path.insert(0, _Finder())
from causal_agents.cli.main import main
sys.exit(main(sys.argv[1:]))
'''


def save_micro_model(d, seed: int = 0) -> str:
    """A 2-layer, 32-wide Qwen2 with the byte tokenizer, saved like a hub model: for tests
    that need a model, not a good one."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from causal_agents.transcripts.tokenizer import load_tokenizer

    tok = load_tokenizer(None)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)
