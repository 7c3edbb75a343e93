"""How the task losses of one batch become one gradient: the naive sum, fixed weights, GABA.

Each method takes the K scalar task losses of a forward pass and writes the gradient of its
combination into ``.grad``; the training loop then steps the optimiser. They differ only in
the weights:

* :class:`SummedLoss` - ``L_1 + ... + L_K`` (every weight 1), one ``backward()``;
* :class:`FixedWeights` - ``sum_i w_i L_i`` with weights chosen once, one ``backward()``;
* :class:`GabaMethod` - the weights of a :class:`~gabalab.gaba.GabaBalancer`, recomputed
  every step from the per-task gradient norms on the shared parameters;
* :class:`UncertaintyWeighting` - homoscedastic uncertainty weighting (Kendall, Gal and
  Cipolla, 2018): a learned log-variance per task, trained with the model.

:func:`weights_balanced_at` picks fixed weights that equalise the tasks' gradient norms at a
given state of the model (the "fixed weight chosen at initialisation" of section 18.2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from gabalab._checks import (
    check_int,
    check_model_params,
    check_not_class,
    check_real,
    check_scalar_losses,
    freed_graph_named,
)
from gabalab.gaba import GabaBalancer
from gabalab.norms import task_grad_norms
from gabalab.scoped import seeded, training_mode

__all__ = [
    "StepRecord",
    "Method",
    "SummedLoss",
    "FixedWeights",
    "GabaMethod",
    "UncertaintyWeighting",
    "TASK_KINDS",
    "weights_balanced_at",
]

#: The kinds of task :class:`UncertaintyWeighting` knows, with the factor of ``exp(-s)``
#: in its loss: a Gaussian likelihood (regression) gives ``1/2``, a softmax likelihood
#: with a temperature (classification) gives 1.
TASK_KINDS: dict[str, float] = {"regression": 0.5, "classification": 1.0}


@dataclass(frozen=True)
class StepRecord:
    """What a method applied on one step.

    Attributes
    ----------
    weights : tuple of float
        The weight of each task's loss in the gradient written to ``.grad``.
    norms : tuple of float or None
        Each task's gradient norm on the shared parameters, when the method measured it
        (GABA measures it every step; the others do not).
    floor_bound : bool
        True when a weight sits at the balancer's floor (GABA only).
    """

    weights: tuple[float, ...]
    norms: tuple[float, ...] | None = None
    floor_bound: bool = False


class Method(Protocol):
    """A way of turning K task losses into ``.grad``."""

    name: str
    n_tasks: int

    def backward(self, losses: Sequence[torch.Tensor]) -> StepRecord:
        """Write the combined gradient of ``losses`` into ``.grad`` and say what was applied."""
        ...


def _check_name(name: object) -> str:
    """A method's label: a non-empty string."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a non-empty string, got {type(name).__name__}")
    if not name:
        raise ValueError("name must be a non-empty string, got ''")
    return name


class FixedWeights:
    """``sum_i w_i L_i`` with weights fixed in advance, differentiated by one ``backward()``.

    Parameters
    ----------
    weights : sequence of float
        One finite weight ``>= 0`` per task, at least two, not all zero. They are used as
        given (not normalised).
    name : str
        Label of the method in logs and results.

    Raises
    ------
    TypeError, ValueError
        If ``weights`` is not a sequence of at least two finite non-negative numbers with a
        positive sum, or ``name`` is not a non-empty string.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> losses = [w.sum(), (w * w).sum()]
    >>> record = FixedWeights([1.0, 3.0]).backward(losses)
    >>> w.grad, record.weights
    (tensor([ 7., 13.]), (1.0, 3.0))
    """

    def __init__(self, weights: Sequence[float], name: str = "fixed") -> None:
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Iterable):
            raise TypeError(f"weights must be a sequence of numbers, got {type(weights).__name__}")
        values = tuple(check_real(f"weights[{i}]", w, nonnegative=True)
                       for i, w in enumerate(weights))
        if len(values) < 2:
            raise ValueError(f"weights must hold one weight per task for at least 2 tasks, "
                             f"got {len(values)}")
        if not math.fsum(values) > 0:
            raise ValueError("weights must not all be zero")
        self.weights = values
        self.name = _check_name(name)
        self.n_tasks = len(values)

    def backward(self, losses: Sequence[torch.Tensor]) -> StepRecord:
        """Backward of ``sum_i w_i L_i``; the weights are those given at construction.

        Raises
        ------
        TypeError, ValueError
            If ``losses`` is not one scalar loss per task that requires grad, or their graph
            was already freed by an earlier backward pass.
        """
        losses = check_scalar_losses(losses, count=self.n_tasks)
        total = self.weights[0] * losses[0]
        for w, loss in zip(self.weights[1:], losses[1:]):
            total = total + w * loss
        with freed_graph_named("losses"):
            total.backward()
        return StepRecord(self.weights)

    def __repr__(self) -> str:
        return f"FixedWeights({list(self.weights)}, name={self.name!r})"


