"""Training on the summed loss, test evaluation and the linear probe, shared by the experiments.

* :func:`train_epoch` - one epoch of the naive summed loss ``L_mse + L_ce`` with an optimizer.
* :func:`evaluate` - test RMSE (cycles), health accuracy and per-class recall.
* :func:`train_summed_loss` - the seeded training loop (Adam) with a per-epoch hook.
* :func:`extract_features` and :func:`fit_softmax_probe` - the linear probe on the frozen
  shared features; :func:`probe_report` puts it together with the chance rates.
* :func:`save_checkpoint` and :func:`load_checkpoint` - a small model file next to the JSON.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from gabalab._checks import check_int, check_real
from gabalab.constants import N_HEALTH_CLASSES
from gabalab.data import make_loader
from gabalab.models import DualTaskModel

__all__ = [
    "seeded_rng",
    "train_epoch",
    "evaluate",
    "classification_report",
    "extract_features",
    "SoftmaxProbe",
    "fit_softmax_probe",
    "probe_report",
    "train_summed_loss",
    "MAX_CHECKPOINT_BYTES",
    "save_checkpoint",
    "load_checkpoint",
]


@contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG inside the block (dropout masks); restore it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    max_batches: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float | int]:
    """One epoch of the naive summed loss ``mse(rul, y_rul) + cross_entropy(logits, y_health)``.

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model, trained in training mode.
    loader : DataLoader
        Training batches ``(x, y_rul, y_health)``.
    optimizer : torch.optim.Optimizer
        Optimizer over the model's parameters.
    max_batches : int or None
        Stop after this many batches.
    progress : bool
        Show a progress bar on standard error.
    desc : str
        Progress-bar label.

    Returns
    -------
    dict
        Example-weighted mean ``mse``, ``ce`` and ``total`` training loss, and ``n_batches``.
    """
    model.train()
    sums = np.zeros(3)
    n_examples = 0
    n_batches = 0
    total = len(loader) if max_batches is None else min(len(loader), max_batches)
    batches = loader if max_batches is None else itertools.islice(loader, max_batches)
    bar = tqdm(batches, total=total, desc=desc, file=sys.stderr, disable=not progress,
               unit="batch")
    try:
        for x, y_rul, y_health in bar:
            optimizer.zero_grad(set_to_none=True)
            rul, logits = model(x)
            mse = F.mse_loss(rul, y_rul)
            ce = F.cross_entropy(logits, y_health)
            loss = mse + ce
            if not torch.isfinite(loss):
                raise ValueError(f"training loss became non-finite at batch {n_batches}")
            loss.backward()
            optimizer.step()
            b = int(x.shape[0])
            sums += b * np.array([mse.item(), ce.item(), loss.item()])
            n_examples += b
            n_batches += 1
            if progress:
                bar.set_postfix(mse=f"{mse.item():.1f}", ce=f"{ce.item():.3f}", refresh=False)
    finally:
        bar.close()
    mse_mean, ce_mean, total_mean = sums / max(n_examples, 1)
    return {"mse": float(mse_mean), "ce": float(ce_mean), "total": float(total_mean),
            "n_batches": n_batches}


def classification_report(
    predicted: np.ndarray, labels: np.ndarray, n_classes: int = N_HEALTH_CLASSES
) -> dict[str, Any]:
    """Accuracy, per-class recall (None for absent classes) and confusion matrix.

    Examples
    --------
    >>> r = classification_report(np.array([0, 1, 1]), np.array([0, 1, 2]))
    >>> r["accuracy"], r["per_class_recall"]
    (0.6666666666666666, [1.0, 1.0, 0.0])
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(axis=1)
    recall = [
        float(confusion[k, k] / support[k]) if support[k] else None for k in range(n_classes)
    ]
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "per_class_recall": recall,
        "support": support.tolist(),
        "confusion": confusion.tolist(),
    }


@torch.no_grad()
def _predict(model: nn.Module, dataset: Dataset, batch_size: int) -> tuple[np.ndarray, ...]:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    ruls, logits_all, y_rul, y_health = [], [], [], []
    with _eval_mode(model):
        for x, yr, yh in loader:
            rul, logits = model(x)
            ruls.append(rul.numpy())
            logits_all.append(logits.numpy())
            y_rul.append(yr.numpy())
            y_health.append(yh.numpy())
    return (np.concatenate(ruls).astype(np.float64), np.concatenate(logits_all),
            np.concatenate(y_rul).astype(np.float64), np.concatenate(y_health))


