"""A linear shared layer with two task heads, differentiated by hand (NumPy) and by autograd.

The smallest model in which two tasks pull on the same parameters:

* shared layer ``z = W x`` with ``W`` of shape ``(D_shared, D_in)``, no bias;
* RUL head ``y_hat = w_rul . z`` with ``w_rul`` of shape ``(D_shared,)``, trained with the
  batch-mean squared error;
* health head ``logits = W_hs z`` with ``W_hs`` of shape ``(K, D_shared)``, trained with the
  batch-mean softmax cross-entropy.

:func:`linear_task_gradients` applies the chain rule by hand to obtain each task's gradient
on ``W`` (the shared parameters) and on its own head. :func:`linear_task_gradients_torch` is
its twin: the same arrays copied into :class:`LinearDualHead` and differentiated by
autograd. :func:`finite_difference_shared_grad` is a third, independent check.
:func:`ratio_spread` measures the ratio of the two shared gradients' norms on many batches.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gabalab import losses
from gabalab._checks import (
    as_array,
    as_list,
    check_choice,
    check_int,
    check_labels,
    check_real,
    check_tensor,
)
from gabalab.constants import N_HEALTH_CLASSES, RUL_CAP
from gabalab.data import health_labels

__all__ = [
    "LinearWeights",
    "TaskGradients",
    "LinearDualHead",
    "init_linear_weights",
    "random_rul_batch",
    "linear_forward",
    "linear_losses",
    "linear_task_gradients",
    "linear_task_gradients_torch",
    "finite_difference_shared_grad",
    "RatioSpread",
    "ratio_spread",
]

TASKS: tuple[str, str] = ("rul", "hs")


@dataclass(frozen=True)
class LinearWeights:
    """The three weight arrays of the linear dual-head model (float64).

    Attributes
    ----------
    W : numpy.ndarray, shape (D_shared, D_in)
        The shared layer: the only parameters both tasks reach.
    w_rul : numpy.ndarray, shape (D_shared,)
        The RUL regression head.
    W_hs : numpy.ndarray, shape (K, D_shared)
        The health classification head.
    """

    W: np.ndarray
    w_rul: np.ndarray
    W_hs: np.ndarray

    def __post_init__(self) -> None:
        for name in ("W", "w_rul", "W_hs"):
            value = getattr(self, name)
            if isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a NumPy array, got a torch.Tensor")
            array = np.array(as_array(name, value), dtype=np.float64)
            object.__setattr__(self, name, array)
        if self.W.ndim != 2 or 0 in self.W.shape:
            raise ValueError(f"W must be a non-empty 2-D array, got shape {self.W.shape}")
        d_shared = self.W.shape[0]
        if self.w_rul.shape != (d_shared,):
            raise ValueError(
                f"w_rul must have shape ({d_shared},) to match W, got {self.w_rul.shape}"
            )
        if self.W_hs.ndim != 2 or self.W_hs.shape[1] != d_shared or self.W_hs.shape[0] < 2:
            raise ValueError(
                f"W_hs must have shape (K, {d_shared}) with K >= 2, got {self.W_hs.shape}"
            )

    @property
    def d_in(self) -> int:
        """Input size ``D_in``."""
        return int(self.W.shape[1])

    @property
    def d_shared(self) -> int:
        """Shared feature size ``D_shared``."""
        return int(self.W.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of health classes ``K``."""
        return int(self.W_hs.shape[0])


@dataclass(frozen=True)
class TaskGradients:
    """Both losses and each task's gradient on the shared layer and on its own head.

    The RUL loss does not reach ``W_hs`` and the health loss does not reach ``w_rul``, so
    those cross terms are zero and not stored.

    Attributes
    ----------
    loss_rul, loss_hs : float
        Batch-mean squared error and batch-mean cross-entropy.
    shared_rul, shared_hs : numpy.ndarray, shape (D_shared, D_in)
        ``dL_rul/dW`` and ``dL_hs/dW``.
    head_rul : numpy.ndarray, shape (D_shared,)
        ``dL_rul/dw_rul``.
    head_hs : numpy.ndarray, shape (K, D_shared)
        ``dL_hs/dW_hs``.
    """

    loss_rul: float
    loss_hs: float
    shared_rul: np.ndarray
    shared_hs: np.ndarray
    head_rul: np.ndarray
    head_hs: np.ndarray


