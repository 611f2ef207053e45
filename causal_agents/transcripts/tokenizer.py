"""Tokenizers: an offline byte-level default, or any Hugging Face fast tokenizer.

The default needs no hub and no training: one token per UTF-8 byte plus four specials, so
every string round-trips exactly and character offsets are always available (the label
builder maps token classes by offsets). It carries a ChatML template so the
``chat-template`` renderer works offline too.
"""

from __future__ import annotations

import os
from functools import lru_cache

from causal_agents.errors import CagError

BYTE_TOKENIZER = "byte"
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")
CHATML_TEMPLATE = (
    # Tool schemas, when given, in a system block first (as Qwen's template does).
    "{% if tools %}{{ '<|im_start|>system\n# Tools\n' }}{% for tool in tools %}{{ tool | tojson }}{{ '\n' }}"
    "{% endfor %}{{ '<|im_end|>\n' }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def byte_level_tokenizer():
    """A transformers PreTrainedTokenizerFast over the 256 byte symbols (GPT-2's byte map)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet(), key=_byte_of)
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    # No regex split and no prefix space: the byte stream is the token stream.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"],
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHATML_TEMPLATE
    fast.name_or_path = BYTE_TOKENIZER
    return fast


def _byte_of(ch: str) -> int:
    # GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
    return _unicode_to_byte()[ch]


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


# transformers runs a model folder's own Python (``auto_map`` in config.json or
# tokenizer_config.json) when trust_remote_code is True, and at a terminal asks whether to when
# it is not given. cag passes False to every loader, so nothing is ever asked or run, and
# refuses a folder that needs its code with one line (``refuse_custom_code``).
NO_REMOTE_CODE = {"trust_remote_code": False}
REMOTE_CODE_RULE = "cag does not run a model folder's code (transformers' trust_remote_code)"


def refuse_custom_code(name_or_path: str | None) -> None:
    """One CagError naming the file and its ``auto_map`` when a local model folder needs its
    own Python: a config whose ``model_type`` transformers does not know, or a tokenizer
    whose ``tokenizer_class`` it does not. A folder of a supported architecture that also
    carries an ``auto_map`` (many hub copies do) loads with transformers' own classes."""
    if not name_or_path or not os.path.isdir(name_or_path):
        return
    import orjson

    for fname, key in (("config.json", "model_type"), ("tokenizer_config.json", "tokenizer_class")):
        path = os.path.join(name_or_path, fname)
        try:
            with open(path, "rb") as f:
                d = orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError):
            continue
        if not isinstance(d, dict) or not d.get("auto_map") or _supported(key, d.get(key)):
            continue
        targets = d["auto_map"]
        shown = ", ".join(f"{k} -> {v[0] if isinstance(v, list) else v}" for k, v in targets.items()) \
            if isinstance(targets, dict) else str(targets)
        raise CagError(f"{path}: field 'auto_map' ({shown[:200]}): {key} {d.get(key)!r} needs the folder's own "
                       f"Python code, and {REMOTE_CODE_RULE}; use a model whose architecture transformers "
                       "supports")


def _supported(key: str, value) -> bool:
    if not isinstance(value, str):
        return False
    if key == "model_type":
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        return value in CONFIG_MAPPING
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    return value in _GENERIC_FAST or tokenizer_class_from_name(value) is not None


def remote_code_error(name_or_path: str, e: Exception) -> CagError | None:
    """transformers' refusal (trust_remote_code=False) of a model that needs its own code, as
    cag's one line; None for any other error."""
    if "trust_remote_code" not in str(e):
        return None
    return CagError(f"{name_or_path}: its config's auto_map needs the model's own Python code, and "
                    f"{REMOTE_CODE_RULE}; use a model whose architecture transformers supports")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model")
