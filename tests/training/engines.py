"""What the training tests share: the data and flags of a fast run, and the two engines (cag's
own loop and TRL's SFTTrainer, skipped where TRL is not installed)."""

import pytest

DATA = "sample_data/truth_dialogues.jsonl"
FAST = ["--epochs", "1", "--batch-size", "4", "--no-progress", "--threads", "1"]

try:
    import trl  # noqa: F401
    HAVE_TRL = True
except ImportError:
    HAVE_TRL = False

ENGINES = [pytest.param("cag"), pytest.param("trl", marks=pytest.mark.skipif(not HAVE_TRL, reason="trl not installed"))]
