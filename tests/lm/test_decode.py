"""The shared batched decoder reproduces the two decoders it replaced, token for token.

``_old_greedy_replies`` (the truth probes) and ``_old_sample`` (STEM stream sampling) are the
two decoders as they were before the merge, kept verbatim (minus docstrings) as the
reference: the merged ``greedy_replies`` and ``sample`` must give identical strings on every
prompt, batch size, temperature and seed tried here, on models whose newline logit is raised
so that rows stop at newlines, at the end-of-text token and at the token limit.
"""

from __future__ import annotations

import pytest

from causal_agents.stem.sample import sample
from causal_agents.truth.probes import greedy_replies


def _old_newline_token_ids(tok) -> list[int]:
    vocab = tok.get_vocab()
    ids = []
    for t, i in vocab.items():
        if "\n" in tok.convert_tokens_to_string([t]):
            ids.append(i)
    return ids


def _old_greedy_replies(model, tok, prompts, max_new_tokens=96, batch_size=64):
    import torch

    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    nl = torch.tensor(_old_newline_token_ids(tok), device=device)
    eos = tok.eos_token_id
    out = []
    for s in range(0, len(prompts), batch_size):
        chunk = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts[s:s + batch_size]]
        T = max(len(c) for c in chunk)
        ids = torch.full((len(chunk), T), pad, dtype=torch.long)
        att = torch.zeros((len(chunk), T), dtype=torch.long)
        for r, c in enumerate(chunk):
            ids[r, T - len(c):] = torch.tensor(c)
            att[r, T - len(c):] = 1
        ids, att = ids.to(device), att.to(device)
        pos = (att.cumsum(-1) - 1).clamp(min=0)
        done = torch.zeros(len(chunk), dtype=torch.bool, device=device)
        gen = []
        past = None
        cur_ids, cur_pos = ids, pos
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                o = model(input_ids=cur_ids, attention_mask=att, position_ids=cur_pos, past_key_values=past,
                          use_cache=True)
                past = o.past_key_values
                nxt = o.logits[:, -1].argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
                gen.append(nxt)
                done |= torch.isin(nxt, nl) | (nxt == eos if eos is not None else False)
                if bool(done.all()):
                    break
                att = torch.cat([att, torch.ones_like(att[:, :1])], dim=1)
                cur_pos = cur_pos[:, -1:] + 1
                cur_ids = nxt[:, None]
        g = torch.stack(gen, 1).tolist()
        for row in g:
            text = tok.decode([t for t in row if t != pad], skip_special_tokens=True)
            out.append(text.split("\n", 1)[0].strip())
    return out


