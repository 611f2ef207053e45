"""One exclusive lock per run: two processes writing one run directory (or one `cag scm
train` checkpoint) would interleave metrics and lose a result, so the second one stops.

``fcntl.flock`` on a hidden lock file, held for the run's life. The kernel releases it when
the process exits, however it exits (kill -9 included), so a stale lock never blocks a
later ``--resume``. The lock file is left in place: removing it would let a third process
lock a new file while a second still holds the old one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from causal_agents.errors import CagError

LOCK_NAME = ".cag.lock"


@contextmanager
def run_lock(path: str, directory: bool = True, what: str = "run directory"):
    """Hold an exclusive lock for ``path`` (a directory: ``path/.cag.lock``; a file:
    ``.NAME.lock`` beside it) for the ``with`` block; CagError if another process has it."""
    import fcntl

    if directory:
        os.makedirs(path, exist_ok=True)
        lock = os.path.join(path, LOCK_NAME)
    else:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        lock = os.path.join(d, f".{os.path.basename(path)}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise CagError(f"{path}: {what} is in use by another cag process (pid {holder}); "
                           "wait for it or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
    finally:
        os.close(fd)  # closing the descriptor releases the lock
