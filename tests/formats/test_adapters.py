"""Record formats as users have them (issue 10): each on a sample file written for cag."""

import orjson
import pytest

from conftest import SAMPLES
from pipeline import write_jsonl


def lines(out: bytes):
    return [orjson.loads(x) for x in out.splitlines() if x.strip()]


def tag(cag, *args):
    code, out, err = cag("tag", *args)
    assert code == 0, err
    return lines(out), err


def test_alpaca_with_system_and_history(cag):
    recs, _ = tag(cag, SAMPLES / "alpaca.json")
    assert recs[0]["format"] == "alpaca"
    assert [(s["role"], s["text"]) for s in recs[1]["segments"]] == [
        ("system", "You are a translator."), ("user", "Translate to French: thank you"), ("assistant", "Merci"),
        ("user", "Translate to French.\nGood morning"), ("assistant", "Bonjour")]
    assert recs[0]["segments"][0]["text"] == "Give three tips for staying healthy."  # empty input adds nothing


def test_swe_agent_history_author_and_thought_action(cag):
    (r,), _ = tag(cag, SAMPLES / "swe_agent.traj")
    segs = r["segments"]
    assert r["format"] == "swe-agent" and [s["role"] for s in segs] == ["system", "user", "assistant", "tool", "assistant"]
    assert segs[2]["author"] == "main" and segs[3]["author"] is None  # observations carry `agent` too
    assert segs[2]["text"] == 'Look at the repo first.\n<tool_call>{"name":"bash","arguments":{"command":"ls"}}</tool_call>'
    assert segs[3]["tool_call_id"] == "call_1"
    assert segs[4]["text"] == "The import is fine; submit.\nsubmit"  # empty content: thought, then action
    (r,), _ = tag(cag, SAMPLES / "swe_agent.traj", "--self", "other")
    assert [s["gate"] for s in r["segments"]][2] == "world"  # another agent's action is evidence


def test_tau_bench_traj_and_messages_key(cag, tmp_path):
    (r,), _ = tag(cag, SAMPLES / "tau_bench.json")
    assert r["format"] == "tau-bench" and r["meta"] == {"task_id": 0, "reward": 1.0, "info": {"user_id": "u1"}}
    assert r["segments"][2]["text"].startswith('<tool_call>{"name":"cancel_reservation"')
    f = write_jsonl(tmp_path / "d.jsonl", [{"dialog": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                                            "messages": "not these"}])
    (r,), _ = tag(cag, f, "--messages-key", "dialog")
    assert [s["text"] for s in r["segments"]] == ["a", "b"] and r["meta"] == {"messages": "not these"}
    code, _, err = cag("tag", f, "--messages-key", "turns")
    assert code == 1 and "field 'turns': --messages-key needs this field (the record has dialog, messages)" in err


def test_parts_keyed_value_reasoning_tool_call_and_loss_weight(cag):
    (r,), _ = tag(cag, SAMPLES / "parts_value.jsonl")
    segs = r["segments"]
    assert segs[0] == {"role": "tools", "author": None, "text": '[{"name":"search","parameters":{"type":"object",'
                       '"properties":{"q":{"type":"string"}}}}]', "gate": "context", "rule": "tools-field", "weight": 1}
    assert [s["text"] for s in segs[1:]] == [
        "You can search.", "Who wrote Dune?",
        '<think>I should search.</think>\n<tool_call>{"name":"search","arguments":{"q":"Dune author"}}</tool_call>',
        "Frank Herbert", "Frank Herbert wrote Dune."]
    assert [s["weight"] for s in segs[1:]] == [1, 0, 0.5, 1, 1]


@pytest.mark.parametrize("part,msg", [
    ({"type": "widget", "value": "x"}, "messages[0].content[1]': unknown content part {type: 'widget', value}"),
    ({"text": "no type"}, "messages[0].content[1]': expected a content part {type, text|value}, got {text}"),
    ({"type": "text", "value": 5}, "messages[0].content[1]': unknown content part {type: 'text', value}"),
])
def test_unknown_part_is_an_error_naming_record_and_part(cag, tmp_path, part, msg):
    f = write_jsonl(tmp_path / "p.jsonl", [{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, part]}]}])
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}:1: field '{msg}" in err and err.count("\n") == 1


def test_reasoning_fields_and_think_blocks_are_the_authors_content(cag, tmp_path):
    f = write_jsonl(tmp_path / "r.jsonl", [{"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "r1"},
        {"role": "assistant", "content": "<think>r2</think>b"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "r3"}, {"type": "text", "text": "c"}]}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "d", "reasoning": "r4"}]}])
    a, b = tag(cag, f)[0]
    assert [s["text"] for s in a["segments"][1:]] == ["<think>r1</think>\na", "<think>r2</think>b", "<think>r3</think>\nc"]
    assert all(s["gate"] == "agent" for s in a["segments"][1:])
    assert b["segments"][1]["text"] == "<think>r4</think>\nd"


