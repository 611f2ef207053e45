"""Reading every format, and one clear line for every kind of bad input."""

import gzip
import io
import sys

import orjson
import pytest

from conftest import SAMPLES
from pipeline import write_jsonl


def lines(out: bytes):
    return [orjson.loads(x) for x in out.splitlines() if x.strip()]


# Sample files that need an option to be read as what they are.
SAMPLE_ARGS = {"messages_per_line.jsonl": ["--group-by-file"]}


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()
                                        if p.suffix in (".jsonl", ".parquet", ".gz", ".traj")
                                        or p.name in ("alpaca.json", "tau_bench.json")))
def test_every_sample_file_tags(cag, name):
    code, out, err = cag("tag", SAMPLES / name, *SAMPLE_ARGS.get(name, []))
    assert code == 0, err
    recs = lines(out)
    assert recs and all(r["segments"] for r in recs)
    for r in recs:
        for s in r["segments"]:
            assert s["gate"] in ("agent", "world", "context") and s["rule"]


def test_openai_tool_calls_parts_and_weight(cag, tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"messages": [
        {"role": "user", "content": [{"type": "text", "text": "look "}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "2"},
        {"role": "assistant", "content": "done", "weight": 0},
        {"role": "user", "content": "ok", "masked": True}]}])
    code, out, _ = cag("tag", f)
    segs = lines(out)[0]["segments"]
    assert segs[0]["text"] == "look <image_url>"
    assert segs[1]["text"] == '<tool_call>{"name":"f","arguments":{"x":1}}</tool_call>'
    assert segs[1]["gate"] == "agent" and segs[2]["gate"] == "world"
    assert segs[2]["tool_call_id"] == "c1"
    assert [s["weight"] for s in segs] == [1, 1, 1, 0, 0]


def test_sharegpt_roles_are_values(cag):
    code, out, _ = cag("tag", SAMPLES / "sharegpt.jsonl")
    r = lines(out)[1]
    assert [(s["role"], s["gate"]) for s in r["segments"]] == [
        ("system", "context"), ("human", "world"), ("function_call", "agent"), ("observation", "world"),
        ("gpt", "agent")]
    assert lines(out)[0]["segments"][0]["role"] == "system"  # top-level system field


def test_text_format_context_and_custom_roles(cag, tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "A tutoring chat.\nStudent: hi\nTutor: hello\nthere"}])
    code, out, err = cag("tag", f, "--text-role", "Student", "--text-role", "Tutor",
                         "--role-map", "student=world", "--role-map", "tutor=agent")
    assert code == 0, err
    segs = lines(out)[0]["segments"]
    assert [(s["role"], s["text"], s["gate"], s["rule"]) for s in segs] == [
        ("context", "A tutoring chat.", "context", "role-default"), ("Student", "hi", "world", "role-map"),
        ("Tutor", "hello\nthere", "agent", "role-map")]


def test_stream_record_gates(cag):
    code, out, _ = cag("tag", SAMPLES / "verifier_stream.jsonl")
    r = lines(out)[0]
    assert [(s["role"], s["gate"]) for s in r["segments"]] == [
        ("question", "context"), ("attempt", "agent"), ("verifier", "world"), ("oracle", "world")]
    assert r["meta"]["skill"] == "ohms_law_current"


def test_tagging_is_idempotent_across_jsonl_gzip_and_parquet(cag, tmp_path):
    code, first, _ = cag("tag", SAMPLES / "agent_tools.jsonl")
    (tmp_path / "t.jsonl.gz").write_bytes(gzip.compress(first))
    code, again, _ = cag("tag", tmp_path / "t.jsonl.gz")
    assert again == first
    assert cag("tag", tmp_path / "t.jsonl.gz", "-o", tmp_path / "t.parquet")[0] == 0
    code, back, _ = cag("tag", tmp_path / "t.parquet")
    assert lines(back) == lines(first)
    assert cag("tag", SAMPLES / "agent_tools.jsonl", "-o", tmp_path / "o.jsonl.gz")[0] == 0
    assert lines(gzip.decompress((tmp_path / "o.jsonl.gz").read_bytes())) == lines(first)


def test_stdin(cag, monkeypatch):
    data = (SAMPLES / "sharegpt.jsonl").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    code, out, _ = cag("tag", "-")
    assert code == 0 and len(lines(out)) == 2
    assert lines(out)[0]["source"] == {"file": "<stdin>", "line": 1}


def test_glob_input(cag, tmp_path):
    for i in range(3):
        write_jsonl(tmp_path / f"p{i}.jsonl", [{"messages": [{"role": "user", "content": str(i)}]}])
    code, out, _ = cag("tag", str(tmp_path / "p*.jsonl"))
    assert [r["segments"][0]["text"] for r in lines(out)] == ["0", "1", "2"]


