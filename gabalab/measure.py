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

What the section reads off its measurements (each record holds its numbers as fields, and
its ``quotes()`` formats them for the prose):

* :func:`proxy_ceiling` - the largest output-side proxy any batch of capped targets can give;
* :func:`summed_output_ratio` (NumPy) and :func:`summed_output_ratios` (a model over a
  loader) - the output-side ratio of the batch-summed gradients, and :func:`compare_with_proxy`
  (:class:`ProxyComparison`) - the proxies against the measured ratio, batch by batch;
* :func:`training_trend` (:class:`TrainingTrend`) - medians of the ratio and of both norms
  at each measured epoch of a training run;
* :func:`compare_measurements` (:class:`MeasurementShift`) - one measurement against another
  on the same batches (evaluation mode, heads included);
* :func:`running_median` (:class:`RunningMedian`) and :func:`spread_table` - how far one
  batch, or the first few, can be from the whole epoch;
* :func:`trained_ratio_trend` (:class:`TrainedRatioTrend`) - the ratio's quantiles epoch by
  epoch in the trained runs of one method, from epoch 1 to each run's validation-selected
  epoch, one run per seed (:class:`RatioPath`);
* :func:`proxy_max_verdict`, :meth:`TrainingTrend.slides_left_verdict` and the verdicts of
  :class:`TrainedRatioTrend` - verdicts on the source's claims (with
  :func:`gabalab.ledger.claim_verdict`).
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
from gabalab.ledger import VERDICT_WORDS, claim_verdict
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
    "proxy_ceiling",
    "proxy_max_verdict",
    "summed_output_ratio",
    "summed_output_ratios",
    "ProxyComparison",
    "compare_with_proxy",
    "TrainingTrend",
    "training_trend",
    "MeasurementShift",
    "compare_measurements",
    "RunningMedian",
    "running_median",
    "spread_table",
    "RATIO_QUANTILES",
    "RatioPath",
    "TrainedRatioTrend",
    "trained_ratio_trend",
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

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> EpochMeasurement:
        """The measurement that :meth:`to_dict` wrote (a stored result file's entry).

        Parameters
        ----------
        payload : mapping
            With the lists ``rul_norms``, ``health_norms``, ``ratios``, ``batch_sizes`` and
            the count ``n_batches``; other entries (``summary``, timings) are ignored.

        Returns
        -------
        EpochMeasurement

        Raises
        ------
        TypeError
            If ``payload`` is not a mapping or an entry has the wrong type.
        ValueError
            If an entry is missing, the lengths disagree, or a ratio is not
            ``rul_norms / health_norms``.

        Examples
        --------
        >>> m = EpochMeasurement.from_dict({
        ...     "rul_norms": [4.0], "health_norms": [2.0], "ratios": [2.0],
        ...     "batch_sizes": [8], "n_batches": 1})
        >>> m.ratios
        array([2.])
        """
        if not isinstance(payload, Mapping):
            raise TypeError(f"payload must be a mapping, got {type(payload).__name__}")
        keys = ("rul_norms", "health_norms", "ratios", "batch_sizes", "n_batches")
        missing = [k for k in keys if k not in payload]
        if missing:
            raise ValueError(f"payload has no entry {missing[0]!r}")
        try:
            out = cls(*(payload[k] for k in keys))
        except (TypeError, ValueError) as err:
            raise with_context(err, "payload: ") from None
        with np.errstate(divide="ignore", invalid="ignore"):
            quotient = out.rul_norms / out.health_norms
        if not np.allclose(out.ratios, quotient, rtol=1e-9, atol=0):
            raise ValueError("payload: ratios must be rul_norms / health_norms")
        return out

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
    """A text summary of one measured epoch of a sweep (per-batch ratios per epoch).

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


# ------------------------------------------------------------------------------------------
# What the section reads off its measurements
# ------------------------------------------------------------------------------------------

def proxy_ceiling(n_classes: int = N_HEALTH_CLASSES, rul_cap: float = RUL_CAP) -> float:
    """Largest output-side proxy ratio that any batch of targets in ``[0, rul_cap]`` can give.

    The proxy of :func:`output_side_proxy` is ``2 sqrt(K/(K-1)) rms(y)``, and
    ``rms(y) <= rul_cap`` for capped targets.

    Parameters
    ----------
    n_classes : int
        Number of classes ``K`` (>= 2).
    rul_cap : float
        Largest target (> 0).

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        If ``n_classes`` is not an integer >= 2 or ``rul_cap`` not a finite number > 0.

    Examples
    --------
    >>> round(proxy_ceiling(3, 125.0), 1)
    306.2
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    rul_cap = check_real("rul_cap", rul_cap, positive=True)
    return 2.0 * float(np.sqrt(n_classes / (n_classes - 1))) * rul_cap


def proxy_max_verdict(
    source_max: float,
    measured_max: float,
    *,
    n_classes: int = N_HEALTH_CLASSES,
    rul_cap: float = RUL_CAP,
    rel_tol: float = 0.1,
) -> str:
    """Verdict on a reported maximum of the output-side proxy.

    ``"contradicted"`` if it lies above :func:`proxy_ceiling` (no batch can give it);
    otherwise ``"holds"`` if the measured maximum is within ``rel_tol`` of it, else
    ``"holds in part"``.

    Parameters
    ----------
    source_max, measured_max : float
        The reported and the measured maximum (> 0).
    n_classes, rul_cap : int, float
        As in :func:`proxy_ceiling`.
    rel_tol : float
        Relative distance under which the two maxima agree (> 0).

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        On an argument that is not a finite number of the required sign.

    Examples
    --------
    >>> proxy_max_verdict(2104.5, 216.0), proxy_max_verdict(220.0, 216.0)
    ('contradicted', 'holds')
    """
    source_max = check_real("source_max", source_max, positive=True)
    measured_max = check_real("measured_max", measured_max, positive=True)
    rel_tol = check_real("rel_tol", rel_tol, positive=True)
    if proxy_ceiling(n_classes, rul_cap) < source_max:
        return VERDICT_WORDS[0]
    return claim_verdict(abs(measured_max / source_max - 1) < rel_tol, True)