def init_linear_weights(
    d_in: int = 4,
    d_shared: int = 8,
    n_classes: int = N_HEALTH_CLASSES,
    *,
    scale: float = 0.1,
    seed: int,
) -> LinearWeights:
    """Draw the three weight arrays from ``scale * N(0, 1)``.

    ``W``, then ``w_rul``, then ``W_hs`` are drawn in that order from
    ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    d_in, d_shared : int
        Input and shared feature sizes (>= 1).
    n_classes : int
        Number of health classes ``K`` (>= 2).
    scale : float
        Standard deviation of every weight (> 0).
    seed : int
        Seed (>= 0).

    Returns
    -------
    LinearWeights

    Raises
    ------
    TypeError, ValueError
        On an argument of the wrong type or out of range, naming it.

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, seed=0)
    >>> w.W.shape, w.w_rul.shape, w.W_hs.shape
    ((8, 4), (8,), (3, 8))
    """
    d_in = check_int("d_in", d_in, minimum=1)
    d_shared = check_int("d_shared", d_shared, minimum=1)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    scale = check_real("scale", scale, positive=True)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    W = scale * rng.standard_normal((d_shared, d_in))
    w_rul = scale * rng.standard_normal(d_shared)
    W_hs = scale * rng.standard_normal((n_classes, d_shared))
    return LinearWeights(W=W, w_rul=w_rul, W_hs=W_hs)