def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 256) -> dict[str, Any]:
    """Test metrics in evaluation mode: RUL RMSE in cycles and health classification.

    The RMSE compares the raw predictions with the capped true RUL (the training target).

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model.
    dataset : Dataset
        ``(x, y_rul, y_health)`` items, e.g. the last window of each test unit.
    batch_size : int
        Evaluation batch size (does not change the results).

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``accuracy``, ``per_class_recall``, ``support``, ``confusion``, ``n``.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    rul, logits, y_rul, y_health = _predict(model, dataset, batch_size)
    report = classification_report(logits.argmax(axis=1), y_health, logits.shape[1])
    return {
        "rmse": float(np.sqrt(np.mean((rul - y_rul) ** 2))),
        "mae": float(np.mean(np.abs(rul - y_rul))),
        **report,
        "n": int(y_rul.size),
    }


@torch.no_grad()
def extract_features(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Shared feature vectors (``model.features``, evaluation mode) and health labels.

    Returns
    -------
    features : numpy.ndarray
        ``(n, feature_dim)`` float64.
    labels : numpy.ndarray
        ``(n,)`` int64.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    feats, labels = [], []
    with _eval_mode(model):
        for x, _, y_health in loader:
            feats.append(model.features(x).numpy())
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
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
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
    ValueError
        If shapes disagree, labels are out of range, or values are not finite.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> fit_softmax_probe(x, y, n_classes=2).predict(x).tolist()
    [0, 0, 1, 1]
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.size or y.size == 0:
        raise ValueError(f"features must be (n, d) with n = len(labels) > 0, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features must be finite")
    n_classes = check_int("n_classes", n_classes, minimum=2)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes})")
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
    train: Dataset,
    test: Dataset,
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
    """
    train_x, train_y = extract_features(model, train)
    test_x, test_y = extract_features(model, test)
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


def train_summed_loss(
    model: nn.Module,
    dataset: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    max_batches: int | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Train with Adam on the naive summed loss ``L_mse + L_ce`` for ``epochs`` epochs.

    The shuffling comes from a loader seeded with ``seed`` and the dropout masks from a torch
    RNG seeded with ``seed`` inside :func:`seeded_rng`, so the same arguments give the same
    model (on the same software and thread count).  ``on_epoch(epoch, stats)`` is called before
    training with ``(0, None)`` and after each epoch with that epoch's statistics; whatever it
    does with its own seeded RNG (e.g. :func:`gabalab.measure.measure_epoch` with a ``seed``)
    does not change the training.

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model, trained in place.
    dataset : Dataset
        Training windows.
    epochs : int
        Number of epochs, >= 0.
    lr : float
        Adam learning rate, > 0.
    batch_size : int
        Windows per batch.
    seed : int
        Seed of shuffling and dropout.
    max_batches : int or None
        Batches per epoch limit (smoke tests).
    progress : bool
        Show progress bars.
    on_epoch : callable or None
        Hook, see above.

    Returns
    -------
    list of dict
        Per-epoch training statistics (:func:`train_epoch` plus ``epoch`` and ``wall_s``).
    """
    epochs = check_int("epochs", epochs, minimum=0)
    lr = check_real("lr", lr, positive=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(dataset, batch_size, shuffle=True, seed=seed)
    log: list[dict[str, Any]] = []
    with seeded_rng(seed):
        if on_epoch is not None:
            on_epoch(0, None)
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            stats: dict[str, Any] = {"epoch": epoch}
            stats.update(train_epoch(model, loader, optimizer, max_batches=max_batches,
                                     progress=progress, desc=f"train {epoch}/{epochs}"))
            stats["wall_s"] = round(time.perf_counter() - start, 3)
            log.append(stats)
            if on_epoch is not None:
                on_epoch(epoch, stats)
    return log


#: Largest state_dict written next to a result file.
MAX_CHECKPOINT_BYTES: int = 20 * 1024 * 1024


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> Path | None:
    """Save ``{"config": model.config, "state_dict": ...}`` if under 20 MB; else return None."""
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if size >= MAX_CHECKPOINT_BYTES:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": dict(model.config), "state_dict": model.state_dict()}, path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> DualTaskModel:
    """Rebuild a :class:`~gabalab.models.DualTaskModel` saved by :func:`save_checkpoint`."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"path {str(path)!r} is not a gabalab checkpoint")
    config = dict(blob["config"])
    config.pop("seed", None)
    model = DualTaskModel(**config)
    model.load_state_dict(blob["state_dict"])
    return model
