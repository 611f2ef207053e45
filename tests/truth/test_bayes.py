"""The worked example of "Causal interactive LLM agents that tell the truth" (de Freitas and Ortega, 2026, sec. 4) and its CLI."""

import json

import pytest

from causal_agents.truth.bayes import Model, paper_example, parse_sequence, run
from causal_agents.cli.main import main


def test_paper_numbers():
    r = paper_example()
    s1, s2 = r["steps"]
    assert s1["writer"] == "agent" and s1["symbol"] == "A" and s1["chosen_by_agent"]
    assert s1["policy"]["B"] == pytest.approx(0.345)
    assert s1["observational"]["p_B"] == pytest.approx(0.1069, abs=5e-5)
    assert s1["interventional"]["p_B"] == pytest.approx(0.35)
    assert s2["writer"] == "world" and s2["symbol"] == "B"
    assert s2["interventional"]["p_B"] == pytest.approx(0.8116, abs=5e-5)
    assert s2["observational"]["p_B"] == pytest.approx(0.4891, abs=5e-5)


def test_agent_symbols_never_move_the_interventional_posterior():
    m = Model({"h1": 0.5, "h2": 0.5}, {"h1": {"x": 0.9, "y": 0.1}, "h2": {"x": 0.2, "y": 0.8}})
    r = run(m, parse_sequence("do(x) do(x) do(y)", m))
    for st in r["steps"]:
        assert st["interventional"] == pytest.approx({"h1": 0.5, "h2": 0.5})
    # the same symbols written by the world do move it
    r = run(m, parse_sequence("x x y", m))
    assert r["steps"][-1]["interventional"] == pytest.approx(r["steps"][-1]["observational"])
    assert r["steps"][-1]["interventional"]["h1"] != pytest.approx(0.5)


def test_cli_default_prints_paper_example(capsys):
    assert main(["bayes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [round(s["observational"]["p_B"], 4) for s in out["steps"]] == [0.1069, 0.4891]
    assert [round(s["interventional"]["p_B"], 4) for s in out["steps"]] == [0.35, 0.8116]
    assert main(["bayes"]) == 0
    err = capsys.readouterr().err
    for num in ("0.3450", "0.1069", "0.8116", "0.4891"):
        assert num in err


def test_cli_custom_arguments(capsys):
    assert main(["bayes", "--prior", "a=1,b=1", "--kernel", "a:x=1.0,y=0.0", "--kernel", "b:x=0.5,y=0.5",
                 "--sequence", "y", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"][0]["interventional"]["b"] == pytest.approx(1.0)


@pytest.mark.parametrize("args, needle", [
    (["--sequence", "Z"], "unknown symbol"),
    (["--prior", "p_B=abc"], "NAME=NUMBER"),
    (["--kernel", "p_B:A=0.5,B=0.1", "--kernel", "p_A:A=0.9,B=0.1"], "summing to 1"),
    (["--prior", "q=1"], "priors name"),
])
def test_cli_bad_input(args, needle, capsys):
    assert main(["bayes", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error:") and needle in err and len(err.strip().splitlines()) == 1
