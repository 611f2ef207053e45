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
