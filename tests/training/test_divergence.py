"""A diverged run is never called complete: a non-finite loss or gradient stops `cag train` with
one line (step, value, likely cause), exit 1, no completion marker; a learning rate that is not
a finite, non-negative number is a usage error."""

import os

import pytest

from engines import DATA, ENGINES, FAST


@pytest.mark.parametrize("engine", ENGINES)
def test_lr_typo_diverges_and_stops(cag, tmp_path, engine):
    out = tmp_path / "run"
    code, _, err = cag("train", DATA, "--mask", "obs", "--lr", "1e3", *FAST, "--engine", engine, "--out", out)
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "diverged at step" in last and "--lr" in last, last
    assert "] finished:" not in err and "Traceback" not in err
    assert not (out / "cag_run.json").exists() and not (out / "model.safetensors").exists()


@pytest.mark.parametrize("lr", ["inf", "nan", "-1e-3", "-inf"])
def test_non_finite_or_negative_lr_is_a_usage_error(cag, tmp_path, lr):
    code, _, err = cag("train", DATA, "--mask", "obs", f"--lr={lr}", *FAST, "--out", tmp_path / "run")
    assert code == 2, err
    assert "--lr" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "run")


def test_non_finite_weights_are_never_saved_as_a_finished_run(tmp_path):
    """The last guard before the completion marker: a model whose weights are not finite."""
    import torch

    from causal_agents.errors import CagError
    from causal_agents.training.guard import check_finite_weights

    m = torch.nn.Linear(2, 2)
    check_finite_weights(m, "obs", 3, 1e-3)
    with torch.no_grad():
        m.weight[0, 0] = float("inf")
    with pytest.raises(CagError, match="weight"):
        check_finite_weights(m, "obs", 3, 1e-3)
