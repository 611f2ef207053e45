"""OpenHands trajectories and evaluation rows (formats/adapters/openhands.py), block by block."""

import orjson
import pytest

from conftest import SAMPLES
from pipeline import through_pipeline, write_jsonl

DATES_TASK = "The test tests/test_dates.py::test_parse_iso fails on dates with a trailing Z. Please fix dateparse/core.py."
SYSTEM = "You are OpenHands agent, a helpful AI assistant that can interact with a computer to solve tasks."


def segs(rec):
    return [(s["role"], s["gate"], s["rule"], s.get("name"), s.get("tool_call_id"), s["text"]) for s in rec["segments"]]


TRAJECTORY = [
    ("system", "context", "role-default", None, None, SYSTEM),
    ("user", "world", "role-default", None, None, DATES_TASK + "\n<image>"),
    ("observation", "world", "role-default", "recall", None, "Added workspace context"),
    ("assistant", "agent", "role-default", None, None,
     'Let me reproduce the failure first.\n<tool_call>{"name":"execute_bash","arguments":{"command":'
     '"cd /workspace && python -m pytest -q tests/test_dates.py -k parse_iso"}}</tool_call>'),
    ("tool", "world", "role-default", "run", "toolu_01",
     "F\nE   ValueError: Invalid isoformat string: '2024-05-01T12:00:00Z'\n1 failed in 0.04s"),
    # the second call of the same LLM reply: its text went with the first
    ("assistant", "agent", "role-default", None, None,
     '<tool_call>{"name":"str_replace_editor","arguments":{"command":"view","path":"/workspace/dateparse/core.py"}}'
     "</tool_call>"),
    ("tool", "world", "role-default", "read", "toolu_02",
     "     1\tfrom datetime import datetime\n     2\t\n     3\tdef parse_iso(s):\n     4\t    return datetime.fromisoformat(s)\n"),
    # think: the reply had no text; the thought is the tool call's argument, not repeated
    ("assistant", "agent", "role-default", None, None,
     '<tool_call>{"name":"think","arguments":{"thought":"Python 3.10\'s fromisoformat rejects a trailing Z; '
     'replace it with +00:00."}}</tool_call>'),
    ("tool", "world", "role-default", "think", "toolu_03", "Your thought has been logged."),
    ("assistant", "agent", "role-default", None, None,
     'Let me confirm which Python versions accept the Z suffix.\n<tool_call>{"name":"browser","arguments":{"code":'
     '"goto(\'https://docs.python.org/3/library/datetime.html#datetime.datetime.fromisoformat\')"}}</tool_call>'),
    ("tool", "world", "role-default", "browse", "toolu_10",
     "Changed in version 3.11: Previously, this method only supported formats that could be emitted by "
     "date.isoformat() or datetime.isoformat()."),
    ("assistant", "agent", "role-default", None, None,
     "I'll normalise the Z suffix before parsing.\n"
     '<tool_call>{"name":"str_replace_editor","arguments":{"command":"str_replace","path":"/workspace/dateparse/core.py",'
     '"old_str":"    return datetime.fromisoformat(s)","new_str":"    if s.endswith(\\"Z\\"):\\n        s = s[:-1] + '
     '\\"+00:00\\"\\n    return datetime.fromisoformat(s)"}}</tool_call>'),
    ("tool", "world", "role-default", "edit", "toolu_04", "The file /workspace/dateparse/core.py has been edited."),
    # no LLM reply kept: the thought, then the action and its arguments less OpenHands' bookkeeping
    ("assistant", "agent", "role-default", None, None,
     'Quick check in IPython.\n<tool_call>{"name":"run_ipython","arguments":{"code":"import dateparse.core as c; '
     "print(c.parse_iso('2024-05-01T12:00:00Z'))\",\"include_extra\":true}}</tool_call>"),
    ("observation", "world", "role-default", "run_ipython", None,
     "2024-05-01 12:00:00+00:00\n[Jupyter current working directory: /workspace]"),
    ("observation", "world", "role-default", "error", None, "The action has not been executed."),
    # the condenser's summary: a separate LLM call of the harness, not the agent's action
    ("harness", "world", "role-default", "condensation", None,
     "The user asked to fix parse_iso for a trailing Z. The test failed with ValueError; core.py now maps Z to +00:00."),
    ("assistant", "agent", "role-default", None, None,
     "The fix works: trailing Z is now read as UTC. Shall I also add a test for it?"),
    ("user", "world", "role-default", None, None, "Yes, add the test, then finish."),
    ("assistant", "agent", "role-default", None, None,
     'Added the fix and a regression test.\n<tool_call>{"name":"finish","arguments":{"message":"Trailing Z is parsed '
     'as UTC; tests/test_dates.py::test_parse_iso_z added."}}</tool_call>'),
]


