"""Common loss "fixes" for the imbalance, and a small experiment that trains with each.

A :class:`LossRecipe` says how the two task losses are formed: MSE, Huber or L1 on the RUL
head, the RUL targets optionally divided by a scale, and a fixed weight on the health loss.
:func:`train_with_recipe` trains a dual-head model with the summed loss of a recipe and
records, at every step, the norms of the two loss terms' gradients on the shared
parameters, so one can see what each fix does to the imbalance at initialisation and as
training goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gabalab._checks import (
    as_list,
    check_choice,
    check_int,
    check_real,
    check_task_targets,
    check_tensor,
    with_context,
)
from gabalab.norms import shared_parameters, task_grad_norms
from gabalab.scoped import training_mode

__all__ = ["LossRecipe", "RecipeRun", "train_with_recipe"]

_RUL_LOSSES = ("mse", "huber", "l1")


@dataclass(frozen=True)
class LossRecipe:
    """How the RUL and health losses are formed and combined.

    Parameters
    ----------
    name : str
        Label for tables and plots.
    rul_loss : {"mse", "huber", "l1"}
        Loss on the RUL prediction.
    target_scale : float
        RUL targets are divided by this before the loss (e.g. 125 maps [0, 125] to
        [0, 1]); predictions are multiplied by it to report errors in cycles.
    health_weight : float
        Fixed weight on the cross-entropy term.
    huber_delta : float
        Transition point of the Huber loss, in (scaled) target units.

    Raises
    ------
    ValueError
        If ``rul_loss`` is unknown or a number is not positive.
    """

    name: str
    rul_loss: str = "mse"
    target_scale: float = 1.0
    health_weight: float = 1.0
    huber_delta: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        check_choice("rul_loss", self.rul_loss, _RUL_LOSSES)
        check_real("target_scale", self.target_scale, positive=True)
        check_real("health_weight", self.health_weight, positive=True)
        check_real("huber_delta", self.huber_delta, positive=True)

    def terms(
        self,
        rul_pred: torch.Tensor,
        y_rul: torch.Tensor,
        logits: torch.Tensor,
        y_health: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two terms of the summed loss: the RUL loss and the weighted health loss.

        Raises
        ------
        TypeError, ValueError
            If ``y_rul`` does not have the shape of ``rul_pred`` (a loss would broadcast
            them), is empty (the mean of no loss is NaN) or holds NaN or inf, or
            ``y_health`` is not one integer label per row of ``logits``, in range.
        """
        check_tensor("rul_pred", rul_pred)
        check_tensor("logits", logits)
        check_task_targets(rul_pred, logits, y_rul, y_health)
        if not y_rul.numel():
            raise ValueError(f"y_rul holds no target (shape {tuple(y_rul.shape)}): the loss of "
                             "an empty batch is NaN")
        if y_rul.is_floating_point() and not bool(torch.isfinite(y_rul).all()):
            raise ValueError("y_rul holds NaN or inf: the loss would be NaN")
        target = y_rul / self.target_scale
        if self.rul_loss == "mse":
            rul_term = F.mse_loss(rul_pred, target)
        elif self.rul_loss == "huber":
            rul_term = F.huber_loss(rul_pred, target, delta=self.huber_delta)
        else:
            rul_term = F.l1_loss(rul_pred, target)
        return rul_term, self.health_weight * F.cross_entropy(logits, y_health)