def random_rul_batch(
    batch_size: int,
    n_features: int,
    *,
    seed: int,
    rul_cap: float = RUL_CAP,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch of standard-normal inputs with capped RUL targets and their health labels.

    The inputs are drawn first, then the targets, uniform on the integers
    ``0, 1, ..., floor(rul_cap)`` from ``numpy.random.default_rng(seed)``; the labels are
    :func:`gabalab.data.targets.health_labels` of the targets.

    Parameters
    ----------
    batch_size : int
        ``B`` (>= 1).
    n_features : int
        Input size (>= 1).
    seed : int
        Seed (>= 0).
    rul_cap : float
        Largest target (>= 0).

    Returns
    -------
    x : numpy.ndarray, float64, shape (B, n_features)
    y_rul : numpy.ndarray, float64, shape (B,)
    y_hs : numpy.ndarray, int64, shape (B,)

    Raises
    ------
    TypeError, ValueError
        On an argument of the wrong type or out of range, naming it.

    Examples
    --------
    >>> x, y_rul, y_hs = random_rul_batch(5, 4, seed=0)
    >>> x.shape, y_rul.shape, y_hs.dtype
    ((5, 4), (5,), dtype('int64'))
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_features = check_int("n_features", n_features, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    rul_cap = check_real("rul_cap", rul_cap, nonnegative=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, n_features))
    y_rul = rng.integers(0, int(np.floor(rul_cap)) + 1, size=batch_size).astype(np.float64)
    return x, y_rul, health_labels(y_rul)


def _check_weights(weights: Any) -> LinearWeights:
    if not isinstance(weights, LinearWeights):
        raise TypeError(f"weights must be a LinearWeights, got {type(weights).__name__}")
    return weights


def _check_x(x: Any, weights: LinearWeights) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        raise TypeError("x must be a NumPy array, got a torch.Tensor (use .numpy())")
    array = as_array("x", x)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != weights.d_in:
        raise ValueError(f"x must have shape (B, {weights.d_in}) with B >= 1, got {array.shape}")
    return array


def _check_targets(
    y_rul: Any, y_hs: Any, batch: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(y_rul, torch.Tensor) or isinstance(y_hs, torch.Tensor):
        raise TypeError("y_rul and y_hs must be NumPy arrays, not torch tensors")
    y_rul = as_array("y_rul", y_rul)
    if y_rul.shape != (batch,):
        raise ValueError(f"y_rul must have shape ({batch},) to match x, got {y_rul.shape}")
    y_hs = as_array("y_hs", y_hs, kind="int")
    if y_hs.shape != (batch,):
        raise ValueError(f"y_hs must have shape ({batch},) to match x, got {y_hs.shape}")
    return y_rul, check_labels("y_hs", y_hs, n_classes)


def linear_forward(
    weights: LinearWeights, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared features, RUL predictions and logits for a batch.

    Parameters
    ----------
    weights : LinearWeights
    x : numpy.ndarray, shape (B, D_in)

    Returns
    -------
    z : numpy.ndarray, shape (B, D_shared)
        ``x @ W.T``.
    y_hat : numpy.ndarray, shape (B,)
        ``z @ w_rul``.
    logits : numpy.ndarray, shape (B, K)
        ``z @ W_hs.T``.

    Raises
    ------
    TypeError, ValueError
        If ``weights`` is not a :class:`LinearWeights` or ``x`` has the wrong shape or
        non-finite entries.

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, seed=0)
    >>> z, y_hat, logits = linear_forward(w, np.ones((2, 4)))
    >>> z.shape, y_hat.shape, logits.shape
    ((2, 8), (2,), (2, 3))
    """
    weights = _check_weights(weights)
    x = _check_x(x, weights)
    z = x @ weights.W.T
    return z, z @ weights.w_rul, z @ weights.W_hs.T


def linear_losses(
    weights: LinearWeights, x: np.ndarray, y_rul: np.ndarray, y_hs: np.ndarray
) -> tuple[float, float]:
    """The two batch-mean losses, MSE on the RUL and cross-entropy on the classes.

    Parameters
    ----------
    weights : LinearWeights
    x : numpy.ndarray, shape (B, D_in)
    y_rul : numpy.ndarray, shape (B,)
        RUL targets.
    y_hs : numpy.ndarray of int, shape (B,)
        Health classes in ``[0, K)``.

    Returns
    -------
    (float, float)
        ``(loss_rul, loss_hs)``.

    Raises
    ------
    TypeError, ValueError
        On arrays of the wrong type, shape or range, naming the argument.

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, seed=0)
    >>> x, y_rul, y_hs = random_rul_batch(8, 4, seed=1)
    >>> loss_rul, loss_hs = linear_losses(w, x, y_rul, y_hs)
    >>> loss_rul > 100 * loss_hs
    True
    """
    weights = _check_weights(weights)
    x = _check_x(x, weights)
    y_rul, y_hs = _check_targets(y_rul, y_hs, x.shape[0], weights.n_classes)
    _, y_hat, logits = linear_forward(weights, x)
    return losses.mse_loss(y_hat, y_rul), losses.cross_entropy(logits, y_hs)


def linear_task_gradients(
    weights: LinearWeights, x: np.ndarray, y_rul: np.ndarray, y_hs: np.ndarray
) -> TaskGradients:
    """Each task's gradient on the shared layer and on its head, by the chain rule.

    RUL: ``dL/dy_hat = (2/B) r``; ``dL/dz = dL/dy_hat w_rul^T`` (an outer product);
    ``dL/dW = (dL/dz)^T x``; ``dL/dw_rul = z^T dL/dy_hat``.
    Health: ``dL/dlogits = (p - onehot)/B``; ``dL/dz = dL/dlogits W_hs``;
    ``dL/dW = (dL/dz)^T x``; ``dL/dW_hs = (dL/dlogits)^T z``.

    Parameters
    ----------
    weights, x, y_rul, y_hs
        As in :func:`linear_losses`.

    Returns
    -------
    TaskGradients

    Raises
    ------
    TypeError, ValueError
        As in :func:`linear_losses`.

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, seed=0)
    >>> batch = random_rul_batch(8, 4, seed=1)
    >>> grads = linear_task_gradients(w, *batch)
    >>> grads.shared_rul.shape, grads.head_hs.shape
    ((8, 4), (3, 8))
    """
    weights = _check_weights(weights)
    x = _check_x(x, weights)
    y_rul, y_hs = _check_targets(y_rul, y_hs, x.shape[0], weights.n_classes)
    z, y_hat, logits = linear_forward(weights, x)
    d_pred = losses.mse_grad(y_hat, y_rul)  # (B,)
    d_logits = losses.cross_entropy_grad(logits, y_hs)  # (B, K)
    dz_rul = np.outer(d_pred, weights.w_rul)  # (B, D_shared)
    dz_hs = d_logits @ weights.W_hs  # (B, D_shared)
    return TaskGradients(
        loss_rul=losses.mse_loss(y_hat, y_rul),
        loss_hs=losses.cross_entropy(logits, y_hs),
        shared_rul=dz_rul.T @ x,
        shared_hs=dz_hs.T @ x,
        head_rul=z.T @ d_pred,
        head_hs=d_logits.T @ z,
    )


class LinearDualHead(nn.Module):
    """PyTorch twin of the linear model: ``shared``, ``rul_head`` and ``health_head``.

    Three bias-free :class:`torch.nn.Linear` layers. The head attribute names are those of
    every model in :mod:`gabalab.models`, so :func:`gabalab.norms.shared_parameters` selects
    ``shared.weight`` alone.

    Parameters
    ----------
    d_in, d_shared, n_classes : int
        Layer sizes.
    dtype : torch.dtype
        Parameter dtype (float64 by default, to compare with NumPy exactly).

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, seed=0)
    >>> model = LinearDualHead.from_weights(w)
    >>> [name for name, _ in model.named_parameters()]
    ['shared.weight', 'rul_head.weight', 'health_head.weight']
    """

    def __init__(
        self,
        d_in: int,
        d_shared: int,
        n_classes: int = N_HEALTH_CLASSES,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        d_in = check_int("d_in", d_in, minimum=1)
        d_shared = check_int("d_shared", d_shared, minimum=1)
        n_classes = check_int("n_classes", n_classes, minimum=2)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.shared = nn.Linear(d_in, d_shared, bias=False, dtype=dtype)
        self.rul_head = nn.Linear(d_shared, 1, bias=False, dtype=dtype)
        self.health_head = nn.Linear(d_shared, n_classes, bias=False, dtype=dtype)

    @classmethod
    def from_weights(
        cls, weights: LinearWeights, *, dtype: torch.dtype = torch.float64
    ) -> LinearDualHead:
        """Build the module with a copy of the NumPy weights.

        Parameters
        ----------
        weights : LinearWeights
        dtype : torch.dtype
            Parameter dtype.

        Returns
        -------
        LinearDualHead

        Raises
        ------
        TypeError
            If ``weights`` is not a :class:`LinearWeights`.
        """
        weights = _check_weights(weights)
        model = cls(weights.d_in, weights.d_shared, weights.n_classes, dtype=dtype)
        with torch.no_grad():
            model.shared.weight.copy_(torch.from_numpy(weights.W))
            model.rul_head.weight.copy_(torch.from_numpy(weights.w_rul)[None, :])
            model.health_head.weight.copy_(torch.from_numpy(weights.W_hs))
        return model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(y_hat, logits)`` of shapes ``(B,)`` and ``(B, K)`` for ``x`` of ``(B, D_in)``.

        Raises
        ------
        TypeError
            If ``x`` is not a tensor of the layers' dtype.
        ValueError
            If ``x`` is not 2-D with ``D_in`` columns.
        """
        d_in = self.shared.in_features
        check_tensor("x", x, ndim=2, dtype=self.shared.weight.dtype)
        if x.shape[1] != d_in:
            raise ValueError(f"x must have shape (B, {d_in}), got {tuple(x.shape)}")
        z = self.shared(x)
        return self.rul_head(z).squeeze(-1), self.health_head(z)


