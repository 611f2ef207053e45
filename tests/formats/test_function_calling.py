"""Function-calling SFT data: xLAM/APIGen, Glaive v2, ToolBench DFSDT answers, BFCL (refused),
ms-swift's tool roles and loss flags, AgentInstruct's per-message loss."""

import json

import orjson
import pytest

from conftest import SAMPLES
from pipeline import call, tag_lines, through_pipeline, write_jsonl


def segs(rec):
    return [(s["role"], s["gate"], s["rule"], s["text"]) for s in rec["segments"]]


def one_line_error(cag, path, *args):
    code, out, err = cag("tag", path, *args)
    assert code == 1 and out == b"" and err.count("\n") == 1, err
    return err


# ---- xLAM / APIGen ----------------------------------------------------------------------

def test_xlam_every_segment(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, SAMPLES / "xlam.jsonl")
    assert [r["format"] for r in recs] == ["xlam", "xlam"] and [r["id"] for r in recs] == ["0", "1"]
    assert segs(recs[0]) == [
        ("tools", "context", "tools-field",
         '[{"name":"get_weather","description":"Current weather for a city.","parameters":{"city":{"type":"str",'
         '"description":"City name, e.g. \'Lyon\'","default":""},"units":{"type":"str","description":"metric or '
         'imperial","default":"metric"}}}]'),
        ("user", "world", "role-default", "What's the weather like in Lyon right now, in metric units?"),
        ("assistant", "agent", "role-default",
         '<tool_call>{"name":"get_weather","arguments":{"city":"Lyon","units":"metric"}}</tool_call>')]
    assert segs(recs[1])[1:] == [
        ("user", "world", "role-default", "Convert 250 USD to EUR and 250 USD to JPY."),
        ("assistant", "agent", "role-default",
         '<tool_call>{"name":"convert_currency","arguments":{"amount":250.0,"from":"USD","to":"EUR"}}</tool_call>\n'
         '<tool_call>{"name":"convert_currency","arguments":{"amount":250.0,"from":"USD","to":"JPY"}}</tool_call>')]
    assert recs[1]["segments"][0]["role"] == "tools" and recs[0]["meta"] == {}


def test_xlam_demonstrations_make_the_calls_evidence(cag):
    recs = tag_lines(cag, SAMPLES / "xlam.jsonl", "--demonstrations")
    assert [(s["role"], s["gate"], s["rule"]) for s in recs[0]["segments"]][-1] == ("assistant", "world", "demonstrations")


@pytest.mark.parametrize("answers,detail", [
    ("[{\"name\": ", "field 'answers': expected a JSON list of calls, got a string that is not JSON"),
    ([{"arguments": {}}], "field 'answers[0]': expected a call {name, arguments}, got {arguments}"),
    ([], "field 'answers': expected a non-empty list of calls {name, arguments}, got an empty list"),
])
def test_xlam_bad_answers(cag, tmp_path, answers, detail):
    f = write_jsonl(tmp_path / "x.jsonl", [{"id": 0, "query": "q", "tools": "[]", "answers": "[]"},
                                           {"id": 1, "query": "q", "tools": "[]", "answers": answers}][1:])
    assert f"{f}:1: {detail}" in one_line_error(cag, f)


# ---- Glaive function calling v2 ---------------------------------------------------------------

BMI_SYSTEM = ('You are a helpful assistant with access to the following functions. Use them if required -\n{\n'
              '    "name": "calculate_bmi",\n    "description": "Calculate the Body Mass Index",\n    "parameters": {\n'
              '        "type": "object",\n        "properties": {\n            "weight": {"type": "number", '
              '"description": "Weight in kilograms"},\n            "height": {"type": "number", "description": '
              '"Height in meters"}\n        },\n        "required": ["weight", "height"]\n    }\n}')


def test_glaive_every_segment(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, SAMPLES / "glaive_v2.jsonl")
    assert [r["format"] for r in recs] == ["glaive", "glaive"]
    assert segs(recs[0]) == [
        ("system", "context", "role-default", BMI_SYSTEM),
        ("user", "world", "role-default", "Hi, I weigh 70 kilograms and I am 1.75 meters tall. What is my BMI?"),
        ("assistant", "agent", "role-default",
         '<tool_call>{"name":"calculate_bmi","arguments":{"weight":70,"height":1.75}}</tool_call>'),
        ("tool", "world", "role-default", '{"bmi": 22.86}'),
        ("assistant", "agent", "role-default", "Your BMI is 22.86, which is in the healthy range for your height."),
        ("user", "world", "role-default", "And if I lose 5 kilograms?"),
        # arguments that are not JSON (a trailing comma) stay as the agent wrote them
        ("assistant", "agent", "role-default",
         'Let me recalculate.\n<tool_call>{"name":"calculate_bmi","arguments":"{\\"weight\\": 65, \\"height\\": 1.75,}"}'
         '</tool_call>'),
        ("tool", "world", "role-default", '{"bmi": 21.22}'),
        ("assistant", "agent", "role-default", "At 65 kilograms your BMI would be 21.22.")]
    assert [s.get("name") for s in recs[0]["segments"] if s["role"] == "tool"] == ["calculate_bmi", "calculate_bmi"]
    assert segs(recs[1]) == [
        ("system", "context", "role-default", "You are a helpful assistant, with no access to external functions."),
        ("user", "world", "role-default", "Can you book a table for two at an Italian restaurant tonight?"),
        ("assistant", "agent", "role-default",
         "I'm sorry, but I can't book restaurant tables: I have no function for that. You could call the restaurant "
         "or use a booking app.")]


