"""Shared helpers for the benchmark scripts: run a command, time it, read its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def run_measured(argv: list[str], **kw) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys, the process and its children) and peak RSS (MiB)
    of one child process. CPU seconds stay meaningful when other work shares the machine."""
    t0 = time.perf_counter()
    pid = subprocess.Popen(argv, **kw).pid
    _, status, ru = os.wait4(pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}")
    return dt, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def table(rows: list[tuple], headers: tuple) -> str:
    cols = list(zip(*([headers] + [tuple(str(c) for c in r) for r in rows])))
    widths = [max(len(c) for c in col) for col in cols]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


PY = sys.executable
