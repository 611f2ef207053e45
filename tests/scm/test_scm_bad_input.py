"""`cag scm`: bad simulator metadata, bad training options and non-finite metrics are one
clear line and a non-zero exit, never a traceback, an untrained checkpoint or a null metric."""

import json

import pytest

from causal_agents.cli.main import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("scmbad")
    path = d / "d.parquet"
    assert main(["scm", "data", "-o", str(path), "--k", "4", "--n", "300", "--graph", "chain"]) == 0
    return path


def _with_scm(src, dst, edit):
    """A copy of a `cag scm data` file whose SCM metadata ``edit`` changed (rows untouched)."""
    import pyarrow.parquet as pq

    t = pq.read_table(src)
    md = dict(t.schema.metadata)
    scm = json.loads(md[b"cag_scm"])
    edit(scm)
    md[b"cag_scm"] = json.dumps(scm).encode()  # json writes NaN as NaN
    pq.write_table(t.replace_schema_metadata(md), dst)
    return dst


def _nan_weight(s):
    s["weight"][0][1] = float("nan")


@pytest.mark.parametrize("edit, field", [
    (_nan_weight, "weight"),
    (lambda s: s.update(noise=float("inf")), "noise"),
    (lambda s: s.pop("k"), "k"),
    (lambda s: s.update(k="four"), "k"),
    (lambda s: s.update(adj=[[0, 1]]), "adj"),
    (lambda s: s.update(mechanism="cubic"), "mechanism"),
])
@pytest.mark.parametrize("command", ["train", "eval"])
def test_bad_scm_metadata_is_one_line(capsys, data, tmp_path, edit, field, command):
    bad = _with_scm(data, tmp_path / "bad.parquet", edit)
    if command == "train":
        code, _, err = run(capsys, "scm", "train", bad, "-o", tmp_path / "m.pt", "--epochs", "1", "-q")
        assert not (tmp_path / "m.pt").exists()
    else:
        model = tmp_path / "ok.pt"
        assert main(["scm", "train", str(data), "-o", str(model), "--epochs", "1", "-q"]) == 0
        capsys.readouterr()
        code, out, err = run(capsys, "scm", "eval", model, "--data", bad, "--n", "50", "--json")
        assert b"null" not in out.encode() if isinstance(out, str) else True
    assert code == 1, err
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
    assert str(bad) in err and field in err and "KeyError" not in err and "Traceback" not in err


@pytest.mark.parametrize("args, flag", [
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--patience", "-1"], "--patience"),
])
def test_bad_training_options_are_usage_errors(capsys, data, tmp_path, args, flag):
    out = tmp_path / "m.pt"
    code, _, err = run(capsys, "scm", "train", data, "-o", out, *args, "-q")
    assert code == 2, err
    assert flag in err and "Traceback" not in err and "range()" not in err
    assert not out.exists()


def test_a_non_finite_metric_is_an_error(capsys, data, tmp_path, monkeypatch):
    """Whatever makes a metric NaN, `scm eval` never prints it as null with exit 0."""
    import causal_agents.scm.evaluate as ev

    model = tmp_path / "m.pt"
    assert main(["scm", "train", str(data), "-o", str(model), "--epochs", "1", "-q"]) == 0
    capsys.readouterr()
    real = ev.prediction_metrics

    def nan_mse(*a, **k):
        r = real(*a, **k)
        r["mse"] = float("nan")
        return r

    monkeypatch.setattr(ev, "prediction_metrics", nan_mse)
    code, out, err = run(capsys, "scm", "eval", model, "--n", "50", "--json")
    assert code == 1, (out, err)
    assert "mse" in err and out == ""
