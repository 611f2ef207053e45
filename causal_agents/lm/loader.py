"""The one model loader: every command that needs a causal LM (train, probe, stream, eval stem,
reproduce, GRPO) gets its model, tokenizer, device and dtype here.

``model`` is ``None``/``"tiny"`` (the embedded tiny model, random weights from ``seed``), a
hub name, a local model directory, a GGUF file (dequantized; needs ``cag[gguf]``), or a cag
run directory (a full fine-tune, or a LoRA adapter that peft loads with its base). The pad-token fallback, the device and the dtype are
chosen in one place, so a model probed, sampled and trained is the same model.
"""

from __future__ import annotations

import contextlib
import os

from causal_agents.errors import CagError, InputError
from causal_agents.formats.io import read_json, write_json_atomic
from causal_agents.lm.cache import cache_root
from causal_agents.lm.tiny_model import is_tiny, tiny_model
from causal_agents.transcripts.tokenizer import (NO_REMOTE_CODE, load_tokenizer, refuse_custom_code, remote_code_error,
                                                require_gguf, split_gguf)

DTYPES = ("auto", "bf16", "fp16", "fp32")


def pick_device(name: str = "auto", local_rank: int = 0):
    """A torch device: ``auto`` prefers CUDA (the local rank's GPU), then MPS, then the CPU."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(name: str, device):
    """``auto``: bf16 on a GPU that supports it, else fp32 (weights stay fp32 on a CPU)."""
    import torch

    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in DTYPES:
        raise CagError(f"unknown dtype {name!r} (expected {', '.join(DTYPES)})")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (avx512_bf16 or AMX): without it, torch
    emulates bf16 matmuls, which is far slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


# The matmul shape timed for ``auto``: a 135M model's MLP on a batch of 4 dialogues. bf16
# autocast also casts every weight each step, so bf16 must win clearly to be worth it.
_AMP_SHAPE = (256, 576, 1536)
_AMP_MARGIN = 1.15
_amp_decision: dict = {}


def _time_matmuls(shape=_AMP_SHAPE, reps: int = 5, rounds: int = 3) -> tuple[float, float]:
    """Best-of-``rounds`` seconds for ``reps`` fp32 and bf16 matmuls of ``shape``, interleaved,
    on one thread (what each of a paired run's processes trains on)."""
    import time

    import torch

    m, k, n = shape
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    pairs = {torch.float32: (a, b), torch.bfloat16: (a.bfloat16(), b.bfloat16())}
    best = {dt: float("inf") for dt in pairs}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(rounds):
            for dt, (x, y) in pairs.items():
                x @ y                                               # warm-up (kernel choice, caches)
                t = time.perf_counter()
                for _ in range(reps):
                    x @ y
                best[dt] = min(best[dt], time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    return best[torch.float32], best[torch.bfloat16]


def _amp_key() -> str:
    import platform

    import torch

    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    return f"{cpu or platform.processor()}|torch {torch.__version__}"


@contextlib.contextmanager
def _locked(path: str):
    """An exclusive lock on ``path``: of two processes deciding at once, the second waits and
    reads the first one's verdict. Without fcntl (Windows) or a writable cache, no lock."""
    try:
        import fcntl

        f = open(path, "a")
    except (ImportError, OSError):
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cpu_bf16_pays() -> bool:
    """Whether bf16 autocast speeds training up on this CPU. The flag alone does not tell: a
    VM with avx512_bf16 measured bf16 training at 0.66x fp32 (benchmarks/bench_train.py), the
    project's earlier one bf16 matmuls at 2.4x. So it is measured once per CPU model and torch
    version and kept in ``$CAG_CACHE/amp.json``: every later run on the machine, and both
    processes of a paired obs/do run (the second waits on a lock for the first's verdict), make
    the same choice, which changes the numerics."""
    if not cpu_has_native_bf16():
        return False
    key = _amp_key()
    if key in _amp_decision:
        return _amp_decision[key]
    path = os.path.join(cache_root(), "amp.json")
    with contextlib.suppress(OSError):                               # a read-only cache: decide per process
        os.makedirs(cache_root(), exist_ok=True)
    with _locked(path + ".lock"):
        try:
            table = read_json(path)
        except (InputError, OSError):                               # none yet, or unreadable: measure
            table = {}
        table = table if isinstance(table, dict) else {}
        entry = table.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("bf16"), bool):
            choice = entry["bf16"]
        else:
            t32, t16 = _time_matmuls()
            choice = t32 / t16 >= _AMP_MARGIN
            table[key] = {"bf16": choice, "bf16_speedup": round(t32 / t16, 3)}
            with contextlib.suppress(OSError):
                write_json_atomic(path, table)
    _amp_decision[key] = choice
    return choice


def pick_amp(name: str, device, dtype) -> bool:
    """Whether to run bf16 autocast over the weights: ``bf16`` always, ``off`` never, ``auto``
    for fp32 weights on a CPU where bf16 matmuls measure clearly faster (``cpu_bf16_pays``; a
    GPU gets bf16 weights from ``pick_dtype``)."""
    import torch

    if name == "bf16":
        return True
    if name == "auto":
        return device.type == "cpu" and dtype == torch.float32 and cpu_bf16_pays()
    return False


def quiet_transformers() -> None:
    """Turn off transformers' own bars (loading weights, writing shards): cag draws its own
    progress, and `--no-progress` must leave stderr free of bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_model_tokenizer(model: str | None, tokenizer: str | None = None):
    """The tokenizer for ``model``: ``tokenizer`` if given, else the model's own (the byte
    tokenizer for the tiny model). Models without a pad token pad with their end-of-text
    token; pads never get a label."""
    name = tokenizer if tokenizer else (None if is_tiny(model) else model)
    tok = load_tokenizer(name)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_weights(model: str | None, tokenizer, dtype, seed: int = 0):
    """The model's weights as a ``PreTrainedModel`` (or a peft model for an adapter run
    directory), on the CPU, in ``dtype``. The tiny model's weights depend only on ``seed``."""
    quiet_transformers()
    if is_tiny(model):
        return tiny_model(tokenizer, seed).to(dtype)
    gguf = split_gguf(model)
    if gguf is not None:
        return load_gguf(*gguf, dtype=dtype)
    refuse_custom_code(model)
    try:
        adapter = os.path.join(model, "adapter_config.json")
        if os.path.exists(adapter):
            from peft import AutoPeftModelForCausalLM

            base = read_json(adapter).get("base_model_name_or_path") if os.path.isfile(adapter) else None
            refuse_custom_code(base if isinstance(base, str) else None)
            return AutoPeftModelForCausalLM.from_pretrained(model, dtype=dtype, **NO_REMOTE_CODE)
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(model, dtype=dtype, **NO_REMOTE_CODE)
    except (OSError, ValueError) as e:
        raise remote_code_error(model, e) or CagError(f"cannot load a causal LM from {model!r}: {e}") from e