def test_trajectory_array_is_one_transcript_gated_block_by_block(cag, tmp_path):
    (r,) = through_pipeline(cag, tmp_path, SAMPLES / "openhands_events.json")
    assert r["format"] == "openhands" and r["id"] == "openhands_events.json"
    assert r["source"] == {"file": str(SAMPLES / "openhands_events.json"), "row": 0}
    tools = r["segments"][0]
    assert (tools["role"], tools["gate"], tools["rule"]) == ("tools", "context", "tools-field")
    assert [t["function"]["name"] for t in orjson.loads(tools["text"])] == ["execute_bash", "str_replace_editor",
                                                                           "think", "finish"]
    assert segs(r)[1:] == TRAJECTORY
    # UI/state events and the memory's lookup were never shown to the model
    assert r["meta"] == {"skipped_events": {"agent_state_changed": 2, "change_agent_state": 1, "recall": 1, "null": 1,
                                            "hidden run": 1}}
    assert "git config" not in orjson.dumps(r["segments"]).decode()  # the hidden command


def test_observations_stamped_source_agent_are_world(cag):
    """OpenHands stamps `source: "agent"` on the observations that answer the agent's actions:
    they are the world's all the same."""
    events = orjson.loads((SAMPLES / "openhands_events.json").read_bytes())
    stamped = [e for e in events if "observation" in e and e["source"] == "agent"]
    assert len(stamped) == 7
    code, out, err = cag("tag", SAMPLES / "openhands_events.json")
    assert code == 0, err
    by_text = {s["text"]: s for s in orjson.loads(out)["segments"]}
    for e in stamped:
        s = by_text[e["content"]]
        assert s["gate"] == "world" and s["role"] in ("tool", "observation") and s["name"] == e["observation"]


def test_trajectory_as_json_lines_reads_the_same(cag, tmp_path):
    events = orjson.loads((SAMPLES / "openhands_events.json").read_bytes())
    f = write_jsonl(tmp_path / "traj.jsonl", events)
    (r,) = through_pipeline(cag, tmp_path, f)
    assert r["id"] == "traj.jsonl" and segs(r)[1:] == TRAJECTORY


