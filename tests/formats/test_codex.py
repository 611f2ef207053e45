"""Codex CLI rollouts (format `codex`): a whole file is one transcript; every row kind of the
sample, segment by segment; event_msg copies dropped; harness-injected user messages; the 2025
layout; bad rows named by file:line."""

import pytest

from conftest import SAMPLES
from pipeline import call, tag_lines, through_pipeline, write_jsonl

SAMPLE = SAMPLES / "codex_rollout.jsonl"
ENC = "gAAAAABpY29kZXgtZW5jcnlwdGVkLXJlYXNvbmluZy1ibG9iLWZvci1jYWctc2FtcGxl"
FINAL = "Fixed slugify: runs of non-alphanumerics now become one '-'. All 10 tests pass."


def seg(s):
    out = (s["role"], s["gate"], s["rule"], s["text"])
    return out + ((s.get("name"), s.get("tool_call_id")) if s["role"] == "tool" else ())


def test_rollout_segment_by_segment(cag):
    (r,) = tag_lines(cag, SAMPLE)
    assert r["format"] == "codex" and r["id"] == "0199a1f2-7c3e-7d10-9a4b-2f6e8c1d5b07"
    assert r["source"] == {"file": str(SAMPLE), "line": 1}
    patch = ("*** Begin Patch\n*** Update File: src/widgets/slug.py\n@@\n-def slugify(title):\n-    return "
             "title.lower().replace(' ', '-')\n+import re\n+\n+def slugify(title):\n+    return re.sub(r'[^a-z0-9]+', "
             "'-', title.lower()).strip('-')\n*** End Patch\n")
    assert [seg(s) for s in r["segments"]] == [
        ("system", "context", "role-default", "You are Codex, a coding agent running in the Codex CLI on a user's "
         "computer. Keep changes minimal and run the tests."),
        ("developer", "context", "role-default", "<permissions instructions>\nFilesystem sandboxing: workspace-write. "
         "Network access is restricted. Ask before running commands outside the workspace.\n</permissions instructions>"),
        ("harness", "world", "role-default", "# AGENTS.md instructions for /home/dev/widgets\n\n<INSTRUCTIONS>\nRun "
         "`pytest -q` before you say you are done.\n</INSTRUCTIONS>"),
        ("harness", "world", "role-default", "<environment_context>\n  <cwd>/home/dev/widgets</cwd>\n  <approval_policy>"
         "on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted"
         "</network_access>\n  <shell>bash</shell>\n</environment_context>"),
        ("user", "world", "role-default", "The slug test fails on 'Hello, World!'. Please fix slugify."),
        # reasoning, commentary and the call of one model turn: one agent message
        ("assistant", "agent", "role-default", "<think>**Running the failing test**</think>\nI'll run the slug tests "
         "first to see the failure.\n" + call("shell", {"command": ["bash", "-lc", "pytest -q tests/test_slug.py"],
                                                         "workdir": "/home/dev/widgets", "timeout_ms": 120000})),
        ("tool", "world", "role-default", "Exit code: 1\nWall time: 0.6 seconds\nOutput:\nF.\nE   AssertionError: assert "
         "'hello,-world!' == 'hello-world'\n1 failed, 1 passed in 0.05s\n", "shell", "call_sh_01"),
        ("assistant", "agent", "role-default", call("apply_patch", patch)),
        ("tool", "world", "role-default", '{"output":"Success. Updated the following files:\\nM src/widgets/slug.py\\n",'
         '"metadata":{"exit_code":0,"duration_seconds":0.0}}', "apply_patch", "call_ap_01"),
        # (a ghost_snapshot row here: Codex's undo checkpoint, never shown to the model)
        ("assistant", "agent", "role-default", call("local_shell", {
            "type": "exec", "command": ["pytest", "-q"], "timeout_ms": 120000, "working_directory": "/home/dev/widgets",
            "env": None, "user": None})),
        ("tool", "world", "role-default", "..........                                                               "
         "[100%]\n10 passed in 0.31s\n", "local_shell", "call_ls_01"),
        ("assistant", "agent", "role-default", call("web_search", {
            "type": "search", "query": "python-slugify unicode transliteration"}) + "\n" + FINAL),
        ("user", "agent", "format-author", "The user asked to fix slugify for 'Hello, World!'. I replaced the space-only "
         "rule with a regex that collapses non-alphanumerics to '-', in src/widgets/slug.py; all 10 tests pass. Open "
         "question: accented letters are dropped."),
        ("harness", "world", "role-default", "<turn_aborted>\n  <turn_id>turn-2</turn_id>\n  <reason>interrupted</reason>"
         "\n</turn_aborted>"),
        ("user", "world", "role-default", "Keep accented letters: 'Crème brûlée' should give 'creme-brulee'."),
        ("assistant", "agent", "role-default", "<redacted_thinking>\nI'll normalise with unicodedata.normalize('NFKD', "
         "...) and drop the combining marks before the regex."),
    ]