def linear_task_gradients_torch(
    weights: LinearWeights, x: np.ndarray, y_rul: np.ndarray, y_hs: np.ndarray
) -> TaskGradients:
    """Twin of :func:`linear_task_gradients` by autograd, in float64.

    The arrays are copied into :class:`LinearDualHead`; the losses are
    :func:`torch.nn.functional.mse_loss` and :func:`torch.nn.functional.cross_entropy`;
    each task's gradients come from one :func:`torch.autograd.grad` call.

    Parameters, Returns, Raises
        As in :func:`linear_task_gradients`.

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, seed=0)
    >>> batch = random_rul_batch(8, 4, seed=1)
    >>> a = linear_task_gradients(w, *batch)
    >>> b = linear_task_gradients_torch(w, *batch)
    >>> bool(np.allclose(a.shared_rul, b.shared_rul,
    ...                  rtol=1e-12, atol=0))
    True
    """
    weights = _check_weights(weights)
    x = _check_x(x, weights)
    y_rul, y_hs = _check_targets(y_rul, y_hs, x.shape[0], weights.n_classes)
    model = LinearDualHead.from_weights(weights, dtype=torch.float64)
    y_hat, logits = model(torch.from_numpy(x))
    loss_rul = F.mse_loss(y_hat, torch.from_numpy(y_rul))
    loss_hs = F.cross_entropy(logits, torch.from_numpy(y_hs))
    shared_rul, head_rul = torch.autograd.grad(
        loss_rul, [model.shared.weight, model.rul_head.weight], retain_graph=True
    )
    shared_hs, head_hs = torch.autograd.grad(
        loss_hs, [model.shared.weight, model.health_head.weight]
    )
    return TaskGradients(
        loss_rul=float(loss_rul.detach()),
        loss_hs=float(loss_hs.detach()),
        shared_rul=shared_rul.numpy(),
        shared_hs=shared_hs.numpy(),
        head_rul=head_rul[0].numpy(),
        head_hs=head_hs.numpy(),
    )


