"""Sampling in the calculator variant: a row stops at its tool call, the tool runs, its result
is appended and the row writes on; the rows of a batch that called the tool continue together
through the one shared decoder (causal_agents.lm.decode)."""

from __future__ import annotations

import pytest

from causal_agents.stem.sample import sample
from causal_agents.transcripts.render_stream import SOLUTION_HEADER, prompt
from causal_agents.transcripts.tokenizer import load_tokenizer


def _script(question: str, lines: list[str]) -> str | None:
    """What the scripted policy writes next, given the lines of its solution so far (the
    tool's included). None: end of text."""
    agent = [x for x in lines if not x.startswith("Tool: ")]
    tool = [x[len("Tool: "):] for x in lines if x.startswith("Tool: ")]
    if question == "plain":
        return "x = 2. Final answer: 2 V" if not agent else None
    if question == "one call":
        return ["I = 1 / 4. calc: 1 / 4", f"Final answer: {tool[-1]} A" if tool else "?"][len(agent)] \
            if len(agent) < 2 else None
    if question == "bad call":  # an error comes back; the policy retries, then answers
        seq = ["calc: 1 / 0", "calc: 2 / 4", f"Final answer: {tool[-1] if tool else ''}"]
        return seq[len(agent)] if len(agent) < 3 else None
    if question == "calls forever":
        return "calc: 1 + 1"
    raise AssertionError(question)


class ScriptedLM:
    """A causal LM stand-in that writes ``_script``'s lines one byte token at a time, reading
    its whole context each step (so it sees exactly the prompt the decoder built)."""

    def __init__(self, tok):
        import torch

        self.tok, self.weight = tok, torch.nn.Parameter(torch.zeros(1))
        self.contexts: list[str] = []

    def parameters(self):
        return iter([self.weight])

    def eval(self):
        return self

    def __call__(self, input_ids, attention_mask, position_ids, past_key_values, use_cache):
        import torch

        ids = input_ids if past_key_values is None else torch.cat([past_key_values, input_ids], 1)
        V = len(self.tok)
        logits = torch.full((ids.shape[0], 1, V), -1e9)
        for r in range(ids.shape[0]):
            text = self.tok.decode([int(t) for t, a in zip(ids[r], attention_mask[r]) if a])
            if past_key_values is None:
                self.contexts.append(text)
            logits[r, 0, self._next(text)] = 0.0
        return type("Out", (), {"logits": logits, "past_key_values": ids})()

    def _next(self, text: str) -> int:
        q = text.split("Question:\n", 1)[1].split("\n", 1)[0]
        after = text.rsplit(SOLUTION_HEADER, 1)[1]
        *done, partial = after.split("\n")
        line = _script(q, done)
        if line is None:
            return self.tok.eos_token_id
        ch = line[len(partial)] if len(partial) < len(line) else "\n"
        return self.tok(ch, add_special_tokens=False)["input_ids"][0]


@pytest.fixture
def lm():
    return ScriptedLM(load_tokenizer(None))


def test_rows_stop_at_the_call_get_the_result_and_continue(lm):
    qs = ["one call", "plain", "bad call", "one call"]
    out = sample(lm, lm.tok, [prompt(q) for q in qs], max_new_tokens=40, batch_size=3, variant="calculator")
    assert out[0] == out[3] == [{"role": "attempt", "text": "I = 1 / 4. calc: 1 / 4"},
                                {"role": "tool", "text": "0.25"},
                                {"role": "attempt", "text": "Final answer: 0.25 A"}]
    assert out[1] == [{"role": "attempt", "text": "x = 2. Final answer: 2 V"}]
    assert out[2] == [{"role": "attempt", "text": "calc: 1 / 0"}, {"role": "tool", "text": "error: division by zero"},
                      {"role": "attempt", "text": "calc: 2 / 4"}, {"role": "tool", "text": "0.5"},
                      {"role": "attempt", "text": "Final answer: 0.5"}]
    # the continuation prompts are the stream renderer's text of what was written so far
    assert prompt("one call") + "I = 1 / 4. calc: 1 / 4\nTool: 0.25\n" in lm.contexts
    # the plain variant's sampler on the same policy writes the first line only
    assert sample(lm, lm.tok, [prompt("one call")], max_new_tokens=40) == ["I = 1 / 4. calc: 1 / 4"]


def test_continuing_rows_are_decoded_together_by_the_shared_decoder(lm, monkeypatch):
    import causal_agents.lm.decode as dec

    calls = []
    real = dec.decode

    def spy(model, tok, prompts, *a, **k):
        calls.append((len(prompts), k.get("stop")))
        return real(model, tok, prompts, *a, **k)

    monkeypatch.setattr(dec, "decode", spy)
    qs = ["one call", "plain", "one call", "plain", "bad call"]
    sample(lm, lm.tok, [prompt(q) for q in qs], max_new_tokens=40, batch_size=8, variant="calculator")
    # round 1: all five; round 2: the three that called; round 3: the one that called again
    assert calls == [(5, "line"), (3, "line"), (1, "line")]


def test_decode_with_tool_refuses_a_negative_call_limit(lm):
    from causal_agents.errors import CagError
    from causal_agents.lm.decode import decode_with_tool

    with pytest.raises(CagError, match="max_calls"):
        decode_with_tool(lm, lm.tok, [prompt("plain")], 4, 1, lambda line: None, "Tool: ", -1)


def test_tool_calls_are_bounded(lm):
    from causal_agents.stem.variants import MAX_TOOL_CALLS

    (out,) = sample(lm, lm.tok, [prompt("calls forever")], max_new_tokens=40, variant="calculator")
    assert [p["role"] for p in out].count("tool") == MAX_TOOL_CALLS
    assert out[-1] == {"role": "attempt", "text": "calc: 1 + 1"}  # the last call is not run


def test_calculator_sampling_is_deterministic_on_the_tiny_model():
    from causal_agents.lm.loader import load_model

    model, tok = load_model(None, seed=0)
    prompts = [prompt("What is 1 + 1?")] * 3
    a = sample(model, tok, prompts, max_new_tokens=8, batch_size=2, temperature=1.0, seed=3, variant="calculator")
    b = sample(model, tok, prompts, max_new_tokens=8, batch_size=2, temperature=1.0, seed=3, variant="calculator")
    plain = sample(model, tok, prompts, max_new_tokens=8, batch_size=2, temperature=1.0, seed=3)
    assert a == b
    # the first line is what the plain sampler writes with the same seed
    assert [x[0]["text"] for x in a] == plain


@pytest.mark.real
def test_tool_rounds_with_the_real_tokenizer(smol_tok):
    """SmolLM2's BPE tokenizer: its newline tokens end the line, the continuation prompt is
    re-encoded from the text, and the parts come back exactly."""
    lm = ScriptedLM(smol_tok)
    out = sample(lm, smol_tok, [prompt("one call"), prompt("plain")], max_new_tokens=40, batch_size=2,
                 variant="calculator")
    assert out[0][1] == {"role": "tool", "text": "0.25"} and out[0][2]["text"] == "Final answer: 0.25 A"
    assert out[1] == [{"role": "attempt", "text": "x = 2. Final answer: 2 V"}]
