"""`cag scm` end to end through the CLI, plus its bad-input contract."""

import json
import os

import pytest
from causal_agents.cli.main import main

SUBCOMMANDS = ("data", "train", "plan", "eval", "bench")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help(capsys, sub):
    code, out, _ = run(capsys, "scm", sub, "--help")
    assert code == 0 and "Usage" in out and len(out) > 200


def test_help_text_documented():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "README-scm.md")).read()
    for sub in SUBCOMMANDS:
        assert f"cag scm {sub}" in doc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("scm")
    data, model = str(d / "d.parquet"), str(d / "m.pt")
    assert main(["scm", "data", "-o", data, "--k", "5", "--n", "800", "--graph", "chain"]) == 0
    assert main(["scm", "train", data, "-o", model, "--epochs", "2", "-q", "--metrics",
                 str(d / "m.jsonl")]) == 0
    return d, data, model


def test_end_to_end(capsys, trained):
    d, data, model = trained
    lines = open(d / "m.jsonl").read().splitlines()
    assert len(lines) == 2 and "val_mse" in json.loads(lines[0])
    code, out, _ = run(capsys, "scm", "eval", model, "--n", "300", "--json")
    r = json.loads(out)
    assert code == 0 and {"cf_mse", "intervention_mse", "abduction_mse"} <= set(r["prediction"])
    assert {"shd", "tpr", "fdr", "empty"} <= set(r["graph"])
    code, out, _ = run(capsys, "scm", "plan", model, "--episodes", "20", "--json")
    r = json.loads(out)
    assert code == 0 and r["true"]["episodes"] == 20 and "goal_rate" in r["label"]
    assert "rank_corr" in r["detector"]


def test_unknown_graph_one_line_no_file(capsys, tmp_path):
    out = tmp_path / "x.parquet"
    code, _, err = run(capsys, "scm", "data", "-o", str(out), "--graph", "ring")
    assert code == 1 and err.count("\n") == 1 and "unknown graph type 'ring'" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_k_below_two(capsys, tmp_path):
    code, _, err = run(capsys, "scm", "data", "-o", str(tmp_path / "x.parquet"), "--k", "1")
    assert code == 1 and "K must be at least 2" in err and not list(tmp_path.iterdir())


