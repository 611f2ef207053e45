"""The format registry is the one place a format is declared: the README table, the tagged
schema's format names and the samples all follow from it."""

import json

import pytest

from conftest import ROOT, SAMPLES
from causal_agents.formats.adapters import BY_NAME, FORMATS, REGISTRY
from causal_agents.formats.adapters.registry import markdown_table
from pipeline import through_pipeline


def test_readme_format_table_is_the_registrys():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README format table is stale: python -m causal_agents.formats.adapters.registry"


def test_schema_lists_every_format():
    schema = json.loads((ROOT / "formats" / "tagged.schema.json").read_text())
    assert schema["properties"]["format"]["enum"] == list(FORMATS)


def test_every_format_declares_what_the_docs_need():
    for f in REGISTRY:
        assert f.rules and f.keys, f.name
        assert f.name == "tagged" or f.samples, f"format {f.name} has no sample in sample_data/"
        if f.file_matches is not None or f.open_container is not None:
            assert f.transcripts is not None, f"{f.name} recognises whole files but cannot split them"


SAMPLE_FILES = [(f.name, s) for f in REGISTRY for s in f.samples]


@pytest.mark.parametrize("fmt,sample", SAMPLE_FILES, ids=[s for _, s in SAMPLE_FILES])
def test_every_sample_goes_through_tag_stats_show_and_export(cag, tmp_path, fmt, sample):
    flags = ("--format", fmt) if fmt in ("text",) else ()
    if BY_NAME[fmt].refuses:  # recognised to be refused with its reason, in one line
        code, out, err = cag("tag", SAMPLES / sample)
        assert code == 1 and out == b"" and err.count("\n") == 1 and "read as" not in err, err
        return
    recs = through_pipeline(cag, tmp_path, SAMPLES / sample, *flags)
    assert {r["format"] for r in recs} == {fmt}
    assert BY_NAME[fmt]
