"""Training loops, test evaluation, and model checkpoints.

* :func:`train_epoch` - one epoch, the task losses combined by a method of
  :mod:`gabalab.methods` (the naive sum ``L_mse + L_ce`` by default), with the tasks' pulls.
* :func:`evaluate` - test RMSE (cycles), the C-MAPSS score, health accuracy and recall.
* :func:`classification_report` - accuracy, per-class recall and the confusion matrix.
* :func:`train_multitask` - the seeded training loop (Adam) with a per-epoch hook;
  :func:`train_summed_loss` is it with the naive sum.
* :func:`train_balanced` - the same loop with a :class:`~gabalab.gaba.GabaBalancer` of any
  sensor in place of ``backward()``, the forward pass split at the shared features, with
  per-step hooks on it (what :mod:`gabalab.sensor_comparison` needs).
* :func:`save_checkpoint` and :func:`load_checkpoint` - a small model file next to a result
  (written whole or not at all); :func:`read_checkpoint` checks one without building it.
"""

from __future__ import annotations

import itertools
import os
import pickle
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gabalab._checks import (
    as_array,
    as_list,
    check_bool,
    check_int,
    check_labels,
    check_model_params,
    check_path,
    check_real,
    check_task_targets,
    check_tensor,
    with_context,
)
from gabalab.constants import N_HEALTH_CLASSES
from gabalab.data import make_loader
from gabalab.files import atomic_torch_save
from gabalab.gaba import GabaBalancer, GabaResult
from gabalab.methods import GabaMethod, Method, StepRecord, SummedLoss
from gabalab.models import DualTaskModel
from gabalab.norms import task_grad_norms
from gabalab.progress import progress_bar
from gabalab.scoped import seeded, training_mode

__all__ = [
    "train_epoch",
    "summarise_pulls",
    "cmapss_score",
    "evaluate",
    "classification_report",
    "train_multitask",
    "train_summed_loss",
    "train_balanced",
    "MAX_CHECKPOINT_BYTES",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
]


