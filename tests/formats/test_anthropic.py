"""Anthropic Messages API requests and recorded responses, block by block (sample_data/anthropic_messages.jsonl)."""

import pytest

from conftest import SAMPLES
from pipeline import tag_lines, through_pipeline, write_jsonl

SAMPLE = SAMPLES / "anthropic_messages.jsonl"


def rows(rec):
    return [(s["role"], s["gate"], s["rule"], s["text"]) for s in rec["segments"]]


@pytest.fixture(scope="module")
def recs():
    from causal_agents.transcripts.tagging import iter_tagged

    return list(iter_tagged([str(SAMPLE)]))


def test_request_system_string_tools_thinking_parallel_calls_and_results(recs):
    r = recs[0]
    assert (r["id"], r["format"]) == ("weather-trip-1", "anthropic")
    assert r["meta"] == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 2048,
                         "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert rows(r) == [
        ("tools", "context", "tools-field",
         '[{"name":"get_weather","description":"Current weather for a city.","input_schema":{"type":"object",'
         '"properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["C","F"]}},"required":["city"]}},'
         '{"name":"search_docs","description":"Search the internal handbook.","input_schema":{"type":"object",'
         '"properties":{"query":{"type":"string"}},"required":["query"]}}]'),  # cache_control dropped
        ("system", "context", "role-default", "You are a travel assistant. Use the tools for facts; never guess the weather."),
        ("user", "world", "role-default",
         "Should I pack an umbrella for Lisbon tomorrow? And what does the handbook say about travel days?"),
        ("assistant", "agent", "role-default",
         "<think>Two questions: weather in Lisbon and the handbook's travel-day policy. Call both tools.</think>\n"
         "Let me check both.\n"
         '<tool_call>{"name":"get_weather","arguments":{"city":"Lisbon","unit":"C"}}</tool_call>\n'
         '<tool_call>{"name":"search_docs","arguments":{"query":"travel days"}}</tool_call>'),
        ("tool", "world", "role-default", "Lisbon tomorrow: 17°C, rain from 14:00 (80%)."),
        ("tool", "world", "role-default",
         "Travel days\nhandbook/travel.md\nA travel day counts as a working day; book trains over flights under 600 km."),
        ("user", "world", "role-default", "Also, I land at 13:30."),  # after the results, in block order
        ("assistant", "agent", "role-default",
         "<redacted_thinking>\nYes, pack an umbrella: rain starts at 14:00, just after you land. The handbook counts a "
         "travel day as a working day."),
    ]
    s = r["segments"]
    assert [(x.get("tool_call_id"), x.get("name")) for x in s[4:6]] == [
        ("toolu_01WeA7hR3bC9dE1fG5hI2jKl", "get_weather"), ("toolu_01SeB8iS4cD0eF2gH6iJ3kLm", "search_docs")]


def test_system_blocks_media_error_result_and_server_tool(recs):
    r = recs[1]
    assert r["id"] == "invoice-check-7" and r["meta"] == {"model": "claude-opus-4-1-20250805", "max_tokens": 1024}
    assert rows(r) == [
        ("tools", "context", "tools-field",
         '[{"name":"lookup_vendor","description":"Vendor record by VAT number.","input_schema":{"type":"object",'
         '"properties":{"vat":{"type":"string"}},"required":["vat"]}},'
         '{"type":"web_search_20250305","name":"web_search","max_uses":2}]'),
        ("system", "context", "role-default", "You review invoices for the finance team.\nReply in at most three sentences."),
        ("user", "world", "role-default",
         "<image>\n<document Invoice 2025-118>\n<document Payment terms>\n"
         "Net 30 days; 2% discount if paid within 10 days.\n"
         "Is this vendor in our records, and is the invoice due yet?"),
        ("assistant", "agent", "role-default",
         '<tool_call>{"name":"lookup_vendor","arguments":{"vat":"PT509876543"}}</tool_call>'),
        ("tool", "world", "role-default", "<error>vendor service unavailable (503)</error>"),
        ("assistant", "agent", "role-default",
         "The vendor lookup failed, so I will check the VAT number publicly.\n"
         '<tool_call>{"name":"web_search","arguments":{"query":"PT509876543 VAT"}}</tool_call>'),
        ("tool", "world", "role-default",  # the server's result splits the turn; encrypted_content dropped
         '[{"type":"web_search_result","url":"https://example.pt/empresas/509876543",'
         '"title":"Atlantico Paper Lda - NIF 509876543","page_age":"3 weeks ago"}]'),
        ("assistant", "agent", "role-default",
         "The VAT number belongs to Atlantico Paper Lda. Under net 30 the invoice is not yet due."),
    ]
    assert r["segments"][6]["tool_call_id"] == "srvtoolu_01WsD0kU6eF2gH4iJ8kL5mNo"
    assert r["segments"][6]["name"] == "web_search"


