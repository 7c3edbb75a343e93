"""MSE and softmax cross-entropy with their gradients: analytic (NumPy) and autograd (PyTorch).

Both losses use the batch-mean reduction of :func:`torch.nn.functional.mse_loss` and
:func:`torch.nn.functional.cross_entropy`:

* ``mse(y_hat, y) = (1/B) sum_i (y_hat_i - y_i)^2``, with
  ``d mse / d y_hat_i = (2/B) (y_hat_i - y_i)``: linear in the residual, unbounded;
* ``ce(z, y) = -(1/B) sum_i log softmax(z_i)[y_i]``, with
  ``d ce / d z_ik = (1/B) (p_ik - 1[k = y_i])``: every entry at most ``1/B`` in size.

The NumPy functions are the reference; :func:`mse_grad_torch` and :func:`cross_entropy_grad_torch`
obtain the same quantities from autograd so the two can be checked against each other.
:func:`batch_size_effect` checks what the batch size does to the ratio of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gabalab import measure
from gabalab._checks import as_array, as_list, check_int, check_real
from gabalab.constants import N_HEALTH_CLASSES

__all__ = [
    "log_softmax",
    "softmax",
    "mse_loss",
    "mse_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "mse_grad_torch",
    "cross_entropy_grad_torch",
    "gradient_magnitudes",
    "BatchSizeEffect",
    "batch_size_effect",
]


def _as_float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a NumPy array, got a torch.Tensor (use .numpy())")
    array = as_array(name, value, ndim=ndim)
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: the batch size B must be at least 1")
    return array


def _check_pair(y_hat: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    y_hat = _as_float_array("y_hat", y_hat, 1)
    y = _as_float_array("y", y, 1)
    if y_hat.shape != y.shape:
        raise ValueError(f"y_hat and y must have the same shape, got {y_hat.shape} and {y.shape}")
    return y_hat, y


def _check_logits_labels(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    logits = _as_float_array("logits", logits, 2)
    n_classes = logits.shape[1]
    if n_classes < 2:
        raise ValueError(f"logits must have K >= 2 class columns, got K = {n_classes}")
    if isinstance(labels, torch.Tensor):
        raise TypeError("labels must be a NumPy array, got a torch.Tensor (use .numpy())")
    labels = as_array("labels", labels, kind="int")
    if labels.shape != (logits.shape[0],):
        raise ValueError(
            f"labels must have shape (B,) = ({logits.shape[0]},) to match logits, "
            f"got {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(
            f"labels must lie in [0, {n_classes - 1}], got values from {labels.min()} "
            f"to {labels.max()}"
        )
    return logits, labels.astype(np.int64)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, stable for large logits (the row maximum is subtracted).

    Parameters
    ----------
    logits : numpy.ndarray, shape (B, K)
        ``B >= 1`` rows of ``K >= 1`` finite logits.

    Returns
    -------
    numpy.ndarray, shape (B, K)
        ``z - logsumexp(z)`` for every row.

    Raises
    ------
    TypeError
        If ``logits`` is not a numeric NumPy array.
    ValueError
        If it is not 2-D, has no row or no column, or holds NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> np.exp(log_softmax(np.array([[1000.0, 1000.0]])))
    array([[0.5, 0.5]])
    """
    logits = _as_float_array("logits", logits, 2)
    if logits.shape[1] == 0:
        raise ValueError(f"logits has no class column (shape {logits.shape}): K must be >= 1")
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax probabilities, computed through :func:`log_softmax`."""
    return np.exp(log_softmax(logits))


def mse_loss(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Batch-mean squared error ``(1/B) sum (y_hat - y)^2``.

    Raises
    ------
    ValueError
        If the arrays are empty, not 1-D, of different shapes, or not finite.
    """
    y_hat, y = _check_pair(y_hat, y)
    return float(np.mean((y_hat - y) ** 2))