def test_glaive_plain_json_call_and_unreadable_call(cag, tmp_path):
    f = write_jsonl(tmp_path / "g.jsonl", [{"system": "SYSTEM: s", "chat":
        'USER: a\nASSISTANT: <functioncall> {"name": "f", "arguments": {"x": 1}} <|endoftext|>\n'
        "ASSISTANT: <functioncall> {oops} <|endoftext|>"}])
    (r,) = tag_lines(cag, f)
    assert [s["text"] for s in r["segments"]] == [
        "s", "a", '<tool_call>{"name":"f","arguments":{"x":1}}</tool_call>', "<functioncall> {oops}"]


def test_glaive_chat_without_turn_marker(cag, tmp_path):
    f = write_jsonl(tmp_path / "g.jsonl", [{"system": "SYSTEM: s", "chat": "Hello there\nUSER: hi"}])
    assert (f"{f}:1: field 'chat': expected the chat to start with USER:, ASSISTANT: or FUNCTION RESPONSE:, "
            "got 'Hello there'") in one_line_error(cag, f)


# ---- ToolBench DFSDT answers ------------------------------------------------------------------

def test_toolbench_reads_the_longest_train_messages_once(cag, tmp_path):
    path = SAMPLES / "toolbench_dfsdt.json"
    (r,) = through_pipeline(cag, tmp_path, path)
    data = json.loads(path.read_text())
    last = data["answer_generation"]["train_messages"][-1]
    assert r["format"] == "toolbench" and len(r["segments"]) == 1 + len(last)
    s = segs(r)
    assert s[0][:3] == ("tools", "context", "tools-field")
    assert json.loads(s[0][3]) == data["answer_generation"]["function"]
    assert s[1] == ("system", "context", "role-default", last[0]["content"])
    assert s[2] == ("user", "world", "role-default", last[1]["content"])
    assert s[3] == ("assistant", "agent", "role-default",
                    'Thought: I should get the forecast for Lisbon first.\n'
                    '<tool_call>{"name":"forecast_for_weatherapi","arguments":{"city":"Lisbon","days":7}}</tool_call>')
    assert s[4] == ("function", "world", "role-default", last[3]["content"])
    assert s[5] == ("assistant", "agent", "role-default",
                    '<tool_call>{"name":"museums_open_for_lisbon_guide","arguments":{"day":"monday"}}</tool_call>')
    assert s[6] == ("function", "world", "role-default", last[5]["content"])
    assert s[7] == ("assistant", "agent", "role-default",
                    '<tool_call>{"name":"Finish","arguments":{"return_type":"give_answer","final_answer":"Lisbon will be '
                    'sunny with highs near 24°C. On Monday the Museu Calouste Gulbenkian and MAAT are open."}}</tool_call>')
    assert r["segments"][4]["name"] == "forecast_for_weatherapi"
    assert sorted(r["meta"]) == ["chain", "final_answer", "finish_type", "forward_args", "query", "query_count",
                                 "total_tokens", "valid_data", "win"]  # no tree, no compare_candidates


def test_toolbench_train_messages_that_do_not_nest(cag, tmp_path):
    data = json.loads((SAMPLES / "toolbench_dfsdt.json").read_text())
    tm = data["answer_generation"]["train_messages"]
    tm[2][3] = dict(tm[2][3], content="another result")
    f = tmp_path / "t.json"
    f.write_text(json.dumps(data, indent=1))
    assert (f"{f}: row 0: field 'answer_generation.train_messages[2][3]': conversation 2 is not a continuation of "
            "conversation 1 (message 3 differs or is missing)") in one_line_error(cag, f)
    data["answer_generation"]["train_messages"] = [[{"role": "user", "content": "q"}, {"role": "robot"}]]
    f.write_text(json.dumps(data, indent=1))
    assert f"{f}: row 0: field 'answer_generation.train_messages[0][1].role': unknown role 'robot'" in one_line_error(cag, f)


# ---- BFCL: refused --------------------------------------------------------------------------

