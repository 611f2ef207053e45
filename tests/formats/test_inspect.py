"""Inspect AI eval logs, `.json` and `.eval` (zip): one transcript per sample and epoch, each
message block gated by who wrote it."""

import json
import zipfile

import orjson
import pytest

from conftest import SAMPLES
from pipeline import gates, tag_lines, through_pipeline

LOG = SAMPLES / "inspect_log.json"
TOOLS = ('[{"name":"bash","description":"Run a bash command in the sandbox.","parameters":{"type":"object",'
         '"properties":{"cmd":{"type":"string","description":"The command."}},"required":["cmd"]}}]')

# (role, gate, rule, text, name, tool_call_id) of every segment of each sample
SAMPLE_1 = [
    ("tools", "context", "tools-field", TOOLS, None, None),
    ("system", "context", "role-default",
     "You are a careful engineer. Use the bash tool to inspect the repository, then answer.", None, None),
    ("user", "world", "role-default", "What version is this package? Answer with the version string.", None, None),
    ("assistant", "agent", "role-default",
     "<think>The version string is probably in pyproject.toml.</think>\nLet me look at the project metadata.\n"
     '<tool_call>{"name":"bash","arguments":{"cmd":"grep -n version pyproject.toml"}}</tool_call>', None, None),
    ("tool", "world", "role-default", '3:version = "2.4.1"\n', "bash", "call_1"),
    ("assistant", "agent", "role-default", '<tool_call>{"name":"bash","arguments":{"cmd":"pytest -q"}}</tool_call>',
     None, None),
    ("tool", "world", "role-default", "<error>Command timed out before completing.</error>", "bash", "call_2"),
    ("assistant", "agent", "role-default",
     "The package version is 2.4.1 (the test suite timed out, so I could not run it).", None, None),
]
SAMPLE_2 = [
    ("user", "world", "role-default", "What is 12 * 12?", None, None),
    ("assistant", "world", "demo-field", "144", None, None),  # source "input": the dataset's few-shot turn
    ("user", "world", "role-default",
     "Now read the number in this picture and tell me today's exchange rate for it in euros.\n<image>", None, None),
    ("assistant", "agent", "role-default",
     "<redacted_thinking>\nThe picture shows 250 US dollars. Let me check the rate.\n"
     '<tool_call>{"name":"web_search","arguments":{"query":"USD to EUR exchange rate today"}}</tool_call>', None, None),
    ("tool", "world", "role-default", "1 USD = 0.92 EUR (ECB reference rate)", "web_search", "srvtoolu_1"),
    ("assistant", "agent", "role-default", "At 0.92 EUR per dollar, 250 USD is about 230 EUR.", None, None),
]


def segs(rec):
    return [(s["role"], s["gate"], s["rule"], s["text"], s.get("name"), s.get("tool_call_id")) for s in rec["segments"]]


def make_eval(tmp_path, log: dict, name="log.eval", reverse=True) -> str:
    """An .eval zip laid out as Inspect writes it: samples first, header.json last."""
    path = tmp_path / name
    header = {k: v for k, v in log.items() if k != "samples"}
    samples = log.get("samples", [])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("_journal/start.json", json.dumps({"version": 2, "eval": log["eval"], "plan": log.get("plan")}))
        for s in (reversed(samples) if reverse else samples):
            z.writestr(f"samples/{s['id']}_epoch_{s['epoch']}.json", json.dumps(s))
        z.writestr("summaries.json", json.dumps([{"id": s["id"], "epoch": s["epoch"], "scores": s.get("scores")}
                                                 for s in samples]))
        z.writestr("reductions.json", "[]")
        z.writestr("header.json", json.dumps(header))
    return str(path)


def load_log():
    return json.loads(LOG.read_text())


def test_json_log_every_block(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, LOG)
    assert [r["id"] for r in recs] == ["1#epoch1", "2#epoch1"]
    assert all(r["format"] == "inspect" for r in recs)
    assert segs(recs[0]) == SAMPLE_1
    assert segs(recs[1]) == SAMPLE_2
    assert recs[0]["source"] == {"file": str(LOG), "row": 0} and recs[1]["source"]["row"] == 1
    assert recs[0]["meta"] == {
        "sample_id": 1, "epoch": 1, "target": "2.4.1",
        "scores": {"includes": {"value": "C", "answer": "The package version is 2.4.1", "explanation": "target found"}},
        "metadata": {"repo": "acme/widgets"},
        "eval": {"task": "repo_qa", "task_id": "T7bX2cQ9dF4gH6jK8mN3pR", "run_id": "Rk3vQ8mZp2LxN4tW7yH9aB",
                 "model": "openai/gpt-4o"}}


def test_redacted_reasoning_and_media_data_never_copied(cag):
    code, out, err = cag("tag", LOG)
    assert code == 0, err
    assert b"EqQBCkYI" not in out and b"sig-1" not in out  # the encrypted reasoning and its signature
    assert b"iVBORw0KGgo" not in out  # the image's bytes (an attachment)
    assert b"attachment://" not in out and b'"events"' not in out and b'"store"' not in out


def test_eval_zip_reads_like_the_json(cag, tmp_path):
    path = make_eval(tmp_path, load_log())
    recs = through_pipeline(cag, tmp_path, path)
    assert [r["id"] for r in recs] == ["1#epoch1", "2#epoch1"]  # (sample id, epoch) order, not the zip's
    assert segs(recs[0]) == SAMPLE_1 and segs(recs[1]) == SAMPLE_2
    assert recs[1]["source"] == {"file": path, "row": 1}
    assert recs[1]["meta"]["member"] == "samples/2_epoch_1.json"
    assert recs[1]["meta"]["eval"]["task"] == "repo_qa"


