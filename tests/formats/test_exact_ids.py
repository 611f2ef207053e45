"""Ids keep their exact text: an integer beyond 64 bits (which orjson reads as a float) must
not turn two transcripts into one id."""

import json

import pytest

BIG = [18446744073709551616, 18446744073709551617, -9223372036854775809]


def _rec(i):
    return {"id": i, "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}


@pytest.fixture(params=["jsonl", "array", "objects"])
def big_ids(request, tmp_path):
    p = tmp_path / "in.json"
    if request.param == "jsonl":
        p.write_text("".join(json.dumps(_rec(i)) + "\n" for i in BIG))
    elif request.param == "array":
        p.write_text(json.dumps([_rec(i) for i in BIG]))
    else:
        p.write_text("".join(json.dumps(_rec(i), indent=2) + "\n" for i in BIG))
    return p


def test_tag_keeps_big_integer_ids_exact(cag, big_ids, tmp_path):
    code, out, err = cag("tag", big_ids)
    assert code == 0, err
    ids = [json.loads(x)["id"] for x in out.splitlines()]
    assert ids == [str(i) for i in BIG]


@pytest.mark.parametrize("i", BIG)
def test_show_finds_each_big_integer_id(cag, big_ids, i):
    code, out, err = cag("show", big_ids, "--id", str(i))
    assert code == 0, err
    assert f"q{i}".encode() in out


def test_reader_keeps_exact_digits_and_ordinary_numbers():
    from causal_agents.formats.io import parse_line

    _, rec = parse_line(b'{"id": 18446744073709551617, "n": 3, "x": 1.5, "big": 99999999999999999999}', "f", 1)
    assert rec == {"id": "18446744073709551617", "n": 3, "x": 1.5, "big": "99999999999999999999"}
    _, rec = parse_line(b'{"id": 1.5e300}', "f", 1)
    assert rec == {"id": 1.5e300}
