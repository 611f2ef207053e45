"""formats.io.write_records: one RecordWriter for a list (or generator) of records."""

import json

import pytest

from causal_agents.formats.io import write_records


def test_write_records_counts_and_round_trips(tmp_path):
    out = tmp_path / "r.jsonl"
    assert write_records(str(out), ({"i": i} for i in range(3))) == 3
    assert [json.loads(x) for x in out.read_text().splitlines()] == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_write_records_leaves_nothing_when_the_records_fail(tmp_path):
    out = tmp_path / "r.jsonl"

    def records():
        yield {"i": 0}
        raise ValueError("bad record")

    with pytest.raises(ValueError):
        write_records(str(out), records())
    assert not out.exists() and list(tmp_path.iterdir()) == []