def test_eval_zip_epochs_and_ids(cag, tmp_path):
    log = load_log()
    s = log["samples"][0]
    log["samples"] = [dict(s, epoch=2), dict(s, epoch=1), dict(s, id="q10", epoch=1)]
    recs = tag_lines(cag, make_eval(tmp_path, log))
    assert [r["id"] for r in recs] == ["1#epoch1", "1#epoch2", "q10#epoch1"]
    assert [r["meta"]["epoch"] for r in recs] == [1, 2, 1]


def test_sample_with_only_events_reads_the_last_model_call_before_scoring(cag, tmp_path):
    log = load_log()
    s = log["samples"][0]
    ev_input = s["events"][1]["input"]
    grader = {"event": "model", "model": "openai/gpt-4o-mini", "input": [{"role": "user", "content": "Grade this."}],
              "output": {"choices": [{"message": {"role": "assistant", "content": "GRADE: C"}}]}}
    s["messages"] = []
    s["events"] = s["events"][:2] + [{"event": "step", "action": "begin", "type": "scorers", "name": "scorers"},
                                     grader, {"event": "score", "score": {"value": "C"}}]
    log["samples"] = [s]
    f = tmp_path / "events.json"
    f.write_text(json.dumps(log))
    (r,) = through_pipeline(cag, tmp_path, f)
    assert len(ev_input) == 6
    assert segs(r) == SAMPLE_1  # the call's input (6 messages) + its output; not the grader's call


def test_legacy_fields_tool_error_reasoning_and_attachments(cag, tmp_path):
    log = load_log()
    log["samples"] = [{"id": "a", "epoch": 1, "attachments": {"h1": "long tool output"}, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "ok", "reasoning": "think first",
         "tool_calls": [{"id": "c", "function": "shell", "arguments": {"cmd": "ls"}, "parse_error": None}]},
        {"role": "tool", "tool_call_id": "c", "function": "shell", "content": "tc://h1", "tool_error": "exit 2"},
        {"role": "tool", "tool_call_id": "d", "function": "shell",
         "content": [{"type": "text", "text": "partial"}], "error": {"type": "output_limit", "message": "too long"}},
    ]}]
    f = tmp_path / "old.json"
    f.write_text(json.dumps(log))
    (r,) = tag_lines(cag, f)
    assert [s["text"] for s in r["segments"]] == [
        "go", '<think>think first</think>\nok\n<tool_call>{"name":"shell","arguments":{"cmd":"ls"}}</tool_call>',
        "<error>long tool output\nexit 2</error>", "<error>partial\ntoo long</error>"]
    assert gates(r) == [("user", "world"), ("assistant", "agent"), ("tool", "world"), ("tool", "world")]


def bad_log(tmp_path, block, name="bad.json"):
    log = load_log()
    log["samples"][1]["messages"][2]["content"][0] = block
    f = tmp_path / name
    f.write_text(json.dumps(log))
    return f, log


@pytest.mark.parametrize("block,detail", [
    ({"type": "widget", "x": 1}, "unknown content block {type: 'widget', x}"),
    ("plain", "expected a content block {type, ...}, got str"),
    ({"type": "text", "text": 5}, "unknown content block {type: 'text', text}"),
])
def test_bad_block_is_one_line_naming_file_row_field_and_shape(cag, tmp_path, block, detail):
    f, log = bad_log(tmp_path, block)
    code, _, err = cag("tag", f)
    assert code == 1 and err.count("\n") == 1
    assert f"{f}: row 1: field 'samples[1].messages[2].content[0]': {detail}" in err
    z = make_eval(tmp_path, log)
    code, _, err = cag("tag", z)
    assert code == 1 and err.count("\n") == 1
    assert f"{z}: row 1: field 'samples/2_epoch_1.json:messages[2].content[0]': {detail}" in err


def test_on_error_skip_skips_one_sample(cag, tmp_path):
    f, _ = bad_log(tmp_path, {"type": "widget"})
    code, out, err = cag("tag", f, "--on-error", "skip", "--rejects", tmp_path / "rej.jsonl")
    assert code == 0, err
    assert [orjson.loads(x)["id"] for x in out.splitlines()] == ["1#epoch1"]


def test_log_without_samples_and_bad_tool_error(cag, tmp_path):
    log = load_log()
    del log["samples"]
    z = make_eval(tmp_path, log)
    code, _, err = cag("tag", z)
    assert code == 1 and err.count("\n") == 1 and f"{z}: this Inspect log holds no samples" in err
    log = load_log()
    log["samples"][0]["messages"][3]["error"] = "boom"
    f = tmp_path / "e.json"
    f.write_text(json.dumps(log))
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}: row 0: field 'samples[0].messages[3].error': expected an error {{type, message}}, got str" in err


def test_a_zip_that_is_not_an_inspect_log_is_not_taken(tmp_path):
    from causal_agents.formats.adapters import inspect_ai

    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("data.json", "{}")
    assert inspect_ai.open_container(str(z), z.read_bytes()[:8]) is None
    assert inspect_ai.open_container(str(LOG), LOG.read_bytes()[:8]) is None