def summed_output_ratio(
    residuals: Sequence[float] | np.ndarray,
    probabilities: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
) -> float:
    """Ratio of the batch-summed output gradients of mean-reduced MSE and cross-entropy.

    ``2 |sum_i r_i| / || sum_i (p_i - e_{c_i}) ||``: what the ratio on a shared parameter
    would be if every sample had the same Jacobian (the common ``1/B`` cancels).

    Parameters
    ----------
    residuals : array-like, shape (B,)
        ``prediction - target`` per sample.
    probabilities : array-like, shape (B, K)
        Softmax probabilities per sample.
    labels : array-like of int, shape (B,)
        True classes in ``[0, K)``.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If an argument is not an array of numbers (integers for ``labels``).
    ValueError
        If shapes disagree, the batch is empty, labels are out of range, or the summed
        cross-entropy gradient is zero.

    Examples
    --------
    >>> p = [[0.5, 0.5], [0.5, 0.5]]
    >>> round(summed_output_ratio([-3.0, -1.0], p, [0, 0]), 4)
    5.6569
    """
    r = as_array("residuals", residuals, ndim=1, nonempty=True)
    p = as_array("probabilities", probabilities, ndim=2)
    if p.shape[0] != r.size or p.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (len(residuals), K >= 2) = "
                         f"({r.size}, K), got {p.shape}")
    c = check_labels("labels", labels, p.shape[1])
    if c.size != r.size:
        raise ValueError(f"labels must hold one label per residual ({r.size}), got {c.size}")
    onehot = np.eye(p.shape[1])[c]
    health = float(np.linalg.norm((p - onehot).sum(axis=0)))
    if health == 0.0:
        raise ValueError("probabilities and labels give a zero summed cross-entropy gradient: "
                         "the ratio is undefined")
    return float(2 * abs(r.sum()) / health)


