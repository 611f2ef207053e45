"""Wilson intervals against published values, and solve accuracy overall / per skill."""

import orjson
import pytest

from causal_agents.cli.main import main
from causal_agents.stem.wilson import wilson
from causal_agents.stem.problems import generate
from causal_agents.stem.evaluate import evaluate


@pytest.mark.parametrize("k,n,lo,hi", [
    # published 95% Wilson values (as statsmodels proportion_confint(k, n, method="wilson") gives)
    (5, 10, 0.236593, 0.763407),
    (0, 10, 0.0, 0.277533),
    (10, 10, 0.722467, 1.0),
    (85, 100, 0.767164, 0.906940),
    (42, 100, 0.327984, 0.517935),
    (1, 1, 0.206549, 1.0),
])
def test_wilson_known_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-6)


@pytest.mark.parametrize("k,n", [(1, 3), (7, 20), (63, 100), (499, 500)])
def test_wilson_endpoints_invert_the_score_test(k, n):
    # Independent of the closed form: each endpoint p solves (k/n - p)^2 = z^2 p (1 - p) / n.
    z = 1.959963984540054
    for p in wilson(k, n):
        assert (k / n - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, rel=1e-9, abs=1e-15)


def test_wilson_edges_and_errors():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(3, 7)
    assert 0 < lo < 3 / 7 < hi < 1
    # wider z, wider interval
    assert wilson(3, 7, z=2.576)[0] < lo
    for k, n in [(-1, 5), (6, 5), (0, -1)]:
        with pytest.raises(ValueError):
            wilson(k, n)


@pytest.fixture(scope="module")
def items():
    return generate(2, {"sft": 0, "agent": 0, "test": 20})["test"]


def test_evaluate_overall_and_per_skill(items):
    # solve every item of the first five skills (in sorted order), fail the others
    solved_skills = sorted({p["skill"] for p in items})[:5]
    outs = [p["solution"] if p["skill"] in solved_skills else "Final answer: -12345" for p in items]
    r = evaluate(items, outs)
    expect_k = sum(p["skill"] in solved_skills for p in items)
    assert r["overall"]["n"] == 20 and r["overall"]["solved"] == expect_k
    assert r["overall"]["accuracy"] == expect_k / 20
    assert r["overall"]["ci95"] == list(wilson(expect_k, 20))
    assert len(r["per_skill"]) == 10
    for skill, cell in r["per_skill"].items():
        assert cell["n"] == 2
        assert cell["accuracy"] == (1.0 if skill in solved_skills else 0.0)
    assert sum(c["n"] for c in r["per_domain"].values()) == 20
    assert [i["solved"] for i in r["items"]] == [p["skill"] in solved_skills for p in items]


def test_protocols_single_vs_gated(items):
    # first attempt wrong, repair right
    outs = [["Final answer: -12345", p["solution"]] for p in items]
    assert evaluate(items, outs, "single")["overall"]["solved"] == 0
    assert evaluate(items, outs, "gated")["overall"]["solved"] == 20
    assert evaluate(items, [o[1] for o in outs])["overall"]["solved"] == 20


def test_evaluate_errors(items):
    with pytest.raises(ValueError, match="outputs"):
        evaluate(items, ["x"])
    with pytest.raises(ValueError, match="protocol"):
        evaluate(items, ["x"] * 20, "best")
    with pytest.raises(ValueError, match="no output"):
        evaluate(items[:1], [[]])


def _write_jsonl(path, rows):
    path.write_text("".join(orjson.dumps(r).decode() + "\n" for r in rows))
    return str(path)


@pytest.fixture()
def problem_file(tmp_path, items):
    return _write_jsonl(tmp_path / "test.jsonl", items)


def test_cli_stem_grade_json(tmp_path, items, problem_file, capsys):
    outs = [{"id": p["id"], "outputs": ["Final answer: -12345", p["solution"]]} if i % 2 else
            {"id": p["id"], "output": p["solution"]} for i, p in enumerate(items)]
    out_file = _write_jsonl(tmp_path / "o.jsonl", outs)
    assert main(["data", "stem-grade", problem_file, out_file, "--json"]) == 0
    r = orjson.loads(capsys.readouterr().out)
    assert (r["protocol"], r["overall"]["solved"], r["overall"]["n"]) == ("single", 10, 20)
    assert main(["data", "stem-grade", problem_file, out_file, "--protocol", "gated", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["overall"]["solved"] == 20
    assert main(["data", "stem-grade", problem_file, out_file]) == 0  # the table goes to stderr
    captured = capsys.readouterr()
    assert captured.out == "" and "Wilson 95%" in captured.err


@pytest.mark.parametrize("mutate,msg", [
    (lambda rows: rows[:-1], "have no output"),
    (lambda rows: rows + [{"id": "nope", "output": "1"}], "no problem with id 'nope'"),
    (lambda rows: [{"id": rows[0]["id"], "output": 3}] + rows[1:], "expected 'output'"),
    (lambda rows: [{"id": rows[0]["id"], "outputs": []}] + rows[1:], "expected 'output'"),
])
def test_cli_stem_grade_bad_outputs(tmp_path, items, problem_file, capsys, mutate, msg):
    rows = [{"id": p["id"], "output": p["solution"]} for p in items]
    out_file = _write_jsonl(tmp_path / "o.jsonl", mutate(rows))
    assert main(["data", "stem-grade", problem_file, out_file]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and msg in err and "o.jsonl" in err and err.count("\n") == 1


def test_cli_stem_grade_bad_problem_file_and_protocol(tmp_path, items, problem_file, capsys):
    out_file = _write_jsonl(tmp_path / "o.jsonl", [{"id": p["id"], "output": "1"} for p in items])
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "a", "question": "q", "answer": 1}\n{not json\n')
    assert main(["data", "stem-grade", str(bad), out_file]) == 1
    assert "p.jsonl:2" in capsys.readouterr().err
    _write_jsonl(bad, [{"id": "a", "question": "q"}])
    assert main(["data", "stem-grade", str(bad), out_file]) == 1
    assert "field 'answer'" in capsys.readouterr().err
    assert main(["data", "stem-grade", problem_file, out_file, "--protocol", "best"]) == 1
    assert "--protocol expects" in capsys.readouterr().err