def test_bfcl_is_refused_in_one_line(cag, tmp_path):
    f = SAMPLES / "bfcl.json"
    err = one_line_error(cag, f)
    assert err.startswith(f"Error: {f}:1: field 'question': this is a BFCL (Berkeley Function Calling Leaderboard) "
                          "evaluation question")
    assert "pair each question with a model's answers" in err
    code, _, err = cag("stats", f)
    assert code == 1 and "BFCL" in err
    doc = write_jsonl(tmp_path / "math_api.json", [{"name": "add", "description": "Add.", "parameters": {},
                                                    "response": {}}])
    assert f"{doc}:1: field 'name': this row is a function schema (a BFCL function doc)" in one_line_error(cag, doc)


def test_bfcl_does_not_take_the_stream_question(cag):
    recs = tag_lines(cag, SAMPLES / "verifier_stream.jsonl")
    assert recs and all(r["format"] == "stream" for r in recs)


# ---- ms-swift: tool_call / tool_response roles, loss and loss_scale ---------------------------------

def stats(cag, path, *args):
    code, out, err = cag("stats", path, "--json", *args)
    assert code == 0, err
    return orjson.loads(out)


def test_ms_swift_roles_and_flags(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, SAMPLES / "ms_swift.jsonl")
    assert [(s["role"], s["gate"], s["weight"]) for s in recs[0]["segments"]] == [
        ("tools", "context", 1), ("system", "context", 1), ("user", "world", 1), ("assistant", "agent", 0),
        ("user", "world", 1), ("tool_call", "agent", 1), ("tool_response", "world", 1), ("assistant", "agent", 1)]
    assert recs[0]["segments"][3]["text"] == "Sure, Apple is doing great!"
    # the call, written as JSON in its own message, renders like every other tool call
    assert recs[0]["segments"][5]["text"] == call("get_stock_price", {"ticker": "AAPL"})
    assert [(s["role"], s["weight"]) for s in recs[1]["segments"]] == [("user", 1), ("assistant", 0.5)]
    f = write_jsonl(tmp_path / "raw.jsonl", [{"messages": [{"role": "tool_call", "content": "lookup AAPL"}]}])
    assert tag_lines(cag, f)[0]["segments"][0]["text"] == "lookup AAPL"  # not a JSON call: kept as written


@pytest.mark.parametrize("flags", [(), ("--demonstrations",)])
def test_ms_swift_loss_false_turn_is_never_supervised(cag, tmp_path, flags):
    rec = orjson.loads((SAMPLES / "ms_swift.jsonl").read_bytes().splitlines()[0])
    only = {"messages": rec["messages"][:3]}  # system, user, the assistant turn with loss: false
    f = write_jsonl(tmp_path / "only.jsonl", [only])
    st = stats(cag, f, *flags)
    assert st["by_role"]["assistant"]["tokens"] > 0
    assert st["by_role"]["assistant"]["obs"] == 0 and st["by_role"]["assistant"]["do"] == 0
    del only["messages"][2]["loss"]  # the same turn without the flag is supervised (obs; do under --demonstrations)
    st = stats(cag, write_jsonl(tmp_path / "flagless.jsonl", [only]), *flags)
    assert st["by_role"]["assistant"]["obs"] > 0
    if flags:
        assert st["by_role"]["assistant"]["do"] == st["by_role"]["assistant"]["obs"]


def test_ms_swift_unknown_loss_key_warns(cag, tmp_path):
    f = write_jsonl(tmp_path / "w.jsonl", [{"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "loss_foo": False}]}])
    code, _, err = cag("tag", f)
    assert code == 0
    assert "warning: messages[1].loss_foo: key 'loss_foo' looks like a train flag" in err


# ---- AgentInstruct-style ShareGPT with per-message loss --------------------------------------------

def test_agentinstruct_loss_false_gives_weight_zero(cag, tmp_path):
    f = write_jsonl(tmp_path / "agentinstruct.jsonl", [{"id": "os_0", "conversations": [
        {"from": "human", "loss": False, "value": "You are an assistant that will act like a person. Now, my problem is: "
                                                  "how many files are in /etc?"},
        {"from": "gpt", "loss": False, "value": "OK."},
        {"from": "human", "loss": False, "value": "The output of the OS: 214"},
        {"from": "gpt", "loss": True, "value": "Think: the count is shown.\n\nAct: answer(214)"}]}])
    (r,) = tag_lines(cag, f)
    assert [(s["role"], s["gate"], s["weight"]) for s in r["segments"]] == [
        ("human", "world", 0), ("gpt", "agent", 0), ("human", "world", 0), ("gpt", "agent", 1)]
    st = stats(cag, f, "--demonstrations")
    assert st["by_role"]["human"]["obs"] == 0 and st["by_role"]["human"]["do"] == 0