def summed_output_ratios(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    max_batches: int | None = None,
) -> np.ndarray:
    """:func:`summed_output_ratio` of a model's outputs on every batch of ``loader``.

    The model runs in evaluation mode (no dropout) without gradients, in float64 from its
    outputs on; every submodule's mode is restored on return.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(rul, logits)`` for ``x``.
    loader : iterable
        Yields ``(x, y_rul, y_health)`` batches.
    max_batches : int or None
        Stop after this many batches (>= 1).

    Returns
    -------
    numpy.ndarray
        One ratio per batch.

    Raises
    ------
    TypeError, ValueError
        As :func:`measure_epoch` for the model, the loader and its batches; ValueError if
        the loader yields no batch.

    Examples
    --------
    >>> from gabalab.data import WindowDataset, make_loader
    >>> from gabalab.models import TinyDualHead
    >>> x = np.random.default_rng(0).random((40, 30, 14))
    >>> loader = make_loader(WindowDataset(x, np.linspace(0, 125, 40)), 16,
    ...                      seed=0)
    >>> summed_output_ratios(TinyDualHead(seed=0), loader).shape
    (3,)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if loader is None or isinstance(loader, (str, bytes)) or not isinstance(loader, Iterable):
        raise TypeError(f"loader must be an iterable of (x, y_rul, y_health) batches, got "
                        f"{type(loader).__name__}")
    if max_batches is not None:
        max_batches = check_int("max_batches", max_batches, minimum=1)
    try:
        device = next(model.parameters()).device
    except StopIteration:
        raise ValueError("model has no parameter") from None
    out = []
    batches = loader if max_batches is None else itertools.islice(loader, max_batches)
    with training_mode(model, False), torch.no_grad():
        for i, batch in enumerate(batches):
            x, y, c = _check_batch(batch, i, device)
            try:
                rul_hat, logits = model(x)
            except (TypeError, ValueError) as err:
                raise with_context(err, f"batch {i}: ") from None
            check_task_targets(rul_hat, logits, y, c, f"batch {i}: ")
            r = rul_hat.double().cpu().numpy() - y.double().cpu().numpy()
            p = torch.softmax(logits.double(), dim=1).cpu().numpy()
            try:
                out.append(summed_output_ratio(r, p, c.cpu().numpy()))
            except ValueError as err:
                raise ValueError(f"batch {i}: {err}") from None
    if not out:
        raise ValueError("loader yielded no batch")
    return np.array(out)


def _log_corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.log(a), np.log(b))[0, 1])


@dataclass(frozen=True)
class ProxyComparison:
    """Two output-side proxies against the measured ratio on the same batches.

    Attributes
    ----------
    n_batches : int
        Batches compared.
    model_median : float
        Median of the measured shared-parameter ratio.
    proxy_median : float
        Median of the zero-prediction proxy (:func:`output_side_proxy`).
    model_over_proxy : float
        ``model_median / proxy_median``.
    proxy_corr : float
        Correlation of ``log`` proxy and ``log`` measured ratio, batch by batch.
    summed_median, summed_corr : float
        The same for the batch-summed output ratio (:func:`summed_output_ratios`).
    summed_level : float
        Median over batches of ``summed / measured``.
    """

    n_batches: int
    model_median: float
    proxy_median: float
    model_over_proxy: float
    proxy_corr: float
    summed_median: float
    summed_corr: float
    summed_level: float

    def table(self) -> str:
        """The medians and correlations as printed lines.

        Examples
        --------
        >>> cmp = compare_with_proxy([2.0, 4.0], [1.0, 3.0], [4.0, 8.0])
        >>> print(cmp.table())
        on the same 2 batches        median  log correlation with the model
        shared-parameter ratio            3
        zero-prediction proxy             2  1.00
        batch-summed outputs              6  1.00
        """
        head = f"on the same {self.n_batches} batches"
        return "\n".join([
            f"{head:<26} {'median':>8}  log correlation with the model",
            f"{'shared-parameter ratio':<26} {format_value(self.model_median):>8}",
            f"{'zero-prediction proxy':<26} {format_value(self.proxy_median):>8}"
            f"  {self.proxy_corr:.2f}",
            f"{'batch-summed outputs':<26} {format_value(self.summed_median):>8}"
            f"  {self.summed_corr:.2f}",
        ])

    def quotes(self) -> dict[str, str]:
        """The two levels that :meth:`table` does not print, as the prose quotes them.

        Examples
        --------
        >>> compare_with_proxy([2.0, 4.0], [1.0, 3.0], [4.0, 8.0]).quotes()
        {'model_over_proxy': '1.50', 'summed_level': '2.0'}
        """
        return {
            "model_over_proxy": f"{self.model_over_proxy:.2f}",
            "summed_level": f"{self.summed_level:.1f}",
        }


def _ratios_of(name: str, value: Any) -> np.ndarray:
    """Per-batch ratios of a measurement or an array: finite and > 0."""
    array = value.ratios if isinstance(value, EpochMeasurement) else value
    array = as_array(name, array, ndim=1, nonempty=True, finite=False)
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must hold finite ratios > 0")
    return array


def compare_with_proxy(
    model: EpochMeasurement | Sequence[float] | np.ndarray,
    proxy: EpochMeasurement | Sequence[float] | np.ndarray,
    summed: Sequence[float] | np.ndarray,
) -> ProxyComparison:
    """Compare the measured ratio with two output-side proxies, batch by batch.

    Parameters
    ----------
    model : EpochMeasurement or array-like
        The measured shared-parameter ratios (:func:`measure_epoch`).
    proxy : EpochMeasurement or array-like
        The zero-prediction proxy of the same batches (:func:`output_side_proxy`).
    summed : array-like
        The batch-summed output ratios of the same batches (:func:`summed_output_ratios`).

    Returns
    -------
    ProxyComparison

    Raises
    ------
    TypeError
        If an argument is not a measurement or an array of numbers.
    ValueError
        If the three do not hold the same number of batches (two measurements: the same
        batch sizes), have fewer than two batches, or hold ratios that are not finite
        and positive.

    Examples
    --------
    >>> c = compare_with_proxy([2.0, 4.0], [1.0, 3.0], [4.0, 8.0])
    >>> c.model_over_proxy, c.summed_level
    (1.5, 2.0)
    """
    m, p, s = (_ratios_of(n, v) for n, v in (("model", model), ("proxy", proxy),
                                              ("summed", summed)))
    if not m.size == p.size == s.size:
        raise ValueError(f"model, proxy and summed must hold the same batches, got "
                         f"{m.size}, {p.size} and {s.size} ratios")
    if m.size < 2:
        raise ValueError("model must hold at least two batches to correlate")
    if isinstance(model, EpochMeasurement) and isinstance(proxy, EpochMeasurement) and not (
        np.array_equal(model.batch_sizes, proxy.batch_sizes)
    ):
        raise ValueError("proxy must measure the same batches as model (batch sizes differ)")
    model_median, proxy_median = float(np.median(m)), float(np.median(p))
    return ProxyComparison(
        n_batches=int(m.size),
        model_median=model_median,
        proxy_median=proxy_median,
        model_over_proxy=model_median / proxy_median,
        proxy_corr=_log_corr(p, m),
        summed_median=float(np.median(s)),
        summed_corr=_log_corr(s, m),
        summed_level=float(np.median(s / m)),
    )


@dataclass(frozen=True)
class TrainingTrend:
    """Medians of the ratio and of both norms at each measured epoch of a training run.

    Attributes
    ----------
    epochs : tuple of int
        Measured epochs, increasing (at least two; the first is usually 0, before training).
    ratio_medians, rul_medians, health_medians : tuple of float
        Median over the epoch's batches of the ratio, of ``||g_rul||`` and of ``||g_hs||``.
    smallest_ratio : float
        The smallest per-batch ratio over every measured epoch.
    """

    epochs: tuple[int, ...]
    ratio_medians: tuple[float, ...]
    rul_medians: tuple[float, ...]
    health_medians: tuple[float, ...]
    smallest_ratio: float

    @property
    def growth(self) -> tuple[float, float]:
        """Factors by which the median ``||g_rul||`` and ``||g_hs||`` grow to the second epoch."""
        return (self.rul_medians[1] / self.rul_medians[0],
                self.health_medians[1] / self.health_medians[0])

    @property
    def climbs_after_first_drop(self) -> bool:
        """Whether the median ratio drops at the second epoch, then rises at every later one
        and ends above where it started."""
        m = self.ratio_medians
        return (m[1] < m[0] < m[-1]
                and all(a < b for a, b in zip(m[1:], m[2:])))

    @property
    def norms_part_ways(self) -> bool:
        """Whether, from the second epoch to the last, the median ``||g_rul||`` ends higher
        and the median ``||g_hs||`` lower."""
        return (self.rul_medians[-1] > self.rul_medians[1]
                and self.health_medians[-1] < self.health_medians[1])

    def slides_left_verdict(self) -> str:
        """Verdict on "the distribution slides left during training": ``"holds"`` if the last
        median is below half the first, ``"contradicted"`` if it is above the first,
        ``"holds in part"`` in between."""
        first, last = self.ratio_medians[0], self.ratio_medians[-1]
        return claim_verdict(last <= first, last < first / 2)

    def table(self) -> str:
        """One line per epoch: the median of each norm (the ratio has its own table).

        Examples
        --------
        >>> trend = training_trend({
        ...     0: {"rul_norms": [4.0, 8.0], "health_norms": [2.0, 2.0]},
        ...     1: {"rul_norms": [9.0], "health_norms": [3.0]}})
        >>> print(trend.table())
        epoch  median ||g_rul||  median ||g_hs||
            0                 6                2
            1                 9                3
        """
        f = format_value
        lines = ["epoch  median ||g_rul||  median ||g_hs||"]
        for e, g_rul, g_hs in zip(self.epochs, self.rul_medians, self.health_medians):
            lines.append(f"{e:>5}  {f(g_rul):>16}  {f(g_hs):>15}")
        return "\n".join(lines)

    def quotes(self) -> dict[str, str | int]:
        """The numbers as the prose quotes them (keys without the section's prefix).

        Examples
        --------
        >>> trend = training_trend({
        ...     0: {"rul_norms": [4.0], "health_norms": [2.0]},
        ...     1: {"rul_norms": [9.0], "health_norms": [3.0]}})
        >>> trend.quotes()["last_median"], trend.quotes()["rul_growth"]
        ('3', '2')
        """
        rul_growth, health_growth = self.growth
        return {
            "second_epoch": self.epochs[1],
            "last_epoch": self.epochs[-1],
            "last_median": f"{self.ratio_medians[-1]:.0f}",
            "rul_growth": f"{rul_growth:.0f}",
            "hs_growth": f"{health_growth:.0f}",
            "overall_min": f"{self.smallest_ratio:.0f}",
        }


def training_trend(
    measurements: Mapping[int, EpochMeasurement | Mapping[str, Any]],
) -> TrainingTrend:
    """Medians of the ratio and of both norms at each measured epoch.

    Parameters
    ----------
    measurements : mapping of int to EpochMeasurement or mapping
        Epoch to its measurement, or to a mapping with the per-batch ``rul_norms`` and
        ``health_norms`` (a stored result file's entry; the ratios are their quotient).
        At least two epochs.

    Returns
    -------
    TrainingTrend
        Epochs in increasing order.

    Raises
    ------
    TypeError
        If ``measurements`` is not a mapping, an epoch is not an integer, or an entry is
        neither a measurement nor a mapping of norms.
    ValueError
        If fewer than two epochs are given, an epoch is negative, or an entry's norms are
        empty, of different lengths, or not finite and positive.

    Examples
    --------
    >>> trend = training_trend({
    ...     0: {"rul_norms": [4.0], "health_norms": [2.0]},
    ...     1: {"rul_norms": [9.0], "health_norms": [3.0]}})
    >>> trend.ratio_medians, trend.growth
    ((2.0, 3.0), (2.25, 1.5))
    """
    if not isinstance(measurements, Mapping):
        raise TypeError(f"measurements must be a mapping from epoch to measurement, got "
                        f"{type(measurements).__name__}")
    if len(measurements) < 2:
        raise ValueError("measurements must hold at least two epochs")
    for epoch in measurements:
        check_int(f"measurements key {epoch!r}", epoch, minimum=0)
    rows = []
    for epoch in sorted(measurements):
        name, entry = f"measurements[{epoch}]", measurements[epoch]
        if isinstance(entry, EpochMeasurement):
            rul, health = entry.rul_norms, entry.health_norms
        elif isinstance(entry, Mapping):
            if "rul_norms" not in entry or "health_norms" not in entry:
                raise ValueError(f"{name} must hold rul_norms and health_norms")
            rul = as_array(f"{name}['rul_norms']", entry["rul_norms"], ndim=1)
            health = as_array(f"{name}['health_norms']", entry["health_norms"], ndim=1)
        else:
            raise TypeError(f"{name} must be an EpochMeasurement or a mapping of norms, got "
                            f"{type(entry).__name__}")
        if rul.size == 0 or rul.size != health.size or np.any(rul <= 0) or np.any(health <= 0):
            raise ValueError(f"{name} must hold as many rul_norms as health_norms, all > 0")
        ratios = entry.ratios if isinstance(entry, EpochMeasurement) else rul / health
        s = summarise(ratios)
        rows.append((int(epoch), s["median"], float(np.median(rul)), float(np.median(health)),
                     s["min"]))
    epochs, ratio_m, rul_m, health_m, mins = zip(*rows)
    return TrainingTrend(tuple(epochs), tuple(ratio_m), tuple(rul_m), tuple(health_m),
                         float(min(mins)))


@dataclass(frozen=True)
class MeasurementShift:
    """How a second measurement of the same batches differs from a first.

    Attributes
    ----------
    n_batches : int
        Batches compared: all of the second measurement, the first as many of the first.
    base_rul, base_hs, rul, hs : float
        Median ``||g_rul||`` and ``||g_hs||`` over those batches, in the first measurement
        and in the second.
    rul_change, hs_change : float
        Median over batches of ``|other / base - 1|`` for ``||g_rul||`` and ``||g_hs||``.
    smallest_change : float
        The smallest such change of either norm on any batch.
    base_median, median : float
        Median ratio of the first and of the second measurement over those batches.
    """

    n_batches: int
    base_rul: float
    base_hs: float
    rul: float
    hs: float
    rul_change: float
    hs_change: float
    smallest_change: float
    base_median: float
    median: float

    @property
    def ratio_factor(self) -> float:
        """Median ratio of the second measurement over that of the first."""
        return self.median / self.base_median

    @property
    def rul_factor(self) -> float:
        """Median ``||g_rul||`` of the second measurement over that of the first."""
        return self.rul / self.base_rul

    @property
    def hs_factor(self) -> float:
        """Median ``||g_hs||`` of the second measurement over that of the first."""
        return self.hs / self.base_hs

    def table(self, base: str = "base", other: str = "other") -> str:
        """The median norms and ratios of the two measurements side by side.

        Examples
        --------
        >>> a = EpochMeasurement([4.0, 6.0], [2.0, 2.0], [2.0, 3.0],
        ...                      [8, 8], 2)
        >>> b = EpochMeasurement([8.0], [2.0], [4.0], [8], 1)
        >>> print(compare_measurements(a, b).table("train", "eval"))
        first 1 batches           train       eval
        median ||g_rul||              4          8
        median ||g_hs||               2          2
        median ratio                  2          4
        """
        if not (isinstance(base, str) and isinstance(other, str)):
            raise TypeError("base and other must be column labels (str)")
        f = format_value
        w = max(10, len(base), len(other))
        rows = [(f"first {self.n_batches} batches", base, other),
                ("median ||g_rul||", f(self.base_rul), f(self.rul)),
                ("median ||g_hs||", f(self.base_hs), f(self.hs)),
                ("median ratio", f(self.base_median), f(self.median))]
        return "\n".join(f"{a:<20} {b:>{w}} {c:>{w}}" for a, b, c in rows)

    def quotes(self, prefix: str = "", base_key: str | None = None) -> dict[str, str]:
        """The numbers as the prose quotes them, ``prefix`` before each key.

        Keys ``rul_change`` and ``hs_change`` (percent), ``rul_factor`` and ``hs_factor``,
        ``median`` (the second measurement's), and ``base_key`` (without the prefix) for
        the first measurement's median when given.

        Examples
        --------
        >>> a = EpochMeasurement([4.0, 6.0], [2.0, 2.0], [2.0, 3.0],
        ...                      [8, 8], 2)
        >>> b = EpochMeasurement([8.0], [2.0], [4.0], [8], 1)
        >>> compare_measurements(a, b).quotes("eval_", base_key="base")
        ... # doctest: +NORMALIZE_WHITESPACE
        {'eval_rul_change': '100.0%', 'eval_hs_change': '0.0%',
         'eval_rul_factor': '2.0', 'eval_hs_factor': '1.0',
         'eval_median': '4', 'base': '2'}
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        if base_key is not None and not isinstance(base_key, str):
            raise TypeError(f"base_key must be a str or None, got {type(base_key).__name__}")
        out = {
            f"{prefix}rul_change": f"{self.rul_change:.1%}",
            f"{prefix}hs_change": f"{self.hs_change:.1%}",
            f"{prefix}rul_factor": f"{self.rul_factor:.1f}",
            f"{prefix}hs_factor": f"{self.hs_factor:.1f}",
            f"{prefix}median": f"{self.median:.0f}",
        }
        if base_key is not None:
            out[base_key] = f"{self.base_median:.0f}"
        return out


def compare_measurements(base: EpochMeasurement, other: EpochMeasurement) -> MeasurementShift:
    """Compare ``other`` with the first ``other.n_batches`` batches of ``base``, batch by batch.

    The two must measure the same batches in the same order (the same loader seed): another
    mode, other parameters or another model on the same data.

    Parameters
    ----------
    base, other : EpochMeasurement
        ``other`` holds at most as many batches as ``base``.

    Returns
    -------
    MeasurementShift

    Raises
    ------
    TypeError
        If either is not an :class:`EpochMeasurement`.
    ValueError
        If ``other`` holds more batches than ``base`` or their batch sizes differ.

    Examples
    --------
    >>> a = EpochMeasurement([4.0, 6.0], [2.0, 2.0], [2.0, 3.0],
    ...                      [8, 8], 2)
    >>> b = EpochMeasurement([8.0], [2.0], [4.0], [8], 1)
    >>> shift = compare_measurements(a, b)
    >>> shift.rul_factor, shift.rul_change, shift.median
    (2.0, 1.0, 4.0)
    """
    for name, value in (("base", base), ("other", other)):
        if not isinstance(value, EpochMeasurement):
            raise TypeError(f"{name} must be an EpochMeasurement, got {type(value).__name__}")
    n = other.n_batches
    if n > base.n_batches:
        raise ValueError(f"other holds {n} batches, more than base ({base.n_batches})")
    if not np.array_equal(base.batch_sizes[:n], other.batch_sizes):
        raise ValueError("other must measure the same batches as base (batch sizes differ)")
    rel_rul = np.abs(other.rul_norms / base.rul_norms[:n] - 1)
    rel_hs = np.abs(other.health_norms / base.health_norms[:n] - 1)
    return MeasurementShift(
        n_batches=n,
        base_rul=float(np.median(base.rul_norms[:n])),
        base_hs=float(np.median(base.health_norms[:n])),
        rul=float(np.median(other.rul_norms)),
        hs=float(np.median(other.health_norms)),
        rul_change=float(np.median(rel_rul)),
        hs_change=float(np.median(rel_hs)),
        smallest_change=float(min(rel_rul.min(), rel_hs.min())),
        base_median=float(np.median(base.ratios[:n])),
        median=float(np.median(other.ratios)),
    )


@dataclass(frozen=True)
class RunningMedian:
    """The median of the first ``n`` batches of an epoch, as ``n`` grows to the whole epoch.

    Attributes
    ----------
    sizes : tuple of int
        Increasing numbers of batches; the last is the whole epoch.
    medians : tuple of float
        The median ratio of the first ``n`` batches, for each ``n`` in ``sizes``.
    """

    sizes: tuple[int, ...]
    medians: tuple[float, ...]

    @property
    def full_median(self) -> float:
        """The median over the whole epoch."""
        return self.medians[-1]

    def gap(self, smallest: int = 1) -> float:
        """Largest ``|median of first n / full median - 1|`` over ``smallest <= n < epoch``.

        Examples
        --------
        >>> running_median([1.0, 3.0, 2.0, 2.0], (1, 2)).gap()
        0.5
        """
        smallest = check_int("smallest", smallest, minimum=1)
        gaps = [abs(m / self.full_median - 1)
                for n, m in zip(self.sizes[:-1], self.medians[:-1]) if n >= smallest]
        if not gaps:
            raise ValueError(f"no running median of at least smallest = {smallest} batches")
        return float(max(gaps))

    def table(self) -> str:
        """One line per ``n``.

        Examples
        --------
        >>> print(running_median([1.0, 3.0, 2.0, 2.0], (1, 2)).table())
        first 1 batches: median 1
        first 2 batches: median 2
        first 4 batches: median 2
        """
        width = len(str(self.sizes[-1]))
        return "\n".join(f"first {n:>{width}} batches: median {format_value(m)}"
                         for n, m in zip(self.sizes, self.medians))


def running_median(
    ratios: Sequence[float] | np.ndarray,
    sizes: Sequence[int] = (1, 5, 20, 100),
) -> RunningMedian:
    """The median of the first ``n`` ratios for each ``n`` in ``sizes`` below the epoch's
    length, and of all of them.

    Parameters
    ----------
    ratios : array-like
        Per-batch ratios of one epoch, in the order measured (finite, > 0).
    sizes : sequence of int
        Numbers of batches (>= 1); those not below ``len(ratios)`` are left out.

    Returns
    -------
    RunningMedian

    Raises
    ------
    TypeError, ValueError
        If ``ratios`` is not a non-empty 1-D array of positive finite numbers, or a size
        is not an integer >= 1.

    Examples
    --------
    >>> running_median([4.0, 1.0, 2.0], (1, 2, 5)).medians
    (4.0, 2.5, 2.0)
    """
    array = _ratios_of("ratios", ratios)
    if isinstance(sizes, (str, bytes)):
        raise TypeError("sizes must be a sequence of integers")
    chosen = sorted({check_int("sizes", n, minimum=1) for n in as_list("sizes", sizes)})
    chosen = [n for n in chosen if n < array.size] + [int(array.size)]
    return RunningMedian(tuple(chosen), tuple(float(np.median(array[:n])) for n in chosen))


def spread_table(ratios_by_run: Mapping[str, Sequence[float] | np.ndarray]) -> str:
    """How far one batch can be from the epoch: first batch, median, extremes and spreads.

    Parameters
    ----------
    ratios_by_run : mapping of str to array-like
        Row label to one epoch's per-batch ratios (finite, > 0), in the order measured.

    Returns
    -------
    str
        One row per run: batch 0, median, min, max, ``max/min`` and ``q75/q25``.

    Raises
    ------
    TypeError
        If ``ratios_by_run`` is not a mapping or a label not a string.
    ValueError
        If it is empty or holds ratios that are not finite and positive.

    Examples
    --------
    >>> print(spread_table({"run": [2.0, 1.0, 4.0]}))
    run  batch 0  median  min  max  max/min  q75/q25
    run        2       2    1    4        4        2
    """
    if not isinstance(ratios_by_run, Mapping):
        raise TypeError(f"ratios_by_run must be a mapping from label to ratios, got "
                        f"{type(ratios_by_run).__name__}")
    if not ratios_by_run:
        raise ValueError("ratios_by_run must hold at least one run")
    f = format_value
    rows = [["run", "batch 0", "median", "min", "max", "max/min", "q75/q25"]]
    for label, values in ratios_by_run.items():
        if not isinstance(label, str):
            raise TypeError(f"ratios_by_run: labels must be strings, got {label!r}")
        r = _ratios_of(f"ratios_by_run[{label!r}]", values)
        s = summarise(r)
        rows.append([label, f(float(r[0])), f(s["median"]), f(s["min"]), f(s["max"]),
                     f(s["max"] / s["min"]), f(s["q75"] / s["q25"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
        for row in rows)


# ------------------------------------------------------------------------------------------
# The ratio through training, read from the trained runs
# ------------------------------------------------------------------------------------------

#: The quantiles of the norm ratio that a trained run records per epoch, low to high, and
#: how the tables label them.
RATIO_QUANTILES: tuple[tuple[str, str], ...] = (
    ("q10", "q10"),
    ("q25", "q25"),
    ("q50", "median"),
    ("q75", "q75"),
    ("q90", "q90"),
)
_QUANTILE_KEYS: tuple[str, ...] = tuple(key for key, _ in RATIO_QUANTILES)


def _span(values: Sequence[float], fmt: str) -> str:
    """``"lo–hi"`` of ``values`` formatted with ``fmt``, or one value where both agree."""
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}–{high}"


@dataclass(frozen=True)
class RatioPath:
    """The norm ratio's quantiles at every epoch of one trained run, up to its selected epoch.

    Attributes
    ----------
    seed : int
        The run's seed.
    quantiles : tuple of tuple of float
        One entry per epoch, from epoch 1 to the validation-selected epoch (the last):
        that epoch's q10, q25, median, q75 and q90 over its measured training steps.
    n_steps : tuple of int
        The number of measured steps in each epoch.
    """

    seed: int
    quantiles: tuple[tuple[float, ...], ...]
    n_steps: tuple[int, ...]

    @property
    def selected_epoch(self) -> int:
        """The validation-selected epoch, the last one recorded here."""
        return len(self.quantiles)

    @property
    def medians(self) -> tuple[float, ...]:
        """The median of each epoch, from epoch 1."""
        return tuple(q[2] for q in self.quantiles)

    @property
    def growth(self) -> float:
        """The selected epoch's median over epoch 1's."""
        return self.medians[-1] / self.medians[0]

    def row(self, epoch: int) -> dict[str, float | int]:
        """Epoch ``epoch``'s quantiles (keys of :data:`RATIO_QUANTILES`) and ``n_steps``.

        Raises
        ------
        TypeError, ValueError
            If ``epoch`` is not an integer from 1 to :attr:`selected_epoch`.

        Examples
        --------
        >>> path = RatioPath(0, ((1.0, 2.0, 3.0, 4.0, 5.0),), (22,))
        >>> path.row(1)["q50"], path.row(1)["n_steps"]
        (3.0, 22)
        """
        epoch = check_int("epoch", epoch, minimum=1)
        if epoch > self.selected_epoch:
            raise ValueError(f"epoch must be <= the selected epoch {self.selected_epoch}, "
                             f"got {epoch}")
        return {**dict(zip(_QUANTILE_KEYS, self.quantiles[epoch - 1])),
                "n_steps": self.n_steps[epoch - 1]}


@dataclass(frozen=True)
class TrainedRatioTrend:
    """The norm ratio through training in the runs of one method, one run per seed.

    Built by :func:`trained_ratio_trend`. Each run is read from epoch 1 to the epoch that
    validation selected, so every seed is compared at the model it would keep.

    Attributes
    ----------
    runs : tuple of RatioPath
        One per seed, in increasing seed order.
    """

    runs: tuple[RatioPath, ...]

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds, in increasing order."""
        return tuple(run.seed for run in self.runs)

    @property
    def n_seeds(self) -> int:
        """The number of runs."""
        return len(self.runs)

    def run(self, seed: int) -> RatioPath:
        """The run of ``seed``.

        Raises
        ------
        TypeError, ValueError
            If ``seed`` is not an integer or has no run.
        """
        seed = check_int("seed", seed, minimum=0)
        for run in self.runs:
            if run.seed == seed:
                return run
        raise ValueError(f"seed {seed} has no run; the seeds are {list(self.seeds)}")

    @property
    def growth(self) -> tuple[float, ...]:
        """Per seed, the selected epoch's median over epoch 1's."""
        return tuple(run.growth for run in self.runs)

    @property
    def rises_in_every_seed(self) -> bool:
        """Whether every seed ends, at its selected epoch, with a higher median than at epoch 1."""
        return all(g > 1 for g in self.growth)

    @property
    def middle_half_moves_up(self) -> bool:
        """Whether in every seed the selected epoch's q25 lies above epoch 1's q75."""
        return all(run.quantiles[-1][1] > run.quantiles[0][3] for run in self.runs)

    @property
    def lowest_q10(self) -> float:
        """The lowest q10 of any epoch of any run."""
        return min(q[0] for run in self.runs for q in run.quantiles)

    def slides_left_verdict(self) -> str:
        """Verdict on "the distribution slides left during training" (median 600 to 120).

        Two parts per seed: the median at the selected epoch is at most epoch 1's, and below
        half of it. ``"holds"`` if both hold in every seed, ``"contradicted"`` if the median
        rose in every seed, ``"holds in part"`` otherwise.
        """
        return claim_verdict(*(g <= 1 for g in self.growth), *(g < 0.5 for g in self.growth))

    def no_balance_verdict(self, factor: float = 10.0) -> str:
        """Verdict on "training never comes near balance".

        ``"holds"`` if the lowest q10 of any epoch of any run is above ``factor`` (nine
        measured steps in ten keep the regression gradient more than ``factor`` times the
        classification gradient), ``"contradicted"`` otherwise.

        Raises
        ------
        TypeError, ValueError
            If ``factor`` is not a real number > 1.
        """
        factor = check_real("factor", factor)
        if factor <= 1:
            raise ValueError(f"factor must be > 1 (1 is balance), got {factor}")
        return claim_verdict(self.lowest_q10 > factor)

    def milestones(self, seed: int, n_between: int = 2) -> tuple[int, ...]:
        """Epoch 1, the selected epoch and ``n_between`` epochs evenly spaced between them.

        Fewer when the run is short (each epoch is listed once).

        Raises
        ------
        TypeError, ValueError
            If ``seed`` has no run or ``n_between`` is not an integer >= 0.

        Examples
        --------
        >>> path = RatioPath(0, ((1.0, 2.0, 3.0, 4.0, 5.0),) * 8, (22,) * 8)
        >>> TrainedRatioTrend((path,)).milestones(0)
        (1, 3, 6, 8)
        """
        selected = self.run(seed).selected_epoch
        n_between = check_int("n_between", n_between, minimum=0)
        points = np.linspace(1, selected, n_between + 2)
        return tuple(sorted({int(np.floor(p + 0.5)) for p in points}))

    def table(self, n_between: int = 2) -> str:
        """A Markdown table: per seed, the quantiles at its :meth:`milestones`.

        The last column is the epoch's median over epoch 1's.

        Raises
        ------
        TypeError, ValueError
            If ``n_between`` is not an integer >= 0.

        Examples
        --------
        >>> rows = ((10.0, 20.0, 30.0, 40.0, 50.0),
        ...         (30.0, 45.0, 60.0, 80.0, 99.0))
        >>> trend = TrainedRatioTrend((RatioPath(3, rows, (22, 22)),))
        >>> print(trend.table())
        | seed | epoch | q10 | q25 | median | q75 | q90 | median / epoch 1 |
        |--:|:--|--:|--:|--:|--:|--:|--:|
        | 3 | 1 | 10 | 20 | 30 | 40 | 50 | 1.00 |
        | 3 | 2 (selected) | 30 | 45 | 60 | 80 | 99 | 2.00 |
        """
        n_between = check_int("n_between", n_between, minimum=0)
        head = ["seed", "epoch", *(label for _, label in RATIO_QUANTILES), "median / epoch 1"]
        lines = ["| " + " | ".join(head) + " |", "|--:|:--|" + "--:|" * (len(head) - 2)]
        for run in self.runs:
            for epoch in self.milestones(run.seed, n_between):
                q = run.quantiles[epoch - 1]
                name = f"{epoch} (selected)" if epoch == run.selected_epoch else str(epoch)
                cells = [str(run.seed), name, *(format_value(v) for v in q),
                         f"{q[2] / run.medians[0]:.2f}"]
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def readout(self, seed: int, epoch: int) -> str:
        """What the section's explorer shows for ``seed`` and ``epoch``, as text.

        An epoch after the run's selected one shows the selected epoch: the run keeps the
        model of that epoch.

        Raises
        ------
        TypeError, ValueError
            If ``seed`` has no run or ``epoch`` is not an integer >= 1.

        Examples
        --------
        >>> rows = ((10.0, 20.0, 30.0, 40.0, 50.0),
        ...         (30.0, 45.0, 60.0, 80.0, 99.0))
        >>> trend = TrainedRatioTrend((RatioPath(3, rows, (22, 21)),))
        >>> print(trend.readout(3, 5))
        seed 3, epoch 2 (the selected epoch; 5 asked), 21 measured steps
        median 60, quartiles 45 to 80, q10 30, q90 99
        spread q75/q25 = 1.78, median / median at epoch 1 = 2
        """
        run = self.run(seed)
        epoch = check_int("epoch", epoch, minimum=1)
        shown = min(epoch, run.selected_epoch)
        r = run.row(shown)
        if shown == run.selected_epoch:
            note = " (the selected epoch" + ("" if epoch == shown else f"; {epoch} asked") + ")"
        else:
            note = f" (of {run.selected_epoch})"
        f = format_value
        return "\n".join([
            f"seed {seed}, epoch {shown}{note}, {r['n_steps']} measured steps",
            f"median {f(r['q50'])}, quartiles {f(r['q25'])} to {f(r['q75'])}, "
            f"q10 {f(r['q10'])}, q90 {f(r['q90'])}",
            f"spread q75/q25 = {r['q75'] / r['q25']:.3g}, "
            f"median / median at epoch 1 = {r['q50'] / run.medians[0]:.3g}",
        ])

    def quotes(self) -> dict[str, str | int]:
        """The numbers the prose quotes, formatted (``"lo–hi"`` over the seeds).

        Returns
        -------
        dict
            ``n_seeds``; ``steps`` (measured steps per epoch); ``selected_epochs``
            (``"epochs lo–hi"``, or ``"epoch e"`` where every run selected the same);
            ``first_median`` and ``selected_median`` (no decimals, thousands separated),
            ``growth`` (their quotient, 1 decimal); ``lowest_q10`` (no decimals).

        Examples
        --------
        >>> rows = ((10.0, 20.0, 30.0, 40.0, 50.0),
        ...         (30.0, 45.0, 60.0, 80.0, 99.0))
        >>> trend = TrainedRatioTrend((RatioPath(0, rows, (22, 21)),
        ...                            RatioPath(1, rows[:1], (22,))))
        >>> q = trend.quotes()
        >>> q["selected_epochs"], q["growth"], q["steps"]
        ('epochs 1–2', '1.0–2.0', '21–22')
        """
        selected = [run.selected_epoch for run in self.runs]
        return {
            "n_seeds": self.n_seeds,
            "steps": _span([n for run in self.runs for n in run.n_steps], "d"),
            "selected_epochs": ("epoch " if len(set(selected)) == 1 else "epochs ")
            + _span(selected, "d"),
            "first_median": _span([run.medians[0] for run in self.runs], ",.0f"),
            "selected_median": _span([run.medians[-1] for run in self.runs], ",.0f"),
            "growth": _span(self.growth, ".1f"),
            "lowest_q10": f"{self.lowest_q10:,.0f}",
        }


def _ratio_path(seed: int, rows: Any, selected: Any) -> RatioPath:
    """One seed's rows of :func:`trained_ratio_trend`, checked."""
    name = f"through_training[{seed}]"
    items = as_list(name, rows)
    if not items:
        raise ValueError(f"{name} must hold at least one epoch")
    quantiles, steps, epochs = [], [], []
    for i, row in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(row, Mapping):
            raise TypeError(f"{where} must be a mapping of epoch, quantiles and n_steps, got "
                            f"{type(row).__name__}")
        missing = [k for k in ("epoch", *_QUANTILE_KEYS, "n_steps") if k not in row]
        if missing:
            raise ValueError(f"{where} lacks {missing}")
        epochs.append(check_int(f"{where}['epoch']", row["epoch"], minimum=1))
        q = tuple(check_real(f"{where}[{k!r}]", row[k], positive=True) for k in _QUANTILE_KEYS)
        if any(a > b for a, b in zip(q, q[1:])):
            raise ValueError(f"{where}: the quantiles must not decrease, got {list(q)}")
        quantiles.append(q)
        steps.append(check_int(f"{where}['n_steps']", row["n_steps"], minimum=1))
    if epochs != list(range(1, len(epochs) + 1)):
        raise ValueError(f"{name} must hold the epochs 1, 2, ... without a gap, got {epochs}")
    selected = check_int(f"selected_epochs[{seed}]", selected, minimum=1)
    if selected != epochs[-1]:
        raise ValueError(f"{name} ends at epoch {epochs[-1]}, not at selected_epochs[{seed}] "
                         f"= {selected}")
    return RatioPath(seed, tuple(quantiles), tuple(steps))


def trained_ratio_trend(
    through_training: Mapping[int, Sequence[Mapping[str, Any]]],
    selected_epochs: Mapping[int, int],
) -> TrainedRatioTrend:
    """The norm ratio through training in several runs of one method, checked.

    Parameters
    ----------
    through_training : mapping of int to sequence of mapping
        Per seed, one row per epoch from epoch 1 to the selected one, each with ``epoch``,
        the quantiles ``q10``, ``q25``, ``q50``, ``q75``, ``q90`` of the ratio over the
        epoch's measured steps, and ``n_steps``: what
        :func:`gabalab.experiments.verdicts.ratio_through_training` returns.
    selected_epochs : mapping of int to int
        Per seed, the epoch that validation selected (``RunRecord.selected_epoch``); the
        rows of that seed must end there.

    Returns
    -------
    TrainedRatioTrend

    Raises
    ------
    TypeError
        If an argument is not a mapping, a seed or epoch not an integer, a row not a
        mapping, or a quantile not a number.
    ValueError
        If ``through_training`` is empty, the two name other seeds, a seed's epochs do not
        run 1, 2, ... to its selected epoch, a quantile is not finite and positive, or a
        row's quantiles decrease.

    Examples
    --------
    >>> row = {"epoch": 1, "q10": 1.0, "q25": 2.0, "q50": 3.0,
    ...        "q75": 4.0, "q90": 5.0, "n_steps": 22}
    >>> later = {**row, "epoch": 2, "q50": 3.5}
    >>> trend = trained_ratio_trend({0: [row, later]}, {0: 2})
    >>> trend.seeds, trend.runs[0].medians
    ((0,), (3.0, 3.5))
    """
    if not isinstance(through_training, Mapping):
        raise TypeError(f"through_training must be a mapping from seed to rows, got "
                        f"{type(through_training).__name__}")
    if not isinstance(selected_epochs, Mapping):
        raise TypeError(f"selected_epochs must be a mapping from seed to epoch, got "
                        f"{type(selected_epochs).__name__}")
    if not through_training:
        raise ValueError("through_training must hold at least one run")
    for seed in through_training:
        check_int(f"through_training key {seed!r}", seed, minimum=0)
    if set(selected_epochs) != set(through_training):
        raise ValueError(f"selected_epochs must name the seeds of through_training "
                         f"{sorted(through_training)}, got {list(selected_epochs)}")
    return TrainedRatioTrend(tuple(
        _ratio_path(int(seed), through_training[seed], selected_epochs[seed])
        for seed in sorted(through_training)))
