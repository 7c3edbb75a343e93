"""Write C-MAPSS files, and simulate a fleet in the same format so that nothing needs NASA's data.

:func:`write_cmapss_table` and :func:`write_rul_file` write rows and RUL values the way the NASA
files are written, and refuse anything the readers of :mod:`gabalab.data.cmapss` would refuse,
so whatever they write reads back. :func:`simulate_fleet` writes a synthetic run-to-failure
fleet; :func:`simulated_fleet` returns the same fleet without touching the disk (the values are
exactly those read back from the files), and :func:`simulated_fleet_files` writes it into a
temporary folder that is removed when its ``with`` block ends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from gabalab._checks import as_array, check_int, check_path, check_real
from gabalab.constants import WINDOW_LENGTH
from gabalab.data.cmapss import (
    COLUMNS,
    CmapssSubset,
    _assemble,
    _check_rows,
    _rul_from_text,
    _table_from_text,
    subset_file_names,
)
from gabalab.files import atomic_write_text

__all__ = [
    "write_cmapss_table",
    "write_rul_file",
    "simulate_fleet",
    "simulated_fleet",
    "simulated_fleet_files",
]

_N_COLUMNS = len(COLUMNS)


# Decimal places per column in the NASA files (unit and cycle are integers).
_DECIMALS: dict[str, int] = {
    "unit": 0, "cycle": 0, "setting1": 4, "setting2": 4, "setting3": 1,
    "s1": 2, "s2": 2, "s3": 2, "s4": 2, "s5": 2, "s6": 2, "s7": 2, "s8": 2, "s9": 2,
    "s10": 2, "s11": 2, "s12": 2, "s13": 2, "s14": 2, "s15": 4, "s16": 2, "s17": 0,
    "s18": 0, "s19": 2, "s20": 2, "s21": 4,
}


def _format_row(row: np.ndarray) -> str:
    fields = []
    for value, name in zip(row, COLUMNS):
        decimals = _DECIMALS[name]
        fields.append(f"{int(round(value))}" if decimals == 0 else f"{value:.{decimals}f}")
    return " ".join(fields) + "  "


def _checked_table(values: object) -> np.ndarray:
    array = as_array("values", values, ndim=2)
    if array.shape[1] != _N_COLUMNS or array.shape[0] == 0:
        raise ValueError(f"values must have shape (n_rows >= 1, 26), got {array.shape}")
    _check_rows(array, lambda i: f"values row {i}")
    return array


def _table_text(values: np.ndarray) -> str:
    return "".join(_format_row(row) + "\n" for row in values)


def _checked_rul(rul: object) -> np.ndarray:
    values = as_array("rul", rul, ndim=1, nonempty=True)
    if np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError("rul must hold non-negative integers")
    return values


def _rul_text(values: np.ndarray) -> str:
    return "".join(f"{int(value)} \n" for value in values)


def write_cmapss_table(path: str | os.PathLike[str], values: np.ndarray) -> Path:
    """Write rows in the C-MAPSS text format (26 space-separated fields, two trailing blanks).

    Each column is written with the number of decimals used in the NASA files (e.g. two for
    most sensors, four for ``setting1``, ``s15``, ``s21``; integers for unit, cycle, ``s17``,
    ``s18``), so values are rounded on writing. The rows must obey the rules the reader
    checks (:func:`gabalab.data.cmapss.read_cmapss_table`): units numbered 1, 2, 3, ... in order,
    each in one block, cycles counting 1, 2, 3, ... within a unit; so the file always reads
    back.

    Parameters
    ----------
    path : str or os.PathLike
        Output file: replaced whole or not at all (:func:`gabalab.files.atomic_write`), so a
        failed write leaves an earlier file as it was; missing folders are created.
    values : numpy.ndarray
        Shape ``(n_rows, 26)``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``path`` is not a path or ``values`` is not a numeric array.
    ValueError
        If ``values`` does not have 26 columns, has no rows, holds non-finite values, or its
        unit and cycle columns break the reader's rules (naming the row); or if ``path``
        cannot be written (a folder, or under a file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> row = np.ones((1, 26))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "t.txt"
    ...     out = write_cmapss_table(path, row)
    ...     out.read_text().split()[:3]
    ['1', '1', '1.0000']
    """
    path = check_path("path", path)
    text = _table_text(_checked_table(values))
    atomic_write_text(path, text, encoding="ascii", newline="\n")
    return path


def write_rul_file(path: str | os.PathLike[str], rul: object) -> Path:
    """Write RUL values in the ``RUL_FD00x.txt`` format (one integer per line, trailing blank).

    Parameters
    ----------
    path : str or os.PathLike
        Output file: replaced whole or not at all (:func:`gabalab.files.atomic_write`), so a
        failed write leaves an earlier file as it was; missing folders are created.
    rul : array-like
        1-D, non-negative integer-valued RUL values, at least one.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        If ``path`` is not a path or ``rul`` is not a numeric array.
    ValueError
        If ``rul`` is not 1-D, is empty, or holds negative, non-integer or non-finite values,
        or if ``path`` cannot be written (a folder, or under a file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "RUL.txt"
    ...     write_rul_file(path, [3, 12]).read_text()
    '3 \\n12 \\n'
    """
    path = check_path("path", path)
    text = _rul_text(_checked_rul(rul))
    atomic_write_text(path, text, encoding="ascii", newline="\n")
    return path


# Simulated sensor model: (baseline, per-unit offset sd, noise sd, change at failure).  The
# change is the shift of the sensor mean between a new engine and one at failure; its sign says
# whether the sensor rises or falls as the engine degrades.  Magnitudes are of the same order as
# the FD001 trends.
_SENSOR_MODEL: dict[str, tuple[float, float, float, float]] = {
    "s2": (642.3, 0.20, 0.45, 2.0),
    "s3": (1585.0, 2.0, 5.5, 15.0),
    "s4": (1400.0, 3.0, 7.5, 30.0),
    "s7": (553.9, 0.30, 0.80, -3.0),
    "s8": (2388.04, 0.02, 0.06, 0.25),
    "s9": (9050.0, 8.0, 12.0, 40.0),
    "s11": (47.30, 0.05, 0.20, 1.2),
    "s12": (521.9, 0.25, 0.65, -2.8),
    "s13": (2388.04, 0.02, 0.06, 0.25),
    "s14": (8135.0, 5.0, 9.0, 25.0),
    "s15": (8.42, 0.01, 0.03, 0.10),
    "s17": (392.0, 0.3, 1.3, 5.0),
    "s20": (38.95, 0.05, 0.15, -0.8),
    "s21": (23.37, 0.03, 0.09, -0.45),
}

# The seven sensors that stay constant under a single operating condition.
_CONSTANT_SENSORS: dict[str, float] = {
    "s1": 518.67, "s5": 14.62, "s6": 21.61, "s10": 1.30, "s16": 0.03, "s18": 2388.0,
    "s19": 100.00,
}


def _simulate_unit(
    rng: np.random.Generator, unit: int, n_cycles: int, lifetime: int, noise: float
) -> np.ndarray:
    """Rows of one unit observed for ``n_cycles`` of a ``lifetime``-cycle life."""
    t = np.arange(1, n_cycles + 1, dtype=np.float64)
    wear0 = rng.uniform(0.0, 0.08)
    steepness = rng.uniform(3.0, 6.0)
    # Degradation state: initial wear plus an exponential rise reaching 1 at failure.
    state = wear0 + (1.0 - wear0) * np.expm1(steepness * t / lifetime) / np.expm1(steepness)
    rows = np.zeros((n_cycles, _N_COLUMNS))
    rows[:, 0] = unit
    rows[:, 1] = t
    rows[:, 2] = rng.normal(0.0, 0.0022, n_cycles)
    rows[:, 3] = rng.normal(0.0, 0.0003, n_cycles)
    rows[:, 4] = 100.0
    for name, value in _CONSTANT_SENSORS.items():
        rows[:, COLUMNS.index(name)] = value
    for name, (base, unit_sd, noise_sd, change) in _SENSOR_MODEL.items():
        offset = rng.normal(0.0, unit_sd)
        eps = rng.normal(0.0, noise * noise_sd, n_cycles)
        rows[:, COLUMNS.index(name)] = base + offset + change * state + eps
    return rows


def _simulate_rows(
    n_train_units: int,
    n_test_units: int,
    seed: int,
    min_life: int,
    max_life: int,
    min_test_cycles: int,
    noise: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the arguments of :func:`simulate_fleet` and draw the rows and RUL values."""
    n_train_units = check_int("n_train_units", n_train_units, minimum=1)
    n_test_units = check_int("n_test_units", n_test_units, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    min_life = check_int("min_life", min_life, minimum=2)
    max_life = check_int("max_life", max_life, minimum=2)
    if max_life < min_life:
        raise ValueError(f"max_life must be >= min_life ({min_life}), got {max_life}")
    min_test_cycles = check_int("min_test_cycles", min_test_cycles, minimum=1)
    noise = check_real("noise", noise, nonnegative=True)

    rng = np.random.default_rng(seed)
    train_rows = []
    for unit in range(1, n_train_units + 1):
        life = int(rng.integers(min_life, max_life + 1))
        train_rows.append(_simulate_unit(rng, unit, life, life, noise))
    test_rows = []
    rul = []
    for unit in range(1, n_test_units + 1):
        life = int(rng.integers(min_life, max_life + 1))
        low = min(min_test_cycles, life - 1)
        cut = int(rng.integers(low, life))
        test_rows.append(_simulate_unit(rng, unit, cut, life, noise))
        rul.append(life - cut)
    return np.concatenate(train_rows), np.concatenate(test_rows), np.asarray(rul, np.float64)


def simulate_fleet(
    out_dir: str | os.PathLike[str],
    n_train_units: int = 20,
    n_test_units: int = 10,
    seed: int = 0,
    *,
    subset: str = "FD001",
    min_life: int = 120,
    max_life: int = 250,
    min_test_cycles: int = WINDOW_LENGTH + 1,
    noise: float = 1.0,
) -> dict[str, Path]:
    """Write a synthetic run-to-failure fleet in the C-MAPSS file format.

    Each unit gets a lifetime drawn uniformly from ``[min_life, max_life]`` and a degradation
    state that starts at a small random initial wear and rises exponentially to 1 at failure.
    The 14 informative sensors follow ``baseline + unit offset + change * state + noise`` (nine
    rise, five fall, as in FD001); the other seven sensors are constant; the operational
    settings are small Gaussian noise around 0 (``setting3`` fixed at 100).  Training units run
    to failure.  Test units are cut after a number of cycles drawn uniformly from
    ``[min(min_test_cycles, life - 1), life - 1]``, and the RUL file holds ``life - cut``.
    Everything derives from ``np.random.default_rng(seed)``: same arguments, same bytes.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Directory to write into (created if needed; existing files of ``subset`` overwritten).
    n_train_units, n_test_units : int
        Number of units, >= 1.
    seed : int
        Seed, >= 0.
    subset : str
        Subset name used in the file names (the data always mimic FD001).
    min_life, max_life : int
        Lifetime range in cycles, ``2 <= min_life <= max_life``.
    min_test_cycles : int
        Smallest cut of a test unit (>= 1); lower it below the window length to get short test
        units.
    noise : float
        Multiplier of the sensor noise, >= 0.

    Returns
    -------
    dict of str to pathlib.Path
        The written files keyed ``"train"``, ``"test"``, ``"rul"``.

    Raises
    ------
    ValueError, TypeError
        On invalid arguments, naming the argument.

    See Also
    --------
    simulated_fleet : the same fleet in memory, without files.
    simulated_fleet_files : the same files in a folder removed after a ``with`` block.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     files = simulate_fleet(folder, n_train_units=2,
    ...                            n_test_units=1, seed=3)
    ...     sorted(p.name for p in files.values())
    ['RUL_FD001.txt', 'test_FD001.txt', 'train_FD001.txt']
    """
    folder = check_path("out_dir", out_dir)
    names = subset_file_names(subset)
    train, test, rul = _simulate_rows(n_train_units, n_test_units, seed, min_life, max_life,
                                      min_test_cycles, noise)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "train": write_cmapss_table(folder / names["train"], train),
        "test": write_cmapss_table(folder / names["test"], test),
        "rul": write_rul_file(folder / names["rul"], rul),
    }


def simulated_fleet(
    n_train_units: int = 20,
    n_test_units: int = 10,
    seed: int = 0,
    *,
    subset: str = "FD001",
    min_life: int = 120,
    max_life: int = 250,
    min_test_cycles: int = WINDOW_LENGTH + 1,
    noise: float = 1.0,
) -> CmapssSubset:
    """The fleet of :func:`simulate_fleet`, read back, without writing a file.

    The rows are formatted as the files would hold them and parsed by the readers' own code,
    so every value is exactly what ``load_cmapss(subset, folder)`` returns after
    ``simulate_fleet(folder, ...)`` with the same arguments; only ``files`` is empty.

    Parameters
    ----------
    n_train_units, n_test_units, seed, subset, min_life, max_life, min_test_cycles, noise
        As in :func:`simulate_fleet`.

    Returns
    -------
    CmapssSubset

    Raises
    ------
    ValueError, TypeError
        On invalid arguments, naming the argument.

    Examples
    --------
    >>> fleet = simulated_fleet(n_train_units=3, n_test_units=2, seed=0)
    >>> fleet.train.n_units, fleet.test.n_units, fleet.rul.shape
    (3, 2, (2,))
    >>> fleet.files
    {}
    """
    names = subset_file_names(subset)
    train, test, rul = _simulate_rows(n_train_units, n_test_units, seed, min_life, max_life,
                                      min_test_cycles, noise)
    return _assemble(
        subset,
        _table_from_text(_table_text(train), names["train"]),
        _table_from_text(_table_text(test), names["test"]),
        _rul_from_text(_rul_text(rul), names["rul"]),
        {},
    )


@contextmanager
def simulated_fleet_files(
    n_train_units: int = 20,
    n_test_units: int = 10,
    seed: int = 0,
    *,
    parent: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Iterator[Path]:
    """Write a simulated fleet into a temporary folder for the duration of a ``with`` block.

    The folder (``gabalab-cmapss-*`` under ``parent`` or the system temp folder) and its
    files are removed when the block ends, also when it raises. Where the files themselves
    are not the point, :func:`simulated_fleet` gives the same data without a folder.

    Parameters
    ----------
    n_train_units, n_test_units, seed : int
        As in :func:`simulate_fleet`.
    parent : str, os.PathLike or None
        Where to create the folder; ``None`` uses the system temp folder.
    **kwargs
        Further keyword arguments of :func:`simulate_fleet` (``subset``, ``min_life``, ...).

    Yields
    ------
    pathlib.Path
        The folder, usable as ``data_dir`` in :func:`gabalab.data.cmapss.load_cmapss`.

    Raises
    ------
    ValueError, TypeError
        On invalid arguments, naming the argument (the folder is removed again).

    Examples
    --------
    >>> with simulated_fleet_files(n_train_units=2,
    ...                            n_test_units=1) as folder:
    ...     (folder / "train_FD001.txt").is_file()
    True
    >>> folder.exists()
    False
    """
    if parent is not None:
        parent = check_path("parent", parent)
    with tempfile.TemporaryDirectory(prefix="gabalab-cmapss-", dir=parent) as name:
        folder = Path(name)
        simulate_fleet(folder, n_train_units, n_test_units, seed, **kwargs)
        yield folder
