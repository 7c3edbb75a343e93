"""Targets and labels from C-MAPSS trajectories: RUL per row, the RUL cap, health classes.

The RUL of a training row is the number of cycles left before its unit fails; a test row's
adds the RUL file's value for its unit. The regression target is that RUL capped at
:data:`~gabalab.constants.RUL_CAP`, and the health label follows from the capped RUL with the
thresholds :data:`~gabalab.constants.HEALTH_THRESHOLDS`, stated once for the whole package.
"""

from __future__ import annotations

import numpy as np

from gabalab._checks import as_array, as_list, as_real_array, check_real
from gabalab.constants import HEALTH_THRESHOLDS, RUL_CAP
from gabalab.data.cmapss import CmapssTable

__all__ = ["health_labels", "capped_rul", "train_rows_rul", "rows_rul_from_end"]


def health_labels(
    rul: object,
    thresholds: tuple[float, float] = HEALTH_THRESHOLDS,
) -> np.ndarray:
    """Map remaining useful life to health-state labels.

    Class 2 "critical" for ``rul <= thresholds[0]``, class 1 "degrading" for
    ``thresholds[0] < rul <= thresholds[1]``, class 0 "healthy" for ``rul > thresholds[1]``.
    Capping does not change the label as long as the cap exceeds ``thresholds[1]``.

    Parameters
    ----------
    rul : array-like or torch.Tensor
        Non-negative RUL values (cycles), any shape.
    thresholds : tuple of two floats
        Inclusive upper edges of the critical and degrading classes, increasing.

    Returns
    -------
    numpy.ndarray
        Labels, int64, same shape as ``rul``.

    Raises
    ------
    ValueError
        If ``rul`` has negative or non-finite entries, or ``thresholds`` is not increasing.
    TypeError
        If ``rul`` is not numeric.

    Examples
    --------
    >>> health_labels([0, 25, 25.5, 75, 76, 125]).tolist()
    [2, 2, 1, 1, 0, 0]
    """
    array = as_real_array("rul", rul)
    if np.any(array < 0):
        raise ValueError(f"rul must be >= 0, got minimum {array.min()}")
    edges = as_list("thresholds", thresholds)
    if len(edges) != 2:
        raise ValueError(f"thresholds must hold two values, got {len(edges)}")
    low = check_real("thresholds[0]", edges[0], nonnegative=True)
    high = check_real("thresholds[1]", edges[1], nonnegative=True)
    if not low < high:
        raise ValueError(f"thresholds must be increasing, got {thresholds}")
    labels = np.zeros(array.shape, dtype=np.int64)
    labels[array <= high] = 1
    labels[array <= low] = 2
    return labels


def capped_rul(rul: object, cap: float = RUL_CAP) -> np.ndarray:
    """Return ``min(rul, cap)``, the piecewise-linear RUL target.

    Parameters
    ----------
    rul : array-like
        Non-negative RUL values.
    cap : float
        Positive cap.

    Returns
    -------
    numpy.ndarray
        float64, same shape as ``rul``.

    Raises
    ------
    ValueError
        If ``rul`` has negative or non-finite entries or ``cap`` is not positive.

    Examples
    --------
    >>> capped_rul([0, 100, 200], cap=125).tolist()
    [0.0, 100.0, 125.0]
    """
    array = as_real_array("rul", rul)
    if np.any(array < 0):
        raise ValueError(f"rul must be >= 0, got minimum {array.min()}")
    cap = check_real("cap", cap, positive=True)
    return np.minimum(array, cap)


def train_rows_rul(table: CmapssTable) -> np.ndarray:
    """Uncapped RUL of every training row: last cycle of its unit minus its cycle.

    Parameters
    ----------
    table : CmapssTable
        Run-to-failure trajectories (the last row of each unit is the failure cycle).

    Returns
    -------
    numpy.ndarray
        float64, one value per row; 0 at each unit's last row.

    Raises
    ------
    TypeError
        If ``table`` is not a :class:`~gabalab.data.cmapss.CmapssTable`.

    Examples
    --------
    >>> rows = np.zeros((3, 26)); rows[:, 0] = 1; rows[:, 1] = [1, 2, 3]
    >>> train_rows_rul(CmapssTable(rows)).tolist()
    [2.0, 1.0, 0.0]
    """
    _check_table(table)
    return rows_rul_from_end(table, np.zeros(table.n_units))


def _check_table(table: object) -> None:
    if not isinstance(table, CmapssTable):
        raise TypeError(f"table must be a CmapssTable, got {type(table).__name__}")


def rows_rul_from_end(table: CmapssTable, rul_at_end: object) -> np.ndarray:
    """Uncapped RUL of every test row: ``rul_at_end`` of its unit plus cycles to its last row.

    Parameters
    ----------
    table : CmapssTable
        Test trajectories.
    rul_at_end : array-like
        RUL at the last cycle of each unit (the ``RUL_FD00x.txt`` values), in unit order.

    Returns
    -------
    numpy.ndarray
        float64, one value per row.

    Raises
    ------
    TypeError
        If ``table`` is not a :class:`~gabalab.data.cmapss.CmapssTable` or ``rul_at_end`` is not
        numeric.
    ValueError
        If ``rul_at_end`` is not 1-D with one non-negative finite value per unit.

    Examples
    --------
    >>> rows = np.zeros((2, 26)); rows[:, 0] = 1; rows[:, 1] = [1, 2]
    >>> rows_rul_from_end(CmapssTable(rows), [10]).tolist()
    [11.0, 10.0]
    """
    _check_table(table)
    end = as_array("rul_at_end", rul_at_end, ndim=1)
    bounds = table.unit_bounds()
    if end.size != len(bounds):
        raise ValueError(
            f"rul_at_end must hold {len(bounds)} values (one per unit), got {end.size}"
        )
    if np.any(end < 0):
        raise ValueError("rul_at_end must be >= 0")
    cycles = table["cycle"]
    out = np.empty(len(table), dtype=np.float64)
    for (start, stop), value in zip(bounds, end):
        out[start:stop] = cycles[stop - 1] - cycles[start:stop] + value
    return out