class SummedLoss(FixedWeights):
    """The naive sum ``L_1 + ... + L_K``: every weight 1.

    Parameters
    ----------
    n_tasks : int
        Number of tasks, ``>= 2``.

    Examples
    --------
    >>> SummedLoss().weights
    (1.0, 1.0)
    """

    def __init__(self, n_tasks: int = 2) -> None:
        n_tasks = check_int("n_tasks", n_tasks, minimum=2)
        super().__init__([1.0] * n_tasks, name="sum")

    def backward(self, losses: Sequence[torch.Tensor]) -> StepRecord:
        """Backward of the plain sum of ``losses`` (no multiplication by the unit weights)."""
        losses = check_scalar_losses(losses, count=self.n_tasks)
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss
        with freed_graph_named("losses"):
            total.backward()
        return StepRecord(self.weights)

    def __repr__(self) -> str:
        return f"SummedLoss(n_tasks={self.n_tasks})"


class GabaMethod:
    """GABA as a method: :meth:`GabaBalancer.step <gabalab.gaba.GabaBalancer.step>` per batch.

    Parameters
    ----------
    balancer : GabaBalancer
        The balancer (its EMA state lives on across steps). With ``measure_every > 1`` the
        held steps report no norms (they measure none).
    name : str
        Label of the method in logs and results.

    Raises
    ------
    TypeError
        If ``balancer`` is not a :class:`~gabalab.gaba.GabaBalancer` or ``name`` is not a
        string.
    ValueError
        If ``name`` is empty, or the balancer uses ``sensor="representation"``: a method is
        given the losses only, and that sensor also needs the shared features (train it with
        :func:`gabalab.training.train_balanced`).
    """

    def __init__(self, balancer: GabaBalancer, name: str = "gaba") -> None:
        if not isinstance(balancer, GabaBalancer):
            raise TypeError(f"balancer must be a GabaBalancer, got {type(balancer).__name__}")
        if balancer.sensor == "representation":
            raise ValueError("balancer: a method passes only the losses, and "
                             "sensor='representation' also needs the shared features; train "
                             "it with gabalab.training.train_balanced")
        self.balancer = balancer
        self.n_tasks = balancer.n_tasks
        self.name = _check_name(name)

    @property
    def params(self) -> tuple[torch.Tensor, ...]:
        """The tensors whose ``.grad`` the balancer writes: the shared ones, then the heads."""
        return self.balancer.params

    def backward(self, losses: Sequence[torch.Tensor]) -> StepRecord:
        """One balancer step; a skipped step (non-finite values) raises ``ValueError``.

        Raises
        ------
        ValueError
            If the balancer skipped the step (``on_nonfinite="skip"`` and a non-finite value):
            a training loop that cannot step must not pretend it did.
        """
        result = self.balancer.step(losses)
        if result.skipped:
            raise ValueError(f"the GABA step was skipped: {result.reason}")
        floor = self.balancer.floor
        bound = floor > 0 and any(abs(w - floor) <= 1e-12 for w in result.weights)
        return StepRecord(result.weights, result.norms if result.fresh else None, bound)

    def __repr__(self) -> str:
        b = self.balancer
        return f"GabaMethod(ema={b.ema}, floor={b.floor}, name={self.name!r})"