def mse_grad(y_hat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Analytic gradient of :func:`mse_loss` with respect to the predictions.

    Parameters
    ----------
    y_hat : numpy.ndarray, shape (B,)
        Predictions.
    y : numpy.ndarray, shape (B,)
        Targets.

    Returns
    -------
    numpy.ndarray, shape (B,)
        ``(2/B) (y_hat - y)``.

    Raises
    ------
    TypeError
        If an argument is not a real-valued array.
    ValueError
        If the batch is empty, the shapes differ, or a value is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> mse_grad(np.zeros(4), np.array([0.0, 10.0, 20.0, 125.0]))
    array([  0. ,  -5. , -10. , -62.5])
    """
    y_hat, y = _check_pair(y_hat, y)
    return (2.0 / y.shape[0]) * (y_hat - y)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Batch-mean softmax cross-entropy ``-(1/B) sum_i log p_i[y_i]``.

    Raises
    ------
    TypeError, ValueError
        As in :func:`cross_entropy_grad`.
    """
    logits, labels = _check_logits_labels(logits, labels)
    log_p = log_softmax(logits)
    return float(-np.mean(log_p[np.arange(labels.shape[0]), labels]))


def cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Analytic gradient of :func:`cross_entropy` with respect to the logits.

    Parameters
    ----------
    logits : numpy.ndarray, shape (B, K)
        Raw scores, ``K >= 2``.
    labels : numpy.ndarray of int, shape (B,)
        True classes in ``[0, K)``.

    Returns
    -------
    numpy.ndarray, shape (B, K)
        ``(softmax(logits) - onehot(labels)) / B``. Every entry lies in ``[-1/B, 1/B]``.

    Raises
    ------
    TypeError
        If the logits are not real or the labels not integers.
    ValueError
        If ``B = 0``, ``K < 2``, the shapes do not match, a label is out of range, or a
        logit is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> cross_entropy_grad(np.zeros((1, 4)), np.array([2]))
    array([[ 0.25,  0.25, -0.75,  0.25]])
    """
    logits, labels = _check_logits_labels(logits, labels)
    batch = logits.shape[0]
    grad = softmax(logits)
    grad[np.arange(batch), labels] -= 1.0
    return grad / batch


def _host(name: str, value: Any, *, floating: bool) -> Any:
    """A tensor argument of a PyTorch twin as a NumPy array (float64 for ``floating``)."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    value = value.detach().cpu()
    if floating and value.dtype.is_floating_point:
        value = value.double()
    return value.numpy()


def mse_grad_torch(y_hat: Any, y: Any) -> np.ndarray:
    """Gradient of :func:`torch.nn.functional.mse_loss` with respect to ``y_hat`` by autograd.

    The twin of :func:`mse_grad`: same arguments (arrays or tensors), same result, obtained
    by differentiating PyTorch's own loss in float64.

    Returns
    -------
    numpy.ndarray, shape (B,)

    Raises
    ------
    TypeError, ValueError
        As in :func:`mse_grad`.
    """
    y_hat_array, y_array = _check_pair(_host("y_hat", y_hat, floating=True),
                                       _host("y", y, floating=True))
    pred = torch.from_numpy(y_hat_array.copy()).requires_grad_(True)
    target = torch.from_numpy(y_array.copy())
    (grad,) = torch.autograd.grad(F.mse_loss(pred, target), pred)
    return grad.numpy()


def cross_entropy_grad_torch(logits: Any, labels: Any) -> np.ndarray:
    """Gradient of :func:`torch.nn.functional.cross_entropy` with respect to the logits.

    The twin of :func:`cross_entropy_grad`, by autograd in float64.

    Returns
    -------
    numpy.ndarray, shape (B, K)

    Raises
    ------
    TypeError, ValueError
        As in :func:`cross_entropy_grad`.
    """
    z_array, label_array = _check_logits_labels(_host("logits", logits, floating=True),
                                                _host("labels", labels, floating=False))
    z = torch.from_numpy(z_array.copy()).requires_grad_(True)
    target = torch.from_numpy(label_array.copy())
    (grad,) = torch.autograd.grad(F.cross_entropy(z, target), z)
    return grad.numpy()


def gradient_magnitudes(
    residual: float, p_true: float, batch_size: int, n_classes: int
) -> dict[str, float]:
    """Sizes of the two output gradients of one sample, and their ratio.

    For one sample in a batch of ``batch_size``: the MSE gradient on its prediction,
    ``|2 r / B|``; the cross-entropy gradient on its true-class logit, ``(1 - p_true) / B``
    (the largest entry of its row when the other classes share ``1 - p_true`` equally); and
    the L2 norm of its whole logit-gradient row in that case,
    ``(1 - p_true) / B * sqrt(K / (K - 1))``.

    Parameters
    ----------
    residual : float
        ``y_hat - y`` in cycles.
    p_true : float
        Softmax probability of the true class, in ``[0, 1]``.
    batch_size : int
        ``B >= 1``.
    n_classes : int
        ``K >= 2``.

    Returns
    -------
    dict
        ``mse`` (``|dL/dy_hat|``), ``ce_true`` (``|dL/dz_y|``), ``ce_row`` (row L2 norm),
        ``ratio`` (``mse / ce_true``; ``inf`` when ``p_true = 1`` and the residual is not
        zero, ``nan`` when both are zero).

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or lies outside its range.

    Examples
    --------
    >>> out = gradient_magnitudes(-60.0, p_true=1 / 3, batch_size=32,
    ...                           n_classes=3)
    >>> round(out["ratio"], 6)
    180.0
    """
    residual = check_real("residual", residual)
    p_true = check_real("p_true", p_true)
    if not 0.0 <= p_true <= 1.0:
        raise ValueError(f"p_true must lie in [0, 1], got {p_true}")
    batch = check_int("batch_size", batch_size, minimum=1)
    k = check_int("n_classes", n_classes, minimum=2)
    mse = 2.0 * abs(residual) / batch
    ce_true = (1.0 - p_true) / batch
    ce_row = ce_true * float(np.sqrt(k / (k - 1)))
    if ce_true > 0:
        ratio = 2.0 * abs(residual) / (1.0 - p_true)  # the batch size cancels
    else:
        ratio = float("inf") if mse > 0 else float("nan")
    return {"mse": mse, "ce_true": ce_true, "ce_row": ce_row, "ratio": ratio}


@dataclass(frozen=True)
class BatchSizeEffect:
    """The ratio of the two output gradients at several batch sizes.

    Built by :func:`batch_size_effect`. The per-sample ratio cannot depend on ``B`` (it
    cancels); the batch-level ratio could, through the targets a batch happens to hold.

    Attributes
    ----------
    batch_sizes : tuple of int
        The batch sizes compared, in the order given.
    per_sample : tuple of float
        ``gradient_magnitudes(residual, p_true, B, K)["ratio"]`` at each batch size.
    batch_median : tuple of float
        At each batch size, the median over synthetic batches of the batch-level ratio:
        the norm of the ``B`` MSE derivatives over the norm of the ``B x K`` cross-entropy
        derivatives of a zero-prediction model
        (:func:`gabalab.measure.output_side_proxy`).
    """

    batch_sizes: tuple[int, ...]
    per_sample: tuple[float, ...]
    batch_median: tuple[float, ...]

    @property
    def factor(self) -> float:
        """Median batch-level ratio at the last batch size over that at the first."""
        return self.batch_median[-1] / self.batch_median[0]

    def verdict(self, claimed: float) -> str:
        """Verdict on a claim that the batch-level ratio is multiplied by ``claimed``.

        ``"holds"`` when :attr:`factor` is within 10% of ``claimed``, ``"contradicted"``
        when it is within 5% of 1 (the ratio does not move), ``"holds in part"`` otherwise.

        Raises
        ------
        TypeError, ValueError
            If ``claimed`` is not a positive finite number.

        Examples
        --------
        >>> BatchSizeEffect((32, 64), (180.0, 180.0), (1.0, 2.1)).verdict(2)
        'holds'
        """
        claimed = check_real("claimed", claimed, positive=True)
        if abs(self.factor / claimed - 1) < 0.1:
            return "holds"
        if abs(self.factor - 1) < 0.05:
            return "contradicted"
        return "holds in part"

    def table(self) -> str:
        """The two ratios per batch size, one line each under a header."""
        lines = [f"{'B':>5} {'per-sample ratio':>17} {'median batch-level ratio':>25}"]
        for b, one, median in zip(self.batch_sizes, self.per_sample, self.batch_median):
            lines.append(f"{b:>5} {one:17.1f} {median:25.1f}")
        return "\n".join(lines)


def batch_size_effect(
    batch_sizes: Sequence[int] = (32, 64),
    *,
    residual: float = -60.0,
    p_true: float = 1.0 / 3.0,
    n_batches: int = 200,
    seed: int = 0,
) -> BatchSizeEffect:
    """Per-sample and batch-level gradient ratios at initialisation, per batch size.

    For each batch size ``B``: the per-sample ratio of :func:`gradient_magnitudes` for one
    sample with ``residual`` and ``p_true`` (three health classes), and the median over
    ``n_batches`` batches of :func:`gabalab.measure.synthetic_batches` (targets uniform on
    the capped range, drawn with ``seed``) of the output-side ratio of
    :func:`gabalab.measure.output_side_proxy`.

    Parameters
    ----------
    batch_sizes : sequence of int
        At least two batch sizes, each ``>= 1``.
    residual : float
        ``y_hat - y`` of the one sample, in cycles.
    p_true : float
        Its true-class probability, in ``[0, 1)``.
    n_batches : int
        Batches per batch size, ``>= 1``.
    seed : int
        Seed of the batches (the same for every batch size), ``>= 0``.

    Returns
    -------
    BatchSizeEffect

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or lies outside its range.

    Examples
    --------
    >>> effect = batch_size_effect((32, 64), n_batches=20)
    >>> [round(r, 6) for r in effect.per_sample]
    [180.0, 180.0]
    >>> round(effect.factor, 1)
    1.0
    """
    sizes = tuple(check_int("batch_sizes", b, minimum=1) for b in as_list("batch_sizes",
                                                                          batch_sizes))
    if len(sizes) < 2:
        raise ValueError(f"batch_sizes must hold at least two sizes, got {len(sizes)}")
    residual = check_real("residual", residual)
    p_true = check_real("p_true", p_true)
    if not 0.0 <= p_true < 1.0:
        raise ValueError(f"p_true must lie in [0, 1), got {p_true}")
    n_batches = check_int("n_batches", n_batches, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    per_sample = tuple(gradient_magnitudes(residual, p_true, b, N_HEALTH_CLASSES)["ratio"]
                       for b in sizes)
    medians = tuple(
        float(measure.output_side_proxy(measure.synthetic_batches(n_batches, b, seed=seed))
              .summary()["median"])
        for b in sizes
    )
    return BatchSizeEffect(sizes, per_sample, medians)
