"""Issue 27, data loss: a command deletes only what it can prove it wrote (the ``.cag-output``
manifest it left in an output folder); outputs are checked against inputs and each other
before any work; an output folder is locked for the command's life."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import SAMPLES

EXPORT_IN = SAMPLES / "agent_tools.jsonl"
TRAIN_IN = SAMPLES / "truth_dialogues.jsonl"
FAST = ["--epochs", "1", "--batch-size", "4", "--no-progress", "--threads", "1", "--mask", "do"]


def _tree(d) -> dict:
    """Every file under ``d`` with its bytes (what must survive a refused command)."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out


def _one_error(err: str) -> bool:
    return err.count("Error:") == 1 and err.strip().count("\n") == 0


# ---------------------------------------------------------------- export --overwrite


def test_export_overwrite_onto_its_input_is_refused(cag, tmp_path):
    src = tmp_path / "in.jsonl"
    shutil.copy(EXPORT_IN, src)
    before = src.read_bytes()
    code, _, err = cag("export", src, "-o", src, "--overwrite")
    assert code == 1 and "input" in err and _one_error(err), err
    assert src.read_bytes() == before


def test_export_overwrite_of_a_folder_holding_the_input_is_refused(cag, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(EXPORT_IN, data / "in.jsonl")
    (data / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    code, _, err = cag("export", data / "in.jsonl", "-o", data, "--overwrite")
    assert code == 1 and "input" in err and _one_error(err), err
    assert _tree(tmp_path) == before


def test_export_overwrite_of_the_parent_of_the_current_directory_is_refused(cag, tmp_path, monkeypatch):
    src = tmp_path / "in" / "x.jsonl"
    src.parent.mkdir()
    shutil.copy(EXPORT_IN, src)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    (tmp_path / "a" / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    code, _, err = cag("export", src, "-o", "..", "--overwrite")
    assert code == 1 and _one_error(err), err
    assert _tree(tmp_path) == before and work.is_dir()


def test_export_overwrite_of_a_folder_cag_did_not_write_is_refused(cag, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, _, err = cag("export", EXPORT_IN, "-o", other, "--overwrite")
    assert code == 1 and "cag export" in err and _one_error(err), err
    assert (other / "notes.txt").read_text() == "mine"


def test_export_overwrite_keeps_a_file_the_user_added_to_an_export(cag, tmp_path):
    out = tmp_path / "ex"
    assert cag("export", EXPORT_IN, "-o", out)[0] == 0
    assert ".cag-output" in os.listdir(out)
    (out / "notes.txt").write_text("mine")
    code, _, err = cag("export", EXPORT_IN, "-o", out, "--overwrite")
    assert code == 1 and "notes.txt" in err and _one_error(err), err
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    code, _, err = cag("export", EXPORT_IN, "-o", out, "--overwrite")  # its own export: replaced
    assert code == 0, err
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temp dir, no lock file left


def test_export_overwrite_of_a_plain_file_is_refused(cag, tmp_path):
    f = tmp_path / "results.parquet"
    f.write_bytes(b"mine")
    code, _, err = cag("export", EXPORT_IN, "-o", f, "--overwrite")
    assert code == 1 and _one_error(err), err
    assert f.read_bytes() == b"mine"


# ---------------------------------------------------------------- two exports, one folder


def test_second_export_to_one_folder_is_refused_while_the_first_runs(cag, tmp_path):
    from causal_agents.formats.runlock import run_lock

    out = tmp_path / "ex"
    with run_lock(str(out), directory=False):  # another cag export's lock on that folder
        code, _, err = cag("export", EXPORT_IN, "-o", out)
    assert code == 1 and "in use" in err and _one_error(err), err
    assert not out.exists()


def test_export_never_replaces_a_folder_that_appeared_while_it_ran(cag, tmp_path, monkeypatch):
    """The folder is checked again when the export is moved into place: another writer's
    result that appeared meanwhile is never moved aside and deleted."""
    from causal_agents.transcripts import accounting

    out = tmp_path / "ex"
    real = accounting.compute_stats

    def racing(*a, **k):
        out.mkdir()
        (out / "theirs.txt").write_text("the other export")
        return real(*a, **k)

    monkeypatch.setattr(accounting, "compute_stats", racing)
    code, _, err = cag("export", EXPORT_IN, "-o", out)
    assert code == 1 and "already exists" in err and _one_error(err), err
    assert os.listdir(out) == ["theirs.txt"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


# ---------------------------------------------------------------- cag train --out


def test_train_overwrite_of_a_folder_holding_the_training_data_is_refused(cag, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(TRAIN_IN, data / "train.jsonl")
    (data / "notes.txt").write_text("mine")
    (data / "cag_run.json").write_text("{}")  # looks like an earlier run in the same folder
    before = _tree(data)
    code, _, err = cag("train", data / "train.jsonl", "--out", data, "--overwrite", *FAST)
    assert code == 1 and "input" in err and _one_error(err), err
    assert _tree(data) == before


def test_train_overwrite_deletes_only_what_cag_train_wrote(cag, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "cag_run.json").write_text("{}")  # a run without a manifest: nothing proves cag wrote it
    (run / "notes.txt").write_text("mine")
    code, _, err = cag("train", TRAIN_IN, "--out", run, "--overwrite", *FAST)
    assert code == 1 and "notes.txt" in err and _one_error(err), err
    assert (run / "notes.txt").read_text() == "mine" and (run / "cag_run.json").exists()


def test_train_overwrite_replaces_its_own_run(cag, tmp_path):
    run = tmp_path / "run"
    code, _, err = cag("train", TRAIN_IN, "--out", run, *FAST)
    assert code == 0, err
    assert ".cag-output" in os.listdir(run)
    code, _, err = cag("train", TRAIN_IN, "--out", run, "--overwrite", *FAST)
    assert code == 0, err
    (run / "notes.txt").write_text("mine")  # a file the user added is in the way: refused
    code, _, err = cag("train", TRAIN_IN, "--out", run, "--overwrite", *FAST)
    assert code == 1 and "notes.txt" in err and _one_error(err), err
    assert (run / "notes.txt").read_text() == "mine" and (run / "cag_run.json").exists()


def test_fresh_train_into_a_folder_of_other_files_is_refused(cag, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text("mine")  # save_pretrained would replace it
    code, _, err = cag("train", TRAIN_IN, "--out", out, *FAST)
    assert code == 1 and "config.json" in err and _one_error(err), err
    assert os.listdir(out) == ["config.json"] and (out / "config.json").read_text() == "mine"


def test_rerun_after_a_kill_before_the_first_metrics_line_stops(cag, tmp_path):
    """Killed before its first metrics line: an empty metrics.jsonl (and the manifest). A plain
    rerun stops and names --resume and --overwrite; nothing is deleted."""
    from causal_agents.formats.outputs import claim

    run = tmp_path / "run"
    run.mkdir()
    claim(str(run), ["metrics.jsonl", "checkpoints"], "cag train")
    (run / "metrics.jsonl").write_bytes(b"")
    (run / "notes.txt").write_text("mine")
    before = _tree(run)
    code, _, err = cag("train", TRAIN_IN, "--out", run, *FAST)
    assert code == 1 and "--resume" in err and "--overwrite" in err and _one_error(err), err
    assert _tree(run) == before


def test_rerun_after_a_kill_without_a_manifest_stops(cag, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(b"")
    (run / "notes.txt").write_text("mine")
    before = _tree(run)
    code, _, err = cag("train", TRAIN_IN, "--out", run, *FAST)
    assert code == 1 and _one_error(err), err
    assert _tree(run) == before


# ---------------------------------------------------------------- outputs equal to inputs


@pytest.fixture(scope="module")
def scm_data(tmp_path_factory):
    from causal_agents.cli.main import main

    d = tmp_path_factory.mktemp("scm")
    data = str(d / "s.parquet")
    assert main(["scm", "data", "-o", data, "--k", "3", "--n", "200", "--graph", "chain"]) == 0
    return data


def test_scm_train_onto_its_data_is_refused(cag, scm_data, tmp_path):
    data = tmp_path / "s.parquet"
    shutil.copy(scm_data, data)
    before = data.read_bytes()
    code, _, err = cag("scm", "train", data, "-o", data, "--epochs", "1", "-q", "--model", "mlp")
    assert code == 1 and "input" in err and _one_error(err), err
    assert data.read_bytes() == before


def test_scm_train_metrics_onto_the_data_or_the_checkpoint_is_refused(cag, scm_data, tmp_path):
    data = tmp_path / "s.parquet"
    shutil.copy(scm_data, data)
    before = data.read_bytes()
    code, _, err = cag("scm", "train", data, "-o", tmp_path / "m.pt", "--metrics", data, "--epochs", "1", "-q",
                       "--model", "mlp")
    assert code == 1 and _one_error(err), err
    assert data.read_bytes() == before and not (tmp_path / "m.pt").exists()
    code, _, err = cag("scm", "train", data, "-o", tmp_path / "m.pt", "--metrics", tmp_path / "m.pt", "--epochs",
                       "1", "-q", "--model", "mlp")
    assert code == 1 and _one_error(err), err
    assert not (tmp_path / "m.pt").exists()


def test_show_html_onto_its_input_is_refused(cag, tmp_path):
    src = tmp_path / "in.jsonl"
    shutil.copy(EXPORT_IN, src)
    before = src.read_bytes()
    code, _, err = cag("show", src, "--html", src)
    assert code == 1 and _one_error(err), err
    assert src.read_bytes() == before


@pytest.mark.parametrize("name", ["page.jsonl", "page.txt", "page"])
def test_show_html_needs_an_html_name(cag, tmp_path, name):
    target = tmp_path / name
    target.write_bytes(b"mine")
    code, _, err = cag("show", EXPORT_IN, "--html", target)
    assert code == 1 and ".html" in err and _one_error(err), err
    assert target.read_bytes() == b"mine"


@pytest.mark.parametrize("name", ["d.jsonl", "d.csv", "d"])
def test_scm_data_needs_a_parquet_name(cag, tmp_path, name):
    target = tmp_path / name
    target.write_bytes(b"mine")
    code, _, err = cag("scm", "data", "-o", target, "--k", "3", "--n", "50")
    assert code == 1 and ".parquet" in err and _one_error(err), err
    assert target.read_bytes() == b"mine"


def test_scm_train_needs_a_pt_name(cag, scm_data, tmp_path):
    target = tmp_path / "m.parquet"
    target.write_bytes(b"mine")
    code, _, err = cag("scm", "train", scm_data, "-o", target, "--epochs", "1", "-q", "--model", "mlp")
    assert code == 1 and ".pt" in err and _one_error(err), err
    assert target.read_bytes() == b"mine"