class UncertaintyWeighting(nn.Module):
    """Homoscedastic uncertainty weighting: each task's weight learned with the model.

    Kendall, Gal and Cipolla (2018) weigh each task by the inverse of a learned noise
    variance ``sigma_i**2``. With ``s_i = log sigma_i**2`` (a trainable parameter, started
    at ``init``) the combined loss is

        L = sum_i c_i exp(-s_i) L_i + s_i / 2,

    with ``c_i = 1/2`` for a regression task (a Gaussian likelihood, ``L_i`` the mean squared
    error) and ``c_i = 1`` for a classification task (their approximation of a softmax with a
    temperature, ``L_i`` the cross-entropy). The ``s_i / 2`` terms keep the variances from
    growing without bound. At the optimum of ``s_i`` for a fixed ``L_i``,
    ``exp(s_i) = 2 c_i L_i``: the weight ``c_i exp(-s_i)`` tends to ``1 / (2 L_i)``, so each
    task's loss is scaled by its own size. The log-variances are parameters of this module:
    give them to the optimiser with the model's (``list(model.parameters()) +
    list(method.parameters())``).

    Parameters
    ----------
    kinds : sequence of {"regression", "classification"}
        One per task, at least two (default ``("regression", "classification")``: the RUL
        and the health task).
    init : float
        Starting value of every ``s_i`` (default 0: every variance 1).
    name : str
        Label of the method in logs and results.

    Attributes
    ----------
    log_variances : torch.nn.Parameter
        ``s_i``, shape ``(K,)``, float64 unless converted with ``.to``.

    Raises
    ------
    TypeError, ValueError
        If ``kinds`` is not a sequence of at least two known kinds, ``init`` is not a finite
        number, or ``name`` is not a non-empty string.

    Examples
    --------
    >>> import torch
    >>> method = UncertaintyWeighting()
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> record = method.backward([(w * w).sum(), w.sum()])
    >>> record.weights, w.grad
    ((0.5, 1.0), tensor([2., 3.]))
    >>> method.log_variances.grad
    tensor([-2.0000, -2.5000], dtype=torch.float64)
    """

    def __init__(self, kinds: Sequence[str] = ("regression", "classification"), *,
                 init: float = 0.0, name: str = "uncertainty") -> None:
        super().__init__()
        if isinstance(kinds, (str, bytes)) or not isinstance(kinds, Iterable):
            raise TypeError(f"kinds must be a sequence of task kinds, got {type(kinds).__name__}")
        values = tuple(kinds)
        for i, kind in enumerate(values):
            if not isinstance(kind, str) or kind not in TASK_KINDS:
                raise ValueError(f"kinds[{i}] must be one of {sorted(TASK_KINDS)}, got {kind!r}")
        if len(values) < 2:
            raise ValueError(f"kinds must name at least 2 tasks, got {len(values)}")
        init = check_real("init", init)
        self.kinds = values
        self.n_tasks = len(values)
        self.name = _check_name(name)
        self.factors = tuple(TASK_KINDS[k] for k in values)
        self.log_variances = nn.Parameter(torch.full((self.n_tasks,), init,
                                                     dtype=torch.float64))

    def weights(self) -> tuple[float, ...]:
        """The current weight ``c_i exp(-s_i)`` of each task's loss."""
        with torch.no_grad():
            s = self.log_variances.detach().cpu().tolist()
        return tuple(c * math.exp(-v) for c, v in zip(self.factors, s))

    def backward(self, losses: Sequence[torch.Tensor]) -> StepRecord:
        """Backward of ``sum_i c_i exp(-s_i) L_i + s_i / 2`` into the model and ``s``.

        Returns
        -------
        StepRecord
            The weights ``c_i exp(-s_i)`` of this step (before the optimiser moves ``s``).

        Raises
        ------
        TypeError, ValueError
            If ``losses`` is not one scalar loss per task that requires grad, or their graph
            was already freed by an earlier backward pass.
        """
        losses = check_scalar_losses(losses, count=self.n_tasks)
        weights = self.weights()
        s = self.log_variances
        total = None
        for i, loss in enumerate(losses):
            s_i = s[i].to(loss.dtype)
            term = self.factors[i] * torch.exp(-s_i) * loss + 0.5 * s_i
            total = term if total is None else total + term
        assert total is not None
        with freed_graph_named("losses"):
            total.backward()
        return StepRecord(weights)

    def extra_repr(self) -> str:
        return f"kinds={list(self.kinds)}, name={self.name!r}"


