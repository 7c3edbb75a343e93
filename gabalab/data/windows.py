"""Model-ready windows: min-max scaling, sliding and last windows, torch datasets and loaders.

:func:`prepare_cmapss` selects the 14 informative sensors, scales them with statistics fitted
on the training rows only, cuts stride-1 windows of :data:`~gabalab.constants.WINDOW_LENGTH`
cycles, and attaches the capped RUL target and the health label. :class:`WindowDataset` and
:func:`make_loader` (seeded shuffling) hand the windows to a training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gabalab._checks import (
    as_array,
    as_list,
    check_bool,
    check_float_dtype,
    check_int,
    check_labels,
    check_real,
)
from gabalab.constants import INFORMATIVE_SENSORS, N_HEALTH_CLASSES, RUL_CAP, WINDOW_LENGTH
from gabalab.data.cmapss import COLUMNS, CmapssSubset
from gabalab.data.targets import capped_rul, health_labels, rows_rul_from_end, train_rows_rul

__all__ = [
    "MinMaxNormaliser",
    "fit_minmax",
    "count_windows",
    "sliding_windows",
    "last_windows",
    "WindowDataset",
    "make_loader",
    "PreparedData",
    "prepare_cmapss",
]


@dataclass(frozen=True)
class MinMaxNormaliser:
    """Per-feature min-max scaling ``(x - minimum) / span`` fitted on training rows.

    Features that are constant in the training rows get ``span = 1`` (so they map to 0 rather
    than dividing by zero).  Test values are not clipped: they may fall outside ``[0, 1]``.

    Parameters
    ----------
    minimum, span : numpy.ndarray
        Per-feature minimum and ``max - min`` (1 where that is 0), float64.

    Examples
    --------
    >>> norm = fit_minmax(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> norm.transform(np.array([[1.0, 5.0], [4.0, 6.0]])).tolist()
    [[0.5, 0.0], [2.0, 1.0]]
    """

    minimum: np.ndarray
    span: np.ndarray

    def __post_init__(self) -> None:
        minimum = as_array("minimum", self.minimum, ndim=1, nonempty=True)
        span = as_array("span", self.span, ndim=1, nonempty=True)
        if span.shape != minimum.shape:
            raise ValueError(f"span must have the shape of minimum {minimum.shape}, got "
                             f"{span.shape}")
        if np.any(span <= 0):
            raise ValueError("span must be > 0 for every feature (1 for a constant one)")
        object.__setattr__(self, "minimum", minimum)
        object.__setattr__(self, "span", span)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape ``(..., n_features)``; returns float64.

        Raises
        ------
        TypeError
            If ``x`` is not a numeric array.
        ValueError
            If its last axis is not the fitted features, or it holds NaN or infinite values.
        """
        x = as_array("x", x)
        if x.ndim == 0 or x.shape[-1] != self.minimum.size:
            raise ValueError(
                f"x must have {self.minimum.size} features in its last axis, got shape {x.shape}"
            )
        return (x - self.minimum) / self.span


def fit_minmax(x: np.ndarray) -> MinMaxNormaliser:
    """Fit a :class:`MinMaxNormaliser` on the rows of ``x``.

    Parameters
    ----------
    x : numpy.ndarray
        Training rows, shape ``(n_rows, n_features)``, at least one row, finite.

    Returns
    -------
    MinMaxNormaliser

    Raises
    ------
    ValueError
        If ``x`` is not 2-D with at least one row or holds non-finite values.

    Examples
    --------
    >>> fit_minmax(np.array([[1.0], [3.0]])).span.tolist()
    [2.0]
    """
    x = as_array("x", x, ndim=2)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have at least one row and one feature, got shape {x.shape}")
    low = x.min(axis=0)
    span = x.max(axis=0) - low
    span[span == 0] = 1.0
    return MinMaxNormaliser(low, span)


def count_windows(lengths: Sequence[int] | np.ndarray, window_length: int = WINDOW_LENGTH) -> int:
    """Number of stride-1 windows: ``sum(max(0, n - window_length + 1))`` over units.

    Parameters
    ----------
    lengths : sequence of int
        Cycles per unit.
    window_length : int
        Window length, >= 1.

    Returns
    -------
    int

    Examples
    --------
    >>> count_windows([30, 31, 10], window_length=30)
    3
    """
    window_length = check_int("window_length", window_length, minimum=1)
    counts = as_array("lengths", lengths, kind="int", ndim=1)
    if np.any(counts < 0):
        raise ValueError(f"lengths must be >= 0, got minimum {counts.min()}")
    return int(np.maximum(counts - window_length + 1, 0).sum())


def _check_features(features: object) -> np.ndarray:
    """Rows of all units: a finite 2-D array with at least one feature column."""
    array = as_array("features", features, ndim=2)
    if array.shape[1] == 0:
        raise ValueError(f"features has no column (shape {array.shape}): a window needs at "
                         "least one feature")
    return array


def _check_bounds(bounds: object, n_rows: int, *, nonempty: bool) -> list[tuple[int, int]]:
    """Validate ``(start, stop)`` row ranges inside ``n_rows`` rows, at least one range."""
    pairs = as_list("bounds", bounds)
    if not pairs:
        raise ValueError("bounds is empty: list the (start, stop) rows of at least one unit")
    out = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (tuple, list, np.ndarray)) or (
            len(pair) != 2
        ):
            raise TypeError(f"bounds[{i}] must be a (start, stop) pair, got {pair!r}")
        start = check_int(f"bounds[{i}][0]", pair[0], minimum=0)
        stop = check_int(f"bounds[{i}][1]", pair[1], minimum=0)
        if stop > n_rows or start > stop or (nonempty and start == stop):
            raise ValueError(f"bounds[{i}] = ({start}, {stop}) must satisfy 0 <= start "
                             f"{'<' if nonempty else '<='} stop <= {n_rows} (the rows of "
                             "features)")
        out.append((start, stop))
    return out


