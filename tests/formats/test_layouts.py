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


# ------------------------------------- the array reader's guesses (formats/jsonarray.py)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.text(st.sampled_from(list('ab {}[],:"\\\n\t\r') + ["é", "€", "𝄞", "\u2028"]), max_size=12)
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**62, 2**62), _TEXT,  # ijson (the fallback) overflows at -2**63
                    st.floats(allow_nan=False, allow_infinity=False))
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=8)
_ELEMENT = st.one_of(st.dictionaries(_TEXT, _VALUE, max_size=4), _VALUE)


def _layout(values, how: str) -> bytes:
    if how == "compact":
        return orjson.dumps(values)
    if how == "per-line":  # trailing commas, one element per line
        return b"[\n" + b",\n".join(orjson.dumps(v) for v in values) + b"\n]\n"
    if how == "per-line-crlf":
        return b"[\r\n  " + b",\r\n  ".join(orjson.dumps(v) for v in values) + b"\r\n]"
    if how == "leading-commas":
        return b"[ " + b"\n, ".join(orjson.dumps(v) for v in values) + b"\n]"
    if how == "tabs":
        return json.dumps(values, indent="\t", ensure_ascii=False).encode()
    return json.dumps(values, indent=int(how), ensure_ascii=how == "4").encode()


def _read(data: bytes, monkeypatch, block: int):
    import io

    from causal_agents.formats import jsonarray

    monkeypatch.setattr(jsonarray, "BLOCK", block)  # small blocks: elements cross refills
    return list(jsonarray.ArrayReader(io.BytesIO(data), "a.json"))


LAYOUTS = ["compact", "per-line", "per-line-crlf", "leading-commas", "tabs", "0", "2", "4"]


@settings(max_examples=300, deadline=None)
@given(st.lists(_ELEMENT, max_size=6), st.sampled_from(LAYOUTS), st.sampled_from([7, 64, 1 << 18]))
def test_array_reader_reads_every_layout_as_orjson_does(values, how, block):
    """The guessed element ends (line ends, closing lines) never split or merge elements,
    whatever the strings hold ("}", "]", commas, escaped newlines, non-ASCII)."""
    import _pytest.monkeypatch

    data = _layout(values, how)
    with _pytest.monkeypatch.MonkeyPatch.context() as mp:
        assert _read(data, mp, block) == orjson.loads(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ELEMENT, min_size=1, max_size=4), st.sampled_from(LAYOUTS), st.data())
def test_array_reader_refuses_a_cut_array(values, how, data):
    """Any proper prefix of an array is an error, never a shorter list read as the whole."""
    import _pytest.monkeypatch

    text = _layout(values, how).rstrip()
    cut = data.draw(st.integers(1, len(text) - 1))
    with _pytest.monkeypatch.MonkeyPatch.context() as mp, pytest.raises(InputError, match="malformed JSON"):
        _read(text[:cut], mp, 64)


def test_array_reader_errors_name_the_element(monkeypatch):
    with pytest.raises(InputError, match=r"at element 1 \(expected ',' or '\]' after the element\)"):
        _read(b'[\n{"a": 1},\n{"a": 2}\n{"a": 3}\n]', monkeypatch, 1 << 18)
    with pytest.raises(InputError, match=r"at element 3 \(parse error: after array element, I expect"):
        _read(b'[\n{"a": 1},\n{"a": 2},\n{"a": 3} {"a": 4}\n]', monkeypatch, 1 << 18)  # ijson from element 2
    with pytest.raises(InputError, match=r"at element 1 \(expected an element before '\]'\)"):
        _read(b'[\n{"a": 1},\n]', monkeypatch, 1 << 18)
    with pytest.raises(InputError, match="at element 1 .*unexpected content after the array"):
        _read(b'[\n{"a": 1},\n{"a": 2}\n] x', monkeypatch, 1 << 18)
    with pytest.raises(InputError, match="at element 1"):  # a bad element in the ijson remainder
        _read(b'[{"a": 1}, {"a": tru}]', monkeypatch, 1 << 18)
    assert _read(b'[\n{"a": "\xc3\xa9"},\n{"b": 2}\n]', monkeypatch, 7) == [{"a": "é"}, {"b": 2}]
    with pytest.raises(InputError, match="malformed JSON"):  # not UTF-8
        _read(b'[\n{"a": "\xc3"},\n{"b": 2}\n]', monkeypatch, 1 << 18)


def test_error_in_a_json_array_names_the_element_as_a_row(cag, tmp_path):
    f = tmp_path / "a.json"
    f.write_bytes(orjson.dumps([{"messages": [{"role": "user", "content": "hi"}]}, {"traj": []}]))
    code, _, err = cag("tag", f, "-o", tmp_path / "out.jsonl")
    # a row, not a line: "a.json:1:" would send the reader to the file's first line
    assert code == 1 and f"{f}: row 1: field 'traj': expected at least one message" in err
