"""Errors the CLI turns into one clean line and an exit code."""

from __future__ import annotations


class CagError(Exception):
    """A failure the user can act on; printed as one line, exit 1."""

    exit_code = 1


class InputError(CagError):
    """Bad input: names the file, the line (or row), the field and what was expected."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.file, self.line, self.field, self.detail = file, line, field, message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        fld = f"field '{field}': " if field else ""
        super().__init__(f"{where}{fld}{message}")

    def at(self, file: str | None = None, line: int | None = None) -> "InputError":
        """The same error with a location filled in where it was missing."""
        return InputError(self.detail, file=self.file or file,
                          line=self.line if self.line is not None else line, field=self.field)


class UsageError(CagError):
    """A bad option value (``--format json``): a usage error, exit 2."""

    exit_code = 2