def sliding_windows(
    features: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    window_length: int = WINDOW_LENGTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut every stride-1 window of ``window_length`` rows inside each unit.

    Units shorter than the window give no window (they are skipped; count them with
    :func:`count_windows` or compare ``bounds`` lengths).

    Parameters
    ----------
    features : numpy.ndarray
        Rows of all units, shape ``(n_rows, n_features)``, finite, ``n_features >= 1``.
    bounds : sequence of (start, stop)
        Row range of each unit (:meth:`CmapssTable.unit_bounds`), at least one.
    window_length : int
        Window length, >= 1.

    Returns
    -------
    windows : numpy.ndarray
        Shape ``(n_windows, window_length, n_features)``, units in order, windows in time order.
    end_rows : numpy.ndarray
        int64 index of the last row of each window (its target row).

    Raises
    ------
    TypeError, ValueError
        If ``features`` is not a finite 2-D array with a column, ``bounds`` is empty or holds
        a range outside the rows, or ``window_length`` is not an integer >= 1.

    Examples
    --------
    >>> features = np.arange(10.0)[:, None]
    >>> w, end = sliding_windows(features, [(0, 4), (4, 10)],
    ...                          window_length=3)
    >>> w.shape, end.tolist()
    ((6, 3, 1), [2, 3, 6, 7, 8, 9])
    """
    window_length = check_int("window_length", window_length, minimum=1)
    features = _check_features(features)
    bounds = _check_bounds(bounds, features.shape[0], nonempty=False)
    ends = [
        np.arange(start + window_length - 1, stop, dtype=np.int64)
        for start, stop in bounds
        if stop - start >= window_length
    ]
    end_rows = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    offsets = np.arange(-window_length + 1, 1, dtype=np.int64)
    windows = features[end_rows[:, None] + offsets[None, :]]
    return windows, end_rows


def last_windows(
    features: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    window_length: int = WINDOW_LENGTH,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Take the last ``window_length`` rows of each unit, front-padding short units.

    A unit with fewer than ``window_length`` rows is padded at the front by repeating its first
    row, so every unit gets exactly one window (FD001's shortest test unit has 31 cycles, so
    no padding happens there).

    Parameters
    ----------
    features : numpy.ndarray
        Rows of all units, shape ``(n_rows, n_features)``, finite, ``n_features >= 1``.
    bounds : sequence of (start, stop)
        Row range of each unit, at least one, none empty.
    window_length : int
        Window length, >= 1.

    Returns
    -------
    windows : numpy.ndarray
        Shape ``(n_units, window_length, n_features)``.
    end_rows : numpy.ndarray
        int64 index of each unit's last row.
    n_padded : int
        Number of units that were padded.

    Raises
    ------
    TypeError, ValueError
        If ``features`` is not a finite 2-D array with a column, ``bounds`` is empty or holds
        an empty range or one outside the rows, or ``window_length`` is not an integer >= 1.

    Examples
    --------
    >>> features = np.arange(5.0)[:, None]
    >>> w, end, padded = last_windows(features, [(0, 2), (2, 5)],
    ...                               window_length=3)
    >>> w[:, :, 0].tolist(), end.tolist(), padded
    ([[0.0, 0.0, 1.0], [2.0, 3.0, 4.0]], [1, 4], 1)
    """
    window_length = check_int("window_length", window_length, minimum=1)
    features = _check_features(features)
    bounds = _check_bounds(bounds, features.shape[0], nonempty=True)
    index = []
    n_padded = 0
    for start, stop in bounds:
        rows = np.arange(stop - window_length, stop, dtype=np.int64)
        if stop - start < window_length:
            n_padded += 1
            rows = np.maximum(rows, start)
        index.append(rows)
    index_array = np.stack(index) if index else np.zeros((0, window_length), dtype=np.int64)
    end_rows = np.array([stop - 1 for _, stop in bounds], dtype=np.int64)
    return features[index_array], end_rows, n_padded


class WindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Windows with their RUL target and health label.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        Windows, shape ``(n, T, n_features)``; stored in ``dtype``.
    y_rul : array-like
        Capped RUL target per window (cycles, >= 0), shape ``(n,)``; stored in ``dtype``.
    y_health : array-like or None
        Health label per window, integers in ``[0, 3)``, shape ``(n,)``; ``None`` derives it
        with :func:`health_labels`.
    dtype : torch.dtype or str, default torch.float32
        Floating dtype of ``x`` and ``y_rul``: ``torch.float32`` (the default, what training
        normally uses) or ``torch.float64`` (small models whose results must not depend on the
        CPU's arithmetic, see :meth:`to`).

    Raises
    ------
    TypeError
        If an argument is not numeric, the labels are not integers or ``dtype`` is not a dtype.
    ValueError
        If ``x`` is not 3-D, holds no window or has an empty time or feature axis, lengths
        disagree, a target is negative, a
        label is outside ``[0, 3)``, any value is non-finite, or ``dtype`` is neither
        float32 nor float64.

    Examples
    --------
    >>> ds = WindowDataset(np.zeros((2, 30, 14)), [10.0, 100.0])
    >>> x, y_rul, y_health = ds[1]
    >>> tuple(x.shape), x.dtype, float(y_rul), int(y_health)
    ((30, 14), torch.float32, 100.0, 0)
    """

    def __init__(self, x: object, y_rul: object, y_health: object | None = None, *,
                 dtype: torch.dtype | str = torch.float32) -> None:
        dtype = check_float_dtype("dtype", dtype)
        x_array = as_array("x", x, ndim=3)
        if x_array.shape[0] == 0:
            raise ValueError(f"x holds no window (shape {x_array.shape}): a dataset needs at "
                             "least one")
        if x_array.shape[1] == 0 or x_array.shape[2] == 0:
            raise ValueError(f"x has shape {x_array.shape}: a window needs at least one time "
                             "step and one feature")
        rul = as_array("y_rul", y_rul, ndim=1)
        if rul.size != x_array.shape[0]:
            raise ValueError(f"y_rul must hold {x_array.shape[0]} values, got {rul.size}")
        if np.any(rul < 0):
            raise ValueError(f"y_rul must be >= 0 (cycles), got minimum {rul.min()}")
        if y_health is None:
            labels = health_labels(rul)
        else:
            labels = check_labels("y_health", y_health, N_HEALTH_CLASSES)
            if labels.size != x_array.shape[0]:
                raise ValueError(f"y_health must hold {x_array.shape[0]} values, got {labels.size}")
        self.x = torch.as_tensor(x_array, dtype=dtype)
        self.y_rul = torch.as_tensor(rul, dtype=dtype)
        self.y_health = torch.as_tensor(labels, dtype=torch.int64)

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the windows and the RUL targets."""
        return self.x.dtype

    def to(self, dtype: torch.dtype | str) -> WindowDataset:
        """The same windows, targets and labels with ``x`` and ``y_rul`` in ``dtype``.

        Converting float32 windows to float64 is exact. Training a small model in float64
        keeps the rounding of each step some 1e-16 instead of 1e-7 relative, so that a
        training run long enough to amplify rounding differences (the kernels a CPU picks
        sum in different orders) still prints the same digits on every machine.

        Parameters
        ----------
        dtype : torch.dtype or str
            ``torch.float32`` or ``torch.float64`` (or their names).

        Returns
        -------
        WindowDataset
            ``self`` if it is already in ``dtype``, else a converted copy.

        Raises
        ------
        TypeError, ValueError
            If ``dtype`` is neither float32 nor float64.

        Examples
        --------
        >>> ds = WindowDataset(np.zeros((2, 30, 14)), [10.0, 100.0])
        >>> ds = ds.to(torch.float64)
        >>> ds.x.dtype, ds.y_rul.dtype, ds.y_health.dtype
        (torch.float64, torch.float64, torch.int64)
        """
        dtype = check_float_dtype("dtype", dtype)
        if dtype == self.dtype:
            return self
        return WindowDataset(self.x, self.y_rul, self.y_health, dtype=dtype)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[index], self.y_rul[index], self.y_health[index]


def make_loader(
    dataset: Dataset[Any],
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader[Any]:
    """Build a single-process :class:`~torch.utils.data.DataLoader` with seeded shuffling.

    The shuffling order comes from a private :class:`torch.Generator` seeded with ``seed``; the
    global torch RNG is neither read nor advanced.  Successive epochs over the same loader use
    successive permutations of that generator, so a whole run is reproducible.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        E.g. a :class:`WindowDataset`.
    batch_size : int
        Windows per batch, >= 1.
    shuffle : bool
        Shuffle each epoch.
    seed : int
        Seed of the shuffling generator, >= 0.
    drop_last : bool
        Drop a final incomplete batch.

    Returns
    -------
    torch.utils.data.DataLoader

    Raises
    ------
    ValueError
        If ``dataset`` is empty, ``batch_size`` < 1 or ``seed`` < 0.
    TypeError
        If ``dataset`` is not a torch Dataset, or ``shuffle`` or ``drop_last`` is not a bool.

    Examples
    --------
    >>> ds = WindowDataset(np.zeros((5, 3, 2)), np.arange(5.0))
    >>> [len(b[0]) for b in make_loader(ds, batch_size=2, seed=1)]
    [2, 2, 1]
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a torch Dataset, got {type(dataset).__name__}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    shuffle = check_bool("shuffle", shuffle)
    drop_last = check_bool("drop_last", drop_last)
    try:
        size = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        size = None
    if size == 0:
        raise ValueError("dataset is empty: there is nothing to load")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        generator=generator,
        num_workers=0,
    )


@dataclass(frozen=True)
class PreparedData:
    """Model-ready windows of one subset.

    Attributes
    ----------
    train : WindowDataset
        Every stride-1 training window (units shorter than the window skipped).
    test : WindowDataset
        The last window of each test unit, target = capped true RUL from the RUL file.
    normaliser : MinMaxNormaliser
        Fitted on the training rows of the selected sensors only.
    sensors : tuple of str
        Feature columns, in feature order.
    window_length : int
    rul_cap : float
    n_train_units, n_test_units : int
    n_skipped_train_units : int
        Training units shorter than the window (no windows).
    n_padded_test_units : int
        Test units shorter than the window (front-padded, see :func:`last_windows`).
    test_rul_uncapped : numpy.ndarray
        True RUL at the last test cycle, uncapped (the RUL file values).
    """

    train: WindowDataset
    test: WindowDataset
    normaliser: MinMaxNormaliser
    sensors: tuple[str, ...]
    window_length: int
    rul_cap: float
    n_train_units: int
    n_test_units: int
    n_skipped_train_units: int
    n_padded_test_units: int
    test_rul_uncapped: np.ndarray

    def to(self, dtype: torch.dtype | str) -> PreparedData:
        """The same data with the training and test windows in ``dtype``.

        See :meth:`WindowDataset.to`; everything else is shared with ``self``.

        Raises
        ------
        TypeError, ValueError
            If ``dtype`` is neither float32 nor float64.
        """
        dtype = check_float_dtype("dtype", dtype)
        return replace(self, train=self.train.to(dtype), test=self.test.to(dtype))

    def summary(self) -> dict[str, object]:
        """Counts as plain Python values (for JSON)."""
        return {
            "n_train_windows": len(self.train),
            "n_test_windows": len(self.test),
            "n_train_units": self.n_train_units,
            "n_test_units": self.n_test_units,
            "n_skipped_train_units": self.n_skipped_train_units,
            "n_padded_test_units": self.n_padded_test_units,
            "window_length": self.window_length,
            "rul_cap": self.rul_cap,
            "sensors": list(self.sensors),
            "normalisation": "min-max to [0, 1] fitted on training rows only",
        }


def prepare_cmapss(
    data: CmapssSubset,
    *,
    window_length: int = WINDOW_LENGTH,
    rul_cap: float = RUL_CAP,
    sensors: Sequence[str] = INFORMATIVE_SENSORS,
) -> PreparedData:
    """Turn a read subset into training and test windows.

    Steps: select ``sensors``; fit min-max scaling on the training rows only and apply it to
    train and test; cut all stride-1 training windows (units shorter than ``window_length``
    are skipped and counted); take the last window of each test unit (front-padded by repeating
    the first row when the unit is short, counted); target = RUL at the window's last cycle
    capped at ``rul_cap``; label = :func:`health_labels` of the capped target.

    Parameters
    ----------
    data : CmapssSubset
        From :func:`load_cmapss`.
    window_length : int
        Cycles per window, >= 1.
    rul_cap : float
        Cap of the piecewise-linear RUL target, > 0.
    sensors : sequence of str
        Feature columns (names from :data:`COLUMNS`).

    Returns
    -------
    PreparedData

    Raises
    ------
    TypeError
        If ``data`` is not a :class:`~gabalab.data.cmapss.CmapssSubset` or an argument has the wrong
        type.
    ValueError
        If an argument is invalid, a sensor name is unknown, repeated or not a column of
        ``data.train`` and ``data.test``, or every training unit is shorter than
        ``window_length`` (no training window). The tables and RUL values of ``data`` are
        checked when it is built (:class:`~gabalab.data.cmapss.CmapssSubset`).

    Examples
    --------
    >>> from gabalab.data import simulated_fleet
    >>> fleet = simulated_fleet(n_train_units=3, n_test_units=2)
    >>> prepared = prepare_cmapss(fleet)
    >>> tuple(prepared.test.x.shape)
    (2, 30, 14)
    """
    if not isinstance(data, CmapssSubset):
        raise TypeError(f"data must be a CmapssSubset, got {type(data).__name__}")
    window_length = check_int("window_length", window_length, minimum=1)
    rul_cap = check_real("rul_cap", rul_cap, positive=True)
    sensors = tuple(as_list("sensors", sensors))
    unknown = [s for s in sensors if not isinstance(s, str) or s not in COLUMNS]
    if not sensors or unknown:
        raise ValueError(f"sensors must be non-empty names from COLUMNS; unknown: {unknown}")
    repeated = sorted({s for s in sensors if sensors.count(s) > 1})
    if repeated:
        raise ValueError(f"sensors lists {repeated} more than once")
    for key in ("train", "test"):
        columns = getattr(data, key).columns
        absent = [s for s in sensors if s not in columns]
        if absent:
            raise ValueError(f"data.{key} has no column {absent} (named in sensors)")

    train_features = data.train.select(sensors)
    normaliser = fit_minmax(train_features)
    train_scaled = normaliser.transform(train_features)
    test_scaled = normaliser.transform(data.test.select(sensors))

    train_bounds = data.train.unit_bounds()
    x_train, train_end = sliding_windows(train_scaled, train_bounds, window_length)
    y_train = capped_rul(train_rows_rul(data.train)[train_end], rul_cap)
    skipped = sum(1 for a, b in train_bounds if b - a < window_length)
    if x_train.shape[0] == 0:
        longest = max(b - a for a, b in train_bounds)
        raise ValueError(
            f"window_length {window_length} leaves no training window: every one of the "
            f"{len(train_bounds)} training units is shorter (the longest has {longest} cycles)"
        )

    test_bounds = data.test.unit_bounds()
    x_test, test_end, padded = last_windows(test_scaled, test_bounds, window_length)
    y_test = capped_rul(rows_rul_from_end(data.test, data.rul)[test_end], rul_cap)

    return PreparedData(
        train=WindowDataset(x_train, y_train),
        test=WindowDataset(x_test, y_test),
        normaliser=normaliser,
        sensors=sensors,
        window_length=window_length,
        rul_cap=rul_cap,
        n_train_units=len(train_bounds),
        n_test_units=len(test_bounds),
        n_skipped_train_units=skipped,
        n_padded_test_units=padded,
        test_rul_uncapped=np.asarray(data.rul, dtype=np.float64).copy(),
    )
