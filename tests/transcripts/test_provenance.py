"""The gating rules, in order, each recorded in `rule`."""

import pytest

from causal_agents.errors import InputError
from causal_agents.transcripts.provenance import TagOptions, tag_record

LOC = {"file": "f.jsonl", "line": 7}


def gates(rec, **kw):
    out = tag_record(rec, LOC, TagOptions.build(**kw))
    return [(s["gate"], s["rule"]) for s in out["segments"]]


def test_provenance_field_beats_everything():
    rec = {"messages": [{"role": "assistant", "content": "x", "provenance": "world", "name": "me"}]}
    assert gates(rec, selves=["me"]) == [("world", "provenance-field")]


def test_author_decides_not_the_role_slot():
    rec = {"messages": [{"role": "assistant", "author": "teacher", "content": "demo"},
                        {"role": "assistant", "name": "me", "content": "mine"},
                        {"role": "user", "name": "me", "content": "me typing in the user slot"},
                        {"role": "assistant", "content": "no author"}]}
    assert gates(rec, selves=["me"]) == [("world", "other-author"), ("agent", "self"), ("agent", "self"),
                                         ("agent", "role-default")]
    # without --self, author names do not decide
    assert gates(rec)[0] == ("agent", "role-default")


def test_role_map_overrides_defaults():
    rec = {"messages": [{"role": "system", "content": "s"}, {"role": "critic", "content": "c"}]}
    assert gates(rec, role_map=["system=world", "critic=world"]) == [("world", "role-map"), ("world", "role-map")]


def test_unknown_role_names_file_line_and_role():
    with pytest.raises(InputError) as e:
        tag_record({"messages": [{"role": "user", "content": "a"}, {"role": "critic", "content": "c"}]}, LOC,
                   TagOptions())
    assert str(e.value).startswith("f.jsonl:7: field 'messages[1].role': unknown role 'critic'")


def test_forced_format_needs_its_field():
    with pytest.raises(InputError, match="--format sharegpt needs this field"):
        tag_record({"messages": []}, LOC, TagOptions.build(format="sharegpt"))


def test_ids_and_meta():
    out = tag_record({"id": 12, "messages": [{"role": "user", "content": "a"}], "lang": "en"}, LOC, TagOptions())
    assert out["id"] == "12" and out["meta"] == {"lang": "en"} and out["source"] == LOC
    out = tag_record({"messages": [{"role": "user", "content": "a"}]}, LOC, TagOptions())
    assert out["id"] == "f.jsonl:7"


def test_tagged_records_match_the_shipped_schema():
    """A small structural check of every sample's tagged output against formats/tagged.schema.json."""
    import json
    import pathlib

    from causal_agents.transcripts.provenance import GATES
    from causal_agents.transcripts.tagging import iter_tagged

    root = pathlib.Path(__file__).resolve().parents[2]
    schema = json.loads((root / "formats" / "tagged.schema.json").read_text())
    seg_schema = schema["properties"]["segments"]["items"]
    assert set(seg_schema["properties"]["gate"]["enum"]) == set(GATES)
    from causal_agents.formats.adapters import FORMATS
    from causal_agents.transcripts.provenance import TagOptions

    assert set(schema["properties"]["format"]["enum"]) == set(FORMATS)
    samples = [p for p in (root / "sample_data").iterdir() if p.suffix in (".jsonl", ".json", ".traj", ".parquet")
               and p.name not in ("facts-33.json", "messages_per_line.jsonl")]
    records = [*iter_tagged([str(p) for p in sorted(samples)]),
               *iter_tagged([str(root / "sample_data" / "messages_per_line.jsonl")], TagOptions(group_by_file=True))]
    for rec in records:
        assert set(schema["required"]) <= set(rec)
        assert rec["format"] in schema["properties"]["format"]["enum"]
        assert set(rec["source"]) <= set(schema["properties"]["source"]["properties"])
        for s in rec["segments"]:
            assert set(seg_schema["required"]) <= set(s) <= set(seg_schema["properties"])
            assert s["rule"] in seg_schema["properties"]["rule"]["enum"]
            assert 0 <= s["weight"] <= 1
