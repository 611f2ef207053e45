"""TRL's SFTTrainer trains on a `cag export` unchanged: same loss as cag's masked loss, same
supervised tokens as `cag stats` (TRL and datasets are optional: skipped without them)."""

import math

import numpy as np
import orjson
import pytest

from conftest import SAMPLES

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

DATA = [SAMPLES / "agent_tools.jsonl", SAMPLES / "sharegpt.jsonl", SAMPLES / "multi_agent.jsonl"]


def small_model(tok, seed=0):
    from causal_agents.lm.tiny_model import TinySpec, tiny_model

    return tiny_model(tok, seed, TinySpec(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                          num_key_value_heads=1, intermediate_size=64))


def cag_masked_loss(model, tok, mode):
    """cag's own loss (token weighting) on every transcript of DATA as one batch."""
    from causal_agents.training.config import TrainConfig
    from causal_agents.training.data import collate, prepare
    from causal_agents.training.loop import loss_step
    from causal_agents.transcripts.tagging import iter_tagged

    cfg = TrainConfig(modes=(mode,)).resolved()
    prep = prepare(cfg, list(iter_tagged([str(p) for p in DATA])), "<test>", tokenizer=tok)
    idx = list(range(len(prep.examples)))
    ids, tgt, w = collate(prep.examples, idx, mode, tok.pad_token_id)
    loss = loss_step(model, ids, tgt, w, 1.0 / float(w.sum()))
    model.zero_grad(set_to_none=True)
    return float(loss), int(w.sum())


@pytest.mark.parametrize("mode", ["do", "obs"])
def test_sft_trainer_trains_an_export_with_cags_loss_and_counts(cag, tmp_path, byte_tok, mode):
    from trl import SFTConfig, SFTTrainer

    out = tmp_path / "exp"
    code, _, err = cag("export", *DATA, "--mask", mode, "-o", out)
    assert code == 0, err
    code, st, err = cag("stats", *DATA, "--json")
    stats = orjson.loads(st)
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]
    args = SFTConfig(output_dir=str(tmp_path / "trl"), max_steps=3, per_device_train_batch_size=len(ds),
                     learning_rate=1e-3, logging_steps=1, report_to="none", use_cpu=True, max_length=None,
                     save_strategy="no", seed=0, dataloader_num_workers=0, disable_tqdm=True)
    model = small_model(byte_tok)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=byte_tok)
    batch = next(iter(trainer.get_train_dataloader()))  # the whole export: one batch
    # TRL shifts the labels inside its loss: the positions it trains are labels[:, 1:]
    assert int((batch["labels"][:, 1:] != -100).sum()) == stats["supervised"][mode]
    model.train()
    trl_loss = float(trainer.compute_loss(model, dict(batch)).detach())
    ours, n = cag_masked_loss(model, byte_tok, mode)
    assert n == stats["supervised"][mode]
    assert abs(trl_loss - ours) < 1e-5, (trl_loss, ours)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]  # same batch each step at lr 1e-3: the loss must go down
    assert np.isclose(losses[0], ours, atol=1e-3)  # TRL logs its loss rounded