def train_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    *,
    method: Method | None = None,
    shared: Sequence[torch.Tensor] | None = None,
    measure_every: int = 0,
    record_steps: bool = False,
    max_batches: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, Any]:
    """One epoch of the MSE and cross-entropy task losses, combined by ``method``.

    Every batch: ``zero_grad``, one forward pass, the two task losses, ``method.backward``
    (which writes the combined gradient into ``.grad``), ``optimizer.step()``.

    The per-task gradient norms on ``shared`` are what the section on balancing compares: a
    method that measures them (GABA) reports them every step; for the others, with
    ``measure_every = n``, they are measured on every n-th batch before the backward pass
    (``task_grad_norms`` on the same graph, no change to ``.grad``), and that measurement is
    left out of the step time.

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model, trained in training mode.
    loader : torch.utils.data.DataLoader
        Training batches ``(x, y_rul, y_health)``.
    optimizer : torch.optim.Optimizer
        Optimizer over the model's parameters.
    method : Method or None
        How the losses are combined (:mod:`gabalab.methods`); ``None`` is the naive sum.
    shared : sequence of torch.Tensor or None
        Shared parameters of ``model`` (trainable, each once), needed when
        ``measure_every > 0``.
    measure_every : int
        Measure the norms on every n-th batch (0: never) for methods that do not.
    record_steps : bool
        Also return every measured step's norms and weights (``steps``).
    max_batches : int or None
        Stop after this many batches.
    progress : bool
        Show a progress bar on standard error.
    desc : str
        Progress-bar label.

    Returns
    -------
    dict
        Example-weighted mean ``mse``, ``ce`` and ``total`` (their sum) training loss,
        ``n_batches``, ``step_s`` (wall time of the training steps, measurements excluded),
        and ``pulls``: the per-step gradient norms, weights and the weighted-norm ratio
        ``w_1 g_1 / (w_2 g_2)`` where they were measured (see :func:`summarise_pulls`); with
        ``record_steps``, ``steps``: one ``{"step", "norms", "weights"}`` per measured step.

    Raises
    ------
    TypeError
        If ``model``, ``loader``, ``optimizer`` or ``method`` has the wrong type, an option
        is not of its type, or a batch is not three tensors with integer labels.
    ValueError
        If ``max_batches`` < 1 or ``measure_every`` < 0, ``method`` does not combine two
        task losses or (GABA) its balancer does not hold exactly the model's trainable
        parameters, ``shared`` is not a list of the model's trainable parameters, a batch's
        ``y_rul`` does not have the shape of the RUL predictions or its labels are out of
        range, the loss becomes non-finite, or ``measure_every > 0`` without ``shared``.
    """
    _check_model(model)
    if not isinstance(loader, DataLoader):
        raise TypeError(f"loader must be a torch DataLoader, got {type(loader).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    method, shared, measure_every, record_steps, max_batches, progress = _epoch_options(
        model, method, shared, measure_every, record_steps, max_batches, progress)
    model.train()
    sums = np.zeros(3)
    n_examples = 0
    n_batches = 0
    step_s = 0.0
    pulls: list[tuple[tuple[float, ...], tuple[float, ...], bool]] = []
    measured_at: list[int] = []
    total = len(loader) if max_batches is None else min(len(loader), max_batches)
    batches = loader if max_batches is None else itertools.islice(loader, max_batches)
    bar = progress_bar(batches, total=total, desc=desc, enabled=progress)
    try:
        for batch in bar:
            if not isinstance(batch, (tuple, list)) or len(batch) != 3:
                raise TypeError(f"batch {n_batches}: each batch must be (x, y_rul, y_health)")
            x, y_rul, y_health = batch
            check_tensor(f"batch {n_batches}: x", x)
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            rul, logits = model(x)
            check_task_targets(rul, logits, y_rul, y_health, f"batch {n_batches}: ")
            mse = F.mse_loss(rul, y_rul)
            ce = F.cross_entropy(logits, y_health)
            if not (torch.isfinite(mse) and torch.isfinite(ce)):
                raise ValueError(f"training loss became non-finite at batch {n_batches}")
            norms = None
            measured = 0.0
            if measure_every and n_batches % measure_every == 0 and shared:
                begin = time.perf_counter()
                norms = tuple(task_grad_norms([mse, ce], shared, retain_graph=True))
                measured = time.perf_counter() - begin
            record = method.backward([mse, ce])
            if not isinstance(record, StepRecord):
                raise TypeError(f"method.backward must return a gabalab.methods.StepRecord, "
                                f"got {type(record).__name__}")
            optimizer.step()
            step_s += time.perf_counter() - start - measured
            norms = record.norms if record.norms is not None else norms
            if norms is not None:
                pulls.append((norms, record.weights, record.floor_bound))
                measured_at.append(n_batches)
            b = int(x.shape[0])
            sums += b * np.array([mse.item(), ce.item(), mse.item() + ce.item()])
            n_examples += b
            n_batches += 1
            if progress:
                bar.set_postfix(mse=f"{mse.item():.1f}", ce=f"{ce.item():.3f}", refresh=False)
    finally:
        bar.close()
    mse_mean, ce_mean, total_mean = sums / max(n_examples, 1)
    out: dict[str, Any] = {"mse": float(mse_mean), "ce": float(ce_mean),
                           "total": float(total_mean), "n_batches": n_batches,
                           "step_s": round(step_s, 3), "pulls": summarise_pulls(pulls)}
    if record_steps:
        out["steps"] = [{"step": i, "norms": list(n), "weights": list(w)}
                        for i, (n, w, _) in zip(measured_at, pulls)]
    return out


def _check_method(method: Any, model: nn.Module) -> Method:
    """``method`` as a method of :mod:`gabalab.methods` that fits the dual-task ``model``."""
    if method is None:
        return SummedLoss()
    if isinstance(method, type) or not callable(getattr(method, "backward", None)):
        what = f"the class {method.__name__}" if isinstance(method, type) else (
            type(method).__name__)
        raise TypeError(f"method must be an object with backward(losses), such as "
                        f"SummedLoss() of gabalab.methods, got {what}")
    n_tasks = getattr(method, "n_tasks", None)
    if isinstance(n_tasks, bool) or n_tasks != 2:
        raise ValueError(f"method must combine 2 task losses (MSE and cross-entropy), but "
                         f"its n_tasks is {n_tasks!r}")
    if isinstance(method, GabaMethod):
        owned = {id(p) for p in model.parameters()}
        written = {id(p) for p in method.params}
        if not written <= owned:
            raise ValueError("method's balancer holds tensors that are not parameters of "
                             "model: build it from this model (GabaBalancer.from_model)")
        left = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in
                written]
        if left:
            shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
            raise ValueError(f"method's balancer leaves parameters of model out ({shown}): "
                             "they would get no gradient and never train")
    return method


