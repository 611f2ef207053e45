"""Issue 27, the terminal: text from the data (a key, a file name, a typed flag, a record id,
message text) never reaches stderr or stdout with its control characters raw."""

import json


EVIL = "\x1b[2K\rtagged 1 of 1 records\x1b]52;c;aGVsbG8=\x07"
RAW = ("\x1b", "\x07", "\x9b", "\r")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


def test_printable_escapes_controls_and_keeps_text():
    from causal_agents.errors import printable

    assert printable("a\x1b[2K\rb\x07\x7f\x9b\u202e") == "a\\x1b[2K\\x0db\\x07\\x7f\\x9b\\u202e"
    assert printable("tab\tand\nnewline, é, 日本, 😀") == "tab\tand\nnewline, é, 日本, 😀"
    assert printable("a\nb", keep_newlines=False) == "a\\nb"


def test_error_line_escapes_a_key_from_the_data(cag, tmp_path):
    p = tmp_path / "k.jsonl"
    p.write_text(json.dumps({"id": "k", EVIL: [1]}) + "\n")
    code, _, err = cag("tag", p)
    assert code == 1 and "cannot tell the format" in err
    assert _clean(err) and "\\x1b[2K" in err and "\\x1b]52;c;aGVsbG8=\\x07" in err


def test_error_line_escapes_a_file_name(cag, tmp_path):
    p = tmp_path / "name\x1b[2K\x9b.jsonl"
    p.write_text("{not json\n")
    code, _, err = cag("tag", p)
    assert code == 1 and _clean(err) and "name\\x1b[2K\\x9b.jsonl" in err


def test_usage_error_escapes_what_was_typed(cag, tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    code, _, err = cag("tag", p, "--\x1b[2Kx\x07")
    assert code == 2 and _clean(err) and "\\x1b[2Kx" in err


def test_info_and_consoles_escape(capsys):
    from rich.table import Table

    from causal_agents.cli.output import console, info

    info(f"read {EVIL}")
    t = Table("role")
    t.add_row(EVIL)
    console().print(t)
    console().print(EVIL)
    err = capsys.readouterr().err
    assert _clean(err) and err.count("\\x1b]52;c;aGVsbG8=") == 3


def _evil_show(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps({"id": "e\x1b[2K\rX", "messages": [
        {"role": "user", "content": "hi \x1b]52;c;aGk=\x07 \x9b31m \u202eevil"},
        {"role": "assistant", "content": "ok"}]}) + "\n")
    return p


def test_show_escapes_the_id_and_the_text_piped(cag, tmp_path):
    code, out, err = cag("show", _evil_show(tmp_path))
    text = out.decode()
    assert code == 0, err
    assert _clean(text) and "\u202e" not in text
    assert "== e\\x1b[2K\\x0dX:" in text and "\\x1b]52;c;aGk=\\x07" in text and "\\x9b31m" in text


def test_show_html_escapes_controls(cag, tmp_path):
    out = tmp_path / "s.html"
    code, _, err = cag("show", _evil_show(tmp_path), "--html", out)
    page = out.read_text(encoding="utf-8")
    assert code == 0, err
    assert _clean(page) and "<h2>e\\x1b[2K\\x0dX</h2>" in page
