"""The chunked loss (causal_agents.training.loss) equals full logits' loss and gradients."""

import pytest
import torch

from causal_agents.lm.tiny_model import tiny_model
from causal_agents.training.loop import loss_step
from causal_agents.training.loss import LinearCrossEntropy, head_parts


def _batch(vocab, B=3, T=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (B, T), generator=g)
    tgt = ids[:, 1:].clone()
    w = torch.rand(B, T - 1, generator=g)
    w[w < 0.3] = 0.0                      # unsupervised positions
    tgt[0, :4] = -100                     # ignored labels
    w[1, -3:] = 0.0
    return ids, tgt, w


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("seed", [0, 1])
def test_chunked_loss_and_gradients_equal_full_logits(byte_tok, seed):
    model = tiny_model(byte_tok, 0)
    ids, tgt, w = _batch(len(byte_tok), seed=seed)
    assert head_parts(model) is not None
    full = loss_step(model, ids, tgt, w, 0.1, chunked=False)
    g_full = _grads(model)
    model.zero_grad(set_to_none=True)
    chunked = loss_step(model, ids, tgt, w, 0.1, chunked=True)
    g_chunk = _grads(model)
    torch.testing.assert_close(chunked, full, rtol=1e-5, atol=1e-6)
    assert g_full.keys() == g_chunk.keys()
    for k in g_full:  # the tied embedding gets both its input and its head gradient
        torch.testing.assert_close(g_chunk[k], g_full[k], rtol=1e-4, atol=1e-6, msg=k)


def test_head_rows_skip_only_positions_no_mode_supervises(byte_tok):
    """The head runs only where some mode has a label: the loss and every gradient are those
    of the full head, and the rows are the same under obs and do."""
    from causal_agents.training.data import collate, head_rows
    from causal_agents.training.loop import prepare
    from causal_agents.training.config import TrainConfig
    from causal_agents.transcripts.provenance import TagOptions, tag_record

    recs = [tag_record({"messages": [{"role": "system", "content": "You are terse. " * (i + 1)},
                                     {"role": "user", "content": f"What is {i} + {i}?"},
                                     {"role": "assistant", "content": f"It is {2 * i}."},
                                     {"role": "tool", "content": f"verified: {2 * i}"}]},
                       {"file": "t", "line": i + 1}, TagOptions()) for i in range(3)]
    cfg = TrainConfig(modes=("obs", "do"), tokenizer="byte").resolved()
    prep = prepare(cfg, recs, "t", tokenizer=byte_tok)
    idx = [0, 1, 2]
    for mode in ("obs", "do"):
        ids, tgt, w = collate(prep.examples, idx, mode, byte_tok.pad_token_id)
        rows = head_rows(prep.examples, idx, ids.shape[1])
        assert rows.shape == w.shape and bool((w[~rows] == 0).all())  # nothing supervised is skipped
        assert 0 < int(rows.sum()) < rows.numel()                    # the system prompt and pads are
        model = tiny_model(byte_tok, 0)
        full = loss_step(model, ids, tgt, w, 0.1)
        g_full = _grads(model)
        model.zero_grad(set_to_none=True)
        part = loss_step(model, ids, tgt, w, 0.1, rows=rows)
        torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-6)
        for k, v in _grads(model).items():
            torch.testing.assert_close(v, g_full[k], rtol=1e-4, atol=1e-6, msg=k)
    # the rows are obs's supervised positions under either mode: obs and do steps cost the same
    w_obs = collate(prep.examples, idx, "obs", byte_tok.pad_token_id)[2]
    assert torch.equal(rows, w_obs > 0) and int((w > 0).sum()) < int(rows.sum())


def test_chunks_smaller_than_the_batch_give_the_same_loss():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(50, 8, generator=g, requires_grad=True)
    W = torch.randn(11, 8, generator=g, requires_grad=True)
    t = torch.randint(0, 11, (50,), generator=g)
    t[::7] = -100
    w = torch.rand(50, generator=g)
    ref = (torch.nn.functional.cross_entropy(h @ W.T, t, reduction="none") * w).sum() * 0.5
    ref.backward()
    gh, gW = h.grad.clone(), W.grad.clone()
    h.grad = W.grad = None
    out = LinearCrossEntropy.apply(h, W, t, w, 0.5, 7, torch.float32)  # 8 chunks, the last partial
    out.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h.grad, gh)
    torch.testing.assert_close(W.grad, gW)


