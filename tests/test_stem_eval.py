"""Wilson intervals against published values, and solve accuracy overall / per skill."""

import pytest

from causal_agents.stats_ci import wilson
from causal_agents.stem import generate
from causal_agents.stem_eval import evaluate


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
