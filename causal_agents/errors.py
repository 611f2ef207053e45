"""Errors the CLI turns into one clean line and an exit code."""

from __future__ import annotations

import re


class CagError(Exception):
    """A failure the user can act on; printed as one line, exit 1."""

    exit_code = 1


class InputError(CagError):
    """Bad input: names the file, the line (JSON lines) or row (a JSON array's element or a
    Parquet row, counted from 0 as a tagged record's ``source.row``), the field and what was
    expected."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 row: int | None = None, field: str | None = None):
        self.file, self.line, self.row, self.field, self.detail = file, line, row, field, message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: row {row}: " if row is not None \
                else f"{file}: "
        fld = f"field '{field}': " if field else ""
        super().__init__(f"{where}{fld}{message}")

    def at(self, file: str | None = None, line: int | None = None, row: int | None = None) -> "InputError":
        """The same error with a location filled in where it was missing."""
        if self.line is not None or self.row is not None:
            line, row = self.line, self.row
        return InputError(self.detail, file=self.file or file, line=line, row=row, field=self.field)


def location(src: dict) -> dict:
    """A reader's location (or a tagged record's ``source``) as InputError's keywords."""
    return {"file": src.get("file"), "line": src.get("line"), "row": src.get("row")}


class UsageError(CagError):
    """A bad option value (``--format json``): a usage error, exit 2."""

    exit_code = 2


# Characters a terminal acts on instead of showing: C0 controls but tab and newline (ESC
# starts the sequences that erase lines, move the cursor, set the title or write the
# clipboard: OSC 52), DEL, C1 controls (U+009B is a one-character CSI on some terminals),
# and the Unicode bidi overrides and isolates that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape_one(m: "re.Match") -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: str, keep_newlines: bool = True) -> str:
    """``text`` safe to show on a terminal: each control character (see ``_CONTROL``; with
    ``keep_newlines=False``, newlines too) becomes a visible escape (``\\x1b``, ``\\u202e``);
    tabs and ordinary Unicode stay. Every line for people goes through this (cli.output.info,
    the CLI's error boundary, its Rich consoles, `cag show`'s page), so text from the data
    (a role name, a key, an id, a file name) can never drive the terminal."""
    if not keep_newlines:
        text = text.replace("\n", "\\n")
    return _CONTROL.sub(_escape_one, text)
