"""`cag train`: labels from the label builder, paired runs, determinism, resume, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from causal_agents.cli.main import main

# The invariants hold on both engines: cag's own loop and TRL's SFTTrainer on the same plan.
from engines import DATA, ENGINES, FAST


@pytest.fixture(params=ENGINES)
def engine(request):
    return ["--engine", request.param]


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    from _truth_helpers import save_micro_model

    return ["--model", save_micro_model(tmp_path_factory.mktemp("micro")), "--lr", "1e-3"]


def weights(run_dir):
    from safetensors.numpy import load_file

    return load_file(os.path.join(run_dir, "model.safetensors"))


def same_weights(a, b, exact=True):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        if exact:
            assert np.array_equal(wa[k], wb[k]), k
        else:
            np.testing.assert_allclose(wa[k], wb[k], atol=2e-5, err_msg=k)


def metrics(run_dir):
    return [json.loads(x) for x in open(os.path.join(run_dir, "metrics.jsonl"))]


def test_pair_counts_match_stats_and_run_dirs_load(tmp_path, capsys, engine):
    from causal_agents.transcripts.accounting import StatsOptions, compute_stats
    from causal_agents.transcripts.tagging import iter_tagged

    out = tmp_path / "run"
    assert main(["train", DATA, "--mask", "both", "--out", str(out), "--json", *FAST, *engine]) == 0
    cap = capsys.readouterr()
    res = json.loads(cap.out)
    stats = compute_stats(iter_tagged([DATA]), StatsOptions())
    assert res["supervised_tokens"] == stats["supervised"]
    assert f"obs supervises {stats['supervised']['obs']:,} of {stats['tokens']:,}" in cap.err
    assert res["supervised_tokens"]["obs"] > res["supervised_tokens"]["do"] > 0
    # identical batches in identical order: same sequences per step, different supervision
    mo, md = metrics(out / "obs"), metrics(out / "do")
    assert [m["tokens"] for m in mo] == [m["tokens"] for m in md] and len(mo) == 6
    assert sum(m["supervised_tokens"] for m in mo) == res["supervised_tokens"]["obs"]
    assert sum(m["supervised_tokens"] for m in md) == res["supervised_tokens"]["do"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for mode in ("obs", "do"):
        d = out / mode
        assert (d / "cag_run.json").exists() and (d / "cag_config.json").exists()
        model = AutoModelForCausalLM.from_pretrained(d)
        tok = AutoTokenizer.from_pretrained(d)
        assert tok.decode(tok("User: hi")["input_ids"]) == "User: hi"
        assert model.config.model_type == "qwen2"


def test_same_initialisation_and_parallel_equals_sequential(tmp_path):
    a, b = tmp_path / "seq", tmp_path / "par"
    # the embedded model with lr 0: both runs hold the shared (seeded) initialisation
    assert main(["train", DATA, "--mask", "obs,do", "--out", str(a), "--lr", "0", "--warmup", "0", *FAST,
                 "--max-steps", "1"]) == 0
    assert main(["train", DATA, "--mask", "obs,do", "--out", str(a), "--lr", "0", "--warmup", "0", *FAST,
                 "--resume"]) == 0
    same_weights(a / "obs", a / "do")
    c = tmp_path / "seq2"
    assert main(["train", DATA, "--mask", "obs,do", "--out", str(c), "--sequential", *FAST]) == 0
    assert main(["train", DATA, "--mask", "both", "--out", str(b), "--parallel", *FAST]) == 0
    same_weights(c / "do", b / "do")
    same_weights(c / "obs", b / "obs")


def test_deterministic_and_resume_equals_uninterrupted(tmp_path, capsys, micro, engine):
    full, part = tmp_path / "full", tmp_path / "part"
    args = [*micro, "--mask", "do", "--epochs", "2", "--batch-size", "4", "--no-progress", "--threads", "1", *engine]
    assert main(["train", DATA, "--out", str(full), *args]) == 0
    assert main(["train", DATA, "--out", str(part), "--save-every", "3", "--max-steps", "7", *args]) == 0
    assert not (part / "cag_run.json").exists() and not (part / "config.json").exists()
    assert main(["train", DATA, "--out", str(part), "--resume", "--save-every", "3", *args]) == 0
    same_weights(full, part)
    assert [m["loss"] for m in metrics(full)] == [m["loss"] for m in metrics(part)]
    # a finished run is not silently overwritten
    assert main(["train", DATA, "--out", str(full), *args]) == 1
    assert "already holds a finished run" in capsys.readouterr().err


def test_resume_from_a_different_config_fails(tmp_path, capsys, micro, engine):
    out = tmp_path / "r"
    args = [*micro, "--mask", "obs", "--batch-size", "4", "--no-progress", "--threads", "1", *engine]
    assert main(["train", DATA, "--out", str(out), "--max-steps", "2", *args]) == 0
    capsys.readouterr()
    assert main(["train", DATA, "--out", str(out), "--resume", *args, "--lr", "0.01"]) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("Error")]
    assert len(err) == 1 and err[0].startswith("Error: cannot resume") and "different config" in err[0]
    assert not (out / "cag_run.json").exists()


def test_nothing_supervised_fails(tmp_path, capsys, engine):
    data = tmp_path / "empty.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi", "weight": 0},
                                             {"role": "assistant", "content": "hello", "weight": 0}]}) + "\n")
    out = tmp_path / "o"
    assert main(["train", str(data), "--mask", "do", "--out", str(out), "--no-progress", *engine]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no supervised tokens under --mask do" in err[0]
    assert not out.exists()


def test_model_path_without_tokenizer_fails(tmp_path, capsys):
    from causal_agents.transcripts.tokenizer import load_tokenizer
    from causal_agents.lm.tiny_model import tiny_model

    mdir = tmp_path / "m"
    tiny_model(load_tokenizer(None), 0).save_pretrained(mdir)  # weights and config, no tokenizer
    capsys.readouterr()
    out = tmp_path / "o"
    assert main(["train", DATA, "--mask", "obs", "--model", str(mdir), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tokenizer" in err[0]
    assert not out.exists()


def test_loss_weightings():
    from causal_agents.transcripts.labels import encode
    from causal_agents.transcripts.tagging import iter_tagged
    from causal_agents.transcripts.tokenizer import load_tokenizer
    from causal_agents.training.data import token_weights

    rec = next(iter(iter_tagged([DATA])))
    enc = encode(rec, load_tokenizer(None))
    for mode in ("obs", "do"):
        sup = enc.supervised(mode)
        tw = token_weights(enc, mode, "token")
        assert tw.sum() == sup.sum() and (tw[~sup] == 0).all()
        assert token_weights(enc, mode, "sequence").sum() == pytest.approx(1.0)
        msgs = len(set(enc.segment[sup].tolist()))
        assert token_weights(enc, mode, "message").sum() == pytest.approx(msgs)


def test_lora_adapter_loads(tmp_path, micro, engine):
    out = tmp_path / "lora"
    assert main(["train", DATA, *micro, "--mask", "do", "--lora", "--lora-r", "4", "--out", str(out), *FAST, *engine]) == 0
    assert (out / "adapter_config.json").exists()
    from peft import AutoPeftModelForCausalLM

    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = AutoPeftModelForCausalLM.from_pretrained(out)
    assert any("lora_A" in n for n, _ in m.named_parameters())
    # the saved base holds every weight: nothing re-initialised on load
    assert not [w for w in caught if "newly initialized" in str(w.message)]
    from transformers import AutoModelForCausalLM

    import json

    base_path = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    base = AutoModelForCausalLM.from_pretrained(base_path, output_loading_info=True)[1]
    assert not base["missing_keys"] and not base["unexpected_keys"], base


def test_ddp_two_gloo_processes_match_one_process(tmp_path, micro, engine):
    from _truth_helpers import launcher_source

    launcher = tmp_path / "cag_launch.py"
    launcher.write_text(launcher_source())
    # fp32 on purpose: under bf16 autocast (what --amp auto picks on a CPU where bf16 pays, as
    # on an AMX Xeon) the two runs sum the same gradients in a different order, and bf16's
    # rounding amplifies that to 1e-3 after six steps; the DDP claim is about the sums.
    args = [DATA, *micro, "--mask", "do", "--epochs", "1", "--no-progress", "--threads", "1", "--amp", "off", *engine]
    one = tmp_path / "one"
    assert main(["train", *args, "--batch-size", "2", "--grad-accum", "2", "--out", str(one)]) == 0
    two = tmp_path / "two"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        str(29617 + (engine[1] == "trl")), str(launcher), "train", *args, "--batch-size", "2", "--out", str(two)],
                       env=env, capture_output=True, text=True, timeout=300, cwd=os.getcwd())
    assert p.returncode == 0, p.stderr[-2000:]
    same_weights(one, two, exact=False)
    assert len(metrics(two)) == len(metrics(one)) == 6


def test_tiny_lora_run_saves_a_loadable_base(tmp_path):
    """With the embedded model the adapter's base is saved beside it, without LoRA wrappers."""
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lt"
    assert main(["train", DATA, "--mask", "do", "--lora", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    info = AutoModelForCausalLM.from_pretrained(out / "base", output_loading_info=True)[1]
    assert not info["missing_keys"] and not info["unexpected_keys"], info


def test_do_refuses_transcripts_without_evidence_like_stats_reports(tmp_path, capsys, micro, engine):
    """Role headers alone are not evidence: stats counts such a transcript as empty_do and
    training a pair that includes do refuses it (from both modes: the pair shares batches)."""
    data = tmp_path / "mixed.jsonl"
    recs = [{"id": "good", "messages": [{"role": "user", "content": "The sky is blue."},
                                        {"role": "assistant", "content": "Noted."}]},
            {"id": "agent-only", "messages": [{"role": "system", "content": "s"},
                                              {"role": "assistant", "content": "Hello there."}]}]
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["stats", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["empty_do"] == {"count": 1, "examples": ["agent-only"]}
    out = tmp_path / "o"
    assert main(["train", str(data), *micro, "--mask", "both", "--out", str(out), *FAST, "--max-steps", "1", *engine]) == 0
    err = capsys.readouterr().err
    assert "refused 1 transcript(s) with an empty mask" in err and "agent-only" in err