def test_meta_event_msgs_counted_turn_context_last(cag):
    (r,) = tag_lines(cag, SAMPLE)
    m = r["meta"]
    assert m["session_meta"]["cwd"] == "/home/dev/widgets" and "base_instructions" not in m["session_meta"]
    assert m["event_msgs"] == {"task_started": 1, "user_message": 2, "agent_reasoning": 1, "agent_message": 3,
                               "token_count": 1, "task_complete": 1, "context_compacted": 1}
    assert m["turn_contexts"] == 2 and m["turn_context"]["effort"] == "high"  # the last one
    assert m["replacement_history_items"] == 2 and m["skipped_items"] == {"ghost_snapshot": 1}
    assert set(m) == {"session_meta", "event_msgs", "turn_contexts", "turn_context", "replacement_history_items",
                      "skipped_items"}


def test_event_msg_copies_appear_once_and_encrypted_never(cag, tmp_path):
    recs = through_pipeline(cag, tmp_path, SAMPLE)
    assert len(recs) == 1
    text = "".join(s["text"] for s in recs[0]["segments"])
    raw = SAMPLE.read_text()
    assert raw.count(FINAL) == 3  # the response_item, the agent_message event and task_complete
    assert text.count(FINAL) == 1
    assert text.count("Please fix slugify.") == 1 and text.count("**Running the failing test**") == 1
    assert ENC in raw
    code, out, _ = cag("tag", SAMPLE)
    assert code == 0 and ENC.encode() not in out
    code, out, _ = cag("show", SAMPLE)
    assert code == 0 and ENC.encode() not in out


