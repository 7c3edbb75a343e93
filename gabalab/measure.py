"""Measure the per-task gradient norms on the shared trunk over an epoch.

The protocol (:func:`measure_epoch`): for every batch of a loader, one forward pass, then the
gradient of the RUL loss and of the health loss with respect to the shared parameters, each
computed separately with :func:`gabalab.norms.task_grad_norms`; no optimizer step, no change to
``.grad``.  The result is the per-batch L2 norms and their ratio ``||g_rul|| / ||g_health||``.

:func:`output_side_proxy` is the NumPy counterpart at the output layer for a model that
predicts zero RUL and uniform class probabilities: it needs no network at all, and shows how
much of the imbalance comes from the loss scales alone.  :func:`synthetic_batches` draws
targets for it.

:func:`summarise` reduces a measurement to its median, quartiles and extremes;
:func:`quantile_table` lays several summaries side by side and :func:`epoch_readout` describes
one measured epoch against the first, as the section's tables and explorer show them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gabalab._checks import (
    as_array,
    as_list,
    check_bool,
    check_int,
    check_labels,
    check_model_params,
    check_real,
    check_task_targets,
    check_tensor,
    with_context,
)
from gabalab.constants import N_HEALTH_CLASSES, RUL_CAP
from gabalab.data import health_labels
from gabalab.norms import task_grad_norms
from gabalab.progress import progress_bar
from gabalab.scoped import seeded, training_mode

__all__ = [
    "EpochMeasurement",
    "summarise",
    "STATISTICS",
    "format_value",
    "quantile_table",
    "epoch_readout",
    "check_ratios_by_epoch",
    "measure_epoch",
    "output_side_proxy",
    "synthetic_batches",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float | int]:
    """Median, quartiles, extremes, mean and count of ``values`` as plain Python numbers.

    Quartiles use NumPy's default (linear interpolation) quantile rule.

    Parameters
    ----------
    values : array-like
        At least one finite value.

    Returns
    -------
    dict
        Keys ``median``, ``q25``, ``q75``, ``min``, ``max``, ``mean`` (float) and
        ``n_batches`` (int, the number of values).

    Raises
    ------
    TypeError
        If ``values`` is not a 1-D array of real numbers.
    ValueError
        If ``values`` is not 1-D, is empty or holds non-finite entries.

    Examples
    --------
    >>> summarise([1.0, 2.0, 3.0, 4.0])["median"]
    2.5
    """
    array = as_array("values", values, ndim=1, finite=False)
    if array.size == 0:
        raise ValueError("values must hold at least one value")
    if not np.all(np.isfinite(array)):
        raise ValueError("values must be finite")
    q25, median, q75 = np.quantile(array, [0.25, 0.5, 0.75])
    return {
        "median": float(median),
        "q25": float(q25),
        "q75": float(q75),
        "min": float(array.min()),
        "max": float(array.max()),
        "mean": float(array.mean()),
        "n_batches": int(array.size),
    }


@dataclass(frozen=True)
class EpochMeasurement:
    """Per-batch gradient norms of the two tasks on the shared parameters.

    Attributes
    ----------
    rul_norms, health_norms : numpy.ndarray
        ``||d L_rul / d theta_shared||_2`` and ``||d L_health / d theta_shared||_2`` per batch.
    ratios : numpy.ndarray
        ``rul_norms / health_norms``.
    batch_sizes : numpy.ndarray
        Number of examples in each batch (int64).
    n_batches : int
        Number of batches measured.
    """

    rul_norms: np.ndarray
    health_norms: np.ndarray
    ratios: np.ndarray
    batch_sizes: np.ndarray
    n_batches: int

    def __post_init__(self) -> None:
        n = check_int("n_batches", self.n_batches, minimum=1)
        for name in ("rul_norms", "health_norms", "ratios"):
            array = as_array(name, getattr(self, name), ndim=1)
            if array.size != n:
                raise ValueError(f"{name} must hold n_batches = {n} values, got {array.size}")
            object.__setattr__(self, name, array)
        sizes = as_array("batch_sizes", self.batch_sizes, kind="int", ndim=1)
        if sizes.size != n or np.any(sizes < 1):
            raise ValueError(f"batch_sizes must hold n_batches = {n} positive sizes")
        object.__setattr__(self, "batch_sizes", sizes)

    def summary(self) -> dict[str, float | int]:
        """Summary of :attr:`ratios` (see :func:`summarise`).

        Examples
        --------
        >>> m = EpochMeasurement(np.array([4.0]), np.array([2.0]),
        ...                      np.array([2.0]), np.array([8]), 1)
        >>> m.summary()["median"], m.summary()["n_batches"]
        (2.0, 1)
        """
        return summarise(self.ratios)

    def to_dict(self) -> dict[str, object]:
        """Per-batch lists and the summary, as JSON-ready plain Python values."""
        return {
            "rul_norms": [float(v) for v in self.rul_norms],
            "health_norms": [float(v) for v in self.health_norms],
            "ratios": [float(v) for v in self.ratios],
            "batch_sizes": [int(v) for v in self.batch_sizes],
            "n_batches": int(self.n_batches),
            "summary": self.summary(),
        }


def _build(rul: list[float], health: list[float], sizes: list[int]) -> EpochMeasurement:
    rul_a = np.asarray(rul, dtype=np.float64)
    health_a = np.asarray(health, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = rul_a / health_a
    bad = np.flatnonzero(~np.isfinite(ratios) | ~np.isfinite(rul_a) | ~np.isfinite(health_a))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"non-finite gradient norm or ratio at batch {i}: rul norm {rul_a[i]}, "
            f"health norm {health_a[i]}"
        )
    return EpochMeasurement(rul_a, health_a, ratios, np.asarray(sizes, dtype=np.int64), len(sizes))


def measure_epoch(
    model: nn.Module,
    loader: Iterable[Any],
    shared_params: Sequence[torch.Tensor],
    rul_loss: LossFn = F.mse_loss,
    health_loss: LossFn = F.cross_entropy,
    *,
    progress: bool = True,
    max_batches: int | None = None,
    train_mode: bool = True,
    seed: int | None = None,
    desc: str = "measure",
) -> EpochMeasurement:
    """Per-batch task gradient norms on the shared parameters over one pass of ``loader``.

    For each batch ``(x, y_rul, y_health)``: one forward pass ``rul, logits = model(x)``, the
    two losses ``rul_loss(rul, y_rul)`` and ``health_loss(logits, y_health)``, and each loss's
    gradient on ``shared_params`` with :func:`gabalab.norms.task_grad_norms` (the graph is
    kept between the two gradients and freed after the second).  No optimizer step is taken
    and ``.grad`` is left untouched, so the weights are the same for every batch.

    The model is put in training mode (dropout active, as during training) unless
    ``train_mode=False``; every submodule's previous mode is restored on return, also on error.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(rul, logits)`` for ``x``.
    loader : iterable
        Yields ``(x, y_rul, y_health)`` batches, e.g. from :func:`gabalab.data.windows.make_loader`.
    shared_params : sequence of torch.Tensor
        Shared parameters (:func:`gabalab.norms.shared_parameters`).
    rul_loss, health_loss : callable
        Task losses; mean-reduced MSE and cross-entropy by default.
    progress : bool
        Show a ``tqdm`` progress bar on standard error.
    max_batches : int or None
        Stop after this many batches (>= 1); ``None`` measures the whole loader.
    train_mode : bool
        Measure in training mode (default) or evaluation mode.
    seed : int or None
        When given, the dropout masks are drawn from a torch RNG seeded with ``seed`` inside
        :func:`torch.random.fork_rng`, so the measurement is reproducible and the global RNG is
        left as it was.  ``None`` uses the global RNG.
    desc : str
        Progress-bar label.

    Returns
    -------
    EpochMeasurement

    Raises
    ------
    ValueError
        If ``shared_params`` is empty or holds a tensor that is not a trainable parameter of
        ``model``, the loader yields no batch, ``max_batches`` < 1, a
        batch's ``y_rul`` does not have the shape of the RUL predictions (a ``(B, 1)`` target
        against ``(B,)`` predictions would broadcast into a wrong loss), its labels are not
        ``B`` classes in range of the logits, or a norm or ratio is not finite (e.g. a zero
        health gradient).
    TypeError
        If ``model`` is not a module, ``loader`` is not iterable, a loss is not callable, a
        flag is not a bool, or a batch is not a 3-tuple of tensors with integer labels.

    Examples
    --------
    >>> from gabalab.data import WindowDataset, make_loader
    >>> from gabalab.models import TinyDualHead
    >>> from gabalab.norms import shared_parameters
    >>> model = TinyDualHead(seed=0)
    >>> x = np.random.default_rng(0).random((40, 30, 14))
    >>> data = WindowDataset(x, np.linspace(0, 125, 40))
    >>> loader = make_loader(data, 16, seed=0)
    >>> m = measure_epoch(model, loader, shared_parameters(model),
    ...                   progress=False)
    >>> m.n_batches, m.ratios.shape
    (3, (3,))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if loader is None or isinstance(loader, (str, bytes)) or not isinstance(loader, Iterable):
        raise TypeError(f"loader must be an iterable of (x, y_rul, y_health) batches, got "
                        f"{type(loader).__name__}")
    params = check_model_params("shared_params", shared_params, model)
    for name, fn in (("rul_loss", rul_loss), ("health_loss", health_loss)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    progress = check_bool("progress", progress)
    train_mode = check_bool("train_mode", train_mode)
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")
    if max_batches is not None:
        max_batches = check_int("max_batches", max_batches, minimum=1)
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    device = params[0].device
    try:
        total = len(loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    if max_batches is not None:
        total = max_batches if total is None else min(total, max_batches)

    rul_norms: list[float] = []
    health_norms: list[float] = []
    sizes: list[int] = []
    with training_mode(model, train_mode), seeded(seed):
        batches = loader if max_batches is None else itertools.islice(loader, max_batches)
        bar = progress_bar(batches, total=total, desc=desc, enabled=progress)
        try:
            for batch in bar:
                x, y_rul, y_health = _check_batch(batch, len(sizes), device)
                try:
                    rul_pred, logits = model(x)
                except (TypeError, ValueError) as err:  # the model's own input checks
                    raise with_context(err, f"batch {len(sizes)}: ") from None
                check_task_targets(rul_pred, logits, y_rul, y_health, f"batch {len(sizes)}: ")
                losses = [rul_loss(rul_pred, y_rul), health_loss(logits, y_health)]
                try:
                    g_rul, g_health = task_grad_norms(losses, params, retain_graph=False)
                except ValueError as err:
                    raise ValueError(f"batch {len(sizes)}: {err}") from None
                rul_norms.append(g_rul)
                health_norms.append(g_health)
                sizes.append(int(x.shape[0]))
                if progress and g_health > 0:
                    bar.set_postfix(ratio=f"{g_rul / g_health:.3g}", refresh=False)
        finally:
            bar.close()
    if not sizes:
        raise ValueError("loader yielded no batch: nothing to measure")
    return _build(rul_norms, health_norms, sizes)


def _check_batch(batch: object, index: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """A loader's batch: three tensors ``(x, y_rul, y_health)``, moved to ``device``."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 3:
        raise TypeError(f"batch {index}: each batch must be a tuple (x, y_rul, y_health), got "
                        f"{type(batch).__name__}")
    for name, t in zip(("x", "y_rul", "y_health"), batch):
        check_tensor(f"batch {index}: {name}", t)
    if batch[0].dim() == 0 or batch[0].shape[0] == 0:
        raise ValueError(f"batch {index}: x holds no sample (shape {tuple(batch[0].shape)}): "
                         "an empty batch has no loss to differentiate")
    return tuple(t.to(device) for t in batch)


def output_side_proxy(
    batches: Iterable[tuple[object, object]],
    n_classes: int = N_HEALTH_CLASSES,
) -> EpochMeasurement:
    """Output-layer gradient norms of the two losses for a zero-prediction model.

    For a batch of ``B`` targets ``y`` and labels ``c``, a model predicting RUL 0 and uniform
    class probabilities ``p = 1/K`` has, with mean-reduced losses,

    * ``d L_mse / d prediction = (2/B) (0 - y)``, norm ``(2/B) ||y||_2``;
    * ``d L_ce / d logits = (p - onehot(c)) / B``, norm ``sqrt(B (K-1)/K) / B`` (each row of
      ``p - onehot`` has squared norm ``(K-1)/K^2 + (1 - 1/K)^2 = (K-1)/K``).

    Both are computed here from the explicit gradient arrays, not from the closed forms.

    Parameters
    ----------
    batches : iterable of (y_rul, y_health)
        Targets (cycles) and integer labels in ``[0, n_classes)`` per batch.
    n_classes : int
        Number of classes ``K`` (>= 2).

    Returns
    -------
    EpochMeasurement
        Norms of the two output-side gradients and their ratio per batch.

    Raises
    ------
    TypeError
        If ``batches`` is not an iterable of ``(y_rul, y_health)`` pairs, or the labels are
        not integers.
    ValueError
        If no batch is given, a batch is empty or not 1-D, lengths differ, labels are out of
        range, or values are not finite.

    Examples
    --------
    >>> batch = (np.array([3.0, 4.0]), np.array([0, 1]))
    >>> m = output_side_proxy([batch], n_classes=2)
    >>> float(m.rul_norms[0]), float(m.health_norms[0])
    (5.0, 0.5)
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    if batches is None or isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of (y_rul, y_health) pairs, got "
                        f"{type(batches).__name__}")
    rul_norms: list[float] = []
    health_norms: list[float] = []
    sizes: list[int] = []
    for i, pair in enumerate(batches):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"batches[{i}] must be a pair (y_rul, y_health), got "
                            f"{type(pair).__name__}")
        y = as_array(f"batches[{i}]: y_rul", pair[0], ndim=1)
        c = check_labels(f"batches[{i}]: y_health", pair[1], n_classes)
        if y.size == 0 or y.size != c.size:
            raise ValueError(
                f"batches[{i}]: y_rul and y_health must be non-empty and of equal length, "
                f"got {y.size} and {c.size}"
            )
        b = y.size
        grad_rul = (2.0 / b) * (0.0 - y)
        onehot = np.zeros((b, n_classes))
        onehot[np.arange(b), c] = 1.0
        grad_ce = (np.full((b, n_classes), 1.0 / n_classes) - onehot) / b
        rul_norms.append(float(np.linalg.norm(grad_rul)))
        health_norms.append(float(np.linalg.norm(grad_ce)))
        sizes.append(b)
    if not sizes:
        raise ValueError("batches must hold at least one batch")
    return _build(rul_norms, health_norms, sizes)


def synthetic_batches(
    n_batches: int,
    batch_size: int,
    seed: int,
    *,
    rul_cap: float = RUL_CAP,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw batches of RUL targets uniform on the integers ``0..rul_cap`` with their labels.

    Parameters
    ----------
    n_batches, batch_size : int
        Number and size of batches (>= 1).
    seed : int
        Seed of :func:`numpy.random.default_rng` (>= 0).
    rul_cap : float
        Largest target; integers ``0, 1, ..., floor(rul_cap)`` are equally likely.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        ``(y_rul float64, y_health int64)`` per batch, labels from
        :func:`gabalab.data.targets.health_labels`.

    Raises
    ------
    ValueError, TypeError
        On invalid arguments, naming the argument.

    Examples
    --------
    >>> (y, c), = synthetic_batches(1, 4, seed=0)
    >>> y.shape, c.dtype
    ((4,), dtype('int64'))
    """
    n_batches = check_int("n_batches", n_batches, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    high = int(np.floor(check_real("rul_cap", rul_cap, nonnegative=True)))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        y = rng.integers(0, high + 1, size=batch_size).astype(np.float64)
        out.append((y, health_labels(y)))
    return out


#: Rows of :func:`quantile_table` by default: key of :func:`summarise` and label.
STATISTICS: tuple[tuple[str, str], ...] = (
    ("n_batches", "batches"),
    ("min", "min"),
    ("q25", "q25"),
    ("median", "median"),
    ("q75", "q75"),
    ("max", "max"),
)


def format_value(value: float | int) -> str:
    """Format a count or a ratio for a table: integers as is, floats to 4 significant digits.

    Values of 1,000 and more are rounded to an integer instead of switching to exponent
    notation.

    Parameters
    ----------
    value : int or float
        Finite number.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not finite.

    Examples
    --------
    >>> (format_value(93), format_value(512.3456),
    ...  format_value(2104.5), format_value(0.012345))
    ('93', '512.3', '2104', '0.01235')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"value must be a real number, got {type(value).__name__}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def quantile_table(
    summaries: Mapping[Any, Mapping[str, float | int]],
    statistics: Sequence[tuple[str, str]] = STATISTICS,
    *,
    corner: str = "",
    markdown: bool = False,
) -> str:
    """Table of several summaries side by side: one column per summary, one row per statistic.

    Parameters
    ----------
    summaries : mapping
        Column label to a summary dict as returned by :func:`summarise`
        (or ``EpochMeasurement.summary()``), in column order.
    statistics : sequence of (key, label)
        Which entries to show as rows, and their row labels.
    corner : str
        Text of the top-left cell (e.g. ``"epoch"``).
    markdown : bool
        Return a Markdown pipe table (numbers right-aligned) instead of plain text.

    Returns
    -------
    str
        Plain text: right-aligned columns separated by two spaces, no trailing spaces.
        Markdown: a header row, an alignment row and one row per statistic.

    Raises
    ------
    ValueError
        If ``summaries`` or ``statistics`` is empty, a summary lacks a requested key, or a
        requested entry is not finite.
    TypeError
        If ``summaries`` is not a mapping, or a requested entry is not a real number.

    Examples
    --------
    >>> a, b = summarise([1.0, 2.0, 3.0]), summarise([10.0])
    >>> stats = [("median", "median"), ("n_batches", "batches")]
    >>> print(quantile_table({"A": a, "B": b}, stats, corner="run"))
    run      A   B
    median   2  10
    batches  3   1
    >>> print(quantile_table({"A": a}, [("median", "median")],
    ...                      markdown=True))
    |  | A |
    | :-- | --: |
    | median | 2 |
    """
    if not isinstance(summaries, Mapping):
        raise TypeError("summaries must be a mapping from column label to summary")
    if not summaries:
        raise ValueError("summaries must hold at least one column")
    for column, summary in summaries.items():
        if not isinstance(summary, Mapping):
            raise TypeError(f"summaries[{column!r}] must be a summary dict, got "
                            f"{type(summary).__name__}")
    statistics = as_list("statistics", statistics)
    if not statistics:
        raise ValueError("statistics must name at least one row")
    for i, row in enumerate(statistics):
        if not (isinstance(row, (tuple, list)) and len(row) == 2
                and all(isinstance(t, str) for t in row)):
            raise TypeError(f"statistics[{i}] must be a (key, label) pair of strings, got "
                            f"{row!r}")
    markdown = check_bool("markdown", markdown)
    header = [str(corner)] + [str(label) for label in summaries]
    rows = [header]
    for key, label in statistics:
        row = [label]
        for column, summary in summaries.items():
            if key not in summary:
                raise ValueError(f"summaries[{column!r}] has no entry {key!r}")
            try:
                row.append(format_value(summary[key]))
            except (TypeError, ValueError) as err:
                raise with_context(err, f"summaries[{column!r}][{key!r}]: ") from None
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |",
                 "| :-- | " + " | ".join(["--:"] * (len(header) - 1)) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def check_ratios_by_epoch(
    ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray],
) -> dict[int, np.ndarray]:
    """Validate per-epoch ratios: a non-empty mapping of epoch to finite positive values.

    Returns
    -------
    dict of int to numpy.ndarray
        Sorted by epoch, each a flat float64 array.

    Examples
    --------
    >>> check_ratios_by_epoch({2: [3.0], 0: [1.0, 2.0]})
    {0: array([1., 2.]), 2: array([3.])}
    """
    if not isinstance(ratios_by_epoch, Mapping):
        raise TypeError("ratios_by_epoch must be a mapping from epoch to ratios")
    if not ratios_by_epoch:
        raise ValueError("ratios_by_epoch must hold at least one epoch")
    for epoch in ratios_by_epoch:
        check_int(f"ratios_by_epoch key {epoch!r}", epoch, minimum=0)
    out = {}
    for epoch in sorted(ratios_by_epoch):
        name = f"ratios_by_epoch[{epoch}]"
        array = as_array(name, ratios_by_epoch[epoch], ndim=1, finite=False)
        if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise ValueError(f"{name} must hold finite values > 0")
        out[int(epoch)] = array
    return out


