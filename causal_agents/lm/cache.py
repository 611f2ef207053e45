"""Where cag keeps per-machine state: converted models (lm.smollm2) and the measured bf16
verdict (lm.loader). A module of its own so that both can use it without importing each other."""

from __future__ import annotations

import os


def cache_root() -> str:
    """``$CAG_CACHE`` or ``~/.cache/cag``."""
    return os.environ.get("CAG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cag")
