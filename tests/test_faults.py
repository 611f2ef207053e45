"""Faults, signals and crafted files (issue 11): nothing lost, nothing run that should not run.

Subprocess tests drive the real CLI (``python -m causal_agents.cli``) and send it signals;
the rest call it in-process. No test touches the machine's device nodes: FIFOs and private
nodes live under tmp_path.
"""

from __future__ import annotations

import glob
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import orjson
import pytest

from conftest import SAMPLES

CLI = [sys.executable, "-m", "causal_agents.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _lines(n: int, text: str = "hello") -> bytes:
    return b"".join(orjson.dumps({"id": str(i), "messages": [{"role": "user", "content": f"{text} {i}"},
                                                             {"role": "assistant", "content": "ok"}]}) + b"\n"
                    for i in range(n))


def _temps(d) -> list[str]:
    return glob.glob(os.path.join(str(d), ".*.tmp")) + glob.glob(os.path.join(str(d), "**", ".*.tmp"),
                                                                   recursive=True)


def _wait(pred, timeout: float = 60.0) -> bool:
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- 1. output paths


@pytest.mark.parametrize("name", ["notes.txt", "OUT.JSONL", "keep.csv"])
@pytest.mark.parametrize("opt", ["-o", "--rejects"])
def test_unknown_output_type_keeps_the_target(cag, tmp_path, name, opt):
    target = tmp_path / name
    target.write_text("precious\n")
    args = ["tag", SAMPLES / "sharegpt.jsonl", opt, target]
    if opt == "--rejects":
        args += ["--on-error", "skip", "-o", tmp_path / "t.jsonl"]
    code, out, err = cag(*args)
    assert code == 1 and "unknown output type" in err and err.count("\n") == 1
    assert target.read_text() == "precious\n"
    assert not (tmp_path / "t.jsonl").exists() and not _temps(tmp_path)


def test_output_equal_to_input_or_rejects_refused(cag, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(_lines(3))
    code, _, err = cag("tag", src, "-o", src)
    assert code == 1 and "also an input" in err and src.read_bytes() == _lines(3)
    both = tmp_path / "both.jsonl"
    code, _, err = cag("tag", src, "-o", both, "--on-error", "skip", "--rejects", both)
    assert code == 1 and "same file" in err and not both.exists()


def test_data_dialogues_and_stream_check_output_before_work(cag, tmp_path):
    keep = tmp_path / "keep.csv"
    keep.write_text("x")
    code, _, err = cag("data", "dialogues", "--facts", SAMPLES / "facts-33.json", "-n", "3", "-o", keep)
    assert code == 1 and "unknown output type" in err and keep.read_text() == "x"
    # stream refuses before loading a model or rolling anything out
    code, _, err = cag("stream", tmp_path / "missing.jsonl", "-o", keep)
    assert code == 1 and "unknown output type" in err and keep.read_text() == "x"


def test_fifo_output_written_directly_not_replaced(tmp_path):
    fifo = tmp_path / "out.jsonl"  # a valid name: only the node type may decide
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    r = subprocess.run([*CLI, "tag", SAMPLES / "sharegpt.jsonl", "-o", fifo], env=ENV, capture_output=True,
                       timeout=120)
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].count(b"\n") >= 1 and orjson.loads(got[0].splitlines()[0])["segments"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_private_device_node_not_replaced(cag, tmp_path):
    node = tmp_path / "node.jsonl"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private null device, under tmp_path
    code, _, err = cag("tag", SAMPLES / "sharegpt.jsonl", "-o", node)
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert not _temps(tmp_path)


# ---------------------------------------------------------------- 2. signals


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_exits_non_zero_and_cleans_up(tmp_path, sig, code):
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    out = tmp_path / "out.jsonl"
    out.write_text("earlier output\n")
    p = subprocess.Popen([*CLI, "tag", fifo, "-o", out], env=ENV, stderr=subprocess.PIPE)
    w = open(fifo, "wb")  # cag is now blocked reading: some records in, the temp file open
    w.write(_lines(5))
    w.flush()
    assert _wait(lambda: _temps(tmp_path)), "cag never opened its temp output"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    w.close()
    assert p.returncode == code
    assert "interrupted" in err.decode()
    assert out.read_text() == "earlier output\n"
    assert not _temps(tmp_path)


def _children(pid: int) -> list[int]:
    kids = []
    for stat_file in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat_file).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat_file.split("/")[2]))
    return kids


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_the_parent(tmp_path, sig):
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as f:
        block = _lines(2000, "x" * 400)
        while f.tell() < 40 << 20:  # well over 2 blocks: the parallel path
            f.write(block)
    p = subprocess.Popen([*CLI, "tag", big, "--workers", "2", "-o", tmp_path / "out.jsonl"], env=ENV,
                         stderr=subprocess.PIPE)
    assert _wait(lambda: len(_children(p.pid)) >= 2), "no workers started"
    kids = _children(p.pid)
    p.send_signal(sig)
    p.communicate(timeout=60)
    assert _wait(lambda: not any(_alive(k) for k in kids), 30), "orphaned workers"
    if sig == signal.SIGTERM:
        assert p.returncode == 143
        assert not _temps(tmp_path) and not (tmp_path / "out.jsonl").exists()


