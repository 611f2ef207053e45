"""`cag data stem` and the STEM generator: seeded, disjoint, balanced, every oracle solution
passes the verifier, SFT records are tag-readable with the right provenance."""

import os
from collections import Counter

import orjson
import pytest

from causal_agents.cli.main import main
from causal_agents.formats.io import read_records
from causal_agents.transcripts.provenance import TagOptions, tag_record
from causal_agents.stem.problems import DEFAULT_COUNTS, generate, sft_record
from causal_agents.stem.skills import DOMAINS, SKILLS
from causal_agents.stem.verifier import verify_problem


@pytest.fixture(scope="module")
def splits():
    return generate(0)


def test_ten_skills_three_domains():
    assert len(SKILLS) == 10
    assert {s.domain for s in SKILLS.values()} == set(DOMAINS)
    assert Counter(s.domain for s in SKILLS.values()) == {"physics": 4, "chemistry": 4, "materials": 2}


def test_default_sizes_and_balance(splits):
    assert {k: len(v) for k, v in splits.items()} == DEFAULT_COUNTS
    for name, problems in splits.items():
        per_skill = Counter(p["skill"] for p in problems)
        assert set(per_skill) == set(SKILLS)
        assert max(per_skill.values()) - min(per_skill.values()) <= 1, (name, per_skill)


def test_splits_disjoint(splits):
    qs = {name: {p["question"] for p in ps} for name, ps in splits.items()}
    assert not qs["sft"] & qs["agent"] and not qs["sft"] & qs["test"] and not qs["agent"] & qs["test"]
    assert all(len(q) == len(splits[n]) for n, q in qs.items())  # no duplicates within a split


def test_every_oracle_solution_passes_and_ends_with_final_answer(splits):
    for problems in splits.values():
        for p in problems:
            v = verify_problem(p, p["solution"])
            assert v.passed, (p, v)
            assert v.source == "marker"
            tail = p["solution"].rsplit("Final answer: ", 1)[1]
            assert tail.split(" ")[1:] == ([p["unit"]] if p["unit"] else [])


def test_surface_forms_vary(splits):
    for name in SKILLS:
        forms = {p["form"] for ps in splits.values() for p in ps if p["skill"] == name}
        assert len(forms) >= 3, name


def test_fields_and_tolerances(splits):
    p = splits["test"][0]
    assert set(p) == {"id", "split", "domain", "skill", "form", "question", "solution", "answer", "unit",
                      "tol_abs", "tol_rel"}
    ph = next(p for p in splits["test"] if p["skill"] == "ph")
    assert (ph["unit"], ph["tol_abs"], ph["tol_rel"]) == ("", 0.01, 0.0)


def test_negative_ph_is_generated():
    # the HCl surface form reaches concentrations >= 1 M on purpose
    ph = [p for ps in generate(0, {"sft": 400}).values() for p in ps if p["skill"] == "ph"]
    assert any(p["answer"] < 0 for p in ph)


def test_test_split_ignores_other_sizes():
    a = generate(7, {"sft": 5, "agent": 5, "test": 30})["test"]
    b = generate(7, {"sft": 50, "agent": 0, "test": 30})["test"]
    assert a == b
    assert generate(8, {"sft": 0, "agent": 0, "test": 30})["test"] != a


def test_sft_record_tags_as_teacher_evidence(splits):
    rec = sft_record(splits["sft"][0])
    tagged = tag_record(rec, {"file": "x.jsonl", "line": 1}, TagOptions())
    assert tagged["format"] == "openai"
    assert [(s["role"], s["gate"], s["rule"]) for s in tagged["segments"]] == [
        ("user", "context", "provenance-field"), ("assistant", "world", "provenance-field")]
    assert tagged["segments"][1]["author"] == "teacher"
    assert tagged["meta"]["skill"] == splits["sft"][0]["skill"]


def _run(*args):
    return main(["data", "stem", *args])


def test_cli_writes_identical_files_for_a_seed(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run("--out", str(a), "--seed", "3", "-n", "sft=30", "-n", "agent=20", "-n", "test=10") == 0
    assert _run("--out", str(b), "--seed", "3", "-n", "sft=30", "-n", "agent=20", "-n", "test=10", "--json") == 0
    manifest = orjson.loads(capsys.readouterr().out)
    assert manifest["counts"] == {"sft": 30, "agent": 20, "test": 10}
    for f in ("sft.jsonl", "agent.jsonl", "test.jsonl", "manifest.json"):
        assert (a / f).read_bytes().replace(str(a).encode(), b"") == (b / f).read_bytes().replace(str(b).encode(), b"")
    rows = [r for _, r in read_records(str(a / "sft.jsonl"))]
    assert len(rows) == 30 and all("messages" in r for r in rows)


def test_cli_parquet(tmp_path):
    assert _run("--out", str(tmp_path), "-n", "sft=12", "-n", "agent=10", "-n", "test=10", "--ext", "parquet") == 0
    rows = [r for _, r in read_records(str(tmp_path / "sft.parquet"))]
    assert len(rows) == 12
    tagged = tag_record(rows[0], {"file": "sft.parquet", "row": 0}, TagOptions())
    assert [s["gate"] for s in tagged["segments"]] == ["context", "world"]
    test_rows = [r for _, r in read_records(str(tmp_path / "test.parquet"))]
    assert all(verify_problem(r, r["solution"]).passed for r in test_rows)


@pytest.mark.parametrize("args,msg", [
    (["-n", "train=5"], "-n expects SPLIT=COUNT"),
    (["-n", "sft=five"], "whole number"),
    (["-n", "sft=-1"], ">= 0"),
    (["--ext", "csv"], "unknown extension"),
    (["-n", "test=15000"], "cannot draw"),
])
def test_cli_bad_input(tmp_path, capsys, args, msg):
    out = tmp_path / "o"
    assert _run("--out", str(out), *args) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and msg in err and err.count("\n") == 1
    assert not out.exists() or not os.listdir(out)  # nothing half-written


def test_cli_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("x")
    assert _run("--out", str(f)) == 1
    assert "not a directory" in capsys.readouterr().err


def test_cli_missing_out_is_usage_error(capsys):
    assert _run() == 2
