"""Loss recipes and the recipe training experiment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gabalab.loss_recipes import LossRecipe, train_with_recipe
from gabalab.models import TinyDualHead
from gabalab.norms import shared_parameters, task_grad_norms


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 14, generator=g)
    y_rul = torch.clamp(125 * x[:, 0] + 10 * torch.rand(n, generator=g), 0, 125)
    y_health = (y_rul <= 75).long() + (y_rul <= 25).long()
    return x, y_rul, y_health


def test_terms_match_torch_losses() -> None:
    pred, y = torch.tensor([0.1, 0.5]), torch.tensor([50.0, 100.0])
    logits, labels = torch.zeros(2, 3), torch.tensor([0, 2])
    ce = F.cross_entropy(logits, labels)
    rul, hs = LossRecipe("a").terms(pred, y, logits, labels)
    assert rul.item() == pytest.approx(F.mse_loss(pred, y).item())
    assert hs.item() == pytest.approx(ce.item())
    rul, hs = LossRecipe("b", target_scale=125.0, health_weight=7.0).terms(pred, y, logits, labels)
    assert rul.item() == pytest.approx(F.mse_loss(pred, y / 125).item())
    assert hs.item() == pytest.approx(7 * ce.item())
    rul, _ = LossRecipe("c", rul_loss="huber", huber_delta=2.0).terms(pred, y, logits, labels)
    assert rul.item() == pytest.approx(F.huber_loss(pred, y, delta=2.0).item())
    rul, _ = LossRecipe("d", rul_loss="l1").terms(pred, y, logits, labels)
    assert rul.item() == pytest.approx(F.l1_loss(pred, y).item())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rul_loss="hinge"), "rul_loss must be one of"),
        (dict(target_scale=0.0), "target_scale must be > 0"),
        (dict(health_weight=-1.0), "health_weight must be > 0"),
        (dict(huber_delta=float("nan")), "huber_delta must be finite"),
    ],
)
def test_bad_recipe(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        LossRecipe("bad", **kwargs)


def test_first_step_ratio_is_the_measured_ratio() -> None:
    train, test = _data(64, 0), _data(32, 1)
    run = train_with_recipe(LossRecipe("mse"), TinyDualHead(seed=3), train, test,
                            epochs=1, batch_size=64)
    # Recompute the first step's ratio on a fresh copy of the same model and batch order.
    model = TinyDualHead(seed=3)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    rul, logits = model(train[0][order])
    terms = LossRecipe("mse").terms(rul, train[1][order], logits, train[2][order])
    g_rul, g_hs = task_grad_norms(list(terms), shared_parameters(model))
    assert run.step_ratios[0] == pytest.approx(g_rul / g_hs, rel=1e-6)


def test_recipe_run_records_and_is_deterministic() -> None:
    train, test = _data(200, 0), _data(50, 1)
    a = train_with_recipe(LossRecipe("mse"), TinyDualHead(seed=0), train, test,
                          epochs=3, batch_size=50, seed=4)
    b = train_with_recipe(LossRecipe("mse"), TinyDualHead(seed=0), train, test,
                          epochs=3, batch_size=50, seed=4)
    assert a.step_ratios.shape == (12,)
    assert len(a.epoch_median_ratio) == 3
    assert len(a.test_rmse) == len(a.test_accuracy) == 4
    np.testing.assert_array_equal(a.step_ratios, b.step_ratios)
    assert a.test_rmse[-1] < a.test_rmse[0]  # training helps the RUL head
    assert all(math.isfinite(v) for v in a.step_ratios)


def test_rescaled_targets_shrink_the_first_ratio() -> None:
    train, test = _data(64, 0), _data(32, 1)
    raw = train_with_recipe(LossRecipe("mse"), TinyDualHead(seed=1), train, test, epochs=1,
                            batch_size=64)
    scaled = train_with_recipe(LossRecipe("s", target_scale=125.0), TinyDualHead(seed=1),
                               train, test, epochs=1, batch_size=64)
    assert scaled.step_ratios[0] < raw.step_ratios[0] / 20


def test_bad_training_arguments() -> None:
    train, test = _data(10, 0), _data(5, 1)
    model = TinyDualHead(seed=0)
    with pytest.raises(TypeError, match="recipe must be a LossRecipe"):
        train_with_recipe("mse", model, train, test)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train_with_recipe(LossRecipe("a"), model, train, test, epochs=0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        train_with_recipe(LossRecipe("a"), model, train, test, lr=0.0)
    with pytest.raises(ValueError, match="train must be"):
        train_with_recipe(LossRecipe("a"), model, (train[0], train[1][:3], train[2]), test)
