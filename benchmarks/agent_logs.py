"""Synthetic agent logs at scale for benchmarks/bench_tag.py: a Claude Code session file, a
directory of many session files, and Responses API records. Shapes follow cag's samples
(sample_data/claude_code_session.jsonl, sample_data/responses_items.jsonl); sizes and
proportions follow a real 2,385-row Claude Code session (70% of rows are `progress` hook
events, the rest user/assistant turns with tool use), so the reader does the work it does on
real logs: chain walking, split-row merging, block rendering."""

from __future__ import annotations

import os
import random
import uuid

import orjson

WORDS = ("file test error import def return class self value path config build run fix the a to of and "
         "in is for with that this line function module pytest assert failed passed").split()


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi)))


def _session_rows(rng: random.Random, session: str, target_bytes: int):
    """Rows of one session until about ``target_bytes``: turns of user text, an assistant
    response split over two rows (thinking, then text + tool_use, one message.id), a
    tool_result, hook progress rows between them, and now and then an edited user message
    (an abandoned branch)."""
    written, parent, n = 0, None, 0
    base = {"isSidechain": False, "userType": "external", "cwd": "/home/u/proj", "sessionId": session,
            "version": "2.1.39", "gitBranch": "main"}

    def row(kind: str, body: dict, par):
        nonlocal n
        n += 1
        u = str(uuid.UUID(int=rng.getrandbits(128)))
        return u, {**base, "parentUuid": par, "type": kind, "uuid": u,
                   "timestamp": f"2026-02-12T14:{n // 60 % 60:02d}:{n % 60:02d}.000Z", **body}

    yield {"type": "summary", "summary": "Fix the failing build", "leafUuid": "unknown"}
    while written < target_bytes:
        for _ in range(rng.randint(1, 3)):  # hook progress events, chained like messages
            parent, r = row("progress", {"data": {"type": "hook_progress", "hookEvent": "PostToolUse",
                                                  "command": "/home/u/.claude/hooks/log.sh"}}, parent)
            written += yield r
        if rng.random() < 0.05:  # a user message later edited: its branch is abandoned
            _, r = row("user", {"message": {"role": "user", "content": _words(rng, 5, 30)}}, parent)
            written += yield r
        parent, r = row("user", {"message": {"role": "user", "content": _words(rng, 5, 40)}}, parent)
        written += yield r
        mid = f"msg_{rng.getrandbits(64):016x}"
        parent, r = row("assistant", {"message": {"id": mid, "type": "message", "role": "assistant",
                                                  "model": "claude-sonnet-4-5", "content": [
                                                      {"type": "thinking", "thinking": _words(rng, 10, 60),
                                                       "signature": "EqQBCkYIBxgCKkB" + "x" * 80}]}}, parent)
        written += yield r
        tid = f"toolu_{rng.getrandbits(64):016x}"
        parent, r = row("assistant", {"message": {"id": mid, "type": "message", "role": "assistant",
                                                  "model": "claude-sonnet-4-5", "content": [
                                                      {"type": "text", "text": _words(rng, 5, 40)},
                                                      {"type": "tool_use", "id": tid, "name": "Bash",
                                                       "input": {"command": "pytest -x " + rng.choice(WORDS)}}]}},
                        parent)
        written += yield r
        parent, r = row("user", {"message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tid, "content": _words(rng, 30, 400)}]}}, parent)
        written += yield r


def make_session(path: str, size_mb: float, seed: int = 0) -> int:
    """One Claude Code session file of about ``size_mb`` MiB; returns its row count."""
    rng = random.Random(seed)
    n = 0
    with open(path, "wb") as f:
        gen = _session_rows(rng, str(uuid.UUID(int=rng.getrandbits(128))), int(size_mb * 2**20))
        r = next(gen)
        while True:
            line = orjson.dumps(r) + b"\n"
            f.write(line)
            n += 1
            try:
                r = gen.send(len(line))
            except StopIteration:
                return n


def make_session_dir(folder: str, n_files: int, kb_each: float = 8, seed: int = 0) -> None:
    """``n_files`` small sessions, as ~/.claude/projects holds them (one folder per project)."""
    for i in range(n_files):
        d = os.path.join(folder, f"-home-u-proj{i % 50:02d}")
        os.makedirs(d, exist_ok=True)
        make_session(os.path.join(d, f"{i:05d}.jsonl"), kb_each / 1024, seed=seed + i)


def make_responses(path: str, size_mb: float, seed: int = 0) -> int:
    """Responses API records: instructions, input items with function calls and their outputs,
    a reasoning item with a summary and encrypted content, and the output message."""
    rng = random.Random(seed)
    target, written, n = int(size_mb * 2**20), 0, 0
    with open(path, "wb") as f:
        while written < target:
            items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": _words(rng, 5, 40)}]}]
            for t in range(rng.randint(1, 4)):
                cid = f"call_{n}_{t}"
                items.append({"type": "reasoning", "id": f"rs_{n}_{t}", "summary": [
                    {"type": "summary_text", "text": _words(rng, 10, 40)}], "encrypted_content": "gAAAA" + "z" * 200})
                items.append({"type": "function_call", "call_id": cid, "name": "shell",
                              "arguments": orjson.dumps({"cmd": ["ls", rng.choice(WORDS)]}).decode()})
                items.append({"type": "function_call_output", "call_id": cid, "output": _words(rng, 20, 200)})
            rec = {"id": f"resp_{n}", "object": "response", "model": "gpt-5", "instructions": "You are a coding agent.",
                   "input": items, "output": [{"type": "message", "role": "assistant", "id": f"msg_{n}",
                                               "content": [{"type": "output_text", "text": _words(rng, 10, 80)}]}]}
            line = orjson.dumps(rec) + b"\n"
            f.write(line)
            written += len(line)
            n += 1
    return n
