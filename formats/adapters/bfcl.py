"""BFCL (Berkeley Function Calling Leaderboard) data files: ``{id, question: [[{role, content},
...], ...], function: [...]}`` rows (and, in ``multi_turn_func_doc/``, one function schema per
row). They are an evaluation set: the questions and the tools, no answer anyone wrote, so there
is nothing to tag. cag refuses them with one line saying so, rather than reading the question
as something else (the ``stream`` format's ``question`` is a string; BFCL's is a list)."""

from __future__ import annotations

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import Message, ReadOptions

NAME = "bfcl"
ORDER = 75
KEYS = ("question",)
RULES = ("BFCL data rows `{id, question: [[{role, content}]], function}` (and its function-doc rows `{name, "
         "description, parameters, response}`): refused with one line: an evaluation set has questions and tools "
         "but no answers; pair the questions with a model's answers as OpenAI `messages` and tag those")
SAMPLES = ("bfcl.json",)
REFUSES = True  # recognised only to say clearly why it is not read
CONSUMED = ("question", "function")

_DOC_KEYS = {"name", "description", "parameters"}


def matches(rec: dict) -> bool:
    return isinstance(rec.get("question"), list) or (_DOC_KEYS <= set(rec) <= _DOC_KEYS | {"response"})


def read(rec: dict, opts: ReadOptions) -> list[Message]:
    if "question" not in rec:
        raise InputError("this row is a function schema (a BFCL function doc), not a transcript: nothing here was "
                         "written by an agent; give it as the `tools` of the transcripts that use it", field="name")
    raise InputError("this is a BFCL (Berkeley Function Calling Leaderboard) evaluation question: it holds the "
                     "user turns and the tools but no answer, so there is nothing to tag; pair each question with "
                     "a model's answers (its BFCL result file) as OpenAI `messages` and tag those", field="question")
