"""Plain text: a ``text`` field (or ``--text-key KEY``) of ``Role: content`` lines (roles matched
case-insensitively); lines before the first turn are the context paragraph."""

from __future__ import annotations


from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import ReadOptions, is_message_row, msg, tname
import re

NAME = "text"
ORDER = 90
KEYS = ("text",)
RULES = "`Role: content` lines, role names matched in any case (`user:`); lines before the first turn are the context paragraph; continuation lines belong to the turn above. Turn-starting role names: the defaults (User, Agent, Assistant, Human, AI, System, Tool, Teacher, Verifier, Oracle) plus each `--text-role`; the text may sit under any key with `--text-key KEY` (tau-bench's `messages_display`)"
SAMPLES = ("text_lowercase.jsonl",)
CONSUMED = ("text",)


def matches(rec: dict) -> bool:
    return isinstance(rec.get("text"), str) and not is_message_row(rec)


def read(rec: dict, opts: ReadOptions) -> list[dict]:
    key, roles = opts.text_key, opts.text_roles
    text = rec.get(key)
    if not isinstance(text, str):
        raise InputError(f"expected a string, got {tname(text)}", field=key)
    # Role names match case-insensitively (`user:` is User); the role keeps the file's spelling.
    pat = re.compile(r"^(" + "|".join(re.escape(r) for r in roles) + r"): ?(.*)$", re.IGNORECASE)
    out: list[dict] = []
    context: list[str] = []
    for line in text.split("\n"):
        m = pat.match(line)
        if m:
            out.append(msg(m.group(1), m.group(2), f"{key} (turn {len(out) + 1})"))
        elif out:
            out[-1]["text"] += "\n" + line  # continuation of a multi-line turn
        else:
            context.append(line)
    if not out:
        raise InputError(f"expected lines starting with one of {', '.join(r + ':' for r in roles)} (any case); "
                         "name other turn prefixes with --text-role ROLE", field=key)
    # Blank lines between turns are layout, not content.
    for m in out:
        m["text"] = m["text"].rstrip("\n")
    ctx = "\n".join(context).strip("\n")
    if ctx:
        out.insert(0, msg("context", ctx, f"{key} (context)"))
    return out


