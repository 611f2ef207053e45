"""One clear line instead of internals (issue 27): a tokenizer.json of the wrong shape, a
closed stdout, a full disk during a checkpoint save; and a rewritten output keeps its mode."""

import glob
import os
import stat
import subprocess
import sys

import pytest

from conftest import SAMPLES

CLI = [sys.executable, "-m", "causal_agents.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
DATA = SAMPLES / "truth_dialogues.jsonl"


@pytest.mark.parametrize("content", [
    '{"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}',   # no added_tokens
    '[1, 2]',
    '{"added_tokens": "x", "model": 3}',
    '{',
])
def test_tokenizer_json_of_the_wrong_shape_is_one_line(cag, tmp_path, content):
    d = tmp_path / "tok"
    d.mkdir()
    (d / "tokenizer.json").write_text(content)
    code, _, err = cag("stats", DATA, "--tokenizer", d)
    assert code == 1, err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert str(d) in err and "tokenizer" in err
    assert "KeyError" not in err.split(":", 2)[1] and "CAG_DEBUG" not in err and "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["show", str(SAMPLES / "sharegpt.jsonl")],
    ["tag", str(SAMPLES / "sharegpt.jsonl")],
    ["stats", str(SAMPLES / "sharegpt.jsonl"), "--json"],
])
def test_closed_stdout_is_one_line(args):
    """`cag ... >&-`: Python starts with sys.stdout None."""
    r = subprocess.run([*CLI, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=lambda: os.close(1), timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: ") and err.count("Error") == 1 and "stdout" in last, err
    assert "AttributeError" not in err and "NoneType" not in err and "Traceback" not in err


def test_closed_stdout_does_not_stop_a_command_writing_a_file(tmp_path):
    out = tmp_path / "t.jsonl"
    r = subprocess.run([*CLI, "tag", str(SAMPLES / "sharegpt.jsonl"), "-o", str(out)], env=ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert out.exists()


def _disk_full(monkeypatch):
    import torch

    def full(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing "
                           "file data/3: file write failed")

    monkeypatch.setattr(torch, "save", full)


def test_disk_full_during_scm_checkpoint_is_one_line_naming_the_file(cag, tmp_path, monkeypatch):
    data, ck = tmp_path / "d.parquet", tmp_path / "m.pt"
    assert cag("scm", "data", "-o", data, "--k", "4", "--n", "200")[0] == 0
    _disk_full(monkeypatch)
    code, _, err = cag("scm", "train", data, "-o", ck, "--epochs", "1", "-q")
    assert code == 1, err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert str(ck) in err and "inline_container" not in err and "RuntimeError" not in err
    assert not ck.exists() and not glob.glob(str(tmp_path / ".*.tmp"))


def test_disk_full_during_train_checkpoint_is_one_line_naming_the_file(cag, tmp_path, monkeypatch):
    _disk_full(monkeypatch)
    out = tmp_path / "run"
    code, _, err = cag("train", DATA, "--mask", "obs", "--epochs", "1", "--batch-size", "4", "--no-progress",
                       "--threads", "1", "--max-steps", "1", "--out", out)
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "step-00000001.pt" in last and "inline_container" not in last, err
    assert not (out / "cag_run.json").exists()


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz", "t.parquet"])
def test_rewriting_a_private_output_keeps_it_private(cag, tmp_path, name):
    out = tmp_path / name
    assert cag("tag", SAMPLES / "sharegpt.jsonl", "-o", out)[0] == 0
    os.chmod(out, 0o600)
    assert cag("tag", SAMPLES / "sharegpt.jsonl", "-o", out)[0] == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_atomic_path_keeps_the_target_mode(tmp_path):
    from causal_agents.formats.io import atomic_path

    p = tmp_path / "x.json"
    p.write_text("old")
    os.chmod(p, 0o640)
    with atomic_path(str(p)) as tmp:
        open(tmp, "w").write("new")
    assert p.read_text() == "new" and stat.S_IMODE(os.stat(p).st_mode) == 0o640