def _old_token_tables(tok):
    import torch

    vocab = tok.get_vocab()
    n = max(len(tok), max(vocab.values()) + 1)
    texts = tok.batch_decode([[i] for i in range(n)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    has_nl = torch.tensor(["\n" in t for t in texts], dtype=torch.bool)
    content = torch.tensor([bool(t.split("\n", 1)[0].strip()) for t in texts], dtype=torch.bool)
    specials = [i for i in tok.all_special_ids if i is not None and i < n]
    content[specials] = False
    return has_nl, content


def _old_first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _old_sample(model, tok, prompts, max_new_tokens=160, batch_size=32, temperature=0.0, top_p=1.0, seed=0):
    import torch

    model.eval()
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    has_nl, content = (t.to(device) for t in _old_token_tables(tok))
    eos = tok.eos_token_id
    out = []
    for b, s in enumerate(range(0, len(prompts), batch_size)):
        chunk = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts[s:s + batch_size]]
        B, T = len(chunk), max(len(c) for c in chunk)
        ids = torch.full((B, T), pad, dtype=torch.long)
        att = torch.zeros((B, T), dtype=torch.long)
        for r, c in enumerate(chunk):
            ids[r, T - len(c):] = torch.tensor(c)
            att[r, T - len(c):] = 1
        ids, att = ids.to(device), att.to(device)
        pos = (att.cumsum(-1) - 1).clamp(min=0)
        gen = None
        if temperature > 0:
            gen = torch.Generator(device=device)
            gen.manual_seed(seed * 1_000_003 + b)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        started = torch.zeros(B, dtype=torch.bool, device=device)
        steps, past, cur_ids, cur_pos = [], None, ids, pos
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                o = model(input_ids=cur_ids, attention_mask=att, position_ids=cur_pos, past_key_values=past,
                          use_cache=True)
                past = o.past_key_values
                logits = o.logits[:, -1].float()
                nxt = _old_pick(logits, temperature, top_p, gen)
                nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
                steps.append(nxt)
                ended = has_nl[nxt] & (started | content[nxt])
                if eos is not None:
                    ended |= nxt == eos
                started |= content[nxt]
                done |= ended
                if bool(done.all()):
                    break
                att = torch.cat([att, torch.ones_like(att[:, :1])], dim=1)
                cur_pos = cur_pos[:, -1:] + 1
                cur_ids = nxt[:, None]
        rows = torch.stack(steps, 1).tolist()
        for row in rows:
            out.append(_old_first_line(tok.decode([t for t in row if t != pad], skip_special_tokens=True)))
    return out


def _old_pick(logits, temperature, top_p, gen):
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        sp, si = probs.sort(-1, descending=True)
        keep = sp.cumsum(-1) - sp < top_p
        sp = sp * keep
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


PROMPTS = ["A context.\nUser: hello there\nAgent:", "User: x\nAgent:", "Longer prompt here.\nUser: The sky.\nAgent:",
           "Question:\nA 2 ohm resistor carries 3 A. What is the voltage?\nProposed solution:\n", "Q", "Tell me.\n"]


def _chatty(tok, seed: int, pull: float):
    """A random 2-layer Qwen2 over ``tok`` whose newline rows of the output layer point along
    its mean hidden state with logit about ``pull``, so rows end at newlines now and then."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                      tie_word_embeddings=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    model = Qwen2ForCausalLM(cfg).eval()
    nl = [i for i in range(len(tok)) if "\n" in tok.decode([i])]
    ids = tok(" ".join(PROMPTS), return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        h = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]     # (T, D)
        h = model.model.norm(h).mean(0)
        model.lm_head.weight[nl] = pull * h / h.norm() ** 2
    return model


@pytest.fixture(scope="module", params=["byte", "word"])
def tok(request):
    from causal_agents.transcripts.tokenizer import load_tokenizer
    from causal_agents.transcripts.word_tokenizer import fit_word_tokenizer

    if request.param == "byte":
        return load_tokenizer(None)
    return fit_word_tokenizer(PROMPTS * 3 + ["the answer is \n\n 6 V. Final answer: 6 V\n"] * 3, vocab_size=400,
                              min_frequency=1)


MODELS = [(0, 0.0), (1, 3.0), (2, 6.0)]  # (seed, pull)


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_greedy_replies_reproduce_the_old_probe_decoder(tok, batch_size):
    for seed, pull in MODELS:
        model = _chatty(tok, seed, pull)
        assert greedy_replies(model, tok, PROMPTS, 12, batch_size) == _old_greedy_replies(model, tok, PROMPTS, 12,
                                                                                          batch_size)


@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (1.0, 1.0), (0.7, 0.9)])
def test_sample_reproduces_the_old_stream_sampler(tok, temperature, top_p):
    for seed, pull in MODELS:
        model = _chatty(tok, seed, pull)
        for batch_size in (1, 4):
            assert (sample(model, tok, PROMPTS, 10, batch_size, temperature, top_p, seed=seed + 5)
                    == _old_sample(model, tok, PROMPTS, 10, batch_size, temperature, top_p, seed=seed + 5))


def test_the_comparisons_exercise_every_way_a_row_ends(tok):
    """The models above end rows at a newline, at the token limit, and (sampled, stop="line")
    at a newline after leading blank lines: the cases where the two old decoders differ."""
    from causal_agents.lm.decode import decode

    ends = set()
    for seed, pull in MODELS:
        model = _chatty(tok, seed, pull)
        for t, stop in ((0.0, "newline"), (1.0, "line")):
            for text in decode(model, tok, PROMPTS, 10, 4, temperature=t, seed=5, stop=stop):
                n = len(tok(text, add_special_tokens=False)["input_ids"])
                ends.add("newline" if text.endswith("\n") and n < 10 else "limit" if n >= 9 else "other")
                if stop == "line" and text.startswith("\n") and text.strip():
                    ends.add("blank lines, then text")
    assert {"newline", "limit", "blank lines, then text"} <= ends


def test_decode_bad_settings(tok):
    from causal_agents.errors import CagError
    from causal_agents.lm.decode import decode

    model = _chatty(tok, 0, 0.0)
    for bad in (dict(temperature=-1.0), dict(top_p=0.0), dict(stop="paragraph")):
        with pytest.raises(CagError):
            decode(model, tok, PROMPTS, 4, 4, **bad)