@dataclass
class RecipeRun:
    """What :func:`train_with_recipe` recorded.

    Attributes
    ----------
    recipe : LossRecipe
    step_ratios : numpy.ndarray
        ``||grad of RUL term|| / ||grad of health term||`` on the shared parameters, at
        every optimiser step, before the step (index 0 is the untrained model).
    epoch_median_ratio : list of float
        Median of ``step_ratios`` over each epoch's steps.
    test_rmse : list of float
        RUL error on the test windows in cycles, before training and after each epoch.
    test_accuracy : list of float
        Health accuracy on the test windows, before training and after each epoch.
    """

    recipe: LossRecipe
    step_ratios: np.ndarray
    epoch_median_ratio: list[float] = field(default_factory=list)
    test_rmse: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def _evaluate(model: nn.Module, recipe: LossRecipe, x: torch.Tensor, y_rul: torch.Tensor,
              y_health: torch.Tensor) -> tuple[float, float]:
    with training_mode(model, False), torch.no_grad():
        try:
            rul_pred, logits = model(x)
        except (TypeError, ValueError) as err:  # the model's own input checks
            raise with_context(err, "test: ") from None
    check_task_targets(rul_pred, logits, y_rul, y_health, "test: ")
    rmse = float(torch.sqrt(torch.mean((rul_pred * recipe.target_scale - y_rul) ** 2)))
    accuracy = float((logits.argmax(dim=1) == y_health).double().mean())
    return rmse, accuracy


def train_with_recipe(
    recipe: LossRecipe,
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> RecipeRun:
    """Train ``model`` with Adam on the summed loss of ``recipe`` and record the imbalance.

    At every step the two terms' gradient norms on the shared parameters are measured
    (one forward, one gradient call per term), then the summed loss is back-propagated and
    the optimiser steps.

    Parameters
    ----------
    recipe : LossRecipe
    model : torch.nn.Module
        A dual-head model returning ``(rul_pred, logits)`` with heads named ``rul_head``
        and ``health_head``; trained in place.
    train, test : tuple of torch.Tensor
        ``(x, y_rul, y_health)``, RUL in cycles.
    epochs, batch_size : int
        ``epochs >= 1``, ``batch_size >= 1``.
    lr : float
        Adam's step size.
    seed : int
        Seeds the batch order.

    Returns
    -------
    RecipeRun

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or out of range, train/test tensors whose lengths
        do not match, that hold NaN or inf, or that the model does not accept.
    """
    if not isinstance(recipe, LossRecipe):
        raise TypeError(f"recipe must be a LossRecipe, got {type(recipe).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_real("lr", lr, positive=True)
    seed = check_int("seed", seed, minimum=0)
    for name, triple in (("train", train), ("test", test)):
        parts = as_list(name, triple)
        if len(parts) != 3:
            raise ValueError(f"{name} must be (x, y_rul, y_health), got {len(parts)} items")
        for part, tensor in zip(("x", "y_rul", "y_health"), parts):
            check_tensor(f"{name} {part}", tensor)
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"{name} {part} holds NaN or inf")
        if len({len(t) for t in parts}) != 1 or len(parts[0]) == 0:
            raise ValueError(f"{name} must be (x, y_rul, y_health) of one non-zero length")

    x, y_rul, y_health = train
    shared = shared_parameters(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    run = RecipeRun(recipe=recipe, step_ratios=np.empty(0))
    rmse, acc = _evaluate(model, recipe, *test)
    run.test_rmse.append(rmse)
    run.test_accuracy.append(acc)
    ratios: list[float] = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        epoch_ratios = []
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            try:
                rul_pred, logits = model(x[idx])
            except (TypeError, ValueError) as err:  # the model's own input checks
                raise with_context(err, "train: ") from None
            check_task_targets(rul_pred, logits, y_rul[idx], y_health[idx], "train: ")
            rul_term, health_term = recipe.terms(rul_pred, y_rul[idx], logits, y_health[idx])
            g_rul, g_health = task_grad_norms([rul_term, health_term], shared)
            epoch_ratios.append(g_rul / g_health if g_health > 0 else float("inf"))
            optimiser.zero_grad(set_to_none=True)
            (rul_term + health_term).backward()
            optimiser.step()
        ratios.extend(epoch_ratios)
        run.epoch_median_ratio.append(float(np.median(epoch_ratios)))
        rmse, acc = _evaluate(model, recipe, *test)
        run.test_rmse.append(rmse)
        run.test_accuracy.append(acc)
    run.step_ratios = np.asarray(ratios)
    return run
