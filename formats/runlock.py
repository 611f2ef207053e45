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
def run_lock(path: str, directory: bool = True, what: str = "run directory", remove: bool = False):
    """Hold an exclusive lock for ``path`` (a directory: ``path/.cag.lock``; a file or a folder
    renamed into place: ``.NAME.lock`` beside it) for the ``with`` block; CagError if another
    process has it.

    ``remove``: delete the lock file on the way out (an output that must leave nothing beside
    it). Safe against a third process: whoever locks a file checks that it is still the one at
    the path, and starts over on a fresh one if it was removed meanwhile."""
    import fcntl

    if directory:
        os.makedirs(path, exist_ok=True)
        lock = os.path.join(path, LOCK_NAME)
    else:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        lock = os.path.join(d, f".{os.path.basename(os.path.abspath(path))}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CagError(f"{path}: {what} is in use by another cag process (pid {holder}); "
                           "wait for it or use another output") from None
        except BaseException:
            os.close(fd)
            raise
        if not remove or _same_file(fd, lock):
            break
        os.close(fd)  # the holder before us removed it: lock the file now at the path
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
    finally:
        if remove:
            try:
                os.unlink(lock)  # still held: nobody can have locked this file meanwhile
            except FileNotFoundError:
                pass
        os.close(fd)  # closing the descriptor releases the lock


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
