"""Common loss "fixes" for the imbalance, and a small experiment that trains with each.

A :class:`LossRecipe` says how the two task losses are formed: MSE, Huber or L1 on the RUL
head, the RUL targets optionally divided by a scale, and a fixed weight on the health loss.
:func:`train_with_recipe` trains a dual-head model with the summed loss of a recipe and
records, at every step, the norms of the two loss terms' gradients on the shared
parameters, so one can see what each fix does to the imbalance at initialisation and as
training goes on. :class:`RecipeComparison` sets the plain recipe beside the three fixes and
says what the runs show about the claims made for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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

__all__ = ["LossRecipe", "RecipeRun", "train_with_recipe", "RecipeComparison"]

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


def _check_run(name: str, run: Any) -> RecipeRun:
    if not isinstance(run, RecipeRun):
        raise TypeError(f"{name} must be a RecipeRun, got {type(run).__name__}")
    try:
        steps = np.asarray(run.step_ratios, dtype=np.float64)
        medians = np.asarray(run.epoch_median_ratio, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold real-valued ratios") from None
    if steps.ndim != 1 or steps.size == 0 or medians.ndim != 1 or medians.size == 0:
        raise ValueError(f"{name} holds no step or no epoch: train it for at least one epoch")
    if not (np.all(np.isfinite(steps)) and np.all(steps > 0)
            and np.all(np.isfinite(medians)) and np.all(medians > 0)):
        raise ValueError(f"{name} holds a ratio that is not positive and finite")
    if not len(run.test_rmse) == len(run.test_accuracy) == medians.size + 1:
        raise ValueError(f"{name} must hold a test RMSE and accuracy before training and "
                         "after each epoch")
    return run


@dataclass(frozen=True)
class RecipeComparison:
    """The plain recipe beside the three common fixes, and what the runs say about them.

    Parameters
    ----------
    baseline : RecipeRun
        Plain MSE on targets in cycles, health weight 1.
    scaled : RecipeRun
        The targets divided by a scale (``target_scale != 1``).
    weighted : RecipeRun
        A fixed health weight (``health_weight != 1``).
    huber : RecipeRun
        A Huber loss on the RUL head.

    All four trained for the same number of epochs.

    Raises
    ------
    TypeError
        If an argument is not a :class:`RecipeRun`.
    ValueError
        If its recipe is not the one its place says, it holds no step, a ratio that is not
        positive and finite, no test result before training and after each epoch, or
        another number of epochs than ``baseline``.

    Examples
    --------
    >>> def run(recipe, steps, medians):
    ...     return RecipeRun(recipe, np.array(steps), list(medians),
    ...                      [40.0, 30.0], [0.5, 0.6])
    >>> cmp = RecipeComparison(
    ...     run(LossRecipe("MSE"), [300.0, 400.0], [350.0]),
    ...     run(LossRecipe("s", target_scale=125.0), [2.0, 1.0], [0.5]),
    ...     run(LossRecipe("w", health_weight=300.0), [1.0, 4.0], [3.0]),
    ...     run(LossRecipe("h", rul_loss="huber"), [2.0, 9.0], [5.0]))
    >>> cmp.verdicts()["rescale"], cmp.quotes()["weighted_range"]
    ('contradicted', '3 to 3')
    """

    baseline: RecipeRun
    scaled: RecipeRun
    weighted: RecipeRun
    huber: RecipeRun

    def __post_init__(self) -> None:
        for name in ("baseline", "scaled", "weighted", "huber"):
            _check_run(name, getattr(self, name))
        plain = self.baseline.recipe
        if (plain.rul_loss, plain.target_scale, plain.health_weight) != ("mse", 1.0, 1.0):
            raise ValueError("baseline must be trained with plain MSE, targets in cycles and "
                             f"health weight 1, got {plain}")
        if self.scaled.recipe.target_scale == 1.0:
            raise ValueError("scaled must be trained with rescaled targets (target_scale != 1)")
        if self.weighted.recipe.health_weight == 1.0:
            raise ValueError("weighted must be trained with a health weight other than 1")
        if self.huber.recipe.rul_loss != "huber":
            raise ValueError(f"huber must be trained with rul_loss='huber', got "
                             f"{self.huber.recipe.rul_loss!r}")
        epochs = len(self.baseline.epoch_median_ratio)
        for name in ("scaled", "weighted", "huber"):
            if len(getattr(self, name).epoch_median_ratio) != epochs:
                raise ValueError(f"{name} must be trained for as many epochs as baseline "
                                 f"({epochs})")

    @property
    def runs(self) -> tuple[RecipeRun, RecipeRun, RecipeRun, RecipeRun]:
        """The four runs, in the order of the fields."""
        return (self.baseline, self.scaled, self.weighted, self.huber)

    def table(self, epochs: Sequence[int] = (1, 5, 10)) -> str:
        """Ratio at the first step and at ``epochs`` (medians), test RMSE and accuracy.

        Raises
        ------
        TypeError, ValueError
            If an epoch is not an integer from 1 to the number of epochs trained.
        """
        n_epochs = len(self.baseline.epoch_median_ratio)
        chosen = [check_int("epochs", e, minimum=1) for e in as_list("epochs", epochs)]
        if not chosen or max(chosen) > n_epochs:
            raise ValueError(f"epochs must be one or more of 1..{n_epochs}, got {chosen}")
        heads = ["step 0"] + [f"epoch {e}" for e in chosen]
        lines = [f"{'recipe':22s}" + "".join(f" {h:>8s}" for h in heads)
                 + f" {'RMSE':>6s} {'acc':>5s}"]
        for run in self.runs:
            values = [run.step_ratios[0]] + [run.epoch_median_ratio[e - 1] for e in chosen]
            lines.append(f"{run.recipe.name:22s}" + "".join(f" {v:8.3g}" for v in values)
                         + f" {run.test_rmse[-1]:6.1f} {run.test_accuracy[-1]:5.2f}")
        return "\n".join(lines)

    def balanced_throughout(self, factor: float = 2.0) -> dict[str, bool]:
        """Whether each run's per-epoch median stays within ``[1/factor, factor]``.

        Raises
        ------
        TypeError, ValueError
            If ``factor`` is not a finite number above 1.
        """
        factor = check_real("factor", factor)
        if not factor > 1.0:
            raise ValueError(f"factor must be > 1, got {factor}")
        return {run.recipe.name: max(abs(np.log10(m)) for m in run.epoch_median_ratio)
                <= np.log10(factor) for run in self.runs}

    def quotes(self) -> dict[str, str]:
        """The numbers the text quotes, formatted: ratios at the first step (``*0``), the
        smallest plain per-epoch median, and the ranges of the weighted and Huber medians."""
        def span(run: RecipeRun) -> str:
            return f"{min(run.epoch_median_ratio):.2g} to {max(run.epoch_median_ratio):.2g}"

        return {
            "base0": f"{self.baseline.step_ratios[0]:.0f}",
            "base_min": f"{min(self.baseline.epoch_median_ratio):.0f}",
            "scaled0": f"{self.scaled.step_ratios[0]:.2g}",
            "weighted0": f"{self.weighted.step_ratios[0]:.2f}",
            "weighted_range": span(self.weighted),
            "huber0": f"{self.huber.step_ratios[0]:.2g}",
            "huber_range": span(self.huber),
        }

    def verdicts(self) -> dict[str, str]:
        """Verdicts on the three claims made for the fixes.

        * ``rescale``, "rescaled targets change nothing, since Adam rescales":
          ``"contradicted"`` when rescaling divides the first ratio by more than 50,
          ``"holds"`` when by less than 2, ``"holds in part"`` between;
        * ``fixed_weight``, "a fixed weight balances one moment only": one part each for
          a first ratio within 5% of 1 and a per-epoch median that leaves
          ``[10**-0.3, 10**0.3]`` (about a factor 2) at some epoch; ``"holds"`` with both,
          ``"holds in part"`` with one, ``"contradicted"`` with none;
        * ``huber``, "a Huber loss caps the regression gradient": ``"holds"`` when its first
          ratio is below 10, ``"contradicted"`` otherwise.
        """
        rescale = self.baseline.step_ratios[0] / self.scaled.step_ratios[0]
        weighted = self.weighted
        parts = (int(abs(weighted.step_ratios[0] - 1) < 0.05)
                 + int(max(abs(np.log10(m)) for m in weighted.epoch_median_ratio) > 0.3))
        return {
            "rescale": ("contradicted" if rescale > 50
                        else "holds" if rescale < 2 else "holds in part"),
            "fixed_weight": ("contradicted", "holds in part", "holds")[parts],
            "huber": "holds" if self.huber.step_ratios[0] < 10 else "contradicted",
        }
