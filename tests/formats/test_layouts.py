"""JSON text layouts read from the content, not the extension: JSON lines, a JSON array,
pretty-printed objects (plain or gzip, file or stdin)."""

import gzip
import json
import sys

import orjson
import pytest

from causal_agents.errors import InputError
from causal_agents.formats.io import read_records, sniff_layout

MSGS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]


def recs(path):
    return [(loc, r) for loc, r in read_records(str(path))]


@pytest.mark.parametrize("name", ["a.json", "a.jsonl", "a.txt"])
def test_array_is_read_whatever_the_extension(tmp_path, name):
    f = tmp_path / name
    f.write_text(json.dumps([{"messages": MSGS, "id": 1}, {"messages": MSGS, "id": 2}], indent=2))
    got = recs(f)
    assert [r["id"] for _, r in got] == [1, 2]
    assert [loc["row"] for loc, _ in got] == [0, 1]
    assert sniff_layout(str(f)) == "array"


def test_pretty_printed_single_object_and_concatenated_objects(tmp_path):
    one = tmp_path / "run.traj"
    one.write_text(json.dumps({"messages": MSGS}, indent=2))
    assert [r for _, r in recs(one)] == [{"messages": MSGS}]
    assert sniff_layout(str(one)) == "objects"
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"id": "a", "messages": MSGS}, indent=1) + "\n" + json.dumps({"id": "b", "messages": MSGS}, indent=1))
    assert [r["id"] for _, r in recs(two)] == ["a", "b"]


def test_gzip_array_and_jsonl_unchanged(tmp_path):
    g = tmp_path / "a.json.gz"
    with gzip.open(g, "wt") as f:
        f.write(json.dumps([{"messages": MSGS}]))
    assert [r for _, r in recs(g)] == [{"messages": MSGS}]
    j = tmp_path / "a.jsonl"
    j.write_bytes(b"\n" + orjson.dumps({"messages": MSGS}) + b"\n\n" + orjson.dumps({"messages": MSGS}) + b"\n")
    assert [loc["line"] for loc, _ in recs(j)] == [2, 4]
    assert sniff_layout(str(j)) == "jsonl"


def test_array_element_that_is_not_an_object_is_a_per_record_error(tmp_path):
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"messages": MSGS}, [1, 2]]))
    got = recs(f)
    assert isinstance(got[1][1], InputError) and "expected a JSON object, got array" in str(got[1][1])


def test_malformed_array_and_empty_array_are_one_line_errors(tmp_path):
    f = tmp_path / "a.json"
    f.write_text('[{"messages": []}, {"messages": [}')
    with pytest.raises(InputError) as e:
        recs(f)
    assert "malformed JSON in the array at element 1" in str(e.value) and "\n" not in str(e.value)
    f.write_text("[]")
    with pytest.raises(InputError, match="empty input"):
        recs(f)


def test_jsonl_with_a_truncated_first_line_still_reports_that_line(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"messages": [\n' + json.dumps({"messages": MSGS}) + "\n")
    got = recs(f)
    assert got[0][0]["line"] == 1 and isinstance(got[0][1], InputError)
    assert "malformed JSON" in str(got[0][1]) and got[1][1] == {"messages": MSGS}


def test_stdin_array(cag, tmp_path, monkeypatch):
    import io

    data = json.dumps([{"messages": MSGS}] * 3, indent=2).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = cag("tag", "-")
    assert code == 0, err
    assert len(out.splitlines()) == 3


def test_large_array_is_streamed():
    """The reader yields the first element long before it has read the whole array."""
    import io

    from causal_agents.formats.io import _read_array

    data = json.dumps([{"messages": MSGS, "id": i} for i in range(20000)]).encode()

    class Counting(io.BytesIO):
        taken = 0

        def read(self, n=-1):
            out = super().read(n)
            Counting.taken += len(out)
            return out

    it = _read_array(Counting(data), "big.json")
    assert next(it)[1]["id"] == 0
    assert Counting.taken < len(data) // 4
    assert sum(1 for _ in it) == 19999
