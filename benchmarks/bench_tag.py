"""`cag tag` throughput and peak memory vs a bare orjson parse-and-serialize loop.

Targets (issue 2): throughput >= 0.5 of the bare loop on a 1 GB OpenAI-format JSONL,
peak memory < 500 MB. Both run as child processes on the same file, side by side. Issue 10
adds the same transcripts as one JSON array (streamed by ijson), against the same target:
the bare loop reads the JSONL, since loading a 1 GiB array whole is what cag must not do.

Issue 23 (``--suite agent-logs``): a Claude Code session file of ``--session-mb`` (one
transcript), Responses API records of ``--responses-mb`` and a directory of ``--dir-files``
session files (benchmarks/agent_logs.py makes them): serial throughput >= 0.5 of the bare
loop on the session and the Responses records, and memory that does not grow with the number
of files.

    python benchmarks/bench_tag.py [--suite openai|agent-logs|all] [--size-mb 1024] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import random
import shutil
import tempfile

import orjson

from _util import PY, run_measured, table

BARE = """
import os, sys, orjson
src = sys.argv[1]
files = [src] if os.path.isfile(src) else sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs)
with open(sys.argv[2], 'wb') as out:
    for path in files:
        with open(path, 'rb') as f:
            for line in f:
                out.write(orjson.dumps(orjson.loads(line)) + b"\\n")
