"""`--recipe auto` and the recipes' values, as resolved() fills them in."""

import pytest

from causal_agents.errors import UsageError
from causal_agents.training.config import RECIPES, TrainConfig, auto_recipe


def test_auto_picks_tiny_cpu_or_paper():
    assert auto_recipe(None) == "tiny" and auto_recipe("tiny") == "tiny"
    assert auto_recipe("some/model", "cpu") == "cpu"
    assert auto_recipe("some/model", "cuda") == "paper"


def test_resolved_fills_the_recipe_and_keeps_flags():
    cfg = TrainConfig(model="some/model", device="cpu").resolved()
    assert cfg.recipe == "cpu"
    assert (cfg.lr, cfg.epochs, cfg.batch_size) == (RECIPES["cpu"]["lr"], RECIPES["cpu"]["epochs"],
                                                     RECIPES["cpu"]["batch_size"])
    cfg = TrainConfig(model="some/model", device="cpu", recipe="paper", lr=1e-3).resolved()
    assert (cfg.recipe, cfg.lr, cfg.batch_size) == ("paper", 1e-3, 1)
    with pytest.raises(UsageError, match="--recipe"):
        TrainConfig(recipe="fast").resolved()
