"""Issue 27: `cag show` kept about 1.3 GB per MB of one record (a list of per-token tuples, a
Rich Text of one span per token, the whole HTML page as one string) and had no per-record
limit. It now has `cag stats`'s limit and writes the page a block of tokens at a time."""

import json


def _one(tmp_path, chars: int):
    p = tmp_path / "one.jsonl"
    p.write_text(json.dumps({"id": "big", "messages": [{"role": "user", "content": "q"},
                                                       {"role": "assistant", "content": ("x" * 63 + "\n") * (chars // 64)}]}) + "\n")
    return p


def test_show_has_the_per_record_limit_of_stats(cag, tmp_path, monkeypatch):
    from causal_agents.transcripts import accounting

    monkeypatch.setattr(accounting, "MAX_RECORD_CHARS", 1000)
    p = _one(tmp_path, 5000)
    for extra in ((), ("--html", tmp_path / "o.html")):
        code, out, err = cag("show", p, *extra)
        assert code == 1 and "over the limit of 1,000 per record" in err and "one.jsonl:1" in err
    assert not (tmp_path / "o.html").exists()
    code, _, err = cag("stats", p)
    assert code == 1 and "over the limit of 1,000 per record" in err


def test_show_makes_the_page_in_blocks(tmp_path, byte_tok):
    """The view keeps compact arrays, not a tuple per token, and both pages come in parts."""
    from causal_agents.formats.io import read_records
    from causal_agents.transcripts.provenance import TagOptions, tag_record
    from causal_agents.transcripts.show import html_parts, rich_parts, to_html, views

    p = _one(tmp_path, 200_000)
    recs = [tag_record(r, loc, TagOptions()) for loc, r in read_records(str(p))]
    [v] = list(views(recs, byte_tok, "plain", "do"))
    assert not isinstance(getattr(v, "pieces"), list)
    n = sum(c[0] for c in v.counts.values())
    assert sum(1 for _ in v.pieces()) == n > 200_000
    assert len(list(rich_parts(v, "do", block=4096))) >= n // 4096
    parts = list(html_parts([v], "do", "one.jsonl"))
    assert len(parts) >= n // 4096 and max(map(len, parts)) < 1 << 20
    assert "".join(parts) == to_html([v], "do", "one.jsonl")
