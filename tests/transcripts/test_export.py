"""`cag export`: the exported labels are the label builder's, counted exactly as `cag stats` counts."""

import glob
import os

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLES
from causal_agents.transcripts.export import META_FILE, read_metadata

DATA = [SAMPLES / "agent_tools.jsonl", SAMPLES / "sharegpt.jsonl", SAMPLES / "multi_agent.jsonl"]


def stats_json(cag, *args):
    code, out, err = cag("stats", *args, "--json")
    assert code == 0, err
    return orjson.loads(out)


def rows(folder):
    files = sorted(glob.glob(os.path.join(folder, "train-*.parquet")))
    assert files, os.listdir(folder)
    return pq.read_table(files).to_pylist(), files


@pytest.mark.parametrize("mask", ["obs", "do"])
def test_supervised_tokens_equal_stats(cag, tmp_path, mask):
    out = tmp_path / "exp"
    code, stdout, err = cag("export", *DATA, "--mask", mask, "-o", out, "--json")
    assert code == 0, err
    st = stats_json(cag, *DATA)
    meta = orjson.loads(stdout)
    assert meta == read_metadata(str(out)) == orjson.loads((out / META_FILE).read_bytes())
    table, files = rows(out)
    assert read_metadata(files[0]) == meta  # the Parquet schema carries the same metadata
    assert pq.read_schema(files[0]).metadata[b"cag_export"] == orjson.dumps(meta)
    assert meta["refused"]["count"] == 0 and len(table) == st["transcripts"]
    supervised = sum(int((np.array(r["labels"]) != -100).sum()) for r in table)
    assert supervised == st["supervised"][mask] == meta["exported"]["supervised"][mask] > 0
    assert meta["stats"]["supervised"] == {mask: st["supervised"][mask]}
    assert sum(len(r["input_ids"]) for r in table) == st["tokens"]
    for role, row in st["by_role"].items():
        assert meta["stats"]["by_role"][role][mask] == row[mask]
        assert meta["exported"]["by_role"].get(role, {mask: 0})[mask] == row[mask]
    for r in table:
        ids, lab, am, tc = (np.array(r[c]) for c in ("input_ids", "labels", "assistant_masks", "token_class"))
        assert np.array_equal(lab, np.where(am == 1, ids, -100))
        assert set(r["attention_mask"]) == {1} and len(r["attention_mask"]) == len(ids)
        assert not am[tc == 0].any()            # context is never supervised
        if mask == "do":
            assert not am[tc == 3].any()        # nor, under do, anything the agent wrote
    assert meta["tokenizer"] == "byte" and meta["chat_template_hash"] and meta["cag_version"]
    assert meta["renderer"] == "plain" and meta["mask"] == mask and meta["labels_shifted"] is False


def test_both_masks_and_refused_rows(cag, tmp_path):
    data = tmp_path / "mixed.jsonl"
    recs = [{"id": "good", "messages": [{"role": "user", "content": "The sky is blue."},
                                        {"role": "assistant", "content": "Noted."}]},
            {"id": "agent-only", "messages": [{"role": "system", "content": "s"},
                                              {"role": "assistant", "content": "Hello there."}]}]
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    out = tmp_path / "both"
    code, _, err = cag("export", data, "--mask", "both", "-o", out)
    assert code == 0, err
    assert "refused 1 transcript(s)" in err and "agent-only" in err
    st = stats_json(cag, data)
    meta = read_metadata(str(out))
    table, _ = rows(out)
    assert [r["id"] for r in table] == ["good"]
    assert meta["label_columns"] == {"obs": "labels_obs", "do": "labels_do"}
    assert meta["stats"]["supervised"] == st["supervised"]           # what `cag stats` says
    assert meta["refused"] == {"count": 1, "examples": ["agent-only"],
                               "supervised": {"obs": meta["refused"]["supervised"]["obs"],
                                              "do": meta["refused"]["supervised"]["do"]}}
    for m in ("obs", "do"):
        n = sum(int((np.array(r[f"labels_{m}"]) != -100).sum()) for r in table)
        assert n == meta["exported"]["supervised"][m] == st["supervised"][m] - meta["refused"]["supervised"][m]
        assert all(np.array_equal(np.array(r[f"assistant_masks_{m}"]) == 1, np.array(r[f"labels_{m}"]) != -100)
                   for r in table)
    assert "labels" not in table[0]


