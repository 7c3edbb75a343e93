"""A validation split by engine unit, drawn from the training units only.

Model selection (the epoch to keep, when to stop, when to lower the learning rate) must not
look at the test set, or the test score stops being a test. The validation set here is a
seeded choice of whole *training* units: every window of a unit lands on one side, so the
model is validated on engines it never trained on, as it is tested. The scaling is fitted on
the remaining training units only, and the validation windows are every stride-1 window of
the held-out units (their RUL targets capped as in training): a few thousand windows, a far
steadier criterion than one last window per unit.

Examples
--------
>>> from gabalab.data import simulated_fleet
>>> fleet = simulated_fleet(n_train_units=10, n_test_units=3,
...                         seed=0)
>>> units = choose_validation_units(fleet, fraction=0.2, seed=0)
>>> len(units)
2
>>> split = prepare_with_validation(fleet, units)
>>> split.prepared.n_train_units, split.validation_units == units
(8, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gabalab._checks import as_list, check_int, check_real
from gabalab.constants import INFORMATIVE_SENSORS, RUL_CAP, WINDOW_LENGTH
from gabalab.data.cmapss import CmapssSubset, CmapssTable
from gabalab.data.targets import capped_rul, train_rows_rul
from gabalab.data.windows import PreparedData, WindowDataset, prepare_cmapss, sliding_windows

__all__ = ["SplitData", "choose_validation_units", "split_units", "prepare_with_validation"]


@dataclass(frozen=True)
class SplitData:
    """Training, validation and test windows of one subset.

    Attributes
    ----------
    prepared : PreparedData
        Training windows of the remaining units (scaling fitted on them) and the test
        windows, as :func:`~gabalab.data.windows.prepare_cmapss` gives them.
    validation : WindowDataset
        Every stride-1 window of the validation units, scaled with the training scaling.
    validation_units : tuple of int
        The held-out training units, sorted.
    training_units : tuple of int
        The units trained on, sorted.
    """

    prepared: PreparedData
    validation: WindowDataset
    validation_units: tuple[int, ...]
    training_units: tuple[int, ...]

    def to(self, dtype: Any) -> SplitData:
        """The same split with every window in ``dtype`` (float32 or float64)."""
        return replace(self, prepared=self.prepared.to(dtype),
                       validation=self.validation.to(dtype))

    def summary(self) -> dict[str, Any]:
        """Counts and unit lists as plain Python values (for JSON)."""
        return {**self.prepared.summary(), "n_validation_windows": len(self.validation),
                "validation_units": list(self.validation_units),
                "training_units": list(self.training_units)}


def _check_subset(data: Any) -> CmapssSubset:
    if not isinstance(data, CmapssSubset):
        raise TypeError(f"data must be a CmapssSubset (gabalab.data.load_cmapss), got "
                        f"{type(data).__name__}")
    return data


def choose_validation_units(data: CmapssSubset, *, fraction: float = 0.2,
                            seed: int = 0) -> tuple[int, ...]:
    """A seeded choice of ``round(fraction * n)`` training units (at least one), sorted.

    Parameters
    ----------
    data : CmapssSubset
        The subset; only its training units are drawn from.
    fraction : float
        Share of the training units held out, ``0 < fraction < 1`` (default 0.2).
    seed : int
        Seed of the draw (a NumPy ``Generator`` permutation), >= 0.

    Returns
    -------
    tuple of int

    Raises
    ------
    TypeError, ValueError
        If ``data`` is not a subset, ``fraction`` is outside ``(0, 1)``, ``seed`` is
        negative, or the subset has fewer than two training units (one must remain).
    """
    data = _check_subset(data)
    fraction = check_real("fraction", fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    seed = check_int("seed", seed, minimum=0)
    units = data.train.unit_ids
    if units.size < 2:
        raise ValueError(f"data has {units.size} training unit(s): a validation split needs "
                         "at least two (one to train on)")
    count = min(units.size - 1, max(1, round(fraction * units.size)))
    order = np.random.default_rng(seed).permutation(units.size)
    return tuple(sorted(int(u) for u in units[order[:count]]))


def split_units(data: CmapssSubset,
                validation_units: Any) -> tuple[CmapssSubset, CmapssTable]:
    """Take ``validation_units`` out of the training table.

    Returns
    -------
    CmapssSubset
        The subset with the remaining training units (test table and RUL unchanged).
    CmapssTable
        The rows of the validation units.

    Raises
    ------
    TypeError, ValueError
        If ``data`` is not a subset, ``validation_units`` is empty, repeats a unit, names a
        unit that is not a training unit, or leaves no unit to train on.
    """
    data = _check_subset(data)
    wanted = as_list("validation_units", validation_units)
    if not wanted:
        raise ValueError("validation_units must name at least one training unit")
    ids = []
    for i, unit in enumerate(wanted):
        ids.append(check_int(f"validation_units[{i}]", unit, minimum=0))
    if len(set(ids)) != len(ids):
        raise ValueError(f"validation_units repeats a unit: {sorted(ids)}")
    train_ids = set(int(u) for u in data.train.unit_ids)
    unknown = sorted(set(ids) - train_ids)
    if unknown:
        raise ValueError(f"validation_units names {unknown}, not training units of "
                         f"{data.name}")
    if len(ids) >= len(train_ids):
        raise ValueError("validation_units holds every training unit: none is left to train on")
    table = data.train
    units = table["unit"].astype(np.int64)
    rows = np.isin(units, ids)
    kept = _renumbered(table, ~rows, table.source)
    held = _renumbered(table, rows, f"{table.source} (validation units)")
    return replace(data, train=kept), held


def _renumbered(table: CmapssTable, rows: np.ndarray, source: str) -> CmapssTable:
    """The rows ``rows`` of ``table`` with their units renumbered 1, 2, 3, ... in order.

    A table numbers its units consecutively from 1 (as the files do); the original numbers
    of a split are kept by :class:`SplitData` instead.
    """
    values = table.values[rows].copy()
    column = table.columns.index("unit")
    original = values[:, column].astype(np.int64)
    starts = np.r_[True, original[1:] != original[:-1]] if original.size else np.zeros(0, bool)
    values[:, column] = np.cumsum(starts)
    return CmapssTable(values, table.columns, source)


def prepare_with_validation(
    data: CmapssSubset,
    validation_units: Any,
    *,
    window_length: int = WINDOW_LENGTH,
    rul_cap: float = RUL_CAP,
    sensors: Any = INFORMATIVE_SENSORS,
) -> SplitData:
    """Training, validation and test windows, with the scaling fitted on training units only.

    Parameters
    ----------
    data : CmapssSubset
        From :func:`~gabalab.data.cmapss.load_cmapss`.
    validation_units : sequence of int
        Training units to hold out (:func:`choose_validation_units`).
    window_length, rul_cap, sensors
        As :func:`~gabalab.data.windows.prepare_cmapss`.

    Returns
    -------
    SplitData

    Raises
    ------
    TypeError, ValueError
        As :func:`split_units` and :func:`~gabalab.data.windows.prepare_cmapss`; also if no
        validation unit is as long as a window.
    """
    kept, held = split_units(data, validation_units)
    prepared = prepare_cmapss(kept, window_length=window_length, rul_cap=rul_cap,
                              sensors=sensors)
    scaled = prepared.normaliser.transform(held.select(prepared.sensors))
    x, end = sliding_windows(scaled, held.unit_bounds(), prepared.window_length)
    if x.shape[0] == 0:
        raise ValueError(f"validation_units: no validation unit has {prepared.window_length} "
                         "cycles, so there is no validation window")
    y = capped_rul(train_rows_rul(held)[end], prepared.rul_cap)
    validation = WindowDataset(x, y, dtype=prepared.train.dtype)
    held_ids = tuple(sorted(set(int(u) for u in as_list("validation_units", validation_units))))
    training = tuple(sorted(set(int(u) for u in data.train.unit_ids) - set(held_ids)))
    return SplitData(prepared, validation, held_ids, training)