def test_model_from_a_different_k(capsys, trained, tmp_path):
    _, _, model = trained
    other = str(tmp_path / "k7.parquet")
    assert main(["scm", "data", "-o", other, "--k", "7", "--n", "50"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "scm", "eval", model, "--data", other)
    assert code == 1 and "K=5" in err and "K=7" in err and err.count("\n") == 1
    ck = str(tmp_path / "resume.pt")
    assert main(["scm", "train", other, "-o", ck, "--epochs", "1", "-q"]) == 0
    capsys.readouterr()
    _, data5, _ = trained
    code, _, err = run(capsys, "scm", "train", data5, "-o", ck, "--epochs", "2", "--resume", "-q")
    assert code == 1 and "Error:" in err


def test_nan_in_data(capsys, tmp_path, trained):
    import pyarrow.parquet as pq

    _, data, _ = trained
    t = pq.read_table(data)
    col = t.column("a_val").to_pylist()
    col[3] = float("nan")
    import pyarrow as pa

    bad = str(tmp_path / "bad.parquet")
    pq.write_table(t.set_column(t.column_names.index("a_val"), "a_val", pa.array(col)), bad)
    out = str(tmp_path / "m.pt")
    code, _, err = run(capsys, "scm", "train", bad, "-o", out, "--epochs", "1", "-q")
    assert code == 1 and "NaN" in err and "a_val" in err and ":3:" in err
    assert not os.path.exists(out)


def test_impossible_threshold(capsys, trained):
    _, _, model = trained
    code, _, err = run(capsys, "scm", "plan", model, "--safe-thr", "-5")
    assert code == 1 and "impossible" in err


def test_bench_quick_json_and_resume(capsys, tmp_path):
    out = str(tmp_path / "bench")
    code, stdout, _ = run(capsys, "scm", "bench", "--quick", "-o", out, "--json")
    assert code == 0
    cells = json.loads(stdout)
    assert {c["model"] for c in cells} == {"aclscm", "transformer"}
    for c in cells:
        assert {"model", "variant", "seeds", "cf_mse", "true", "label"} <= set(c)
        for sc in ("true", "label"):
            assert {"goal_rate", "violation_rate", "appropriate_deferral", "cf_mse"} <= set(c[sc]["paper"])
    assert os.path.exists(os.path.join(out, "results.md"))
    runs = sorted(os.listdir(os.path.join(out, "runs")))
    mtimes = [os.path.getmtime(os.path.join(out, "runs", r)) for r in runs]
    code, stdout2, _ = run(capsys, "scm", "bench", "--quick", "-o", out, "--json")
    assert code == 0 and json.loads(stdout2) == cells
    assert [os.path.getmtime(os.path.join(out, "runs", r)) for r in runs] == mtimes


def test_bench_refuses_unknown_variant(capsys, tmp_path):
    code, _, err = run(capsys, "scm", "bench", "--quick", "-o", str(tmp_path / "b"), "--variants", "magic")
    assert code == 1 and "unknown variant" in err


@pytest.mark.parametrize("shard", ["1/1", "x/2", "2", "-1/3"])
def test_bench_bad_shard_is_a_usage_error(capsys, tmp_path, shard):
    code, _, err = run(capsys, "scm", "bench", "--quick", "-o", str(tmp_path / "b"), "--shard", shard)
    assert code == 2 and "0 <= i < n" in err and not (tmp_path / "b").exists()


def test_shard_check_survives_python_O(tmp_path):
    """The shard check is a raise, not an assert: it holds under python -O."""
    import subprocess
    import sys

    code = "from causal_agents.scm.bench import parse_shard\ntry:\n parse_shard('3/2')\nexcept Exception as e:\n print(type(e).__name__)"
    r = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "InputError"


def test_cli_defaults_come_from_the_library():
    """Changing a config dataclass default changes the CLI's: none is retyped in cli/scm.py."""
    import inspect

    from causal_agents.cli import scm as cli_scm

    from causal_agents.scm.config import DataConfig, ModelConfig, TaskSpec, TrainConfig

    def defaults(fn):
        return {k: p.default for k, p in inspect.signature(fn).parameters.items()}

    tr = defaults(cli_scm.train_cmd)
    assert tr["epochs"] == TrainConfig.epochs and tr["lr"] == TrainConfig.lr and tr["model"] == ModelConfig.model
    assert tr["structure_on"] == ModelConfig.structure_on and tr["logit_init"] == ModelConfig.logit_init
    assert defaults(cli_scm.data_cmd)["n"] == DataConfig.n
    assert defaults(cli_scm.plan_cmd)["episodes"] == TaskSpec.episodes
    src = inspect.getsource(cli_scm)
    assert "default 1" not in src and "default 0." not in src and "assert " not in src


def test_eval_probe_actions(capsys, trained):
    _, _, model = trained
    code, out, _ = run(capsys, "scm", "eval", model, "--n", "100", "--probe-actions", "--json")
    r = json.loads(out)
    assert code == 0 and [row["value"] for row in r["probe"]["rows"]][-1] == 2.5
    code, _, err = run(capsys, "scm", "eval", model, "--n", "100", "--probe-actions")
    assert code == 0 and "extrapolation probe" in err and "NO" in err
    code, _, err = run(capsys, "scm", "eval", model, "--probe-actions", "--probe-factor", "9")
    assert code == 1 and err.count("\n") == 1 and "probe_factor" in err


def test_train_new_options_and_their_bad_input(capsys, trained, tmp_path):
    d, data, _ = trained
    out = str(tmp_path / "t.pt")
    code, stdout, _ = run(capsys, "scm", "train", data, "-o", out, "--model", "transformer_orig", "--epochs", "2",
                          "--patience", "1", "--cf-supervision", "observed", "--json", "-q")
    r = json.loads(stdout)
    assert code == 0 and r["epochs_run"] == 2 and r["weights"] == "last" and r["n_train"] == 2 * 720
    code, _, err = run(capsys, "scm", "train", data, "-o", str(tmp_path / "u.pt"), "--cf-supervision", "true", "-q")
    assert code == 1 and "cf_supervision" in err and not (tmp_path / "u.pt").exists()


def test_data_hold_out_targets(capsys, tmp_path):
    ok, bad = tmp_path / "ok.parquet", tmp_path / "bad.parquet"
    assert main(["scm", "data", "-o", str(ok), "--k", "4", "--n", "100", "--hold-out-targets", "0,3"]) == 0
    import pyarrow.parquet as pq

    assert set(pq.read_table(ok).column("a_idx").to_pylist()) <= {-1, 1, 2}
    capsys.readouterr()
    code, _, err = run(capsys, "scm", "data", "-o", str(bad), "--k", "4", "--hold-out-targets", "4")
    assert code == 1 and err.count("\n") == 1 and "hold_out_targets" in err and not bad.exists()


def test_plan_new_tasks(capsys, trained):
    _, _, model = trained
    for task in ("in_range", "two_factor"):
        code, out, _ = run(capsys, "scm", "plan", model, "--task", task, "--episodes", "20", "--json")
        assert code == 0 and json.loads(out)["task"]["task"] == task
    code, _, err = run(capsys, "scm", "plan", model, "--task", "ood")
    assert code == 1 and "unknown task 'ood'" in err
