"""A model folder's own Python (``auto_map`` in config.json or tokenizer_config.json) is never
run: no prompt, even when a user would answer yes; one clear line naming the key, exit 1."""

import builtins
import json

import pytest

DATA = "sample_data/truth_dialogues.jsonl"
# Would leave a marker file if transformers ever imported it.
CUSTOM_PY = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n" \
            "from transformers import PretrainedConfig\nclass EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"


def _custom_model_dir(tmp_path, where: str):
    """A tiny model folder whose ``where`` (config or tokenizer) maps to custom code in evil.py."""
    from causal_agents.transcripts.tokenizer import load_tokenizer

    d = tmp_path / "model"
    d.mkdir()
    marker = tmp_path / "MARKER"
    (d / "evil.py").write_text(CUSTOM_PY.format(marker=str(marker)))
    load_tokenizer(None).save_pretrained(d)
    cfg = {"model_type": "qwen2", "vocab_size": 260, "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}
    if where == "config":
        cfg.update(model_type="evil", architectures=["EvilForCausalLM"],
                   auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilForCausalLM"})
    else:
        tc = json.loads((d / "tokenizer_config.json").read_text())
        tc.update(tokenizer_class="EvilTokenizer", auto_map={"AutoTokenizer": ["evil.EvilTokenizer", None]})
        (d / "tokenizer_config.json").write_text(json.dumps(tc))
    (d / "config.json").write_text(json.dumps(cfg))
    return d, marker


@pytest.fixture
def answers_yes(monkeypatch):
    """A user at a terminal who would answer y to transformers' "run the custom code?" prompt."""
    asked = []

    def yes(prompt=""):
        asked.append(prompt)
        return "y"

    monkeypatch.setattr(builtins, "input", yes)
    return asked


@pytest.mark.parametrize("where, file", [("config", "config.json"), ("tokenizer", "tokenizer_config.json")])
@pytest.mark.parametrize("command", [
    lambda d, out: ("train", DATA, "--mask", "obs", "--model", d, "--epochs", "1", "--no-progress", "--out", out),
    lambda d, out: ("probe", "--facts", "sample_data/facts-33.json", "--model", d),
], ids=["train", "probe"])
def test_model_folder_code_never_runs(cag, tmp_path, answers_yes, where, file, command):
    d, marker = _custom_model_dir(tmp_path, where)
    code, _, err = cag(*command(str(d), str(tmp_path / "run")))
    assert not marker.exists(), "the model folder's Python ran"
    assert answers_yes == [], "the user was asked whether to run the folder's code"
    assert code == 1, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "Traceback" not in err
    assert "auto_map" in lines[-1] and file in lines[-1] and "does not run" in lines[-1]
    assert "trust_remote_code=True" not in err
    assert not (tmp_path / "run" / "cag_run.json").exists()


def test_library_loaders_pass_trust_remote_code_false(tmp_path, answers_yes):
    """The library entry points, without the CLI: the same refusal, nothing run, no prompt."""
    from causal_agents.errors import CagError
    from causal_agents.lm.loader import load_weights
    from causal_agents.transcripts.tokenizer import load_tokenizer

    d, marker = _custom_model_dir(tmp_path, "config")
    with pytest.raises(CagError, match="auto_map"):
        load_weights(str(d), load_tokenizer(None), None)
    (tmp_path / "t").mkdir()
    d2, marker2 = _custom_model_dir(tmp_path / "t", "tokenizer")
    with pytest.raises(CagError, match="auto_map"):
        load_tokenizer(str(d2))
    assert not marker.exists() and not marker2.exists() and answers_yes == []


def test_supported_architecture_with_an_auto_map_loads_without_its_code(tmp_path, answers_yes):
    """Many hub copies of supported models carry an auto_map: transformers' own class loads
    them (trust_remote_code=False), and the folder's Python still never runs."""
    from _truth_helpers import save_micro_model

    from causal_agents.lm.loader import load_model

    d = save_micro_model(tmp_path / "m")
    marker = tmp_path / "MARKER"
    (tmp_path / "m" / "evil.py").write_text(CUSTOM_PY.format(marker=str(marker)))
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "evil.EvilForCausalLM"}
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    model, _ = load_model(d, device="cpu")
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert not marker.exists() and answers_yes == []