def test_truncation_left_keeps_the_end_and_reports_the_loss(cag, tmp_path):
    full = tmp_path / "full"
    assert cag("export", *DATA, "-o", full)[0] == 0
    ref, _ = rows(full)
    st = stats_json(cag, *DATA, "--max-length", "64")
    right = tmp_path / "right"
    assert cag("export", *DATA, "-o", right, "--max-length", "64")[0] == 0
    assert read_metadata(str(right))["truncation_lost"]["do"] == st["truncation"]["lost"]["do"] > 0
    left = tmp_path / "left"
    code, _, err = cag("export", *DATA, "-o", left, "--max-length", "64", "--truncate", "left")
    assert code == 0 and "truncation to 64 tokens (left) loses" in err
    meta = read_metadata(str(left))
    kept, _ = rows(left)
    byid = {r["id"]: r for r in ref}
    lost = 0
    for r in kept:
        full_r = byid[r["id"]]
        n = len(r["input_ids"])
        assert n == min(64, len(full_r["input_ids"])) and r["input_ids"] == full_r["input_ids"][-n:]
        if n < len(full_r["input_ids"]):
            assert r["labels"][0] == -100  # nothing left to predict the first kept token from
            lost += sum(x != -100 for x in full_r["labels"]) - sum(x != -100 for x in r["labels"])
    # a row cut down to nothing supervised is refused: its loss is counted, its rest is refused
    refused_ids = set(byid) - {r["id"] for r in kept}
    assert meta["refused"]["count"] == len(refused_ids)
    lost += sum(sum(x != -100 for x in byid[i]["labels"]) for i in refused_ids) - meta["refused"]["supervised"]["do"]
    assert lost == meta["truncation_lost"]["do"] > 0
    assert meta["exported"]["supervised"]["do"] == (meta["stats"]["supervised"]["do"] - meta["truncation_lost"]["do"]
                                                    - meta["refused"]["supervised"]["do"])


def test_shards_and_atomic_output(cag, tmp_path):
    out = tmp_path / "sh"
    assert cag("export", *DATA, "-o", out, "--shard-rows", "2")[0] == 0
    table, files = rows(out)
    n = len(table)
    assert [os.path.basename(f) for f in files] == [f"train-{i:05d}-of-{len(files):05d}.parquet"
                                                    for i in range(len(files))]
    assert len(files) == (n + 1) // 2
    code, _, err = cag("export", *DATA, "-o", out)
    assert code == 1 and "already exists" in err
    assert cag("export", DATA[0], "-o", out, "--overwrite")[0] == 0
    assert len(rows(out)[0]) < n
    # nothing to export: an error, and neither the output nor a temporary directory is left
    empty = tmp_path / "agent.jsonl"
    empty.write_bytes(orjson.dumps({"id": "a", "messages": [{"role": "assistant", "content": "x"}]}) + b"\n")
    before = set(os.listdir(tmp_path))
    code, _, err = cag("export", empty, "-o", tmp_path / "none")
    assert code == 1 and "nothing to export" in err
    assert set(os.listdir(tmp_path)) == before


def test_bad_options(cag, tmp_path):
    for args, msg in ((["--to", "csv"], "--to"), (["--truncate", "middle"], "--truncate"),
                      (["--mask", "agent"], "--mask")):
        code, _, err = cag("export", DATA[0], "-o", tmp_path / "x", *args)
        assert code == 2 and msg in err, err
    code, _, err = cag("export", DATA[0], "-o", tmp_path / "x", "--mask", "both", "--minimal")
    assert code == 1 and "--minimal" in err
    code, _, err = cag("export", DATA[0], "-o", tmp_path / "x", "--max-length", "1")
    assert code == 1 and "--max-length" in err
    assert not (tmp_path / "x").exists()


def test_minimal_columns(cag, tmp_path):
    out = tmp_path / "m"
    assert cag("export", DATA[0], "-o", out, "--minimal")[0] == 0
    table, _ = rows(out)
    assert list(table[0]) == ["input_ids", "attention_mask", "labels"]


def test_datasets_reads_both_formats(cag, tmp_path):
    datasets = pytest.importorskip("datasets")
    pq_dir, hf_dir = tmp_path / "pq", tmp_path / "hf"
    assert cag("export", *DATA, "-o", pq_dir)[0] == 0
    code, _, err = cag("export", *DATA, "-o", hf_dir, "--to", "hf")
    assert code == 0, err
    a = datasets.load_dataset(str(pq_dir), cache_dir=str(tmp_path / "cache"))["train"]
    b = datasets.load_from_disk(str(hf_dir))
    assert isinstance(b, datasets.DatasetDict) and list(b) == ["train"]
    assert a.to_list() == b["train"].to_list() == rows(pq_dir)[0]
    assert read_metadata(str(hf_dir))["format"] == "hf"
    assert not [n for n in os.listdir(hf_dir) if n.endswith(".parquet") or n.startswith(".") and n != ".cag-output"]


def test_first_token_is_never_supervised(byte_tok):
    """Labels are shifted inside every trainer's loss: nothing predicts position 0. A transcript
    without a system message starts with a supervised role prefix; it used to be counted by
    `cag stats` (multi_agent.jsonl: one token more than TRL trained)."""
    from causal_agents.transcripts.labels import encode

    enc = encode({"segments": [{"role": "user", "gate": "world", "text": "hi", "weight": 1.0},
                               {"role": "assistant", "gate": "agent", "text": "yo", "weight": 1.0}]}, byte_tok)
    assert enc.classes[0] != 0  # a role prefix, not context
    assert not enc.supervised("obs")[0] and not enc.supervised("do")[0]
    assert enc.supervised("do")[1:].any()
