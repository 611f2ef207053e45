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
               and p.name not in ("facts-33.json", "messages_per_line.jsonl", "bfcl.json")]  # bfcl: refused
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


# ------------------------------------------------- the OpenAI fast path (issue 10, speed)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x",  "n": 2}'}}
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "Assistant", "critic"])},
    optional={"content": st.one_of(st.none(), st.sampled_from(["", "hi", "a {b} <c>"]),
                                   st.just([{"type": "text", "text": "part"}])),
              "tool_call_id": st.one_of(st.just("c1"), st.integers(0, 3)),
              "tool_calls": st.one_of(st.just([]), st.just([_CALL]), st.just([_CALL, _CALL]),
                                      st.just([{"name": "bare", "arguments": "{}"}]),  # no `function` wrapper
                                      st.just([{"function": {"name": "f", "arguments": "not json"}}]),
                                      st.just([{"function": {"name": "f", "arguments": {"k": [1]}}}]),
                                      st.just([{"function": {"arguments": "{}"}}]), st.just("oops")),
              "name": st.sampled_from(["me", "solver"]), "weight": st.sampled_from([0, 1]),
              "loss_weight": st.just(0.5)})


def _general(rec, opts):
    """Segments through the general path only (openai_message + _segment), or the error text."""
    from causal_agents.transcripts.provenance import _segment, openai_message

    try:
        return [_segment(openai_message(m, i), opts) for i, m in enumerate(rec["messages"])]
    except InputError as e:
        return str(e)


def _fast(rec, opts):
    from causal_agents.transcripts.provenance import _openai_segments

    try:
        return _openai_segments(rec, opts)
    except InputError as e:
        return str(e)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MESSAGE, min_size=1, max_size=4), st.booleans())
def test_openai_fast_path_writes_what_the_general_path_writes(msgs, demonstrations):
    """The fast path of `_openai_segments` (plain messages, tool-call-only turns) is a
    shortcut, never a different answer: same segments, same key order, same errors. It once
    dropped `weight: 0` and `name` from a turn of only tool calls."""
    import orjson

    rec = {"messages": msgs}
    opts = TagOptions.build(selves=["me"] if demonstrations else (), demonstrations=demonstrations)
    fast, general = _fast(rec, opts), _general(rec, opts)
    assert orjson.dumps(fast) == orjson.dumps(general)


def test_openai_fast_path_keeps_flags_of_tool_call_turns():
    rec = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [_CALL], "weight": 0},
                        {"role": "assistant", "tool_calls": [_CALL], "name": "me"}]}
    segs = tag_record(rec, LOC, TagOptions.build(selves=["me"]))["segments"]
    assert [s["weight"] for s in segs] == [1, 0, 1] and segs[2]["author"] == "me" and segs[2]["rule"] == "self"
    assert segs[1]["text"] == '<tool_call>{"name":"lookup","arguments":{"q":"x","n":2}}</tool_call>'


@pytest.mark.parametrize("name", ["agent_tools.jsonl", "openai_functions.jsonl", "multi_agent.jsonl",
                                  "parts_value.jsonl"])
def test_openai_sample_files_tag_as_through_the_general_path(name):
    import orjson

    from conftest import SAMPLES

    opts = TagOptions()
    for line in (SAMPLES / name).read_bytes().splitlines():
        rec = orjson.loads(line)
        assert orjson.dumps(_fast(rec, opts)) == orjson.dumps(_general(rec, opts))
