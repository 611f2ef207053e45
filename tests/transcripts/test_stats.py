"""`cag stats` counts exactly what the label builder supervises."""

import orjson
import pytest

from conftest import SAMPLES
from causal_agents.transcripts.labels import encode
from causal_agents.transcripts.provenance import TagOptions
from causal_agents.transcripts.tagging import iter_tagged

SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".jsonl", ".parquet", ".traj")
                      or p.name in ("alpaca.json", "tau_bench.json"))
GROUPED = {"messages_per_line.jsonl"}  # one message per line: read with --group-by-file


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_tag_then_stats_on_every_sample(cag, path, monkeypatch, byte_tok):
    import io
    import sys

    grouped = path.name in GROUPED
    code, tagged, err = cag("tag", path, *(["--group-by-file"] if grouped else []))
    assert code == 0, err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(tagged))))
    code, out, err = cag("stats", "-", "--json")
    assert code == 0, err
    rep = orjson.loads(out)
    recs = list(iter_tagged([str(path)], TagOptions(group_by_file=grouped)))
    encs = [encode(r, byte_tok) for r in recs]
    assert rep["transcripts"] == len(recs)
    assert rep["tokens"] == sum(len(e) for e in encs)
    for m in ("obs", "do"):
        assert rep["supervised"][m] == sum(int(e.supervised(m).sum()) for e in encs)
    assert sum(g["tokens"] for g in rep["by_gate"].values()) == rep["tokens"]
    assert sum(g["do"] for g in rep["by_role"].values()) == rep["supervised"]["do"]
    assert rep["supervised"]["obs"] - rep["supervised"]["do"] == rep["by_class"]["agent"] - sum(
        int((e.classes == 3).sum() - (e.supervised("obs") & (e.classes == 3)).sum()) for e in encs)


def test_summary_line_and_table(cag):
    code, out, err = cag("stats", SAMPLES / "sharegpt.jsonl", "--by", "gate")
    assert code == 0 and out == b""
    # The function_call turn's header is "Gpt: " (was "Function_call: ", 10 bytes longer, supervised in
    # both modes): the plain renderer's header no longer says what the agent chose (issue 10).
    assert "obs supervises 322 of 375 positions (85.9%); do supervises 154 (41.1%)" in err
    assert "agent" in err and "world" in err


def test_self_option_changes_accounting(cag):
    _, plain, _ = cag("stats", SAMPLES / "multi_agent.jsonl", "--json")
    _, selfed, _ = cag("stats", SAMPLES / "multi_agent.jsonl", "--json", "--self", "solver", "--self", "planner")
    a, b = orjson.loads(plain), orjson.loads(selfed)
    assert a["supervised"]["obs"] == b["supervised"]["obs"]
    assert b["supervised"]["do"] > a["supervised"]["do"]  # teacher and critic turns are evidence now


def test_empty_do_mask_is_reported(cag, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(orjson.dumps({"id": "only-agent", "messages": [
        {"role": "system", "content": "s"}, {"role": "assistant", "content": "x"}]}) + b"\n")
    # Only role headers would be supervised under do: no evidence at all.
    code, out, err = cag("stats", f, "--renderer", "chat-template", "--json")
    rep = orjson.loads(out)
    assert rep["empty_do"] == {"count": 1, "examples": ["only-agent"]}
    code, out, err = cag("stats", f, "--renderer", "chat-template")
    assert "supervise no world-written token under do" in err


def test_grouping_by_file_and_parquet_glob(cag, tmp_path):
    for i in range(2):
        assert cag("tag", SAMPLES / "sharegpt.jsonl", "-o", tmp_path / f"s{i}.parquet")[0] == 0
    code, out, err = cag("stats", str(tmp_path / "*.parquet"), "--json")
    rep = orjson.loads(out)
    assert rep["transcripts"] == 4 and rep["supervised"]["obs"] == 2 * 322  # 332 before the header leak fix (test_summary_line_and_table)
    # tagged records keep their original source file
    assert list(rep["by_file"]) == [str(SAMPLES / "sharegpt.jsonl")]


def test_truncation_report(cag):
    code, out, _ = cag("stats", SAMPLES / "agent_tools.jsonl", "--json", "--max-length", "64")
    rep = orjson.loads(out)
    assert rep["truncation"]["lost"]["obs"] > 0


def test_bad_renderer_and_tokenizer(cag):
    code, _, err = cag("stats", SAMPLES / "sharegpt.jsonl", "--renderer", "fancy")
    assert code == 2 and "--renderer expects one of plain, chat-template, stream, got 'fancy'" in err  # a usage error (issue 10)
    code, _, err = cag("stats", SAMPLES / "sharegpt.jsonl", "--tokenizer", "/nonexistent/tok")
    assert code == 1 and "cannot load a tokenizer" in err and err.count("\n") == 1


def test_tokenizer_directory_without_files_is_refused(cag, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    code, _, err = cag("stats", SAMPLES / "sharegpt.jsonl", "--tokenizer", tmp_path)
    assert code == 1 and "has no tokenizer files" in err and err.count("\n") == 1


def test_saved_cag_tokenizer_loads_exactly_as_saved(tmp_path, byte_tok):
    from causal_agents.transcripts.tokenizer import load_tokenizer

    byte_tok.save_pretrained(tmp_path)
    # A model config beside it must not make AutoTokenizer swap in another class.
    (tmp_path / "config.json").write_text('{"model_type": "qwen2"}')
    tok = load_tokenizer(str(tmp_path))
    text = "User: héllo  world\nAgent: ok"
    assert tok(text, add_special_tokens=False)["input_ids"] == byte_tok(text, add_special_tokens=False)["input_ids"]