def load_gguf(directory: str, name: str, dtype=None):
    """A GGUF file's model, dequantized, as an ordinary ``PreTrainedModel``.

    transformers marks a GGUF-loaded model as quantized: ``save_pretrained`` refuses it and
    its config carries a ``quantization_config`` that TRL refuses. Copying its weights into a
    model built from the same config without that entry gives a model whose run directory is
    a plain HF directory (AutoModelForCausalLM, peft and TRL load it)."""
    import torch
    from transformers import AutoModelForCausalLM

    require_gguf()
    try:
        with _quiet_gguf():
            src = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32,
                                                       **NO_REMOTE_CODE)
    except (OSError, ValueError, KeyError) as e:
        raise CagError(f"cannot load a causal LM from {os.path.join(directory, name)}: {e}") from e
    config = src.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = os.path.join(directory, name)
    state = src.state_dict()
    del src
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # strict: every tensor of the file lands in the new model (tied embeddings share one)
    model.load_state_dict(state, strict=True)
    return model.to(dtype) if dtype is not None else model


@contextlib.contextmanager
def _quiet_gguf():
    """transformers draws its GGUF dequantizing bar with a plain tqdm that its progress-bar
    switch does not reach; `--no-progress` must leave stderr free of bars."""
    import functools

    import transformers.modeling_gguf_pytorch_utils as gg

    orig = gg.tqdm
    gg.tqdm = functools.partial(orig, disable=True)
    try:
        yield
    finally:
        gg.tqdm = orig


def convert_gguf(path: str, out: str) -> str:
    """Write the GGUF file ``path`` as an ordinary HF model directory ``out`` (model and
    tokenizer), atomically: a temporary directory beside ``out``, renamed when complete."""
    import shutil
    import tempfile

    d, f = split_gguf(path)
    quiet_transformers()
    tok = load_tokenizer(path)
    model = load_gguf(d, f)
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary directory
        try:
            os.rename(tmp, out)
        except OSError:
            if not os.path.exists(os.path.join(out, "config.json")):
                raise
            shutil.rmtree(tmp)  # another process finished the same conversion first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_model(model: str | None, device: str = "auto", seed: int = 0, dtype: str = "auto",
               merge_lora: bool = False):
    """(model in eval mode on its device, tokenizer) for inference: probes, sampling, evaluation.

    ``merge_lora`` folds a LoRA adapter into its base, so decoding is a plain forward pass.
    """
    dev = pick_device(device)
    tok = load_model_tokenizer(model)
    if is_tiny(model) and dtype == "auto":
        dtype = "fp32"  # the tiny model is fp32 by design (see lm.tiny_model)
    m = load_weights(model, tok, pick_dtype(dtype, dev), seed)
    if merge_lora and hasattr(m, "merge_and_unload"):
        m = m.merge_and_unload()
    return m.to(dev).eval(), tok