BAD = {
    "malformed": (b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [\n', ":2: malformed JSON"),
    "wrong_type": (b'{"messages": [{"role": "user", "content": 5}]}\n', "field 'messages[0].content'"),
    "unknown_role": (b'{"messages": [{"role": "robot", "content": "a"}]}\n', "unknown role 'robot'"),
    "empty": (b"", "empty input"),
    "non_utf8": (b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n', "not valid UTF-8"),
    "no_format": (b'{"prompt": "x"}\n', "cannot tell the format"),
    "not_object": (b'[1, 2]\n', "expected a JSON object"),
    "bad_weight": (b'{"messages": [{"role": "user", "content": "a", "weight": 0.5}]}\n', "messages[0].weight"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_1_nothing_written(cag, tmp_path, case):
    data, expect = BAD[case]
    f = tmp_path / "in.jsonl"
    f.write_bytes(data)
    out_file = tmp_path / "out.jsonl"
    code, out, err = cag("tag", f, "-o", out_file)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("Error: ") and str(f) in err and expect in err, err
    assert not out_file.exists()
    assert list(tmp_path.iterdir()) == [f]  # no temp file left behind either
    code, out, err = cag("tag", f)  # to stdout: nothing printed either
    assert code == 1 and out == b""


def test_parquet_without_needed_column(cag, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": ["a"]}), tmp_path / "x.parquet")
    code, out, err = cag("tag", tmp_path / "x.parquet", "-o", tmp_path / "o.parquet")
    assert code == 1 and "expected one of segments, messages" in err and err.count("\n") == 1
    assert not (tmp_path / "o.parquet").exists()


def test_skip_mode_accounts_for_every_record(cag, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(BAD["unknown_role"][0] + b'{"messages": [{"role": "user", "content": "a"}]}\n' + b"{oops\n")
    code, out, err = cag("tag", f, "--on-error", "skip", "-o", tmp_path / "o.jsonl")
    assert code == 0
    assert "tagged 1 of 3 records; 2 rejected" in err
    rej = lines((tmp_path / "o.jsonl.rejects.jsonl").read_bytes())
    assert [r["source"]["line"] for r in rej] == [1, 3]
    assert rej[0]["record"] == {"messages": [{"role": "robot", "content": "a"}]}
    assert len(lines((tmp_path / "o.jsonl").read_bytes())) == 1


def test_missing_file_and_bad_role_map(cag, tmp_path):
    code, _, err = cag("tag", tmp_path / "nope.jsonl")
    assert code == 1 and "no such file" in err
    code, _, err = cag("tag", SAMPLES / "sharegpt.jsonl", "--role-map", "gpt=teacher")
    assert code == 2 and "--role-map expects ROLE=GATE" in err


def test_output_files_get_normal_permissions(cag, tmp_path):
    import os
    import stat

    assert cag("tag", SAMPLES / "sharegpt.jsonl", "-o", tmp_path / "o.jsonl")[0] == 0
    mode = stat.S_IMODE(os.stat(tmp_path / "o.jsonl").st_mode)
    assert mode == 0o666 & ~_current_umask()


def _current_umask():
    import os

    m = os.umask(0)
    os.umask(m)
    return m


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_parallel_tagging_matches_serial(cag, tmp_path, monkeypatch, on_error):
    from causal_agents.transcripts import tagging

    recs = [{"id": f"r{i}", "messages": [{"role": "user", "content": "x" * (i % 50)},
                                         {"role": "assistant", "content": None, "tool_calls": [
                                             {"function": {"name": "f", "arguments": "{}"}}]},
                                         {"role": "tool", "tool_call_id": "1", "content": "ok"}]}
            for i in range(400)]
    f = write_jsonl(tmp_path / "big.jsonl", recs)
    if on_error == "skip":  # a bad line deep inside a later block
        data = f.read_bytes().splitlines(keepends=True)
        data[333] = b'{"messages": [{"role": "robot", "content": "a"}]}\n'
        f.write_bytes(b"".join(data))
    monkeypatch.setattr(tagging, "PARALLEL_BLOCK", 2048)  # many blocks from a small file
    a = cag("tag", f, "--workers", "1", "--on-error", on_error, "-o", tmp_path / "serial.jsonl",
            "--rejects", tmp_path / "r1.jsonl")
    b = cag("tag", f, "--workers", "3", "--on-error", on_error, "-o", tmp_path / "par.jsonl",
            "--rejects", tmp_path / "r2.jsonl")
    assert a[0] == b[0] == 0 and a[2].split(" -> ")[0] == b[2].split(" -> ")[0]
    assert (tmp_path / "serial.jsonl").read_bytes() == (tmp_path / "par.jsonl").read_bytes()
    if on_error == "skip":
        assert "399 of 400 records; 1 rejected" in b[2]
        assert lines((tmp_path / "r2.jsonl").read_bytes())[0]["source"]["line"] == 334


def test_parallel_tagging_fails_on_the_first_bad_line(cag, tmp_path, monkeypatch):
    from causal_agents.transcripts import tagging

    good = b'{"messages": [{"role": "user", "content": "hello there"}]}\n'
    f = tmp_path / "in.jsonl"
    f.write_bytes(good * 300 + b"{broken\n" + good * 300 + b'{"messages": 5}\n')
    monkeypatch.setattr(tagging, "PARALLEL_BLOCK", 1024)
    code, out, err = cag("tag", f, "--workers", "2", "-o", tmp_path / "o.jsonl")
    assert code == 1 and f"{f}:301: malformed JSON" in err and err.count("\n") == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_parallel_tagging_accepts_a_utf8_bom(cag, tmp_path, monkeypatch):
    from causal_agents.transcripts import tagging

    good = b'{"messages": [{"role": "user", "content": "hello there"}]}\n'
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + good * 600)
    monkeypatch.setattr(tagging, "PARALLEL_BLOCK", 1024)  # several blocks: the first starts at the BOM
    a = cag("tag", f, "--workers", "1", "-o", tmp_path / "serial.jsonl")
    b = cag("tag", f, "--workers", "2", "-o", tmp_path / "par.jsonl")
    assert a[0] == b[0] == 0, b[2]
    assert (tmp_path / "serial.jsonl").read_bytes() == (tmp_path / "par.jsonl").read_bytes()
