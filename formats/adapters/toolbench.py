"""ToolBench DFSDT answer files (OpenBMB ToolBench ``data/answer/G*_answer/*.json``): one
object per query, ``{answer_generation: {query, final_answer, function, chain,
train_messages, valid_data, finish_type, ...}, win, tree, forward_args, compare_candidates}``.

``train_messages`` is a list of OpenAI-style conversations (roles system, user, assistant,
function; assistant turns carry ``function_call``), one per step of the chosen path: each is
the one before it plus the next function result and assistant step (both real files have
lists of 3, 5, 7(, 9) messages, each a prefix of the next). So the last one is the whole
conversation: it is read, after checking that every earlier list is a prefix of it (no
message appears twice, none is lost); lists that do not nest are an error. The file is the
unit (a whole-file format) so that the answer's own fields can go to ``meta`` without the
search ``tree`` and ``compare_candidates`` (large, and not part of the conversation)."""

from __future__ import annotations

from typing import Any, Iterator

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import Message, ReadOptions, shape, tname
from causal_agents.formats.adapters.openai import openai_message

NAME = "toolbench"
ORDER = 46
KEYS = ("answer_generation",)
RULES = ("ToolBench DFSDT answers `{answer_generation: {train_messages, function, ...}, win, tree, ...}`: "
         "`train_messages` holds one conversation per step, each a prefix of the next: the last (longest) is "
         "read (the others are checked to be its prefixes), as openai messages (system → context, user → world, "
         "assistant and its `function_call` → agent, function → world); `function` → the tool schemas; the answer's "
         "other fields and `win`, `forward_args` go to `meta`; `tree` and `compare_candidates` (the search tree: "
         "large, not the conversation) are not copied")
SAMPLES = ("toolbench_dfsdt.json",)
CONSUMED = ("train_messages", "tools", "at")

_DROPPED = ("tree", "compare_candidates")
_READ = ("train_messages", "function")


def matches(rec: dict) -> bool:
    """Never told from one record: the file is the unit (``file_matches``)."""
    return False


def file_matches(first: dict) -> bool:
    ag = first.get("answer_generation")
    return isinstance(ag, dict) and "train_messages" in ag


def transcripts(records: Iterator[tuple[dict, Any]], opts: ReadOptions) -> Iterator[tuple[dict, Any]]:
    for loc, rec in records:
        if isinstance(rec, InputError):
            yield loc, rec
            continue
        yield loc, _transcript(rec)


def _transcript(rec: Any) -> dict | InputError:
    if not isinstance(rec, dict) or not isinstance(rec.get("answer_generation"), dict):
        return InputError(f"expected a ToolBench answer {{answer_generation: {{...}}}}, got {shape(rec)}",
                          field="answer_generation")
    ag = rec["answer_generation"]
    out: dict = {"train_messages": ag.get("train_messages"), "at": "answer_generation.train_messages"}
    if ag.get("function"):
        out["tools"] = ag["function"]
    meta = {k: v for k, v in ag.items() if k not in _READ}
    meta.update({k: v for k, v in rec.items() if k not in _DROPPED and k != "answer_generation"})
    out["meta"] = meta
    return out


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    at = rec.get("at", "train_messages")
    convs = rec.get("train_messages")
    if not isinstance(convs, list) or not convs:
        raise InputError(f"expected a non-empty list of conversations, got {tname(convs)}", field=at)
    for i, c in enumerate(convs):
        if not isinstance(c, list) or not c:
            raise InputError(f"expected a non-empty list of messages, got {tname(c)}", field=f"{at}[{i}]")
    last = len(convs) - 1
    for i, c in enumerate(convs[:-1]):
        nxt = convs[i + 1]
        if len(c) > len(nxt) or nxt[:len(c)] != c:
            k = next((j for j in range(min(len(c), len(nxt))) if c[j] != nxt[j]), min(len(c), len(nxt)))
            raise InputError(f"conversation {i + 1} is not a continuation of conversation {i} (message {k} "
                             "differs or is missing): cag reads train_messages as growing prefixes of one "
                             "conversation", field=f"{at}[{i + 1}][{k}]")
    return [openai_message(m, j, f"{at}[{last}]") for j, m in enumerate(convs[last])]