def test_amp_loss_is_close_to_fp32_and_deterministic(byte_tok):
    model = tiny_model(byte_tok, 0)
    ids, tgt, w = _batch(len(byte_tok))
    ref = loss_step(model, ids, tgt, w, 0.1, chunked=False)
    model.zero_grad(set_to_none=True)
    a = loss_step(model, ids, tgt, w, 0.1, amp=True)
    ga = _grads(model)
    model.zero_grad(set_to_none=True)
    b = loss_step(model, ids, tgt, w, 0.1, amp=True)
    assert torch.equal(a, b) and all(torch.equal(ga[k], v) for k, v in _grads(model).items())
    torch.testing.assert_close(a, ref, rtol=2e-2, atol=1e-3)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights


def test_amp_auto_is_measured_once_per_machine(tmp_path, monkeypatch):
    """A CPU with the bf16 flag gets autocast only where bf16 matmuls time clearly faster, and
    the verdict is kept on disk so every later run (and both halves of obs/do) agrees."""
    import json

    from causal_agents.lm import loader

    monkeypatch.setenv("CAG_CACHE", str(tmp_path))
    monkeypatch.setattr(loader, "_amp_decision", {})
    monkeypatch.setattr(loader, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(loader, "_amp_key", lambda: "cpu A")
    monkeypatch.setattr(loader, "_time_matmuls", lambda: (2.0, 1.0))          # bf16 2x faster
    assert loader.cpu_bf16_pays()
    assert json.loads((tmp_path / "amp.json").read_text()) == {"cpu A": {"bf16": True, "bf16_speedup": 2.0}}

    def no_timing():
        raise AssertionError("measured again")
    monkeypatch.setattr(loader, "_time_matmuls", no_timing)
    assert loader.cpu_bf16_pays()                                            # kept in the process
    monkeypatch.setattr(loader, "_amp_decision", {})
    assert loader.cpu_bf16_pays()                                            # and on disk

    monkeypatch.setattr(loader, "_amp_key", lambda: "cpu B")
    monkeypatch.setattr(loader, "_time_matmuls", lambda: (1.05, 1.0))        # within the margin
    assert not loader.cpu_bf16_pays()
    table = json.loads((tmp_path / "amp.json").read_text())
    assert table["cpu A"]["bf16"] and table["cpu B"] == {"bf16": False, "bf16_speedup": 1.05}
    monkeypatch.setattr(loader, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(loader, "_time_matmuls", no_timing)
    assert not loader.cpu_bf16_pays()                                        # no flag: never timed
    (tmp_path / "amp.json").write_text("{not json")
    monkeypatch.setattr(loader, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(loader, "_amp_decision", {})
    monkeypatch.setattr(loader, "_time_matmuls", lambda: (3.0, 1.0))
    assert loader.cpu_bf16_pays()                                            # a broken cache is rewritten
    assert json.loads((tmp_path / "amp.json").read_text()) == {"cpu B": {"bf16": True, "bf16_speedup": 3.0}}
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CAG_CACHE", str(tmp_path / "file" / "cache"))          # no cache can exist here
    monkeypatch.setattr(loader, "_amp_decision", {})
    assert loader.cpu_bf16_pays()                                            # decided in the process


def test_amp_choice(cag, tmp_path, monkeypatch):
    import torch

    from causal_agents.lm import loader

    cpu = torch.device("cpu")
    monkeypatch.setattr(loader, "cpu_has_native_bf16", lambda: False)
    assert not loader.pick_amp("auto", cpu, torch.float32)   # emulated bf16 is slower than fp32
    monkeypatch.setattr(loader, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(loader, "cpu_bf16_pays", lambda: True)
    assert loader.pick_amp("auto", cpu, torch.float32) and not loader.pick_amp("auto", cpu, torch.bfloat16)
    assert loader.pick_amp("bf16", cpu, torch.float32) and not loader.pick_amp("off", cpu, torch.float32)
    code, _, err = cag("train", "sample_data/truth_dialogues.jsonl", "--mask", "obs", "--amp", "fp8",
                       "--no-progress", "--out", str(tmp_path / "r"))
    assert code == 2 and "unknown --amp 'fp8' (expected auto, bf16, off)" in err
