"""A sample through every command a user runs on it: tag, stats, show and export, each
exiting 0, and the tagged segments back for block-by-block checks of their gates."""

from __future__ import annotations

import orjson


def tag_lines(cag, *args) -> list[dict]:
    """``cag tag ARGS`` (exit 0 asserted): the tagged records."""
    code, out, err = cag("tag", *args)
    assert code == 0, err
    return [orjson.loads(x) for x in out.splitlines() if x.strip()]


def through_pipeline(cag, tmp_path, path, *args) -> list[dict]:
    """Tag ``path`` (with reading flags ``args``), then stats, show and export it; returns the
    tagged records. Export needs something world-written in each transcript (under do)."""
    recs = tag_lines(cag, path, *args)
    assert recs, "no transcript read"
    for r in recs:
        assert all(isinstance(s["text"], str) for s in r["segments"])
    code, out, err = cag("stats", path, *args, "--json")
    assert code == 0, err
    stats = orjson.loads(out)
    assert stats["transcripts"] == len(recs)
    code, _, err = cag("show", path, *args, "-n", "1")
    assert code == 0, err
    code, _, err = cag("export", path, *args, "-o", tmp_path / "export", "--mask", "obs")
    assert code == 0, err
    return recs


def write_jsonl(path, recs):
    """``recs`` as a JSON-lines file at ``path`` (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    return path


def call(name, args) -> str:
    """The one rendering of an agent's tool call (formats.adapters.base.tool_call_text), spelt out."""
    return "<tool_call>" + orjson.dumps({"name": name, "arguments": args}).decode() + "</tool_call>"


def gates(rec: dict) -> list[tuple[str, str]]:
    """(role, gate) of every segment, in order."""
    return [(s["role"], s["gate"]) for s in rec["segments"]]