# Classes cag itself saves (its byte and word tokenizers): load these exactly as saved.
_GENERIC_FAST = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(name_or_path: str | None = None):
    """``None`` or ``"byte"``: the offline default. Otherwise a hub name or local path (fast
    tokenizers only: the label builder needs character offsets).

    A local directory must hold tokenizer files: transformers would otherwise build an empty
    tokenizer from the model config and every transcript would encode to nothing. A directory
    holding a generic fast tokenizer (as cag saves its own) loads exactly as saved:
    AutoTokenizer would pick the class of the directory's model config (Qwen2Tokenizer for
    the tiny model), whose built-in pre-tokenizer re-splits the text unlike training."""

    if name_or_path in (None, "", BYTE_TOKENIZER):
        return byte_level_tokenizer()
    gguf = split_gguf(name_or_path)
    if gguf is not None:
        return _gguf_tokenizer(*gguf)
    refuse_custom_code(name_or_path)
    if os.path.isdir(name_or_path):
        if not any(os.path.exists(os.path.join(name_or_path, f)) for f in TOKENIZER_FILES):
            raise CagError(f"{name_or_path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); "
                           "save the tokenizer there or pass --tokenizer NAME_OR_PATH")
    try:
        if os.path.isdir(name_or_path) and _saved_class(name_or_path) in _GENERIC_FAST:
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(name_or_path, **NO_REMOTE_CODE)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name_or_path, use_fast=True, **NO_REMOTE_CODE)
    except CagError:
        raise
    except (OSError, ValueError) as e:
        raise remote_code_error(name_or_path, e) or CagError(f"cannot load a tokenizer from {name_or_path!r} "
                       f"(expected a hub name, or a local directory with tokenizer files): {e}") from e
    except Exception as e:  # noqa: BLE001 - a tokenizer.json of the wrong shape: KeyError, TypeError, ...
        raise CagError(f"cannot load a tokenizer from {name_or_path!r}: its tokenizer files are not in a form "
                       f"transformers reads ({type(e).__name__}: {e})") from e
    if not getattr(tok, "is_fast", False):
        raise CagError(f"tokenizer {name_or_path!r} has no fast (Rust) version; cag needs character "
                       "offsets to place labels")
    return tok


def split_gguf(name_or_path: str | None) -> tuple[str, str] | None:
    """(directory, file name) when ``name_or_path`` names a GGUF file, else ``None``.

    transformers loads GGUF as ``from_pretrained(directory, gguf_file=name)``; cag passes the
    file's path around as one string so every command accepts it wherever it takes a model."""

    if not name_or_path or not name_or_path.lower().endswith(".gguf"):
        return None
    if not os.path.isfile(name_or_path):
        raise CagError(f"{name_or_path}: no such GGUF file")
    d, f = os.path.split(os.path.abspath(name_or_path))
    return d, f


def require_gguf() -> None:
    """transformers reads GGUF through the optional ``gguf`` package (``pip install 'cag[gguf]'``)."""
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise CagError("loading a GGUF file needs the gguf package: pip install 'cag[gguf]' (or pip install gguf)")


def _gguf_tokenizer(directory: str, name: str):
    from transformers import AutoTokenizer

    require_gguf()
    try:
        return AutoTokenizer.from_pretrained(directory, gguf_file=name, **NO_REMOTE_CODE)
    except (OSError, ValueError, KeyError) as e:
        raise CagError(f"cannot read a tokenizer from {os.path.join(directory, name)}: {e}") from e


def _saved_class(path: str) -> str | None:

    import orjson

    cfg = os.path.join(path, "tokenizer_config.json")
    if not (os.path.exists(cfg) and os.path.exists(os.path.join(path, "tokenizer.json"))):
        return None
    try:
        with open(cfg, "rb") as f:
            d = orjson.loads(f.read())
    except orjson.JSONDecodeError as e:
        raise CagError(f"{cfg}: malformed JSON ({e})") from e
    return d.get("tokenizer_class") if isinstance(d, dict) else None
