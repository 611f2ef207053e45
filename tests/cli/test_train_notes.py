"""`cag train` says when every agent gate came from the role default (demonstrations?)."""

from conftest import SAMPLES


def test_train_prints_the_role_default_note_once(cag, tmp_path):
    code, _, err = cag("train", SAMPLES / "openai_functions.jsonl", "--mask", "do", "--out", tmp_path / "r",
                       "--max-steps", "1", "--no-progress", "--device", "cpu")
    assert code == 0, err
    notes = [x for x in err.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "--demonstrations" in notes[0]
    code, _, err = cag("train", SAMPLES / "openai_functions.jsonl", "--mask", "do", "--out", tmp_path / "d",
                       "--max-steps", "1", "--no-progress", "--device", "cpu", "--demonstrations")
    assert code == 0 and "note:" not in err


def test_train_bad_renderer_is_a_usage_error(cag, tmp_path):
    code, _, err = cag("train", SAMPLES / "sharegpt.jsonl", "--mask", "do", "--renderer", "fancy",
                       "--out", tmp_path / "r")
    assert code == 2 and "--renderer expects" in err
