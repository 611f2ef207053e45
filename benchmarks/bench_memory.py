"""Peak memory (RSS) of `cag tag` and `cag stats` on large records.

Two inputs, written to a temp directory: --mb megabytes of ~20 KB records, and one record
holding a single --message-mb megabyte message. Each command runs as its own process and
its peak RSS comes from wait4(), so the numbers are the command's own, not this script's.
The target (issue 11): under 500 MB each at the default sizes (200 MB, 10 MB).

    python benchmarks/bench_memory.py            # 200 MB of 20 KB records, one 10 MB message
    python benchmarks/bench_memory.py --mb 40    # a smaller run for a busy machine
    python benchmarks/bench_memory.py --tokenizer byte --tokenizer ~/.cache/cag/smollm2-135m-instruct
                                                 # `cag stats` with each tokenizer (tag has none)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import orjson

CAG = [sys.executable, "-m", "causal_agents.cli"]


def write_records(path: str, mb: float, record_kb: float = 20.0) -> int:
    words = ("the agent asked the tool and the world replied with a long observation ").split()
    body = " ".join(words[i % len(words)] for i in range(int(record_kb * 1024 / 5)))[: int(record_kb * 1024)]
    n = 0
    with open(path, "wb") as f:
        while f.tell() < mb * (1 << 20):
            f.write(orjson.dumps({"id": str(n), "messages": [
                {"role": "user", "content": body[: len(body) // 4]},
                {"role": "assistant", "content": body[: len(body) // 4]},
                {"role": "tool", "content": body[: len(body) // 2]}]}) + b"\n")
            n += 1
    return n


def write_one_message(path: str, mb: float) -> None:
    text = ("x" * 63 + "\n") * int(mb * (1 << 20) / 64)
    with open(path, "wb") as f:
        f.write(orjson.dumps({"id": "big", "messages": [{"role": "user", "content": "q"},
                                                        {"role": "assistant", "content": text}]}) + b"\n")


def peak_rss_mb(args: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of one cag process."""
    t = time.perf_counter()
    p = subprocess.Popen([*CAG, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode().strip()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  cag {' '.join(args[:1])} exited {code}: {err[-300:]}", file=sys.stderr)
    return usage.ru_maxrss / 1024, time.perf_counter() - t, code  # ru_maxrss is in KB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200.0, help="Megabytes of ~20 KB records.")
    ap.add_argument("--message-mb", type=float, default=10.0, help="Size of the one large message.")
    ap.add_argument("--tokenizer", action="append", help="Tokenizer for `cag stats` (repeat for several; default byte).")
    ap.add_argument("--only", choices=("records", "message"), help="Run one of the two inputs only.")
    a = ap.parse_args()
    tokenizers = a.tokenizer or ["byte"]
    with open("/proc/loadavg") as f:
        print(f"load: {f.read().strip()}")
    with tempfile.TemporaryDirectory(prefix="cag-mem-") as d:
        recs, one = os.path.join(d, "records.jsonl"), os.path.join(d, "one.jsonl")
        inputs = []
        if a.only != "message":
            n = write_records(recs, a.mb)
            inputs.append((f"{a.mb:g} MB, {n:,} records of ~20 KB", recs))
        if a.only != "records":
            write_one_message(one, a.message_mb)
            inputs.append((f"one {a.message_mb:g} MB message", one))
        print("| input | command | tokenizer | peak RSS MB | seconds | exit |\n|---|---|---|---|---|---|")
        for label, path in inputs:
            runs = [("-", ["tag", path, "-o", os.path.join(d, "out.jsonl")])]
            runs += [(os.path.basename(t.rstrip("/")), ["stats", path, "--json", "--tokenizer", t]) for t in tokenizers]
            for tok, cmd in runs:
                rss, secs, code = peak_rss_mb(cmd)
                print(f"| {label} | cag {cmd[0]} | {tok} | {rss:,.0f} | {secs:.1f} | {code} |", flush=True)


if __name__ == "__main__":
    main()