def test_eval_rows_id_meta_instruction_and_pairs(cag, tmp_path):
    new, old = through_pipeline(cag, tmp_path, SAMPLES / "openhands_output.jsonl")
    assert (new["id"], old["id"]) == ("acme__slugify-42", "mypkg-7")
    assert segs(new)[1:] == [
        ("system", "context", "role-default", None, None, SYSTEM),
        ("user", "world", "role-default", None, None,
         "<uploaded_files>\n/workspace/acme__slugify__0.1\n</uploaded_files>\nslugify('Crème brûlée') returns "
         "'crme-brle'; accents should be transliterated to 'creme-brulee'."),
        ("assistant", "agent", "role-default", None, None,
         'Let me find where the text is normalised.\n<tool_call>{"name":"execute_bash","arguments":{"command":'
         '"grep -n normalize /workspace/acme__slugify__0.1/slugify.py"}}</tool_call>'),
        ("tool", "world", "role-default", "run", "toolu_01", "12:    text = unicodedata.normalize('NFC', text)"),
        ("assistant", "agent", "role-default", None, None,
         "NFC keeps the accents composed; NFKD splits them off so they can be dropped.\n"
         '<tool_call>{"name":"finish","arguments":{"message":"Switched to NFKD and dropped combining marks."}}</tool_call>'),
    ]
    assert new["segments"][0]["role"] == "tools"
    # the history holds the user's message: `instruction` (the same text) is only in meta
    assert sorted(new["meta"]) == ["error", "instance", "instance_id", "instruction", "metadata", "metrics",
                                   "skipped_events", "test_result"]
    assert new["meta"]["metrics"] == {"accumulated_cost": 0.011, "costs": [0.004, 0.007]}
    assert new["meta"]["skipped_events"] == {"recall": 1}
    # older OpenDevin: [action, observation] pairs, and the task only in `instruction`: prepended
    assert segs(old) == [
        ("user", "world", "role-default", None, None,
         "Fix the failing test in tests/test_version.py: __version__ should read '1.2.0'."),
        ("assistant", "agent", "role-default", None, None,
         'Check the current version string.\n<tool_call>{"name":"run","arguments":{"command":"cat mypkg/__init__.py"}}'
         "</tool_call>"),
        ("observation", "world", "role-default", "run", None, "__version__ = '1.1.9'"),
        ("assistant", "agent", "role-default", None, None,
         'Bumped to 1.2.0.\n<tool_call>{"name":"finish","arguments":{"outputs":{}}}</tool_call>'),
    ]
    assert old["meta"] == {"skipped_events": {"null": 1}, "instance_id": "mypkg-7",
                           "instruction": "Fix the failing test in tests/test_version.py: __version__ should read '1.2.0'.",
                           "metrics": {"accumulated_cost": 0.002}, "test_result": {"result": {"resolved": True}}}


def test_resolver_flat_events_without_source(cag, tmp_path):
    """The resolver's older rows: flat events without `source` or `args`; a message action is
    the agent's when it waits for the user's reply."""
    row = {"issue": {"owner": "neubig", "repo": "pr-viewer", "number": 5}, "instruction": "Add an MIT license.",
           "output": "unused", "history": [
               {"content": "Add an MIT license.", "images_urls": None, "wait_for_response": False, "action": "message"},
               {"command": "touch LICENSE", "thought": "Create the file.", "keep_prompt": True, "action": "run",
                "is_confirmed": "confirmed"},
               {"content": "", "command_id": -1, "command": "touch LICENSE", "exit_code": 0, "observation": "run"},
               {"content": "Which year goes in the copyright line?", "wait_for_response": True, "action": "message"}]}
    (r,) = through_pipeline(cag, tmp_path, write_jsonl(tmp_path / "output.jsonl", [row]))
    assert r["format"] == "openhands" and r["id"] == "neubig/pr-viewer#5"  # not alpaca, though it has instruction+output
    assert segs(r) == [
        ("user", "world", "role-default", None, None, "Add an MIT license."),
        ("assistant", "agent", "role-default", None, None,
         'Create the file.\n<tool_call>{"name":"run","arguments":{"command":"touch LICENSE"}}</tool_call>'),
        ("observation", "world", "role-default", "run", None, ""),
        ("assistant", "agent", "role-default", None, None, "Which year goes in the copyright line?")]


def test_an_eval_row_after_another_format_is_detected_by_shape(cag, tmp_path):
    """Record by record (the file's first record is not OpenHands'): `history` of events is
    openhands, `history` of role messages stays swe-agent."""
    row = orjson.loads((SAMPLES / "openhands_output.jsonl").read_bytes().splitlines()[1])
    swe = {"history": [{"role": "user", "content": "fix it"}, {"role": "assistant", "content": "done"}]}
    f = write_jsonl(tmp_path / "mixed.jsonl", [swe, row])
    code, out, err = cag("tag", f)
    assert code == 0, err
    a, b = (orjson.loads(x) for x in out.splitlines())
    assert (a["format"], b["format"]) == ("swe-agent", "openhands")
    assert [s["role"] for s in b["segments"]] == ["user", "assistant", "observation", "assistant"]