def epoch_readout(ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray], epoch: int) -> str:
    """Text shown by :func:`epoch_explorer` for one measured epoch.

    The median, quartiles and extremes of that epoch's per-batch ratios, the spread
    ``q75 / q25`` and ``max / min``, and the median relative to the first measured epoch.

    Parameters
    ----------
    ratios_by_epoch : mapping of int to array-like
        Per-batch ratios of each measured epoch.
    epoch : int
        One of the keys of ``ratios_by_epoch``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``epoch`` was not measured or ratios are not finite and positive.

    Examples
    --------
    >>> ratios = {0: [100.0, 200.0, 400.0], 4: [50.0, 100.0]}
    >>> print(epoch_readout(ratios, 4))
    epoch 4 (2 batches)
    median 75, quartiles 62.5 - 87.5, min 50, max 100
    spread q75/q25 = 1.4, max/min = 2
    median / median at epoch 0 = 0.375
    """
    arrays = check_ratios_by_epoch(ratios_by_epoch)
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch must be an integer, got {type(epoch).__name__}")
    epoch = int(epoch)
    if epoch not in arrays:
        raise ValueError(f"epoch {epoch} was not measured; measured epochs are {sorted(arrays)}")
    s = summarise(arrays[epoch])
    first = min(arrays)
    first_median = summarise(arrays[first])["median"]
    f = format_value
    return "\n".join(
        [
            f"epoch {epoch} ({s['n_batches']} batches)",
            f"median {f(s['median'])}, quartiles {f(s['q25'])} - {f(s['q75'])}, "
            f"min {f(s['min'])}, max {f(s['max'])}",
            f"spread q75/q25 = {f(s['q75'] / s['q25'])}, max/min = {f(s['max'] / s['min'])}",
            f"median / median at epoch {first} = {f(s['median'] / first_median)}",
        ]
    )