def weights_balanced_at(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    shared: Sequence[torch.Tensor],
    losses_of: Any,
    *,
    n_batches: int = 20,
    seed: int | None = 0,
) -> tuple[float, ...]:
    """Fixed weights that equalise the tasks' gradient norms at the model's current state.

    Over the first ``n_batches`` batches (training mode, no step, ``.grad`` untouched) each
    task's gradient norm on ``shared`` is measured, and ``w_i = g_1 / g_i`` from the per-task
    medians ``g_i``: the loss ``L_1 + w_2 L_2 + ...`` then starts with equal pulls (for two
    tasks these are the GABA weights at that state, rescaled so that the first is 1).

    Parameters
    ----------
    model : torch.nn.Module
        The model, e.g. freshly initialised.
    batches : iterable of (x, y_rul, y_health)
        Training batches.
    shared : sequence of torch.Tensor
        Shared parameters.
    losses_of : callable
        ``losses_of(model, batch) -> list of scalar losses``.
    n_batches : int
        Batches to measure, ``>= 1``.
    seed : int or None
        Seed of the dropout masks during the measurement (see :func:`gabalab.scoped.seeded`).

    Returns
    -------
    tuple of float
        One weight per task, the first equal to 1.

    Raises
    ------
    TypeError, ValueError
        On invalid arguments (``shared`` must be trainable parameters of ``model``, and
        ``losses_of`` a function, not a class), losses of a batch that are not at least two
        scalar losses that require grad and reach ``shared`` with finite gradients, no batch,
        or a zero norm.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if batches is None or isinstance(batches, (str, bytes, Mapping, torch.Tensor)) or (
        not isinstance(batches, Iterable)
    ):
        raise TypeError(f"batches must be an iterable of (x, y_rul, y_health) batches, got "
                        f"{type(batches).__name__}")
    shared = check_model_params("shared", shared, model)
    check_not_class("losses_of", losses_of, "a function called as losses_of(model, batch)")
    if not callable(losses_of):
        raise TypeError("losses_of must be callable as losses_of(model, batch)")
    n_batches = check_int("n_batches", n_batches, minimum=1)
    norms: list[list[float]] = []
    with training_mode(model, True), seeded(seed):
        for i, batch in enumerate(batches):
            if i >= n_batches:
                break
            where = f"losses_of(model, batch {i})"
            losses = check_scalar_losses(losses_of(model, batch), minimum=2, name=where)
            if norms and len(losses) != len(norms[0]):
                raise ValueError(f"{where} returned {len(losses)} losses, the first batch "
                                 f"{len(norms[0])}: one per task on every batch")
            try:
                norms.append(task_grad_norms(losses, shared, retain_graph=False))
            except ValueError as err:  # a loss not of model, a freed graph, NaN in batch i
                raise ValueError(f"{where}: {err} (params are shared here: the losses must "
                                 f"come from model on batches[{i}])") from None
    if not norms:
        raise ValueError("batches yielded no batch")
    medians = np.median(np.asarray(norms), axis=0)
    if not np.all(medians > 0):
        raise ValueError(f"a task's median gradient norm is zero: {medians.tolist()}")
    return tuple(float(medians[0] / g) for g in medians)
