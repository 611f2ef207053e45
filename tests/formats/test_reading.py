"""Reading options shared by every format: directories as input, --text-key, --text-role,
and errors that name the format cag assumed."""

import shutil

import orjson

from conftest import SAMPLES
from pipeline import tag_lines, write_jsonl


def test_a_directory_reads_every_recognised_file_sorted_and_counts_the_rest(cag, tmp_path):
    d = tmp_path / "logs"
    write_jsonl(d / "b" / "two.jsonl", [{"messages": [{"role": "user", "content": "two"}]}])
    write_jsonl(d / "a.jsonl", [{"messages": [{"role": "user", "content": "one"}]}])
    shutil.copy(SAMPLES / "alpaca.json", d / "b" / "three.json")
    (d / "notes.md").write_text("# not a transcript")
    write_jsonl(d / "settings.json", [{"theme": "dark"}])  # a JSON file of no known format
    (d / "empty.jsonl").write_text("")
    write_jsonl(d / ".cache" / "x.jsonl", [{"messages": [{"role": "user", "content": "hidden"}]}])
    code, out, err = cag("tag", d)
    assert code == 0, err
    recs = [orjson.loads(x) for x in out.splitlines()]
    # sorted by path: a.jsonl, b/three.json (two alpaca records), b/two.jsonl
    assert [(r["format"], r["source"]["file"]) for r in recs] == [
        ("openai", str(d / "a.jsonl")), ("alpaca", str(d / "b" / "three.json")), ("alpaca", str(d / "b" / "three.json")),
        ("openai", str(d / "b" / "two.jsonl"))]
    line = next(x for x in err.splitlines() if x.startswith("skipped"))
    assert line.startswith("skipped 4 files under the input directories: ")
    for part in ("2 empty or of no known format", "1 hidden folder", "1 not a transcript file suffix"):
        assert part in line


def test_a_directory_with_no_transcript_files_is_an_error(cag, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "readme.txt").write_text("x")
    code, out, err = cag("tag", tmp_path / "d")
    assert code == 1 and "no transcript files under this directory" in err and out == b""


def test_a_bad_file_in_a_directory_is_still_an_error(cag, tmp_path):
    d = tmp_path / "logs"
    write_jsonl(d / "a.jsonl", [{"messages": [{"role": "user", "content": "one"}]}])
    (d / "b.jsonl").write_bytes(b"{not json\n")
    code, out, err = cag("tag", d)
    assert code == 1 and f"{d / 'b.jsonl'}:1: malformed JSON" in err and out == b""


def test_text_key_reads_a_text_transcript_under_any_key(cag, tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"task_id": 3, "messages_display": "user: hi\nassistant: hello",
                                            "traj": []}])
    (r,) = tag_lines(cag, f, "--text-key", "messages_display")
    assert r["format"] == "text" and [(s["role"], s["text"], s["gate"]) for s in r["segments"]] == [
        ("user", "hi", "world"), ("assistant", "hello", "agent")]
    assert r["meta"] == {"task_id": 3, "traj": []}
    code, _, err = cag("tag", f, "--text-key", "display")
    assert code == 1 and "field 'display': --format text needs this field" in err
    code, _, err = cag("tag", f, "--text-key", "x", "--format", "openai")
    assert code == 2 and "--text-key reads the text format" in err


def test_text_role_adds_to_the_defaults(cag, tmp_path):
    # A Glaive-style turn: with one flag, the default roles still start turns.
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "User: add 2 and 3\nCalculator: 5\nAssistant: It is 5."}])
    (r,) = tag_lines(cag, f, "--text-role", "Calculator", "--role-map", "calculator=world")
    assert [(s["role"], s["text"]) for s in r["segments"]] == [
        ("User", "add 2 and 3"), ("Calculator", "5"), ("Assistant", "It is 5.")]


def test_an_error_inside_a_detected_format_names_it_and_format(cag, tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"conversations": [{"from": "human", "value": 5}]}])
    code, _, err = cag("tag", f)
    assert code == 1 and err.count("\n") == 1
    assert "field 'conversations[0].value': expected a string, got int (read as sharegpt, told from the record's " \
           "shape; --format NAME reads it as another)" in err
    code, _, err = cag("tag", f, "--format", "sharegpt")
    assert code == 1 and "read as" not in err  # forced: the user chose it


def test_unknown_record_points_at_format_not_only_messages_key(cag, tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"dialog": []}])
    code, _, err = cag("tag", f)
    assert code == 1 and "force one with --format NAME" in err and "--messages-key KEY" in err


def test_a_rejected_session_names_its_file_and_line_not_the_adapters_working_form(cag, tmp_path):
    rows = [orjson.loads(x) for x in (SAMPLES / "claude_code_session.jsonl").read_bytes().splitlines()]
    next(r for r in rows if r.get("type") == "assistant")["message"]["content"] = [{"type": "mystery"}]
    write_jsonl(tmp_path / "s.jsonl", rows)
    code, _, err = cag("tag", tmp_path / "s.jsonl", "--on-error", "skip", "-o", tmp_path / "out.jsonl")
    assert code == 0 and "1 rejected" in err
    (rej,) = [orjson.loads(x) for x in (tmp_path / "out.jsonl.rejects.jsonl").read_bytes().splitlines()]
    assert rej["record"] is None and rej["source"]["file"] == str(tmp_path / "s.jsonl")
    assert "field 'message.content[0]': unknown content block {type: 'mystery'}" in rej["error"]


def test_bad_branches_value_is_a_usage_error(cag):
    code, out, err = cag("tag", SAMPLES / "claude_code_session.jsonl", "--branches", "first")
    assert code == 2 and "--branches expects one of last, all, got 'first'" in err and out == b""