def test_legacy_function_call_renders_like_tool_calls(cag):
    legacy, tools = tag(cag, SAMPLES / "openai_functions.jsonl")[0]
    segs = legacy["segments"]
    assert segs[0]["role"] == "tools" and '"name":"get_current_weather"' in segs[0]["text"]
    assert segs[2]["text"] == '<tool_call>{"name":"get_current_weather","arguments":{"location":"Oslo"}}</tool_call>'
    assert (segs[2]["gate"], segs[3]["role"], segs[3]["gate"]) == ("agent", "function", "world")
    assert tools["segments"][2]["text"] == '<tool_call>{"name":"add","arguments":{"a":2,"b":3}}</tool_call>'
    assert "functions" not in legacy["meta"] and tools["meta"] == {"parallel_tool_calls": False}


def test_flag_looking_keys_warn_once_each(cag, tmp_path):
    f = write_jsonl(tmp_path / "w.jsonl", [{"messages": [
        {"role": "user", "content": "a", "train_on": False}, {"role": "assistant", "content": "b", "sample_weight": 2},
        {"role": "user", "content": "c", "train_on": True}]}] * 2)
    _, err = tag(cag, f)
    warnings = [x for x in err.splitlines() if x.startswith("warning:")]
    assert warnings == [
        "warning: messages[0].train_on: key 'train_on' looks like a train flag, but cag reads only weight, train, "
        "trainable, loss_mask, loss_weight, loss, loss_scale and masked; it was ignored",
        "warning: messages[1].sample_weight: key 'sample_weight' looks like a train flag, but cag reads only "
        "weight, train, trainable, loss_mask, loss_weight, loss, loss_scale and masked; it was ignored"]


def test_loss_weight_out_of_range_is_an_error(cag, tmp_path):
    f = write_jsonl(tmp_path / "w.jsonl", [{"messages": [{"role": "user", "content": "a", "loss_weight": 1.5}]}])
    code, _, err = cag("tag", f)
    assert code == 1 and "field 'messages[0].loss_weight': expected a number from 0 to 1, got 1.5" in err


def test_parquet_bytes_become_placeholders_and_bad_values_name_the_field(cag, tmp_path):
    (r,), _ = tag(cag, SAMPLES / "hf_images.parquet")
    assert r["meta"]["images"] == [{"bytes": "<48 bytes>", "path": "red_square.png"}]
    assert r["segments"][0]["text"] == "<image>What is in the picture?"
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"messages": [[{"role": "user", "content": "a"}]] * 2,
                             "took": pa.array([datetime.timedelta(seconds=1)] * 2, type=pa.duration("s"))}),
                   tmp_path / "d.parquet")
    code, _, err = cag("tag", tmp_path / "d.parquet")
    assert code == 1 and f"{tmp_path / 'd.parquet'}: row 0: field 'took': a timedelta value cannot be written as JSON" in err


def test_text_roles_any_case_and_unknown_prefix_names_the_option(cag, tmp_path):
    (r,), _ = tag(cag, SAMPLES / "text_lowercase.jsonl")
    assert [(s["role"], s["gate"]) for s in r["segments"]] == [
        ("user", "world"), ("assistant", "agent"), ("user", "world"), ("assistant", "agent")]
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "Q: hi\nA: yo"}])
    code, _, err = cag("tag", f)
    assert code == 1 and "--text-role ROLE" in err


def test_one_message_per_line_is_recognised_and_grouped(cag, tmp_path):
    code, _, err = cag("tag", SAMPLES / "messages_per_line.jsonl")
    assert code == 1 and "one message per line" in err and "--group-by-file" in err
    assert "Role: text" not in err and "expected lines starting" not in err
    (r,), _ = tag(cag, SAMPLES / "messages_per_line.jsonl", "--group-by-file")
    assert [(s["role"], s["text"]) for s in r["segments"]] == [
        ("system", "Be brief."), ("user", "Capital of Peru?"), ("assistant", "Lima."), ("user", "And of Chile?"),
        ("assistant", "Santiago.")]
    assert r["source"] == {"file": str(SAMPLES / "messages_per_line.jsonl"), "line": 1}


def test_unknown_record_lists_its_keys_and_the_formats(cag, tmp_path):
    f = write_jsonl(tmp_path / "u.jsonl", [{"prompt": "a", "completion": "b"}])
    code, _, err = cag("tag", f)
    assert code == 1 and "this record has the keys completion, prompt; cag reads tagged (segments), " in err
    assert "openai (messages)" in err  # the formats in detection order; others may come between
    assert "alpaca (instruction)" in err and "--messages-key KEY" in err


@pytest.mark.parametrize("args,msg", [
    (["--format", "json"], "--format expects one of tagged, "),
    (["--on-error", "ignore"], "--on-error expects fail or skip, got 'ignore'"),
    (["--role-map", "gpt"], "--role-map expects ROLE=GATE"),
])
def test_bad_option_values_are_usage_errors(cag, args, msg):
    code, out, err = cag("tag", SAMPLES / "sharegpt.jsonl", *args)
    assert code == 2 and msg in err and out == b""