# ---------------------------------------------------------------- 3 + 4. checkpoints


class _Payload:
    """Unpickling this runs Path.touch: the harmless stand-in for an attacker's code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_malicious_checkpoint_refused_not_run(cag, tmp_path):
    import torch

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model_cfg": {}, "scm": {}, "x": _Payload(str(marker))}, evil)
    for args in (("scm", "eval", evil), ("scm", "plan", evil)):
        code, _, err = cag(*args)
        assert code == 1 and "refused" in err, err
        assert not marker.exists()


def test_malicious_train_checkpoint_refused_on_resume(cag, tmp_path):
    import torch

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"fingerprint": _Payload(str(marker))}, run / "checkpoints" / "step-00000001.pt")
    code, _, err = cag("train", SAMPLES / "truth_dialogues.jsonl", "--mask", "do", "--out", run, "--resume",
                       "--epochs", "1", "--no-progress")
    assert code == 1 and "refused" in err and not marker.exists()


def test_no_unsafe_torch_load_in_the_source():
    root = SAMPLES.parent
    hits = [p for d in ("causal_agents", "cli", "formats") for p in glob.glob(str(root / d / "**" / "*.py"),
                                                                            recursive=True)
            if "weights_only=False" in open(p).read()]
    assert hits == []


@pytest.fixture(scope="module")
def scm_ckpt(tmp_path_factory):
    from causal_agents.cli.main import main

    d = tmp_path_factory.mktemp("scm")
    data = str(d / "d.parquet")
    assert main(["scm", "data", "-o", data, "--k", "3", "--n", "300", "--graph", "chain"]) == 0
    ck = str(d / "m.pt")
    assert main(["scm", "train", data, "-o", ck, "--epochs", "2", "-q", "--model", "mlp"]) == 0
    return data, ck


def _flip_inside_tensor(path, out):
    import zipfile

    raw = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)  # the largest tensor
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    raw[at] ^= 0x40
    open(out, "wb").write(bytes(raw))


def test_flipped_bytes_zero_length_and_truncated_checkpoint(cag, scm_ckpt, tmp_path):
    _, ck = scm_ckpt
    flipped = tmp_path / "flipped.pt"
    _flip_inside_tensor(ck, flipped)
    code, _, err = cag("scm", "eval", flipped, "--n", "50")
    assert code == 1 and "checksum" in err and err.count("\n") == 1, err
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    code, _, err = cag("scm", "eval", empty)
    assert code == 1 and "empty" in err and err.count("\n") == 1
    cut = tmp_path / "cut.pt"
    cut.write_bytes(open(ck, "rb").read()[:-100])
    code, _, err = cag("scm", "eval", cut)
    assert code == 1 and "truncated or corrupt" in err and err.count("\n") == 1


def test_empty_train_checkpoint_one_line(cag, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step-00000002.pt").write_bytes(b"")
    code, _, err = cag("train", SAMPLES / "truth_dialogues.jsonl", "--mask", "do", "--out", run, "--resume",
                       "--epochs", "1", "--no-progress")
    assert code == 1 and "empty" in err and "Aborted" not in err


def test_torn_metrics_line_does_not_block_resume(tmp_path):
    from causal_agents.training.rundir import truncate_metrics

    m = tmp_path / "metrics.jsonl"
    m.write_bytes(b'{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    truncate_metrics(str(m), 2)
    assert [orjson.loads(x)["step"] for x in m.read_bytes().splitlines()] == [1, 2]


# ---------------------------------------------------------------- 5. runs that mix


def test_overwrite_leaves_nothing_of_the_old_run(tmp_path):
    from causal_agents.errors import CagError
    from causal_agents.formats.outputs import MANIFEST, claim
    from causal_agents.training.rundir import COMMAND, RUN_MARKER, clear_run_dir

    run = tmp_path / "run"
    names = (RUN_MARKER, "adapter_model.safetensors", "adapter_config.json", "base")
    claim(str(run), names, COMMAND)  # listed before written, as a run does
    (run / "base").mkdir(parents=True)
    for name in (RUN_MARKER, "adapter_model.safetensors", "adapter_config.json", "base/model.safetensors"):
        (run / name).write_text("old")
    clear_run_dir(str(run))
    assert os.listdir(run) == [MANIFEST]
    other = tmp_path / "not-a-run"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    (other / RUN_MARKER).write_text("{}")
    with pytest.raises(CagError, match="mine.txt"):  # nothing proves cag wrote it: never emptied
        clear_run_dir(str(other))
    assert (other / "mine.txt").exists() and (other / RUN_MARKER).exists()


def test_rerun_of_interrupted_train_refuses(cag, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ck = run / "checkpoints" / "step-00000004.pt"
    ck.write_bytes(b"progress")
    code, _, err = cag("train", SAMPLES / "truth_dialogues.jsonl", "--mask", "do", "--out", run, "--epochs", "1",
                       "--no-progress")
    assert code == 1 and "--resume" in err and "--overwrite" in err
    assert ck.read_bytes() == b"progress"


def test_save_final_writes_the_marker_before_dropping_checkpoints(tmp_path, monkeypatch):
    from causal_agents.training import rundir

    seen = []
    real = rundir.shutil.rmtree

    def rmtree(p, *a, **k):
        if str(p).endswith("checkpoints"):
            seen.append(os.path.exists(os.path.join(os.path.dirname(p), rundir.RUN_MARKER)))
        return real(p, *a, **k)

    class Fake:
        def save_pretrained(self, d, **k):
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "model.bin"), "w").write("m")

    class Cfg:
        lora, model = False, None

        def as_dict(self):
            return {}

    (tmp_path / "checkpoints").mkdir()
    monkeypatch.setattr(rundir.shutil, "rmtree", rmtree)
    rundir.save_final(Fake(), Fake(), Cfg(), str(tmp_path), {"done": True})
    assert seen == [True]


def test_scm_resume_refuses_changed_settings_or_data(cag, scm_ckpt, tmp_path):
    import shutil

    data, ck = scm_ckpt
    mine = tmp_path / "m.pt"
    shutil.copy(ck, mine)
    for extra in (["--lr", "0.01"], ["--batch-size", "32"], ["--seed", "3"]):
        code, _, err = cag("scm", "train", data, "-o", mine, "--epochs", "3", "-q", "--model", "mlp", "--resume",
                           *extra)
        assert code == 1 and "different" in err, (extra, err)
    other = tmp_path / "other.parquet"
    assert cag("scm", "data", "-o", other, "--k", "3", "--n", "300", "--graph", "chain", "--seed", "9")[0] == 0
    code, _, err = cag("scm", "train", other, "-o", mine, "--epochs", "3", "-q", "--model", "mlp", "--resume")
    assert code == 1 and "data" in err
    code, _, err = cag("scm", "train", data, "-o", mine, "--epochs", "3", "-q", "--model", "mlp", "--resume")
    assert code == 0, err


def test_bench_run_key_covers_everything_that_changes_a_result():
    from causal_agents.scm.bench import make_config, plan_runs

    keys = lambda c: {r["key"] for r in plan_runs(c)}  # noqa: E731
    base = make_config(quick=True)
    for change in (dict(epochs=40), dict(patience=7), dict(episodes=12)):
        c = make_config(quick=True)
        for k, v in change.items():
            setattr(c, k, v)
        assert not keys(c) & keys(base), change


# ---------------------------------------------------------------- 6. one writer per run


def test_second_writer_on_a_run_directory_refused(cag, tmp_path):
    from causal_agents.formats.runlock import run_lock

    run = tmp_path / "run"
    with run_lock(str(run)):  # another process's run, as far as flock is concerned
        code, _, err = cag("train", SAMPLES / "truth_dialogues.jsonl", "--mask", "do", "--out", run, "--epochs",
                           "1", "--no-progress")
    assert code == 1 and "in use" in err and err.count("Error:") == 1
    assert not (run / "metrics.jsonl").exists()


def test_second_scm_writer_refused(cag, scm_ckpt, tmp_path):
    from causal_agents.formats.runlock import run_lock

    data, _ = scm_ckpt
    ck = tmp_path / "m.pt"
    with run_lock(str(ck), directory=False):
        code, _, err = cag("scm", "train", data, "-o", ck, "--epochs", "1", "-q", "--model", "mlp")
    assert code == 1 and "in use" in err and not ck.exists()


def test_lock_released_when_the_holder_is_killed(tmp_path):
    from causal_agents.formats.runlock import run_lock

    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom causal_agents.formats.runlock import "
                          f"run_lock\nwith run_lock({str(run)!r}):\n print('held', flush=True); time.sleep(60)"],
                         stdout=subprocess.PIPE, env=ENV)
    assert p.stdout.readline().strip() == b"held"
    with pytest.raises(Exception, match="in use"):
        with run_lock(str(run)):
            pass
    p.kill()
    p.wait()
    with run_lock(str(run)):
        pass


# ---------------------------------------------------------------- 7. half-written streams


def test_skip_mode_stdout_held_back_on_fatal_error(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(_lines(50))
    r = subprocess.run([*CLI, "tag", good, tmp_path / "missing.jsonl", "--on-error", "skip", "--rejects",
                        tmp_path / "rej.jsonl"], env=ENV, capture_output=True, timeout=120)
    assert r.returncode == 1 and b"no such file" in r.stderr
    assert r.stdout == b""


def test_records_that_crashed_a_skip_run_are_rejected(cag, tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    msgs = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]] * 2
    cases = {
        "bytes.parquet": pa.table({"text": [b"\xff\xfe not text", b"also"], "blob": [b"\x00", b"\x01"]}),
        "decimal.parquet": pa.table({"messages": msgs, "price": pa.array([decimal.Decimal("1.50"),
                                                                          decimal.Decimal("2")], pa.decimal128(5, 2))}),
    }
    for name, table in cases.items():
        pq.write_table(table, tmp_path / name)
    good = b'{"segments": [{"role": "user", "text": "hi", "gate": "world", "rule": "role-default"}]}\n'
    meta = tmp_path / "meta.jsonl"
    meta.write_bytes(good + b'{"segments": [{"role": "user", "text": "hi", "gate": "world", "rule": "role-default"}], '
                     b'"meta": "{not json"}\n')

    def run(src):
        rej = tmp_path / f"{src.stem}.rej.jsonl"
        code, _, err = cag("tag", src, "--on-error", "skip", "--rejects", rej, "-o", tmp_path / f"{src.stem}.out.parquet")
        return code, err, [orjson.loads(x) for x in rej.read_bytes().splitlines()] if rej.exists() else []

    # bytes where text belongs: every record rejected with its reason (exit 1: nothing was tagged)
    code, err, rejects = run(tmp_path / "bytes.parquet")
    assert code == 1 and "all 2 records rejected" in err and "Traceback" not in err
    assert len(rejects) == 2 and all(r["error"] and r["source"]["row"] in (0, 1) for r in rejects)
    # decimals are values JSON can hold once converted: both records tagged, none rejected
    code, err, rejects = run(tmp_path / "decimal.parquet")
    assert code == 0 and "tagged 2 of 2" in err and rejects == []
    # a tagged meta that is not JSON is one reject beside a good record
    code, err, rejects = run(meta)
    assert code == 0 and "tagged 1 of 2" in err
    assert len(rejects) == 1 and "meta" in rejects[0]["error"] and rejects[0]["source"]["line"] == 2


# ---------------------------------------------------------------- 9. messages


def test_full_disk_one_line(cag, tmp_path, monkeypatch):
    import errno

    from causal_agents.formats import io as fio

    class Full:
        def __init__(self, *a, **k):
            pass

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    real_open = open
    monkeypatch.setattr(fio, "open", lambda p, m="r", *a, **k: Full() if "w" in m else real_open(p, m, *a, **k),
                        raising=False)
    code, _, err = cag("tag", SAMPLES / "sharegpt.jsonl", "-o", tmp_path / "out.jsonl")
    assert code == 1 and err.startswith("Error: ") and "No space left on device" in err
    assert "AttributeError" not in err and "OSError" not in err and err.count("\n") == 1
    assert not _temps(tmp_path) and not (tmp_path / "out.jsonl").exists()


def test_broken_pipe_one_line(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(_lines(20000))
    p = subprocess.Popen([*CLI, "tag", big], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(60)
    assert p.returncode == 1 and "broken pipe" in err and "Traceback" not in err, err
    assert "AttributeError" not in err and err.strip().count("\n") == 0


def test_utf8_bom_accepted(cag, tmp_path):
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + _lines(2))
    code, out, err = cag("tag", f)
    assert code == 0, err
    assert out.count(b"\n") == 2


def test_corrupt_parquet_directory_and_unknown_format(cag, tmp_path):
    raw = bytearray((SAMPLES / "sharegpt.parquet").read_bytes())
    for i in range(200, min(len(raw) - 200, 1200)):
        raw[i] ^= 0xFF  # wreck the data pages, keep the footer
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(raw))
    code, _, err = cag("tag", bad)
    assert code == 1 and err.startswith(f"Error: {bad}") and err.count("\n") == 1 and "CAG_DEBUG" not in err, err
    code, _, err = cag("tag", tmp_path)  # a directory is read whole: its bad file is the error
    assert code == 1 and err.startswith(f"Error: {bad}") and "IsADirectoryError" not in err
    code, _, err = cag("tag", SAMPLES / "sharegpt.jsonl", "--format", "bogus")
    assert code == 2 and "--format" in err and "KeyError" not in err


# ---------------------------------------------------------------- 8. memory


def test_stats_chunks_by_characters_not_records(monkeypatch, byte_tok):
    from causal_agents.transcripts import accounting

    sizes = []
    real = accounting.encode_batch

    def spy(chunk, tok, renderer):
        sizes.append(sum(len(sg["text"]) for r in chunk for sg in r["segments"]))
        return real(chunk, tok, renderer)

    monkeypatch.setattr(accounting, "encode_batch", spy)
    recs = [{"id": str(i), "source": {"file": "f", "line": i + 1}, "segments": [
        {"role": "user", "text": "q" * 20_000, "gate": "world", "rule": "role-default", "weight": 1}]}
        for i in range(200)]
    report = accounting.compute_stats(iter(recs), accounting.StatsOptions(), tokenizer=byte_tok)
    assert report["transcripts"] == 200
    assert max(sizes) <= 1 << 20  # about 1 Mi characters in flight, not 512 records


def test_stats_tokenizes_a_long_record_in_bounded_pieces(monkeypatch, byte_tok):
    """One 1 MB message: no tokenizer call sees more than ``BATCH_CHARS`` characters (one call
    on the whole record held about 200 bytes a token: 2 GB for 10 MB), and the report is the
    one of the message tokenized whole."""
    from causal_agents.transcripts import accounting, labels, pieces

    calls = []

    class Backend:  # the real backend, with its calls' sizes recorded
        def __getattr__(self, name):
            return getattr(byte_tok._tokenizer, name)

        def encode_batch(self, texts, **kw):
            calls.append(sum(map(len, texts)))
            return byte_tok._tokenizer.encode_batch(texts, **kw)

    class Tok:
        _tokenizer = Backend()

        def __getattr__(self, name):
            return getattr(byte_tok, name)

    text = ("word " * 12 + "\n") * 16_000
    rec = {"id": "long", "source": {"file": "f", "line": 1}, "segments": [
        {"role": "user", "text": "q?", "gate": "world", "rule": "role-default", "weight": 1},
        {"role": "assistant", "text": text, "gate": "agent", "rule": "role-default", "weight": 1},
        {"role": "tool", "text": text[:300_000], "gate": "world", "rule": "role-default", "weight": 1}]}
    opts = accounting.StatsOptions(max_length=500_000)
    cut = accounting.compute_stats(iter([rec]), opts, tokenizer=Tok())
    assert len(calls) > 4 and max(calls) <= labels.BATCH_CHARS
    monkeypatch.setattr(pieces, "PIECE_CHARS", 1 << 30)
    calls.clear()
    whole = accounting.compute_stats(iter([rec]), opts, tokenizer=Tok())
    assert len(calls) == 1 and calls[0] > len(text) + 300_000  # really whole
    assert cut == whole and whole["tokens"] > 1_000_000


def test_record_over_the_limit_is_an_error_naming_it(monkeypatch, byte_tok):
    from causal_agents.errors import InputError
    from causal_agents.transcripts import accounting

    monkeypatch.setattr(accounting, "MAX_RECORD_CHARS", 1000, raising=False)
    recs = [{"id": "big", "source": {"file": "f.jsonl", "line": 7}, "segments": [
        {"role": "user", "text": "q" * 1001, "gate": "world", "rule": "role-default", "weight": 1}]}]
    with pytest.raises(InputError, match=r"f.jsonl:7: .*'big'.*limit"):
        accounting.compute_stats(iter(recs), accounting.StatsOptions(), tokenizer=byte_tok)


def test_scm_train_interrupted_exits_130_and_keeps_the_checkpoint_loadable(scm_ckpt, tmp_path):
    data, _ = scm_ckpt
    ck = tmp_path / "m.pt"
    p = subprocess.Popen([*CLI, "scm", "train", data, "-o", ck, "--epochs", "100000", "--patience", "100000", "-q",
                          "--model", "mlp"], env=ENV, stderr=subprocess.PIPE)
    assert _wait(lambda: ck.exists(), 120), "no checkpoint written"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err.decode()
    assert not _temps(tmp_path)
    from causal_agents.formats.checkpoint import load_checkpoint_file

    assert load_checkpoint_file(str(ck))["epoch"] >= 0


def test_train_interrupted_exits_130_keeps_its_checkpoints_and_claims_nothing(tmp_path):
    run = tmp_path / "run"
    p = subprocess.Popen([*CLI, "train", SAMPLES / "truth_dialogues.jsonl", "--mask", "do", "--out", run,
                          "--epochs", "1000", "--save-every", "1", "--no-progress"], env=ENV, stderr=subprocess.PIPE)
    assert _wait(lambda: glob.glob(str(run / "**" / "step-*.pt"), recursive=True), 180), "no checkpoint written"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "interrupted" in err.decode()
    assert not glob.glob(str(run / "**" / "cag_run.json"), recursive=True)  # not a finished run
    assert not _temps(run)
    from causal_agents.formats.checkpoint import load_checkpoint_file

    last = sorted(glob.glob(str(run / "**" / "step-*.pt"), recursive=True))[-1]
    assert load_checkpoint_file(last)  # what was checkpointed survives, loadable for --resume


def test_stats_interrupted_exits_130(tmp_path):
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    p = subprocess.Popen([*CLI, "stats", fifo], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    w = open(fifo, "wb")
    w.write(_lines(5))
    w.flush()
    time.sleep(1.0)  # cag is now blocked reading the FIFO
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    w.close()
    assert p.returncode == 130 and "interrupted" in err.decode()
    assert b"supervises" not in out + err  # no table for half an input