def finite_difference_shared_grad(
    weights: LinearWeights,
    x: np.ndarray,
    y_rul: np.ndarray,
    y_hs: np.ndarray,
    task: str,
    *,
    eps: float = 1e-6,
) -> np.ndarray:
    """Central finite differences of one task's loss with respect to every entry of ``W``.

    ``(L(W + eps E_jk) - L(W - eps E_jk)) / (2 eps)`` for each entry; the error is of order
    ``eps^2`` times the third derivative plus rounding of order ``1e-16 L / eps``.

    Parameters
    ----------
    weights, x, y_rul, y_hs
        As in :func:`linear_losses`.
    task : {"rul", "hs"}
        Which loss to differentiate.
    eps : float
        Step (> 0).

    Returns
    -------
    numpy.ndarray, shape (D_shared, D_in)

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, naming the argument.

    Examples
    --------
    >>> w = init_linear_weights(2, 3, 3, seed=0)
    >>> batch = random_rul_batch(4, 2, seed=1)
    >>> fd = finite_difference_shared_grad(w, *batch, task="hs")
    >>> exact = linear_task_gradients(w, *batch).shared_hs
    >>> bool(np.allclose(fd, exact, atol=1e-8))
    True
    """
    weights = _check_weights(weights)
    task = check_choice("task", task, TASKS)
    eps = check_real("eps", eps, positive=True)
    x = _check_x(x, weights)
    y_rul, y_hs = _check_targets(y_rul, y_hs, x.shape[0], weights.n_classes)
    which = TASKS.index(task)
    grad = np.empty_like(weights.W)
    for index in np.ndindex(*weights.W.shape):
        values = []
        for step in (eps, -eps):
            W = weights.W.copy()
            W[index] += step
            moved = LinearWeights(W=W, w_rul=weights.w_rul, W_hs=weights.W_hs)
            values.append(linear_losses(moved, x, y_rul, y_hs)[which])
        grad[index] = (values[0] - values[1]) / (2 * eps)
    return grad