def test_skip_that_rejects_everything_fails(cag, tmp_path):
    f = write_jsonl(tmp_path / "u.jsonl", [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}])
    out = tmp_path / "o.jsonl"
    code, _, err = cag("tag", f, "--on-error", "skip", "-o", out)
    assert code == 1 and "all 3 records rejected" in err
    assert not out.exists()
    assert len(lines((tmp_path / "o.jsonl.rejects.jsonl").read_bytes())) == 3  # the rejects say why


def test_demonstrations_gate_assistant_turns_world(cag):
    (_, r), _ = tag(cag, SAMPLES / "sharegpt.jsonl", "--demonstrations")
    assert [(s["role"], s["gate"], s["rule"]) for s in r["segments"]][2:] == [
        ("function_call", "world", "demonstrations"), ("observation", "world", "role-default"),
        ("gpt", "world", "demonstrations")]
    (_, r), _ = tag(cag, SAMPLES / "sharegpt.jsonl", "--demonstrations", "--role-map", "gpt=agent")
    assert r["segments"][4]["rule"] == "role-map"  # an explicit map wins


def test_swe_agent_trajectory_steps_without_history(cag):
    (r,), _ = tag(cag, SAMPLES / "swe_agent_steps.traj")
    segs = r["segments"]
    assert r["format"] == "swe-agent"
    assert [(s["role"], s["gate"]) for s in segs] == [
        ("system", "context"), ("user", "world")] + [("assistant", "agent"), ("observation", "world")] * 3
    assert [s["text"] for s in segs[:2]] == ["You are an autonomous programmer.", "Fix the failing import in src/app.py."]
    assert segs[2]["text"] == "Let me see what is in the repository first.\n\n```\nls\n```"  # the raw response
    # function calling: the action is not in the response text, so it follows it
    assert segs[4]["text"] == "The import names a module that moved; open the file.\nopen src/app.py"
    assert segs[6]["text"] == "Fixed it; submit.\nsubmit" and segs[7]["text"] == ""  # no response: thought, action
    assert {s["author"] for s in segs[2::2]} == {"main"} and segs[3]["author"] is None
    assert "trajectory" not in r["meta"] and r["meta"]["info"]["exit_status"] == "submitted"
    (r,), _ = tag(cag, SAMPLES / "swe_agent_steps.traj", "--self", "other")
    assert [s["gate"] for s in r["segments"]][2::2] == ["world"] * 3  # another agent's actions are evidence


def test_swe_agent_old_messages_field_and_history_preferred(cag, tmp_path):
    # before SWE-agent 1.1 a step's `messages` was the next step's input: the prompt ends at the
    # first assistant message that is not a demonstration
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "demo task", "is_demo": True},
            {"role": "assistant", "content": "demo action", "is_demo": True}, {"role": "user", "content": "task"},
            {"role": "assistant", "content": "ls"}, {"role": "user", "content": "a.py"}]
    f = tmp_path / "old.traj"
    f.write_bytes(orjson.dumps({"trajectory": [{"action": "ls", "observation": "a.py", "response": "ls",
                                                "thought": "", "messages": msgs}]}, option=orjson.OPT_INDENT_2))
    (r,), _ = tag(cag, f)
    assert [s["text"] for s in r["segments"]] == ["sys", "demo task", "demo action", "task", "ls", "a.py"]
    # the demonstration is evidence (a human or another run wrote it); this run's action is the agent's
    assert [(s["gate"], s["rule"]) for s in r["segments"]][1:5] == [
        ("world", "demo-field"), ("world", "demo-field"), ("world", "role-default"), ("agent", "role-default")]
    (r,), _ = tag(cag, SAMPLES / "swe_agent.traj")  # both keys: history, and trajectory is not kept in meta
    assert [s["role"] for s in r["segments"]][3] == "tool" and set(r["meta"]) == {"environment", "info"}


@pytest.mark.parametrize("steps,msg", [
    ([{"action": "ls"}, {"action": ["ls"]}], "trajectory[1].action': expected a string, got list"),
    ([{"step": 1, "tool": "x"}], "trajectory[0]': expected a SWE-agent step with response, thought, action or "
                                 "observation; this step has the keys step, tool"),
    ([], "trajectory': expected at least one message, got an empty list"),
])
def test_swe_agent_bad_trajectory_names_the_step(cag, tmp_path, steps, msg):
    f = write_jsonl(tmp_path / "t.jsonl", [{"trajectory": steps}])
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}:1: field '{msg}" in err, err


def test_trajectory_key_is_a_fallback_only(cag, tmp_path):
    f = write_jsonl(tmp_path / "m.jsonl", [{"messages": [{"role": "user", "content": "a"}], "trajectory": [1]}])
    (r,), _ = tag(cag, f)
    assert r["format"] == "openai" and r["meta"] == {"trajectory": [1]}