def test_environment_and_user_actions_are_world(cag, tmp_path):
    events = [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "Run the tests."}},
        {"id": 1, "source": "user", "action": "run", "message": "Running command: pytest -q",
         "args": {"command": "pytest -q", "thought": ""}},
        {"id": 2, "source": "environment", "action": "run", "message": "",
         "args": {"command": "git status", "thought": "", "hidden": False}},
        {"id": 3, "source": "agent", "observation": "run", "content": "3 passed", "extras": {}},
        {"id": 4, "source": "agent", "action": "condensation", "args": {"forgotten_event_ids": [1, 2], "summary": None}}]
    (r,) = through_pipeline(cag, tmp_path, write_jsonl(tmp_path / "t.jsonl", events))
    assert r["meta"] == {"skipped_events": {"condensation": 1}}  # dropped events, nothing the model read
    assert segs(r) == [
        ("user", "world", "role-default", None, None, "Run the tests."),
        ("user", "world", "role-default", None, None, "Running command: pytest -q"),
        ("environment", "world", "role-default", None, None,
         '<tool_call>{"name":"run","arguments":{"command":"git status"}}</tool_call>'),
        ("observation", "world", "role-default", "run", None, "3 passed")]


@pytest.mark.parametrize("where,event,msg", [
    (5, {"id": 5, "kind": "weird"}, "row 5: field 'history[5]': expected an OpenHands event with 'action' or "
                                    "'observation', got {id, kind}"),
    (7, {"id": 7, "source": "agent", "action": "run", "args": "{oops"},
     "row 0: field 'history[7].args': expected an object of arguments, got str"),
    (8, {"id": 8, "source": "robot", "action": "run", "args": {"command": "ls"}},
     "row 0: field 'history[8].source': expected 'agent', 'user' or 'environment', got 'robot'"),
])
def test_bad_trajectory_event_is_one_line(cag, tmp_path, where, event, msg):
    events = orjson.loads((SAMPLES / "openhands_events.json").read_bytes())
    events[where] = event
    f = tmp_path / "bad.json"
    f.write_bytes(orjson.dumps(events))
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}: {msg}" in err and err.count("\n") == 1, err


def test_bad_eval_row_event_names_file_line_and_field(cag, tmp_path):
    rows = [orjson.loads(x) for x in (SAMPLES / "openhands_output.jsonl").read_bytes().splitlines()]
    rows[1]["history"][1][0] = {"cause": 3, "weird": True}
    f = write_jsonl(tmp_path / "output.jsonl", rows)
    code, _, err = cag("tag", f)
    assert code == 1 and err.count("\n") == 1, err
    assert f"{f}:2: field 'history[1][0]': expected an OpenHands event with 'action' or 'observation', got " \
           "{cause, weird}" in err
    code, out, err = cag("tag", f, "--on-error", "skip", "--rejects", tmp_path / "rejects.jsonl")
    assert code == 0 and [orjson.loads(x)["id"] for x in out.splitlines()] == ["acme__slugify-42"]


def test_forced_on_another_format_names_the_row(cag):
    code, _, err = cag("tag", SAMPLES / "gemini_contents.jsonl", "--format", "openhands")
    assert code == 1 and err.count("\n") == 1
    assert "gemini_contents.jsonl:1: field 'history': expected an OpenHands evaluation row with a `history` of " \
           "events, got {systemInstruction, tools, contents, generationConfig}" in err


def test_a_step_record_with_action_and_observation_is_not_an_event(cag, tmp_path):
    """An event is an action or an observation; a step log with both (another format) is not
    taken for an OpenHands trajectory."""
    f = write_jsonl(tmp_path / "steps.jsonl", [{"id": 1, "observation": "You are in the kitchen.",
                                                 "action": "open fridge", "reward": 0}])
    code, _, err = cag("tag", f)
    assert code == 1 and "cannot tell the format: this record has the keys action, id, observation, reward" in err