def test_2025_layout_header_bare_items_and_state_rows(cag, tmp_path):
    f = write_jsonl(tmp_path / "rollout-2025-08-20.jsonl", [
        {"id": "c3c4b301", "timestamp": "2025-08-20T10:00:00.000Z", "instructions": "You are Codex.",
         "git": {"branch": "main"}},
        {"record_type": "state"},
        {"type": "message", "id": None, "role": "user", "content": [
            {"type": "input_text", "text": "<user_instructions>\nUse tabs.\n</user_instructions>"}]},
        {"type": "message", "id": None, "role": "user", "content": [{"type": "input_text", "text": "hello codex"}]},
        {"record_type": "state"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Greeting"}],
         "encrypted_content": ENC},
        {"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]}])
    (r,) = tag_lines(cag, f)
    assert r["format"] == "codex" and r["id"] == "c3c4b301"
    assert [seg(s) for s in r["segments"]] == [
        ("system", "context", "role-default", "You are Codex."),
        ("harness", "world", "role-default", "<user_instructions>\nUse tabs.\n</user_instructions>"),
        ("user", "world", "role-default", "hello codex"),
        ("assistant", "agent", "role-default", "<think>Greeting</think>\nHi!")]
    assert r["meta"] == {"session_meta": {"id": "c3c4b301", "timestamp": "2025-08-20T10:00:00.000Z",
                                          "git": {"branch": "main"}}}


def meta_row(sid="s1"):
    return {"timestamp": "2026-01-01T00:00:00Z", "type": "session_meta", "payload": {"id": sid, "cwd": "/w"}}


def item_row(p):
    return {"timestamp": "2026-01-01T00:00:01Z", "type": "response_item", "payload": p}


USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
ANSWER = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]}


def test_fork_parent_meta_and_concatenated_rollouts(cag, tmp_path):
    f = write_jsonl(tmp_path / "r.jsonl", [meta_row("child"), meta_row("parent"), item_row(USER), item_row(ANSWER),
                                          meta_row("next"), item_row(USER)])
    a, b = tag_lines(cag, f)
    assert (a["id"], a["meta"]["forked_from"], len(a["segments"])) == ("child", ["parent"], 2)
    assert (b["id"], b["source"], [s["text"] for s in b["segments"]]) == ("next", {"file": str(f), "line": 5}, ["hi"])


def test_remote_compaction_is_an_encrypted_placeholder(cag, tmp_path):
    f = write_jsonl(tmp_path / "r.jsonl", [meta_row(), item_row(USER), {
        "timestamp": "t", "type": "compacted", "payload": {"message": "", "replacement_history": [
            {"type": "compaction", "encrypted_content": ENC}]}}, item_row(ANSWER)])
    (r,) = tag_lines(cag, f)
    assert [seg(s) for s in r["segments"]] == [
        ("user", "world", "role-default", "hi"), ("context", "context", "role-default", "<compaction encrypted>"),
        ("assistant", "agent", "role-default", "hello")]


@pytest.mark.parametrize("row,msg", [
    (item_row({"type": "frobnicate", "x": 1}), ":3: field 'payload': unknown item type {type: 'frobnicate', x}"),
    (item_row("hello"), ":3: field 'payload': expected an object, got str"),
    (item_row({"type": "message", "role": "user", "content": [{"type": "input_video"}]}),
     ":3: field 'payload.content[0]': unknown content part {type: 'input_video'}"),
    ({"timestamp": "t", "type": "mystery", "payload": {}}, ":3: field 'type': unknown rollout row type 'mystery'"),
    ({"timestamp": "t", "type": "compacted", "payload": {"summary": "x"}},
     ":3: field 'payload.message': expected a string, got null"),
    ([1, 2], ":3: expected a JSON object, got list"),  # the reader's own check
])
def test_bad_rows_name_file_line_and_field(cag, tmp_path, row, msg):
    f = write_jsonl(tmp_path / "r.jsonl", [meta_row(), item_row(USER), row, item_row(ANSWER)])
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}{msg}" in err and err.count("\n") == 1, err
    code, out, err = cag("tag", f, "--on-error", "skip", "-o", tmp_path / "o.jsonl")
    assert code == 1 and "all 1 records rejected" in err  # the bad rollout, skipped whole


def test_usage_log_without_session_meta_is_refused(cag, tmp_path):
    f = write_jsonl(tmp_path / "usage.jsonl", [
        {"timestamp": "t", "type": "turn_context", "payload": {"model": "gpt-5.2-codex"}},
        {"timestamp": "t", "type": "event_msg", "payload": {"type": "token_count", "info": {}}}])
    code, _, err = cag("tag", f)
    assert code == 1 and f"{f}:1: field 'type': this is one row of a Codex CLI rollout" in err
    code, _, err = cag("tag", f, "--format", "codex")
    assert code == 1 and f"{f}:1: field 'type': a Codex CLI rollout starts with a session_meta row" in err
    assert "got type 'turn_context'" in err and err.count("\n") == 1
    g = write_jsonl(tmp_path / "events.jsonl", [meta_row(), {"timestamp": "t", "type": "event_msg",
                                                             "payload": {"type": "user_message", "message": "hi"}}])
    code, _, err = cag("tag", g)
    assert code == 1 and f"{g}:1: this Codex rollout has no response_item rows" in err
