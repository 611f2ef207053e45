"""`cag eval stem`: both protocols, the stream-matched table, the CLI."""

from __future__ import annotations

import json

import pytest

from causal_agents.cli.main import main
from causal_agents.stem.problems import generate
from causal_agents.stem.evaluate import compare, slim

WRONG = "Final answer: 1e99"


@pytest.fixture(scope="module")
def items():
    return generate(seed=4, counts={"sft": 0, "agent": 0, "test": 4})["test"]


def test_compare_protocols_and_matched(items):
    R = [p["solution"] for p in items]
    first = {"base": [R[0], WRONG, WRONG, R[3]], "x": [WRONG, R[1], WRONG, WRONG]}
    repairs = {"x": [None, R[1], WRONG, None], "base": [None, WRONG, WRONG, None]}
    res = compare(items, first, "base", repairs)
    m = res["methods"]
    assert res["base_wrong"] == 2
    assert m["base"]["single"]["overall"]["solved"] == 2
    assert m["x"]["single"]["overall"]["solved"] == 1
    # gated: base right on 0 and 3, x repairs item 1, fails item 2
    assert m["x"]["gated"]["overall"]["solved"] == 3
    assert [r["solved"] for r in m["x"]["gated"]["items"]] == [True, True, False, True]
    assert m["base"]["gated"]["overall"]["solved"] == 2
    assert m["x"]["matched"] == {"n": 2, "single": m["x"]["matched"]["single"], "gated": m["x"]["matched"]["gated"]}
    assert m["x"]["matched"]["single"]["solved"] == 1 and m["x"]["matched"]["gated"]["solved"] == 1
    assert m["base"]["matched"]["single"]["solved"] == 0
    lo, hi = m["x"]["gated"]["overall"]["ci95"]
    assert lo < 0.75 < hi
    assert "items" not in slim(res)["methods"]["x"]["gated"]


def test_compare_needs_a_repair_where_the_base_failed(items):
    R = [p["solution"] for p in items]
    first = {"base": [R[0], WRONG, R[2], R[3]]}
    with pytest.raises(ValueError, match="no repair"):
        compare(items, first, "base", {"base": [None, None, None, None]})
    with pytest.raises(ValueError, match="not among"):
        compare(items, first, "sft")
    # without repairs a policy has no gated result
    assert "gated" not in compare(items, first, "base")["methods"]["base"]


def test_cli_eval_stem_tiny(tmp_path, capsys):
    assert main(["data", "stem", "--out", str(tmp_path / "d"), "-n", "sft=0", "-n", "agent=0", "-n", "test=3"]) == 0
    test = str(tmp_path / "d" / "test.jsonl")
    outs = tmp_path / "outs.jsonl"
    code = main(["eval", "stem", test, "-m", "a=tiny", "-m", "b=tiny", "--gated", "b", "--max-new-tokens", "4",
                 "--outputs", str(outs), "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["base"] == "a" and res["n"] == 3
    assert "gated" in res["methods"]["b"] and "gated" not in res["methods"]["a"]
    # the same tiny weights answer the same way: identical single-shot outcomes
    assert res["outputs"]["a"] == [{k: v for k, v in r.items() if k != "repair"} for r in res["outputs"]["b"]]
    rows = [json.loads(x) for x in outs.read_text().splitlines()]
    assert len(rows) == 6 and {r["method"] for r in rows} == {"a", "b"}
    # repairs exist exactly where the base answer failed
    wrong = [not r["solved"] for r in res["methods"]["a"]["single"]["items"]]
    assert [("repair" in r) for r in res["outputs"]["b"]] == wrong


def test_cli_eval_stem_bad_base(tmp_path, capsys):
    assert main(["data", "stem", "--out", str(tmp_path / "d"), "-n", "sft=0", "-n", "agent=0", "-n", "test=1"]) == 0
    code = main(["eval", "stem", str(tmp_path / "d" / "test.jsonl"), "-m", "a=tiny", "--base", "sft"])
    assert code == 1
    assert "--base 'sft' is not one of the models (a)" in capsys.readouterr().err