def _epoch_options(
    model: nn.Module,
    method: Any,
    shared: Any,
    measure_every: Any,
    record_steps: Any,
    max_batches: Any,
    progress: Any,
) -> tuple[Method, list[torch.Tensor] | None, int, bool, int | None, bool]:
    """The checked options of :func:`train_epoch` (and :func:`train_multitask`)."""
    method = _check_method(method, model)
    if shared is not None:
        shared = check_model_params("shared", shared, model)
    measure_every = check_int("measure_every", measure_every, minimum=0)
    if measure_every and shared is None:
        raise ValueError("shared must list the shared parameters when measure_every > 0")
    record_steps = check_bool("record_steps", record_steps)
    if max_batches is not None:
        max_batches = check_int("max_batches", max_batches, minimum=1)
    progress = check_bool("progress", progress)
    return method, shared, measure_every, record_steps, max_batches, progress


def summarise_pulls(
    pulls: Sequence[tuple[Sequence[float], Sequence[float], bool]],
) -> dict[str, Any]:
    """Medians and quartiles of the raw and the weighted norm ratio over measured steps.

    Parameters
    ----------
    pulls : sequence of (norms, weights, floor_bound)
        Per measured step: the two tasks' gradient norms, the weights applied, and whether a
        weight sat at the floor.

    Returns
    -------
    dict
        ``n_steps``; ``ratio`` and ``weighted_ratio`` summaries (``median``, ``q25``,
        ``q75``) of ``g_1 / g_2`` and ``w_1 g_1 / (w_2 g_2)``; ``weights_median`` per task;
        ``floor_bound_fraction``. Summaries are ``None`` when nothing was measured.

    Raises
    ------
    TypeError, ValueError
        If ``pulls`` is not a list of such triples: norms and weights one per task (the
        same number, at least two, on every step), finite and ``>= 0``, and ``floor_bound``
        True or False.

    Examples
    --------
    >>> out = summarise_pulls([((100.0, 1.0), (0.01, 0.99), False),
    ...                        ((300.0, 1.0), (1.0, 1.0), False)])
    >>> out["ratio"]["median"]
    200.0
    >>> round(out["weighted_ratio"]["median"], 4)
    150.5051
    """
    steps = _check_pulls(pulls)
    if not steps:
        return {"n_steps": 0, "ratio": None, "weighted_ratio": None, "weights_median": None,
                "floor_bound_fraction": None}
    norms = np.asarray([p[0] for p in steps], dtype=np.float64)
    weights = np.asarray([p[1] for p in steps], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = norms[:, 0] / norms[:, 1]
        weighted = (weights[:, 0] * norms[:, 0]) / (weights[:, 1] * norms[:, 1])

    def quartiles(values: np.ndarray) -> dict[str, float] | None:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return None
        q25, median, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
        return {"median": float(median), "q25": float(q25), "q75": float(q75)}

    return {
        "n_steps": len(steps),
        "ratio": quartiles(ratio),
        "weighted_ratio": quartiles(weighted),
        "weights_median": [float(v) for v in np.median(weights, axis=0)],
        "floor_bound_fraction": float(np.mean([p[2] for p in steps])),
    }


def _check_pulls(pulls: Any) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    rows = as_list("pulls", pulls)
    out: list[tuple[np.ndarray, np.ndarray, bool]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, (tuple, list)) or len(row) != 3:
            raise TypeError(f"pulls[{i}] must be a (norms, weights, floor_bound) triple, got "
                            f"{type(row).__name__}")
        norms = as_array(f"pulls[{i}] norms", row[0], ndim=1)
        weights = as_array(f"pulls[{i}] weights", row[1], ndim=1)
        n_tasks = norms.size if not out else out[0][0].size
        for what, values in (("norms", norms), ("weights", weights)):
            if values.size != n_tasks or values.size < 2:
                raise ValueError(f"pulls[{i}] {what} must hold one value per task, {n_tasks} "
                                 f"(at least 2, the same on every step), got {values.size}")
            if np.any(values < 0):
                raise ValueError(f"pulls[{i}] {what} must be >= 0, got {values.tolist()}")
        out.append((norms, weights, check_bool(f"pulls[{i}] floor_bound", row[2])))
    return out


def cmapss_score(predicted: Any, true: Any) -> float:
    """The C-MAPSS scoring function: an asymmetric sum that punishes late predictions more.

    With ``d = predicted - true`` (a positive ``d`` predicts failure later than it comes),
    ``s = sum(exp(-d / 13) - 1)`` over ``d < 0`` plus ``sum(exp(d / 10) - 1)`` over
    ``d >= 0``; 0 is perfect. This is the score of the PHM 2008 data challenge on C-MAPSS
    (Saxena et al., 2008).

    Parameters
    ----------
    predicted, true : array-like
        RUL predictions and true RUL, 1-D, the same non-zero length, finite.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        If the arrays are not numeric, not 1-D, differ in length, are empty or not finite.

    Examples
    --------
    >>> round(cmapss_score([10.0, 30.0], [20.0, 20.0]), 4)
    2.8764
    """
    p = as_array("predicted", predicted, ndim=1, nonempty=True)
    t = as_array("true", true, ndim=1, nonempty=True)
    if p.shape != t.shape:
        raise ValueError(f"true has {t.size} values but predicted has {p.size}: they must "
                         "pair up, one true RUL per prediction")
    d = p - t
    early = np.exp(-d[d < 0] / 13.0) - 1.0
    late = np.exp(d[d >= 0] / 10.0) - 1.0
    return float(early.sum() + late.sum())


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _check_dataset(dataset: object) -> None:
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a torch Dataset, got {type(dataset).__name__}")


def classification_report(
    predicted: np.ndarray, labels: np.ndarray, n_classes: int = N_HEALTH_CLASSES
) -> dict[str, Any]:
    """Accuracy, per-class recall (None for absent classes) and confusion matrix.

    Parameters
    ----------
    predicted, labels : array-like of int
        Predicted and true classes, 1-D, the same length (at least one), in
        ``[0, n_classes)``.
    n_classes : int
        Number of classes, >= 2.

    Returns
    -------
    dict
        ``accuracy``, ``per_class_recall``, ``support`` and ``confusion`` (rows: true class).

    Raises
    ------
    TypeError
        If the classes are not integers.
    ValueError
        If the arrays are not 1-D of one non-zero length, or a class is out of range.

    Examples
    --------
    >>> predicted, labels = np.array([0, 1, 1]), np.array([0, 1, 2])
    >>> r = classification_report(predicted, labels)
    >>> r["accuracy"], r["per_class_recall"]
    (0.6666666666666666, [1.0, 1.0, 0.0])
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    predicted = check_labels("predicted", predicted, n_classes)
    labels = check_labels("labels", labels, n_classes)
    if predicted.shape != labels.shape or labels.size == 0:
        raise ValueError(f"predicted and labels must have one non-zero length, got "
                         f"{predicted.size} and {labels.size}")
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
def _predict(model: nn.Module, dataset: Dataset[Any], batch_size: int) -> tuple[np.ndarray, ...]:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("dataset is empty: there is nothing to evaluate")
    ruls, logits_all, y_rul, y_health = [], [], [], []
    with training_mode(model, False):
        for x, yr, yh in loader:
            rul, logits = model(x)
            check_task_targets(rul, logits, yr, yh, "dataset: ")
            ruls.append(rul.numpy())
            logits_all.append(logits.numpy())
            y_rul.append(yr.numpy())
            y_health.append(yh.numpy())
    return (np.concatenate(ruls).astype(np.float64), np.concatenate(logits_all),
            np.concatenate(y_rul).astype(np.float64), np.concatenate(y_health))


def evaluate(model: nn.Module, dataset: Dataset[Any], *, batch_size: int = 256) -> dict[str, Any]:
    """Test metrics in evaluation mode: RUL RMSE in cycles and health classification.

    The RMSE compares the raw predictions with the capped true RUL (the training target).

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model.
    dataset : torch.utils.data.Dataset
        ``(x, y_rul, y_health)`` items, e.g. the last window of each test unit.
    batch_size : int
        Evaluation batch size (does not change the results).

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``score`` (:func:`cmapss_score`), ``accuracy``,
        ``per_class_recall``, ``support``, ``confusion``, ``n``.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``dataset`` not a Dataset.
    ValueError
        If ``batch_size`` < 1, the dataset is empty, or its targets do not fit the model's
        outputs.
    """
    _check_model(model)
    _check_dataset(dataset)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    try:
        rul, logits, y_rul, y_health = _predict(model, dataset, batch_size)
    except (TypeError, ValueError) as err:
        if str(err).startswith("dataset"):
            raise
        raise with_context(err, "dataset: ") from None
    report = classification_report(logits.argmax(axis=1), y_health, logits.shape[1])
    return {
        "rmse": float(np.sqrt(np.mean((rul - y_rul) ** 2))),
        "mae": float(np.mean(np.abs(rul - y_rul))),
        "score": cmapss_score(rul, y_rul),
        **report,
        "n": int(y_rul.size),
    }


def train_multitask(
    model: nn.Module,
    dataset: Dataset[Any],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    method: Method | None = None,
    shared: Sequence[torch.Tensor] | None = None,
    measure_every: int = 0,
    record_steps: bool = False,
    max_batches: int | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Train with Adam for ``epochs`` epochs, the task losses combined by ``method``.

    The shuffling comes from a loader seeded with ``seed`` and the dropout masks from a torch
    RNG seeded with ``seed`` inside :func:`gabalab.scoped.seeded`, so the same arguments give
    the same model (on the same software and thread count). ``on_epoch(epoch, stats)`` is
    called before training with ``(0, None)`` and after each epoch with that epoch's
    statistics; whatever it does with its own seeded RNG (e.g.
    :func:`gabalab.measure.measure_epoch` with a ``seed``) does not change the training.

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model, trained in place.
    dataset : torch.utils.data.Dataset
        Training windows.
    epochs : int
        Number of epochs, >= 0.
    lr : float
        Adam learning rate, > 0.
    batch_size : int
        Windows per batch.
    seed : int
        Seed of shuffling and dropout.
    method : Method or None
        How the task losses are combined (:mod:`gabalab.methods`); ``None`` is the naive sum.
    shared, measure_every, record_steps
        Norm measurement and per-step records (see :func:`train_epoch`).
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

    Raises
    ------
    TypeError, ValueError
        On an argument of the wrong type or out of range (as :func:`train_epoch` and
        :func:`gabalab.data.windows.make_loader`), naming it.
    """
    _check_model(model)
    epochs = check_int("epochs", epochs, minimum=0)
    lr = check_real("lr", lr, positive=True)
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(f"on_epoch must be callable or None, got {type(on_epoch).__name__}")
    # Checked before any epoch, so that a bad option is refused even with epochs=0.
    method, shared, measure_every, record_steps, max_batches, progress = _epoch_options(
        model, method, shared, measure_every, record_steps, max_batches, progress)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(dataset, batch_size, shuffle=True, seed=seed)
    log: list[dict[str, Any]] = []
    with seeded(seed):
        if on_epoch is not None:
            on_epoch(0, None)
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            stats: dict[str, Any] = {"epoch": epoch}
            stats.update(train_epoch(model, loader, optimizer, method=method, shared=shared,
                                     measure_every=measure_every, record_steps=record_steps,
                                     max_batches=max_batches, progress=progress,
                                     desc=f"train {epoch}/{epochs}"))
            stats["wall_s"] = round(time.perf_counter() - start, 3)
            log.append(stats)
            if on_epoch is not None:
                on_epoch(epoch, stats)
    return log


def train_summed_loss(
    model: nn.Module,
    dataset: Dataset[Any],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    max_batches: int | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`train_multitask` with the naive summed loss ``L_mse + L_ce``.

    Parameters and return value as :func:`train_multitask` (without ``method``).
    """
    return train_multitask(model, dataset, epochs=epochs, lr=lr, batch_size=batch_size,
                           seed=seed, max_batches=max_batches, progress=progress,
                           on_epoch=on_epoch)


def train_balanced(
    model: nn.Module,
    dataset: Dataset[Any],
    balancer: GabaBalancer,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    max_batches: int | None = None,
    progress: bool = True,
    before_step: Callable[[int, list[torch.Tensor], torch.Tensor], None] | None = None,
    after_step: Callable[[int, GabaResult], None] | None = None,
    on_epoch: Callable[[int, dict[str, Any] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Train with Adam, the balancer taking the place of ``backward()``: the GABA loop.

    Each step runs the forward pass as ``z = model.features(x)`` and the two heads on ``z``
    (the same arithmetic and dropout draws as ``model(x)``), the losses ``mse`` and
    ``cross_entropy``, ``balancer.step(losses, features=z)`` (``features`` only for a
    representation balancer) and the optimiser step. Shuffling and dropout are seeded as in
    :func:`train_summed_loss`, so the same arguments give the same model.

    Parameters
    ----------
    model : torch.nn.Module
        A dual-task model with ``features``, ``rul_head`` and ``health_head`` (such as
        :class:`~gabalab.models.DualTaskModel`), trained in place.
    dataset : torch.utils.data.Dataset
        Training windows.
    balancer : gabalab.gaba.GabaBalancer
        A two-task balancer over the model's parameters.
    epochs, lr, batch_size, seed, max_batches, progress
        As in :func:`train_summed_loss`.
    before_step : callable or None
        ``before_step(step, losses, z)`` before the balancer's step, with the graph alive
        (to measure something on the same forward pass without changing the training).
    after_step : callable or None
        ``after_step(step, result)`` with the balancer's :class:`~gabalab.gaba.GabaResult`.
    on_epoch : callable or None
        As in :func:`train_summed_loss`.

    Returns
    -------
    list of dict
        Per epoch: mean ``mse``, ``ce``, ``n_batches``, ``n_skipped``, ``epoch``, ``wall_s``.

    Raises
    ------
    TypeError
        If ``balancer`` is not a :class:`~gabalab.gaba.GabaBalancer` or the model has no
        ``features`` method.
    ValueError
        On bad numbers (as :func:`train_summed_loss`), a balancer that is not for two tasks,
        or a non-finite loss (with the balancer's ``on_nonfinite="raise"``).
    """
    _check_model(model)
    _check_dataset(dataset)
    if not isinstance(balancer, GabaBalancer):
        raise TypeError(f"balancer must be a GabaBalancer, got {type(balancer).__name__}")
    if balancer.n_tasks != 2:
        raise ValueError(f"balancer must balance the 2 tasks of the model, got n_tasks="
                         f"{balancer.n_tasks}")
    for attribute in ("features", "rul_head", "health_head"):
        if not callable(getattr(model, attribute, None)):
            raise TypeError(f"model must have a callable {attribute} (a gabalab dual-task "
                            "model)")
    owned = {id(p) for p in model.parameters()}
    foreign = sum(1 for p in balancer.params if id(p) not in owned)
    if foreign:
        raise ValueError(f"balancer holds {foreign} tensor(s) that are not parameters of model: "
                         "build it from this model (GabaBalancer.from_model(model))")
    epochs = check_int("epochs", epochs, minimum=0)
    lr = check_real("lr", lr, positive=True)
    progress = check_bool("progress", progress)
    if max_batches is not None:
        max_batches = check_int("max_batches", max_batches, minimum=1)
    for name, hook in (("before_step", before_step), ("after_step", after_step),
                       ("on_epoch", on_epoch)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be callable or None, got {type(hook).__name__}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(dataset, batch_size, shuffle=True, seed=seed)
    representation = balancer.sensor == "representation"
    features, rul_head, health_head = (cast(Callable[[torch.Tensor], torch.Tensor],
                                            getattr(model, a))
                                       for a in ("features", "rul_head", "health_head"))
    log: list[dict[str, Any]] = []
    step = 0
    with seeded(seed):
        if on_epoch is not None:
            on_epoch(0, None)
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            model.train()
            sums, n_examples, n_batches, n_skipped = np.zeros(2), 0, 0, 0
            total = len(loader) if max_batches is None else min(len(loader), max_batches)
            batches = loader if max_batches is None else itertools.islice(loader, max_batches)
            bar = progress_bar(batches, total=total, desc=f"train {epoch}/{epochs}",
                               enabled=progress)
            try:
                for x, y_rul, y_health in bar:
                    optimizer.zero_grad(set_to_none=True)
                    z = features(x)
                    rul = rul_head(z).squeeze(-1)
                    logits = health_head(z)
                    losses = [F.mse_loss(rul, y_rul), F.cross_entropy(logits, y_health)]
                    if before_step is not None:
                        before_step(step, losses, z)
                    result = balancer.step(losses, features=z if representation else None)
                    if after_step is not None:
                        after_step(step, result)
                    step += 1
                    if result.skipped:
                        n_skipped += 1
                        continue
                    optimizer.step()
                    b = int(x.shape[0])
                    sums += b * np.array([losses[0].item(), losses[1].item()])
                    n_examples += b
                    n_batches += 1
            finally:
                bar.close()
            mse, ce = sums / max(n_examples, 1)
            stats: dict[str, Any] = {"epoch": epoch, "mse": float(mse), "ce": float(ce),
                                     "n_batches": n_batches, "n_skipped": n_skipped,
                                     "wall_s": round(time.perf_counter() - start, 3)}
            log.append(stats)
            if on_epoch is not None:
                on_epoch(epoch, stats)
    return log


#: Largest state_dict written next to a result file.
MAX_CHECKPOINT_BYTES: int = 20 * 1024 * 1024


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> Path | None:
    """Save ``{"config": model.config, "state_dict": ...}`` if under 20 MB; else return None.

    The file is written whole or not at all (:func:`gabalab.files.atomic_torch_save`): a
    failure while writing leaves an earlier file at ``path`` as it was. Missing parent folders
    are created.

    Raises
    ------
    TypeError
        If ``model`` is not a module with a dict ``config`` (a gabalab model), or ``path`` is
        not a path.
    ValueError
        If ``path`` cannot be written (a folder, or under a file).
    """
    _check_model(model)
    path = check_path("path", path)
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if size >= MAX_CHECKPOINT_BYTES:
        return None
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError("model must have a dict attribute config (a gabalab DualTaskModel)")
    atomic_torch_save({"config": dict(config), "state_dict": model.state_dict()}, path)
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a file written by :func:`save_checkpoint`, without building the model.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    dict
        ``{"config": ..., "state_dict": ...}``; ``config`` holds valid
        :class:`~gabalab.models.DualTaskModel` options (``seed`` removed).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read as a torch file (truncated, corrupt, not a torch file),
        holds something else, or stores an invalid model configuration; the message names
        ``path``.
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file")
    if not zipfile.is_zipfile(path):  # what torch.save writes, whole
        raise ValueError(f"path {str(path)!r} is not a torch checkpoint (not a zip archive: "
                         "truncated, corrupt or another kind of file)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError, KeyError,
            zipfile.BadZipFile) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"path {str(path)!r} is not a torch checkpoint (truncated or "
                         f"corrupt?): {reason}") from None
    if (not isinstance(blob, dict) or not isinstance(blob.get("config"), dict)
            or not isinstance(blob.get("state_dict"), dict)):
        raise ValueError(f"path {str(path)!r} is not a gabalab checkpoint")
    config = dict(blob["config"])
    config.pop("seed", None)
    try:
        DualTaskModel.check_options(**config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"path {str(path)!r} stores an invalid model configuration: "
                         f"{err}") from None
    return {"config": config, "state_dict": blob["state_dict"]}


def load_checkpoint(path: str | os.PathLike[str]) -> DualTaskModel:
    """Rebuild a :class:`~gabalab.models.DualTaskModel` saved by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    DualTaskModel

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a checkpoint written by :func:`save_checkpoint` (not a torch file,
        a truncated or corrupt one, other contents, or weights that do not fit the stored
        configuration); the message names ``path``.
    """
    path = check_path("path", path)
    blob = read_checkpoint(path)
    try:
        model = DualTaskModel(**blob["config"])
        model.load_state_dict(blob["state_dict"])
    except (TypeError, RuntimeError) as err:
        raise ValueError(f"path {str(path)!r}: the weights do not fit the stored model "
                         f"configuration: {err}") from None
    return model
