"""SWE-agent ``.traj`` files: OpenAI-style messages under ``history``, with ``thought``/``action``/
``tool_calls``; an assistant message's ``agent`` names its author. A file with only
``trajectory`` (steps of ``response``, ``thought``, ``action``, ``observation``, maybe
``query``/``messages``) is read from its steps; ``history`` wins when both are present."""

from __future__ import annotations

from typing import Any

from causal_agents.errors import InputError
from causal_agents.formats.adapters.base import ReadOptions, msg, need_list, str_field, tname
from causal_agents.formats.adapters.openai import openai_message

NAME = "swe-agent"
ORDER = 50
KEYS = ("history", "trajectory")
RULES = "SWE-agent `.traj`: OpenAI-style messages under `history`; an assistant message with empty content is its `thought` then `action`; `tool_call_ids`; an assistant message's `agent` is its author (observations carry `agent` too and are not authored by it); a message with `is_demo: true` is a demonstration, world (rule `demo-field`). A file with only `trajectory` is read from its steps: the first step's `query` (or, before SWE-agent 1.1, `messages`) up to the first non-demo assistant message is the prompt; each step's `response` is the assistant turn (else `thought` then `action`; an action missing from the response is appended), its `observation` a turn of role `observation` (world); the prompt's `agent` is the author. `history` wins when a file has both, and `trajectory` is not copied into `meta`"
SAMPLES = ("swe_agent.traj", "swe_agent_steps.traj")
CONSUMED = ("history", "trajectory", "tools", "functions")


def matches(rec: dict) -> bool:
    h = rec.get("history")
    if isinstance(h, list):  # messages with a role (OpenHands' history holds events: no role)
        return not h or (isinstance(h[0], dict) and "role" in h[0])
    return "history" in rec or isinstance(rec.get("trajectory"), list)


def read(rec: dict, opts: ReadOptions) -> list[dict]:
    """A SWE-agent ``.traj`` record: its ``history`` when it has one (the messages exactly as
    the model was shown them, preferred over ``trajectory`` when a file has both), else its
    ``trajectory`` steps (see ``swe_steps``)."""
    if "history" not in rec and "trajectory" in rec:
        return swe_steps(rec)
    return swe_history(rec)


def swe_history(rec: dict) -> list[dict]:
    """SWE-agent ``history``: OpenAI-style messages. An assistant message whose content is
    empty is its ``thought`` then its ``action``. Every message carries ``agent`` (the name
    of the agent whose history it is, on observations too), so it names the author of
    assistant messages only: the environment wrote the rest."""
    return [swe_message(m, i, "history") for i, m in enumerate(need_list(rec, "history"))]


def swe_message(m: Any, i: int, key: str) -> dict:
    msg = openai_message(m, i, key)
    if isinstance(m, dict) and m.get("is_demo"):
        # A demonstration trajectory that SWE-agent's config puts in the prompt: a human or
        # another run wrote it, so it is evidence (rule `demo-field`), whatever its role.
        msg["demo"] = True
    if m.get("role") == "assistant":
        if not msg["text"].strip():
            parts = [m.get(k) for k in ("thought", "action") if isinstance(m.get(k), str) and m.get(k)]
            msg["text"] = "\n".join(parts)
        if isinstance(m.get("agent"), str) and msg["author"] is None:
            msg["author"] = m["agent"]
    return msg


SWE_STEP_FIELDS = ("response", "thought", "action", "observation")


def swe_steps(rec: dict) -> list[dict]:
    """SWE-agent ``trajectory`` steps, for files without ``history``. The model wrote each
    step's ``response`` (its raw output; ``thought`` and ``action`` are parsed from it), so
    that is one assistant message; the environment wrote the ``observation``, one message of
    role ``observation`` (world). A step without a response is its thought then its action;
    an action missing from the response (function calling sends it as a tool call, outside
    the text) is appended to it. The first step's ``query`` (SWE-agent >= 1.1: the model's
    input at that step) or ``messages`` (older: the input of the next step) holds the system
    prompt and the task: its messages before the first assistant message that is not a
    demonstration come first."""
    steps = need_list(rec, "trajectory")
    key, prompt = prompt_list(steps[0])
    out = swe_prompt(prompt, key)
    # The prompt's `agent` names the agent whose run this is: the author of every response.
    author = next((m["agent"] for m in prompt if isinstance(m, dict) and isinstance(m.get("agent"), str)), None)
    for i, st in enumerate(steps):
        f = f"trajectory[{i}]"
        if not isinstance(st, dict):
            raise InputError(f"expected a step object, got {tname(st)}", field=f)
        if not any(k in st for k in SWE_STEP_FIELDS):
            raise InputError("expected a SWE-agent step with response, thought, action or observation; this step "
                             f"has the keys {', '.join(sorted(map(str, st))) or '(none)'}", field=f)
        text = {k: str_field(st, k, f, required=False) or "" for k in SWE_STEP_FIELDS}
        agent = text["response"] or "\n".join(x for x in (text["thought"], text["action"]) if x)
        if text["response"] and text["action"].strip() and text["action"].strip() not in text["response"]:
            agent = agent.rstrip("\n") + "\n" + text["action"]
        out.append(msg("assistant", agent, f"{f}.response", author=author))
        if st.get("observation") is not None:  # "" is kept: the command printed nothing
            out.append(msg("observation", text["observation"], f"{f}.observation"))
    return out


def swe_prompt(msgs: list, key: str) -> list[dict]:
    """The leading messages of the first step's ``query`` (or ``messages``): the prompt."""
    out = []
    for j, m in enumerate(msgs):
        if isinstance(m, dict) and m.get("role") == "assistant" and not m.get("is_demo"):
            break
        out.append(swe_message(m, j, f"trajectory[0].{key}"))
    return out


def prompt_list(step: Any) -> tuple[str, list]:
    if isinstance(step, dict):
        for key in ("query", "messages"):
            if isinstance(step.get(key), list):
                return key, step[key]
    return "query", []