@dataclass(frozen=True)
class RatioSpread:
    """The L2 ratio of the two tasks' shared gradients, batch by batch.

    Built by :func:`ratio_spread`.

    Attributes
    ----------
    seeds : tuple of int
        The seed of each batch.
    ratios : tuple of float
        ``||dL_rul/dW||_2 / ||dL_hs/dW||_2`` on each batch, in the order of ``seeds``.
    """

    seeds: tuple[int, ...]
    ratios: tuple[float, ...]

    @property
    def min(self) -> float:
        """Smallest ratio."""
        return float(np.min(self.ratios))

    @property
    def median(self) -> float:
        """Median ratio."""
        return float(np.median(self.ratios))

    @property
    def max(self) -> float:
        """Largest ratio."""
        return float(np.max(self.ratios))

    def __str__(self) -> str:
        values = " ".join(f"{r:.0f}" for r in sorted(self.ratios))
        return "\n".join([f"L2 ratio on {len(self.ratios)} batches, sorted:",
                          *textwrap.wrap(values, 76),
                          f"min {self.min:.0f}, median {self.median:.0f}, "
                          f"max {self.max:.0f}"])

    def quotes(self) -> dict[str, str]:
        """Smallest, median and largest ratio as the text quotes them (no decimals)."""
        return {"spread_min": f"{self.min:.0f}", "spread_med": f"{self.median:.0f}",
                "spread_max": f"{self.max:.0f}"}

    def verdict(self, claimed: float) -> str:
        """Verdict on a claim that the model gives a ratio of about ``claimed``.

        ``"contradicted"`` when the first batch's ratio is below a fifth of ``claimed`` and
        no batch reaches 60% of it; ``"holds"`` when the first batch's ratio lies within a
        factor 2 of ``claimed``; ``"holds in part"`` otherwise.

        Raises
        ------
        TypeError, ValueError
            If ``claimed`` is not a positive finite number.

        Examples
        --------
        >>> RatioSpread((1, 2), (40.0, 250.0)).verdict(500)
        'contradicted'
        """
        claimed = check_real("claimed", claimed, positive=True)
        first = self.ratios[0]
        if first < claimed / 5 and self.max < 0.6 * claimed:
            return "contradicted"
        if 0.5 < first / claimed < 2:
            return "holds"
        return "holds in part"


def ratio_spread(weights: LinearWeights, batch_size: int,
                 seeds: Iterable[int]) -> RatioSpread:
    """The L2 ratio of the shared gradients of the two tasks on one batch per seed.

    Each batch is :func:`random_rul_batch` with ``seed``; the gradients on ``W`` are those of
    :func:`linear_task_gradients`, and the ratio is the quotient of their Frobenius norms.

    Parameters
    ----------
    weights : LinearWeights
        The model, with at least the three health classes the batches' labels use.
    batch_size : int
        ``B >= 1``.
    seeds : iterable of int
        One seed (``>= 0``) per batch, at least one.

    Returns
    -------
    RatioSpread

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or lies outside its range.

    Examples
    --------
    >>> w = init_linear_weights(4, 8, 3, scale=0.1, seed=0)
    >>> spread = ratio_spread(w, 32, seeds=range(1, 4))
    >>> len(spread.ratios), spread.min <= spread.median <= spread.max
    (3, True)
    """
    weights = _check_weights(weights)
    if weights.n_classes < N_HEALTH_CLASSES:
        raise ValueError(f"weights must have at least {N_HEALTH_CLASSES} classes for the "
                         f"batches' health labels, got {weights.n_classes}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed_list = tuple(check_int("seeds", s, minimum=0) for s in as_list("seeds", seeds))
    if not seed_list:
        raise ValueError("seeds must hold at least one seed")
    ratios = []
    for seed in seed_list:
        grads = linear_task_gradients(weights, *random_rul_batch(batch_size, weights.d_in,
                                                                 seed=seed))
        ratios.append(float(np.linalg.norm(grads.shared_rul) / np.linalg.norm(grads.shared_hs)))
    return RatioSpread(seed_list, tuple(ratios))
