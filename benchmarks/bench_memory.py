"""Peak memory (RSS) of `cag tag` and `cag stats` on large records.

Two inputs, written to a temp directory: --mb megabytes of ~20 KB records, and one record
holding a single --message-mb megabyte message. Each command runs as its own process and
its peak RSS comes from wait4(), so the numbers are the command's own, not this script's.
The target (issue 11): under 500 MB each at the default sizes (200 MB, 10 MB).

Hostile small inputs (issue 27), with --only hostile: a line of --depth nested arrays (as JSON
lines, a JSON array and a pretty-printed object), a gzip that unpacks to one line of
--gzip-mb MB, `cag show` (terminal and --html) on one --show-mb MB message, and `cag stats`
with a tokenizer of --added added tokens. Each of these runs under an address-space cap
(--cap-gb) and a time limit (--timeout), so a regression fails its row, not the machine.

    python benchmarks/bench_memory.py            # 200 MB of 20 KB records, one 10 MB message
    python benchmarks/bench_memory.py --mb 40    # a smaller run for a busy machine
    python benchmarks/bench_memory.py --tokenizer byte --tokenizer ~/.cache/cag/smollm2-135m-instruct
                                                 # `cag stats` with each tokenizer (tag has none)
    python benchmarks/bench_memory.py --only hostile --depth 20000 --gzip-mb 1024 --show-mb 12 --added 8000
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
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


def peak_rss_mb(args: list[str], cap_gb: float | None = None, timeout: float | None = None) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of one cag process; ``cap_gb`` caps its address
    space, ``timeout`` (seconds) ends it with SIGKILL (exit -9)."""
    def limit():
        if cap_gb:
            cap = int(cap_gb * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    t = time.perf_counter()
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen([*CAG, *args], stdout=subprocess.DEVNULL, stderr=errf, preexec_fn=limit)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t > timeout:
                p.kill()  # this script's own child, by its pid
                _, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = 0  # reaped here: keep Popen from waiting on it again
        errf.seek(0)
        err = errf.read().decode(errors="replace").strip()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  cag {' '.join(args[:1])} exited {code}: {err[-300:]}", file=sys.stderr)
    return usage.ru_maxrss / 1024, time.perf_counter() - t, code  # ru_maxrss is in KB on Linux


def write_nested(d: str, depth: int) -> list[tuple[str, str]]:
    """One record whose meta nests ``depth`` arrays, in the three JSON text layouts."""
    deep = b"[" * depth + b"]" * depth
    msgs = b'"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]'
    rec = b'{"id":"deep",' + msgs + b',"meta":{"x":' + deep + b"}}"
    out = []
    for name, data in (("JSON lines", rec + b"\n"), ("JSON array", b"[" + rec + b"]\n"),
                       ("pretty object", b'{\n  "id": "deep",\n' + rec[1:] + b"\n")):
        path = os.path.join(d, f"nested-{len(out)}.json")
        with open(path, "wb") as f:
            f.write(data)
        out.append((f"{depth:,} nested arrays, {name} ({len(data) / 1024:,.0f} KB)", path))
    return out


def write_gzip_line(path: str, mb: float) -> int:
    """A gzip of one JSON line holding an ``mb`` MB message; returns the gzip's size."""
    block = b"a" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b'{"id":"big","messages":[{"role":"user","content":"')
        for _ in range(int(mb)):
            f.write(block)
        f.write(b'"},{"role":"assistant","content":"ok"}]}\n')
    return os.path.getsize(path)


def write_added_tokenizer(d: str, n: int) -> str:
    """cag's byte tokenizer with ``n`` added tokens, saved to a folder."""
    from causal_agents.transcripts.tokenizer import byte_level_tokenizer

    tok = byte_level_tokenizer()
    tok.add_tokens([f"<|t{i}|>" for i in range(n)])
    path = os.path.join(d, f"tok-{n}")
    tok.save_pretrained(path)
    return path


def hostile(a, d: str) -> None:
    """The issue-27 rows: every command runs capped (a regression fails its row)."""
    rows = []
    for label, path in write_nested(d, a.depth):
        rows += [(label, ["stats", path, "--json"]), (label, ["tag", path, "-o", os.path.join(d, "t.jsonl")])]
    gz = os.path.join(d, "line.jsonl.gz")
    size = write_gzip_line(gz, a.gzip_mb)
    rows.append((f"gzip of {size / 1024:,.0f} KB unpacking to one {a.gzip_mb:g} MB line", ["stats", gz, "--json"]))
    one = os.path.join(d, "show.jsonl")
    write_one_message(one, a.show_mb)
    rows.append((f"one {a.show_mb:g} MB message", ["show", one]))
    rows.append((f"one {a.show_mb:g} MB message", ["show", one, "--html", os.path.join(d, "show.html")]))
    tok = write_added_tokenizer(d, a.added)
    small = os.path.join(d, "small.jsonl")
    write_records(small, 0.5)
    rows.append((f"tokenizer with {a.added:,} added tokens, 0.5 MB of records", ["stats", small, "--json",
                                                                              "--tokenizer", tok]))
    rows.append((f"tokenizer with {a.added:,} added tokens, one {a.show_mb:g} MB message",
                 ["stats", one, "--json", "--tokenizer", tok]))
    print(f"capped at {a.cap_gb:g} GB of address space and {a.timeout:g} s\n")
    print("| input | command | peak RSS MB | seconds | exit |\n|---|---|---|---|---|")
    for label, cmd in rows:
        rss, secs, code = peak_rss_mb(cmd, a.cap_gb, a.timeout)
        shown = " ".join(["cag", cmd[0]] + [x for x in cmd[2:] if x.startswith("--") and x != "--json"])
        print(f"| {label} | {shown} | {rss:,.0f} | {secs:.1f} | {code} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200.0, help="Megabytes of ~20 KB records.")
    ap.add_argument("--message-mb", type=float, default=10.0, help="Size of the one large message.")
    ap.add_argument("--tokenizer", action="append", help="Tokenizer for `cag stats` (repeat for several; default byte).")
    ap.add_argument("--only", choices=("records", "message", "hostile"),
                    help="Run one of the two inputs only, or the hostile small inputs (issue 27) only.")
    ap.add_argument("--depth", type=int, default=20000, help="Nesting depth of the hostile nesting rows.")
    ap.add_argument("--gzip-mb", type=float, default=1024.0, help="MB that the hostile gzip unpacks to (one line).")
    ap.add_argument("--show-mb", type=float, default=12.0, help="Size of the one message `cag show` renders.")
    ap.add_argument("--added", type=int, default=8000, help="Added tokens of the hostile tokenizer.")
    ap.add_argument("--cap-gb", type=float, default=4.0, help="Address-space cap of each hostile run (GB).")
    ap.add_argument("--timeout", type=float, default=300.0, help="Seconds before a hostile run is killed.")
    a = ap.parse_args()
    if a.only == "hostile":
        with tempfile.TemporaryDirectory(prefix="cag-mem-") as d:
            hostile(a, d)
        return
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
