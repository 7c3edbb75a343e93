"""Loss recipes and the recipe training experiment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gabalab.loss_recipes import LossRecipe, RecipeComparison, RecipeRun, train_with_recipe
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


def _run(recipe: LossRecipe, steps: list[float], medians: list[float]) -> RecipeRun:
    n = len(medians) + 1
    return RecipeRun(recipe, np.array(steps), list(medians), [40.0] * n, [0.5] * n)


def _comparison(**changes: list[float]) -> RecipeComparison:
    values = {"base": [330.0, 500.0, 2000.0, 490.0], "scaled": [2.9, 3.2, 0.33, 0.15],
              "weighted": [1.0, 1.6, 2.8, 0.96], "huber": [2.1, 3.9, 7.4, 4.1], **changes}
    return RecipeComparison(
        _run(LossRecipe("MSE"), values["base"][:1], values["base"][1:]),
        _run(LossRecipe("scaled", target_scale=125.0), values["scaled"][:1],
             values["scaled"][1:]),
        _run(LossRecipe("weighted", health_weight=330.0), values["weighted"][:1],
             values["weighted"][1:]),
        _run(LossRecipe("huber", rul_loss="huber"), values["huber"][:1],
             values["huber"][1:]),
    )


def test_comparison_quotes_and_verdicts() -> None:
    cmp = _comparison()
    assert cmp.quotes() == {"base0": "330", "base_min": "490", "scaled0": "2.9",
                            "weighted0": "1.00", "weighted_range": "0.96 to 2.8",
                            "huber0": "2.1", "huber_range": "3.9 to 7.4"}
    assert cmp.verdicts() == {"rescale": "contradicted", "fixed_weight": "holds",
                              "huber": "holds"}
    assert cmp.balanced_throughout(2.0) == {"MSE": False, "scaled": False, "weighted": False,
                                            "huber": False}
    assert cmp.balanced_throughout(10.0)["weighted"]


@pytest.mark.parametrize("changes, verdicts", [
    ({"scaled": [33.0, 1.0, 1.0, 1.0]}, {"rescale": "holds in part"}),
    ({"scaled": [300.0, 1.0, 1.0, 1.0]}, {"rescale": "holds"}),
    ({"weighted": [1.2, 1.6, 2.8, 0.96]}, {"fixed_weight": "holds in part"}),
    ({"weighted": [1.2, 1.1, 1.5, 0.9]}, {"fixed_weight": "contradicted"}),
    ({"huber": [40.0, 30.0, 20.0, 10.0]}, {"huber": "contradicted"}),
])
def test_comparison_verdicts_follow_the_measurement(changes, verdicts) -> None:
    got = _comparison(**changes).verdicts()
    for claim, verdict in verdicts.items():
        assert got[claim] == verdict


def test_comparison_table() -> None:
    lines = _comparison().table(epochs=(1, 3)).splitlines()
    assert lines[0].split() == ["recipe", "step", "0", "epoch", "1", "epoch", "3", "RMSE", "acc"]
    assert lines[1].split() == ["MSE", "330", "500", "490", "40.0", "0.50"]
    assert len(lines) == 5
    with pytest.raises(ValueError, match="epochs must be one or more of 1..3"):
        _comparison().table(epochs=(4,))


def test_comparison_refuses_runs_in_the_wrong_place() -> None:
    cmp = _comparison()
    with pytest.raises(ValueError, match="baseline must be trained with plain MSE"):
        RecipeComparison(cmp.scaled, cmp.scaled, cmp.weighted, cmp.huber)
    with pytest.raises(ValueError, match="huber must be trained with rul_loss='huber'"):
        RecipeComparison(cmp.baseline, cmp.scaled, cmp.weighted, cmp.baseline)
    short = _run(LossRecipe("h", rul_loss="huber"), [2.0], [3.0])
    with pytest.raises(ValueError, match="huber must be trained for as many epochs"):
        RecipeComparison(cmp.baseline, cmp.scaled, cmp.weighted, short)
    with pytest.raises(TypeError, match="scaled must be a RecipeRun"):
        RecipeComparison(cmp.baseline, "scaled", cmp.weighted, cmp.huber)  # type: ignore[arg-type]
