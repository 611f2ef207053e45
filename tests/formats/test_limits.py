"""Issue 27, memory and time from small inputs: nesting depth and bytes per record are limited
while reading, in every layout (JSON lines, plain or gzip; a JSON array; pretty-printed
objects), with one line naming the file, the line or element and the limit. Also: a byte
order mark inside the file and a lone surrogate escape are named for what they are."""

import gzip
import json

import pytest

MSGS = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
GOOD = json.dumps({"id": "ok", "messages": MSGS})


def _deep(depth: int) -> str:
    return json.dumps({"id": "deep", "messages": MSGS})[:-1] + ', "meta": {"x": ' + "[" * depth + "]" * depth + "}}"


@pytest.mark.parametrize("layout", ["first line", "second line", "array", "compact array", "pretty"])
def test_deep_nesting_is_one_line_naming_the_limit(cag, tmp_path, layout):
    deep = _deep(50_000)
    text = {"first line": deep + "\n", "second line": GOOD + "\n" + deep + "\n",
            "array": "[\n" + GOOD + ",\n" + deep + "\n]\n", "compact array": "[" + GOOD + "," + deep + "]",
            "pretty": json.dumps(json.loads(GOOD), indent=1) + "\n{\n" + deep[1:] + "\n"}[layout]
    p = tmp_path / "d.json"
    p.write_text(text)
    code, _, err = cag("stats", p)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "nested deeper than 1,024 levels" in err
    where = {"first line": "d.json:1:", "second line": "d.json:2:", "array": "element 1 of the array",
             "compact array": "element 1 of the array", "pretty": "object 2"}[layout]
    assert where in err


def test_the_streaming_reader_stops_at_the_depth_limit(tmp_path):
    """ijson's path grows with the square of the depth: the guard stops it after MAX_DEPTH."""
    from causal_agents.errors import InputError
    from causal_agents.formats.io import read_records

    p = tmp_path / "a.json"
    p.write_bytes(b"[" + b"[" * 2_000_000 + b"]" * 2_000_000 + b"]")
    with pytest.raises(InputError, match="nested deeper than 1,024"):
        list(read_records(str(p)))


def test_redaction_walks_meta_as_deep_as_the_reader_allows(cag, tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(_deep(1000) + "\n")
    code, _, err = cag("stats", p, "--redact", "secrets")
    assert code == 0, err


def test_output_deeper_than_json_writers_hold_is_named(cag, tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(_deep(400) + "\n")
    code, _, err = cag("tag", p)
    assert code == 1 and "deeper than the 254 levels" in err


@pytest.fixture
def small_limit(monkeypatch):
    from causal_agents.formats import jsonarray

    monkeypatch.setattr(jsonarray, "MAX_RECORD_BYTES", 1000)


def test_gzip_line_over_the_record_limit_is_refused_while_reading(cag, tmp_path, small_limit):
    p = tmp_path / "g.jsonl.gz"
    big = json.dumps({"id": "big", "messages": [{"role": "user", "content": "x" * 5000}, MSGS[1]]})
    with gzip.open(p, "wt") as f:
        f.write(big + "\n" + GOOD + "\n")
    code, out, err = cag("tag", p)
    assert code == 1 and "g.jsonl.gz:1: line longer than 1,000 bytes, the limit per record" in err
    code, out, err = cag("tag", p, "--on-error", "skip", "--rejects", tmp_path / "r.jsonl")
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == ["ok"]
    assert "line longer than 1,000 bytes" in (tmp_path / "r.jsonl").read_text()


def test_the_line_reader_never_holds_more_than_the_limit(tmp_path, small_limit):
    from causal_agents.formats import io as fio

    class Spy:
        """A stream that records the longest read or readline it was asked for."""
        def __init__(self, data):
            import io
            self.f, self.most = io.BytesIO(data), 0

        def readline(self, size=-1):
            self.most = max(self.most, size if size >= 0 else 1 << 62)
            return self.f.readline(size)

    spy = Spy(b"x" * 100_000 + b"\n")
    lines = list(fio._lines(spy))
    assert spy.most == 1000 and max(map(len, lines)) == 1000


@pytest.mark.parametrize("layout", ["array", "pretty"])
def test_streamed_record_over_the_limit_is_refused(cag, tmp_path, small_limit, layout):
    big = {"id": "big", "messages": [{"role": "user", "content": "x" * 5000}, MSGS[1]]}
    p = tmp_path / "a.json"
    p.write_text("[" + GOOD + "," + json.dumps(big) + "]" if layout == "array"
                 else json.dumps(json.loads(GOOD), indent=1) + "\n" + json.dumps(big, indent=1) + "\n")
    code, _, err = cag("tag", p)
    assert code == 1 and "longer than 1,000 bytes, the limit per record" in err
    assert ("element 1 of the array" if layout == "array" else "object 2") in err


def test_bom_at_the_start_of_line_2_is_named(cag, tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_bytes(GOOD.encode() + b"\n\xef\xbb\xbf" + GOOD.encode() + b"\n")
    code, _, err = cag("tag", p)
    assert code == 1 and "b.jsonl:2:" in err and "byte order mark" in err and "not valid UTF-8" not in err


LONE = r'{"id":"s","messages":[{"role":"user","content":"a\ud800b"},{"role":"assistant","content":"ok"}]}'


@pytest.mark.parametrize("text,where", [
    (LONE + "\n", "s.json:1:"),
    (GOOD + "\n" + LONE + "\n", "s.json:2:"),
    ("[" + LONE + "]", "element 0 of the array"),
    ("[" + GOOD + "," + LONE.replace(r"\ud800", r"\udfff") + "]", "element 1 of the array"),
    ('{\n"id":"s",' + LONE[10:] + "\n", "object 1"),
])
def test_lone_surrogate_is_refused_not_turned_into_a_question_mark(cag, tmp_path, text, where):
    p = tmp_path / "s.json"
    p.write_text(text)
    code, out, err = cag("tag", p)
    assert code == 1 and out == b"" and where in err and "lone UTF-16 surrogate escape" in err


def test_surrogate_pairs_and_escaped_backslashes_are_text(cag, tmp_path):
    rec = r'{"id":"s","messages":[{"role":"user","content":"a\ud83d\ude00b \\ud800 c"},{"role":"assistant","content":"ok"}]}'
    for text in (rec + "\n", "[" + rec + "]", "[" + GOOD + "," + rec + "]", '{\n"id":"s",' + rec[10:] + "\n"):
        p = tmp_path / "s.json"
        p.write_text(text)
        code, out, err = cag("tag", p)
        assert code == 0, err
        assert json.loads(out.splitlines()[-1])["segments"][0]["text"] == "a\U0001F600b \\ud800 c"
