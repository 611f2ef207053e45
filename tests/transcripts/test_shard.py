"""Scale-out: `cag tag --shard I/N` per worker, then `cag stats` (DuckDB) over the shards,
counts exactly what one process counts."""

import orjson
import pytest

from conftest import SAMPLES

DATA = [SAMPLES / "agent_tools.jsonl", SAMPLES / "sharegpt.jsonl", SAMPLES / "multi_agent.jsonl",
        SAMPLES / "truth_dialogues.jsonl"]
SAME = ("transcripts", "tokens", "supervised", "by_class", "by_role", "by_gate", "by_file", "straddling_tokens")


def test_sharded_counts_equal_a_single_run(cag, tmp_path):
    import duckdb

    n = 3
    for i in range(n):
        code, _, err = cag("tag", *DATA, "--shard", f"{i}/{n}", "-o", tmp_path / f"tagged-{i}.parquet")
        assert code == 0, err
    code, out, _ = cag("stats", *DATA, "--json")
    one = orjson.loads(out)
    code, out, _ = cag("stats", str(tmp_path / "tagged-*.parquet"), "--json")
    sharded = orjson.loads(out)
    for k in SAME:
        assert sharded[k] == one[k], k
    assert sharded["empty_do"]["count"] == one["empty_do"]["count"]
    # each shard is disjoint and the union is the input: ids, counted by DuckDB over the shards
    con = duckdb.connect()
    ids = con.execute(f"SELECT id FROM read_parquet('{tmp_path}/tagged-*.parquet')").fetchall()
    assert len(ids) == len(set(ids)) == one["transcripts"] == 31
    # per-worker stats, summed by DuckDB (what a cluster job without a shared filesystem does)
    for i in range(n):
        code, out, _ = cag("stats", tmp_path / f"tagged-{i}.parquet", "--json")
        (tmp_path / f"stats-{i}.json").write_bytes(out)
    # the columns are named: role names differ only in case across shards (User, user), which
    # DuckDB's struct auto-detection refuses
    cols = "{'transcripts': 'BIGINT', 'tokens': 'BIGINT', 'supervised': 'STRUCT(obs BIGINT, \"do\" BIGINT)'}"
    row = con.execute(f"SELECT SUM(transcripts), SUM(tokens), SUM(supervised.obs), SUM(supervised.\"do\") "
                      f"FROM read_json('{tmp_path}/stats-*.json', columns={cols})").fetchone()
    assert row == (one["transcripts"], one["tokens"], one["supervised"]["obs"], one["supervised"]["do"])


@pytest.mark.parametrize("bad", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_bad_shard(cag, tmp_path, bad):
    code, _, err = cag("tag", DATA[0], "--shard", bad, "-o", tmp_path / "x.parquet")
    assert code == 2 and "--shard" in err
    assert not (tmp_path / "x.parquet").exists()