def test_recorded_response_is_one_assistant_turn(recs):
    r = recs[2]
    assert r["id"] == "msg_01Xq3Lm8Rt5Vb2Nc7Kd9Hs4F"
    assert r["meta"] == {"model": "claude-sonnet-4-5-20250929", "stop_reason": "end_turn", "stop_sequence": None,
                         "usage": {"input_tokens": 1840, "output_tokens": 96}}
    assert rows(r) == [
        ("assistant", "agent", "role-default",
         "<think>Sum the column with code rather than by hand.</think>\n"
         '<tool_call>{"name":"code_execution","arguments":{"code":"print(sum([120.5, 99.9, 310.0]))"}}</tool_call>'),
        ("tool", "world", "role-default", "530.4\n"),
        ("assistant", "agent", "role-default", "The three line items total 530.40 EUR."),
    ]


def test_secrets_and_markers_are_never_rendered(recs):
    text = "".join(s["text"] for r in recs for s in r["segments"])
    for secret in ("EmwKAhgBEgy3va3pzix", "EuYBCkQIBxgCIkDx0", "EqgfCioIARgBIiQ3", "iVBORw0KGgo", "JVBERi0x",
                   "cache_control", "ephemeral", "search_result_location", "cited_text"):
        assert secret not in text


def test_sample_through_the_pipeline(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, SAMPLE)
    assert [r["format"] for r in recs] == ["anthropic"] * 3


@pytest.mark.parametrize("rec,fmt", [
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, "openai"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]}]},
     "openai"),
    ({"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": "r"}]}]}, "openai"),  # no signature
    ({"system": "s", "messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r", "tool_call_id": "1"}]},
     "openai"),
    ({"system": "s", "messages": [{"role": "user", "content": "q"}]}, "anthropic"),
    ({"messages": [{"role": "user", "content": "q"}], "tools": [{"name": "f", "input_schema": {}}]}, "anthropic"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r"}]}]}, "anthropic"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "u"}}]}]}, "anthropic"),
    ({"type": "message", "role": "assistant", "content": [{"type": "text", "text": "a"}]}, "anthropic"),
])
def test_detection_by_shape(rec, fmt):
    from causal_agents.formats.adapters import detect_format

    assert detect_format(rec) == fmt


def test_top_level_system_is_read_not_left_in_meta(cag, tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [{"system": "be brief", "messages": [{"role": "user", "content": "q"},
                                                                                 {"role": "assistant", "content": "a"}]}])
    (r,) = tag_lines(cag, f)
    assert rows(r) == [("system", "context", "role-default", "be brief"), ("user", "world", "role-default", "q"),
                       ("assistant", "agent", "role-default", "a")] and r["meta"] == {}


def test_programmatic_tool_call_was_issued_by_code_not_the_model(cag, tmp_path):
    f = write_jsonl(tmp_path / "p.jsonl", [{"type": "message", "role": "assistant", "content": [
        {"type": "server_tool_use", "id": "srv1", "name": "code_execution", "input": {"code": "roll()"},
         "caller": {"type": "direct"}},
        {"type": "tool_use", "id": "t1", "name": "rollDie", "input": {"player": "p1"},
         "caller": {"type": "code_execution_20250825", "tool_id": "srv1"}}]}])
    (r,) = tag_lines(cag, f)
    assert [(s["role"], s["gate"], s.get("tool_call_id")) for s in r["segments"]] == [
        ("assistant", "agent", None), ("tool", "world", "srv1")]
    assert r["segments"][1]["text"] == '<tool_call>{"name":"rollDie","arguments":{"player":"p1"}}</tool_call>'


@pytest.mark.parametrize("block,where", [
    ({"type": "widget", "x": 1}, "messages[1].content[0]': unknown content block {type: 'widget', x}"),
    ("bare", "messages[1].content[0]': expected a content block {type, ...}, got str"),
    ({"type": "tool_use", "id": "t", "input": {}}, "messages[1].content[0].name': expected a string, got null"),
])
def test_bad_block_is_one_error_line_naming_file_line_and_field(cag, tmp_path, block, where):
    f = write_jsonl(tmp_path / "b.jsonl", [{"system": "s", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [block, {"type": "redacted_thinking", "data": "x"}]}]}])
    code, out, err = cag("tag", f)
    assert code == 1 and out == b"" and f"{f}:1: field '{where}" in err and err.count("\n") == 1

