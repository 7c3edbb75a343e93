"""The linear probe: how much health information the frozen shared features carry.

:func:`extract_features` computes the shared feature vector of every window with the trunk
frozen; :func:`fit_softmax_probe` fits a multinomial logistic regression on them (full-batch
L-BFGS, deterministic); :func:`probe_report` scores it on the test windows next to the chance
rates and the model's own health head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gabalab._checks import as_array, check_int, check_labels, check_real, with_context
from gabalab.constants import N_HEALTH_CLASSES
from gabalab.scoped import training_mode
from gabalab.training import classification_report, evaluate

__all__ = ["extract_features", "SoftmaxProbe", "fit_softmax_probe", "probe_report"]


@torch.no_grad()
def extract_features(
    model: nn.Module, dataset: Dataset[Any], *, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Shared feature vectors (``model.features``, evaluation mode) and health labels.

    Returns
    -------
    features : numpy.ndarray
        ``(n, feature_dim)`` float64.
    labels : numpy.ndarray
        ``(n,)`` int64.

    Raises
    ------
    TypeError
        If ``model`` is not a module with a ``features`` method or ``dataset`` is not a
        Dataset (or its windows do not fit the model: the model's message, after
        ``dataset:``).
    ValueError
        If ``batch_size`` < 1, ``dataset`` is empty, its windows do not fit the model, or
        they hold NaN or inf (the features would too).
    """
    return _extract(model, dataset, batch_size, "dataset")


@torch.no_grad()
def _extract(
    model: nn.Module, dataset: Dataset[Any], batch_size: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extract_features`, its messages naming the dataset ``name``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"{name} must be a torch Dataset, got {type(dataset).__name__}")
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} is empty: there are no features to extract")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    features = getattr(model, "features", None)
    if not callable(features):
        raise TypeError(f"model must have a features(x) method returning the shared features, "
                        f"got {type(model).__name__}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    feats, labels = [], []
    with training_mode(model, False):
        for i, (x, _, y_health) in enumerate(loader):
            if isinstance(x, torch.Tensor) and not bool(torch.isfinite(x).all()):
                raise ValueError(f"{name} holds NaN or inf in the windows of batch {i} "
                                 f"(batch_size {batch_size})")
            try:
                feats.append(features(x).numpy())
            except (TypeError, ValueError) as err:  # the model's own input checks
                raise with_context(err, f"{name}: ") from None
            labels.append(y_health.numpy())
    return np.concatenate(feats).astype(np.float64), np.concatenate(labels).astype(np.int64)


@dataclass(frozen=True)
class SoftmaxProbe:
    """Multinomial logistic regression on standardised features.

    Attributes
    ----------
    mean, scale : numpy.ndarray
        Feature standardisation fitted on the training features (scale 1 for constant ones).
    weight : numpy.ndarray
        ``(n_features, n_classes)``.
    bias : numpy.ndarray
        ``(n_classes,)``.
    n_iter : int
        L-BFGS function evaluations used.
    train_loss : float
        Final regularised training loss.
    """

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    n_iter: int
    train_loss: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Class scores of ``features`` of shape ``(n, n_features)``."""
        x = as_array("features", features, ndim=2)
        if x.shape[1] != self.mean.size:
            raise ValueError(f"features must have {self.mean.size} columns, got shape {x.shape}")
        z = (x - self.mean) / self.scale
        return z @ self.weight + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Most likely class of each row."""
        return self.logits(features).argmax(axis=1)


def fit_softmax_probe(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int = N_HEALTH_CLASSES,
    l2: float = 1e-4,
    max_iter: int = 500,
) -> SoftmaxProbe:
    """Fit a multinomial logistic regression with full-batch L-BFGS (float64).

    The features are standardised with the training mean and standard deviation; the loss is
    the mean cross-entropy plus ``l2 * ||W||^2`` (bias not penalised), which keeps the problem
    strictly convex even when the classes are separable.  The weights start at zero and every
    step uses the whole training set, so the fit involves no randomness and needs no seed.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, n_features)`` training features.
    labels : numpy.ndarray
        ``(n,)`` integer labels in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    l2 : float
        Ridge penalty on the weights, >= 0.
    max_iter : int
        L-BFGS iteration limit.

    Returns
    -------
    SoftmaxProbe

    Raises
    ------
    TypeError
        If ``features`` is not numeric or ``labels`` are not integers.
    ValueError
        If shapes disagree, labels are out of range, or values are not finite.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> fit_softmax_probe(x, y, n_classes=2).predict(x).tolist()
    [0, 0, 1, 1]
    """
    x = as_array("features", features, ndim=2)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    y = check_labels("labels", labels, n_classes)
    if x.shape[0] != y.size or y.size == 0 or x.shape[1] == 0:
        raise ValueError(f"features must be (n, d) with n = len(labels) > 0 and d > 0, got "
                         f"{x.shape} for {y.size} labels")
    l2 = check_real("l2", l2, nonnegative=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = torch.as_tensor((x - mean) / scale)
    target = torch.as_tensor(y)
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
        tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, target) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        final = float(F.cross_entropy(z @ weight + bias, target) + l2 * (weight**2).sum())
    n_iter = int(optimizer.state[optimizer._params[0]].get("func_evals", 0))
    return SoftmaxProbe(mean, scale, weight.detach().numpy().copy(),
                        bias.detach().numpy().copy(), n_iter, final)


def probe_report(
    model: nn.Module,
    train: Dataset[Any],
    test: Dataset[Any],
    *,
    n_classes: int = N_HEALTH_CLASSES,
    l2: float = 1e-4,
) -> dict[str, Any]:
    """Linear probe on the frozen shared features, with chance rates and the health head.

    Steps: compute the shared features of every training and test window with the trunk
    frozen (``torch.no_grad``, evaluation mode; no parameter changes); fit
    :func:`fit_softmax_probe` on the training-window features; score the test windows.
    Chance rates on the test set: always predicting the training majority class, and uniform
    guessing ``1 / n_classes``.

    Returns
    -------
    dict
        ``probe_test`` and ``probe_train`` classification reports, ``health_head_test``,
        ``majority_class``, ``majority_chance_test``, ``uniform_chance``, fit details.

    Raises
    ------
    TypeError, ValueError
        As :func:`extract_features` (for ``train`` and ``test``) and
        :func:`fit_softmax_probe`, naming the argument.
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    l2 = check_real("l2", l2, nonnegative=True)
    train_x, train_y = _extract(model, train, 512, "train")
    test_x, test_y = _extract(model, test, 512, "test")
    probe = fit_softmax_probe(train_x, train_y, n_classes=n_classes, l2=l2)
    majority = int(np.bincount(train_y, minlength=n_classes).argmax())
    head = evaluate(model, test)
    return {
        "probe_test": classification_report(probe.predict(test_x), test_y, n_classes),
        "probe_train": classification_report(probe.predict(train_x), train_y, n_classes),
        "health_head_test": {k: head[k] for k in ("accuracy", "per_class_recall", "support",
                                                  "confusion")},
        "majority_class": majority,
        "majority_chance_test": float(np.mean(test_y == majority)),
        "uniform_chance": 1.0 / n_classes,
        "feature_dim": int(train_x.shape[1]),
        "n_train_windows": int(train_y.size),
        "n_test_windows": int(test_y.size),
        "fit": {
            "method": "multinomial logistic regression, standardised features, full-batch "
                      "L-BFGS (strong Wolfe), zero init, float64",
            "l2": l2,
            "function_evaluations": probe.n_iter,
            "final_train_loss": probe.train_loss,
        },
    }