"""

WORDS = ("invoice refund the a to of charge payment April order status shipping delay customer "
         "account please check records error retry tool result value city weather").split()


def make_file(path: str, size_mb: int, seed: int = 0) -> int:
    """OpenAI-format transcripts with system, user, assistant (some with tool calls) and tool turns."""
    rng = random.Random(seed)
    target = size_mb * 1024 * 1024
    n = 0
    written = 0
    with open(path, "wb") as f:
        while written < target:
            msgs = [{"role": "system", "content": "You are a support agent with tools."}]
            for t in range(rng.randint(2, 6)):
                msgs.append({"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(8, 60)))})
                if rng.random() < 0.5:
                    msgs.append({"role": "assistant", "content": None, "tool_calls": [
                        {"id": f"c{t}", "type": "function",
                         "function": {"name": "lookup", "arguments": orjson.dumps({"q": rng.choice(WORDS)}).decode()}}]})
                    msgs.append({"role": "tool", "tool_call_id": f"c{t}",
                                 "content": " ".join(rng.choices(WORDS, k=rng.randint(20, 200)))})
                msgs.append({"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(10, 80)))})
            line = orjson.dumps({"id": f"t{n}", "messages": msgs}) + b"\n"
            f.write(line)
            written += len(line)
            n += 1
    return n


def make_array(src: str, dst: str) -> None:
    """The same records as one pretty-ish JSON array: `[`, one element per line, `]`."""
    with open(src, "rb") as f, open(dst, "wb") as out:
        out.write(b"[\n")
        first = True
        for line in f:
            out.write((b"" if first else b",\n") + line.rstrip(b"\n"))
            first = False
        out.write(b"\n]\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("openai", "agent-logs", "all"), default="openai")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--session-mb", type=float, default=1024)
    ap.add_argument("--responses-mb", type=float, default=256)
    ap.add_argument("--dir-files", type=int, default=10_000)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.suite in ("openai", "all"):
        openai_suite(args)
    if args.suite in ("agent-logs", "all"):
        agent_logs_suite(args)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def openai_suite(args) -> None:
    d = tempfile.mkdtemp(dir=args.dir, prefix="bench_tag_")
    src = os.path.join(d, "in.jsonl")
    n = make_file(src, args.size_mb)
    mb = os.path.getsize(src) / 2**20
    bare_py = os.path.join(d, "bare.py")
    open(bare_py, "w").write(BARE)
    out_b, out_s, out_p = (os.path.join(d, x) for x in ("bare.jsonl", "serial.jsonl", "par.jsonl"))
    quiet = {"stderr": open(os.devnull, "w")}
    t_bare, c_bare, m_bare = run_measured([PY, bare_py, src, out_b])
    runs = [("bare orjson loop", t_bare, c_bare, m_bare)]
    cag = [PY, "-m", "causal_agents.cli", "tag", src]
    runs.append(("cag tag --workers 1",) + run_measured(cag + ["--workers", "1", "-o", out_s], **quiet))
    runs.append(("cag tag --workers 0 (one per CPU)",) + run_measured(cag + ["--workers", "0", "-o", out_p], **quiet))
    arr, out_a = os.path.join(d, "in.json"), os.path.join(d, "arr.jsonl")
    make_array(src, arr)
    runs.append(("cag tag, JSON array",) + run_measured([PY, "-m", "causal_agents.cli", "tag", arr, "-o", out_a],
                                                       **quiet))
    # compared in blocks: reading both whole would leave this process gigabytes big, and a
    # child's peak RSS counts what it inherits at fork (the next suite's numbers would lie)
    assert filecmp.cmp(out_s, out_p, shallow=False), "parallel output differs from serial"
    with open(out_s, "rb") as a, open(out_a, "rb") as b:
        # same segments; only id and source differ (a line number vs an element index)
        for la, lb in zip(a, b):
            ra, rb = orjson.loads(la), orjson.loads(lb)
            assert ra["segments"] == rb["segments"], "array output differs from JSONL"
    rows = [(name, f"{t:.1f}", f"{mb / t:.0f}", f"{t_bare / t:.2f}", f"{c:.1f}", f"{c_bare / c:.2f}", f"{m:.0f}")
            for name, t, c, m in runs]
    print(f"{n:,} transcripts, {mb:.0f} MiB, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(table(rows, ("run", "wall s", "MiB/s", "wall ratio", "CPU s", "CPU ratio", "peak RSS MiB")))
    best = max(t_bare / t for _, t, _, _ in runs[1:])
    print(f"target: throughput ratio >= 0.50 (best wall ratio {best:.2f}); peak RSS < 500 MB "
          f"(max {max(m for *_, m in runs[1:]):.0f} MiB)")
    shutil.rmtree(d)


def agent_logs_suite(args) -> None:
    from agent_logs import make_responses, make_session, make_session_dir

    d = tempfile.mkdtemp(dir=args.dir, prefix="bench_tag_logs_")
    bare_py = os.path.join(d, "bare.py")
    open(bare_py, "w").write(BARE)
    quiet = {"stderr": open(os.devnull, "w")}
    cases = []
    session = os.path.join(d, "session.jsonl")
    rows = make_session(session, args.session_mb)
    cases.append((f"Claude Code session, 1 file, {rows:,} rows", session, os.path.getsize(session)))
    resp = os.path.join(d, "responses.jsonl")
    n = make_responses(resp, args.responses_mb)
    cases.append((f"Responses API, {n:,} records", resp, os.path.getsize(resp)))
    folder = os.path.join(d, "projects")
    make_session_dir(folder, args.dir_files)
    size = sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(folder) for f in fs)
    cases.append((f"directory of {args.dir_files:,} sessions", folder, size))
    small = os.path.join(d, "projects_small")  # a tenth of the files: memory must not grow with the count
    make_session_dir(small, max(1, args.dir_files // 10))
    size_small = sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(small) for f in fs)
    cases.append((f"directory of {max(1, args.dir_files // 10):,} sessions", small, size_small))
    out_rows = []
    for name, src, size in cases:
        mb = size / 2**20
        t_bare, c_bare, m_bare = run_measured([PY, bare_py, src, os.path.join(d, "bare.out")])
        t, c, m = run_measured([PY, "-m", "causal_agents.cli", "tag", src, "--workers", "1", "-o",
                                os.path.join(d, "cag.jsonl")], **quiet)
        out_rows.append((name, f"{mb:.0f}", f"{t_bare:.1f}", f"{t:.1f}", f"{t_bare / t:.2f}", f"{c_bare / c:.2f}",
                         f"{m_bare:.0f}", f"{m:.0f}", f"{m / mb:.2f}"))
        os.unlink(os.path.join(d, "cag.jsonl"))
    print(table(out_rows, ("input", "MiB", "bare s", "cag s", "wall ratio", "CPU ratio", "bare RSS MiB",
                           "cag RSS MiB", "cag RSS / input MiB")))
    print("target: wall ratio >= 0.50 on the session and the Responses records (serial); cag's peak RSS on the "
          "directory does not grow with the number of files")
    shutil.rmtree(d)


if __name__ == "__main__":
    main()
