"""Checkpoints that cannot run code and cannot be silently corrupt: one save and one load
for `cag train` and `cag scm train`.

Loading uses ``torch.load(weights_only=True)``: only tensors and plain containers are
rebuilt, so a crafted pickle is refused instead of executed. Before loading, every member
of the checkpoint's zip archive is checked against the CRC-32 torch stores for it, so a
flipped byte inside a tensor, a truncated or an empty file is one clear error, never a
resumed run on damaged weights.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

from causal_agents.errors import CagError, InputError


def save_checkpoint_file(path: str, obj: dict) -> None:
    """``torch.save`` atomically (temp file beside ``path``, then rename)."""
    import torch

    from causal_agents.formats.io import atomic_path

    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:
            # a full disk or a failed write surfaces as torch's "[enforce fail at
            # inline_container.cc:NNN] . PytorchStreamWriter failed writing file ..."
            if "PytorchStreamWriter" not in str(e) and "inline_container" not in str(e):
                raise
            import re

            why = re.sub(r"^\s*\[enforce fail at [^\]]*\]\s*\.?\s*", "", str(e)).strip() or "write failed"
            raise CagError(f"cannot write the checkpoint {path}: the write failed, is the disk full? ({why}); "
                           "the previous checkpoint, if any, is kept") from None


def verify_checkpoint_file(path: str) -> None:
    """Raise InputError unless ``path`` is a complete torch zip archive whose members all
    match their stored CRC-32."""
    if not os.path.exists(path):
        raise InputError("no such file", file=path)
    if os.path.getsize(path) == 0:
        raise InputError("checkpoint is empty (0 bytes): an interrupted copy? delete it and resume "
                         "from an earlier one or start over", file=path)
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise InputError(f"checkpoint is truncated or corrupt ({e})", file=path) from e
    except Exception as e:  # zlib/struct errors from a damaged member header
        raise InputError(f"checkpoint is corrupt ({type(e).__name__}: {e})", file=path) from e
    if bad is not None:
        raise InputError(f"checkpoint is corrupt: checksum mismatch in {bad}", file=path)


def load_checkpoint_file(path: str, map_location: Any = "cpu") -> Any:
    """Verify, then ``torch.load(weights_only=True)``; every failure is one InputError."""
    import pickle

    import torch

    verify_checkpoint_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError("refused to load: the checkpoint holds Python objects other than tensors and "
                         f"plain containers, which could run code ({first[:200]})", file=path) from e
    except Exception as e:  # torch raises several types for a bad file
        raise InputError(f"not a readable checkpoint ({type(e).__name__}: {str(e)[:200]})", file=path) from e
