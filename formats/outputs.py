"""What a command may delete: only what it can prove it wrote.

A command that writes an output folder (`cag train --out`, `cag export -o`) leaves a
manifest in it, ``.cag-output``: ``{"written_by": "cag train", "entries": [names]}``, the
folder's top-level entries that command wrote (a listed folder is its own, whole). The
manifest is rewritten atomically *before* a new entry is created, so whenever the command
stops (kill -9 included) everything of its own in the folder is listed. Replacing or
clearing a folder deletes listed entries only; anything else there (a file the user put in,
a folder another tool or another command wrote, a folder with no manifest) is in the way,
and the command stops with one line naming it, before any work and with nothing deleted.

Outputs are also checked against the inputs (``check_output_folder``): an output folder that
is an input or holds one, or (for a folder replaced whole) holds the current directory, is
refused. Single output files go through ``formats.io.check_outputs``.
"""

from __future__ import annotations

import os
import shutil
from typing import Iterable

import orjson

from causal_agents.errors import CagError, InputError

MANIFEST = ".cag-output"
SHOWN = 3  # foreign entries named in the error line


def _lock_name() -> str:
    from causal_agents.formats.runlock import LOCK_NAME

    return LOCK_NAME


def _bookkeeping(name: str) -> bool:
    """The manifest, the run lock and a manifest temp file a kill left behind: cag's own
    bookkeeping in every output folder, never the user's."""
    return name in (MANIFEST, _lock_name()) or (name.startswith(MANIFEST + ".") and name.endswith(".tmp"))


def read_manifest(folder: str) -> dict | None:
    """The manifest of ``folder`` (``written_by``, ``entries``), or None if it has none."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, "rb") as f:
            m = orjson.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as e:
        raise CagError(f"{path}: unreadable output manifest ({e}); nothing there is deleted: move the "
                       "folder away or use another output") from e
    if not isinstance(m, dict) or not isinstance(m.get("entries"), list) or not isinstance(m.get("written_by"), str):
        raise CagError(f"{path}: not a cag output manifest; nothing there is deleted: move the folder away or "
                       "use another output")
    return m


def write_manifest(folder: str, command: str, names: Iterable[str]) -> None:
    """Write (atomically) the manifest of ``folder``: ``command`` wrote ``names``."""
    from causal_agents.formats.io import write_json_atomic

    write_json_atomic(os.path.join(folder, MANIFEST), {"written_by": command, "entries": sorted(set(names))})


def _owned(folder: str, command: str) -> set[str]:
    """The entries ``command`` listed in ``folder``'s manifest (empty when there is none);
    CagError when another command's manifest is there."""
    m = read_manifest(folder)
    if m is None:
        return set()
    if m["written_by"] != command:
        raise CagError(f"{folder}: holds the output of {m['written_by']}, not of {command}; nothing was deleted "
                       "(use another output)")
    return set(m["entries"])


def foreign_entries(folder: str, command: str) -> list[str]:
    """The entries of ``folder`` that ``command``'s manifest does not list (sorted)."""
    owned = _owned(folder, command)
    return sorted(n for n in os.listdir(folder) if n not in owned and not _bookkeeping(n))


def require_own(folder: str, command: str, hint: str = "use another output") -> None:
    """CagError naming what in ``folder`` ``command`` did not write, if anything (before work)."""
    if not os.path.isdir(folder):
        raise CagError(f"{folder}: exists and is not a folder {command} wrote; nothing was deleted ({hint})")
    other = foreign_entries(folder, command)
    if other:
        names = ", ".join(os.path.join(folder, n) for n in other[:SHOWN]) + (
            f" and {len(other) - SHOWN} more" if len(other) > SHOWN else "")
        raise CagError(f"{names}: not written by {command} (not in {MANIFEST}); nothing was deleted: move "
                       f"{'it' if len(other) == 1 else 'them'} away or {hint}")


def claim(folder: str, names: Iterable[str], command: str, adopt: Iterable[str] = ()) -> None:
    """List ``names`` in ``folder``'s manifest before ``command`` creates them. A name that
    already exists there unlisted is someone else's: CagError, unless it is in ``adopt`` (what
    the user asked to continue: --resume's metrics log and checkpoints)."""
    os.makedirs(folder, exist_ok=True)
    owned = _owned(folder, command)
    new = [n for n in names if n not in owned]
    if not new and os.path.exists(os.path.join(folder, MANIFEST)):
        return
    theirs = [n for n in new if os.path.lexists(os.path.join(folder, n)) and n not in set(adopt)]
    if theirs:
        raise CagError(f"{os.path.join(folder, theirs[0])}: in the way and not written by {command}; nothing "
                       "was deleted: move it away or use another output")
    write_manifest(folder, command, owned | set(new))


def remove_owned(folder: str, command: str, hint: str = "use another output") -> None:
    """Delete everything ``command``'s manifest lists in ``folder`` (the folder, the manifest
    and the lock stay); refuses first, deleting nothing, if anything else is there."""
    if not os.path.lexists(folder):
        return
    require_own(folder, command, hint)
    for name in sorted(_owned(folder, command)):
        _delete(os.path.join(folder, name))
    for name in os.listdir(folder):  # manifest temp files a kill left behind
        if _bookkeeping(name) and name not in (MANIFEST, _lock_name()):
            _delete(os.path.join(folder, name))
    write_manifest(folder, command, ())


def _delete(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def input_files(inputs: Iterable[str]) -> list[str]:
    """The files and folders the inputs name, globs and folders expanded where they can be
    (an input that cannot be read is reported by its reader, later)."""
    from causal_agents.formats.io import STDIN, expand_paths

    out = []
    for p in inputs:
        p = str(p)
        if p == STDIN:
            continue
        if os.path.exists(p):
            out.append(p)
        try:
            out.extend(expand_paths([p]))
        except CagError:
            pass
    return out


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_folder(opt: str, folder: str, inputs: Iterable[str] = (), replaced: bool = False) -> None:
    """Before any work: InputError if the output folder ``folder`` is an input or holds one,
    or (``replaced``: the folder is replaced whole) holds the current directory."""
    real = os.path.realpath(folder)
    for p in input_files(inputs):
        if _inside(os.path.realpath(p), real):
            what = "is" if os.path.realpath(p) == real else "holds"
            raise InputError(f"{opt} {what} an input ({p}); writing there would destroy it", file=folder)
    if replaced and _inside(os.path.realpath(os.getcwd()), real):
        raise InputError(f"{opt} holds the current directory; an output folder is replaced whole", file=folder)
