"""Write C-MAPSS files, and simulate a fleet in the same format so that nothing needs NASA's data.

:func:`write_cmapss_table` and :func:`write_rul_file` write rows and RUL values the way the NASA
files are written (the readers of :mod:`gabalab.data.cmapss` read them back);
:func:`simulate_fleet` writes a synthetic run-to-failure fleet that every notebook and test can
use on a machine without the real files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from gabalab._checks import as_real_array, check_finite_array, check_int, check_real
from gabalab.constants import WINDOW_LENGTH
from gabalab.data.cmapss import COLUMNS, subset_file_names

__all__ = ["write_cmapss_table", "write_rul_file", "simulate_fleet", "simulated_fleet_dir"]

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


def write_cmapss_table(path: str | os.PathLike[str], values: np.ndarray) -> Path:
    """Write rows in the C-MAPSS text format (26 space-separated fields, two trailing blanks).

    Each column is written with the number of decimals used in the NASA files (e.g. two for
    most sensors, four for ``setting1``, ``s15``, ``s21``; integers for unit, cycle, ``s17``,
    ``s18``), so values are rounded on writing.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten).
    values : numpy.ndarray
        Shape ``(n_rows, 26)``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``values`` does not have 26 columns, has no rows, or holds non-finite values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> row = np.ones((1, 26))
    >>> out = write_cmapss_table(pathlib.Path(tempfile.mkdtemp()) / "t.txt", row)
    >>> out.read_text().split()[:3]
    ['1', '1', '1.0000']
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != _N_COLUMNS or values.shape[0] == 0:
        raise ValueError(f"values must have shape (n_rows >= 1, 26), got {values.shape}")
    check_finite_array("values", values)
    path = Path(path)
    with open(path, "w", encoding="ascii", newline="\n") as handle:
        for row in values:
            handle.write(_format_row(row) + "\n")
    return path


def write_rul_file(path: str | os.PathLike[str], rul: object) -> Path:
    """Write RUL values in the ``RUL_FD00x.txt`` format (one integer per line, trailing blank).

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten).
    rul : array-like
        Non-negative integer-valued RUL values, at least one.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If ``rul`` is empty, negative, non-integer or non-finite.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_rul_file(pathlib.Path(tempfile.mkdtemp()) / "RUL.txt", [3, 12])
    >>> out.read_text()
    '3 \\n12 \\n'
    """
    values = as_real_array("rul", rul).reshape(-1)
    if values.size == 0:
        raise ValueError("rul must hold at least one value")
    if np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError("rul must hold non-negative integers")
    path = Path(path)
    with open(path, "w", encoding="ascii", newline="\n") as handle:
        for value in values:
            handle.write(f"{int(value)} \n")
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

    Examples
    --------
    >>> import tempfile
    >>> files = simulate_fleet(tempfile.mkdtemp(), n_train_units=2, n_test_units=1, seed=3)
    >>> sorted(p.name for p in files.values())
    ['RUL_FD001.txt', 'test_FD001.txt', 'train_FD001.txt']
    """
    n_train_units = check_int("n_train_units", n_train_units, minimum=1)
    n_test_units = check_int("n_test_units", n_test_units, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    min_life = check_int("min_life", min_life, minimum=2)
    max_life = check_int("max_life", max_life, minimum=2)
    if max_life < min_life:
        raise ValueError(f"max_life must be >= min_life ({min_life}), got {max_life}")
    min_test_cycles = check_int("min_test_cycles", min_test_cycles, minimum=1)
    noise = check_real("noise", noise, nonnegative=True)
    names = subset_file_names(subset)

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

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "train": write_cmapss_table(folder / names["train"], np.concatenate(train_rows)),
        "test": write_cmapss_table(folder / names["test"], np.concatenate(test_rows)),
        "rul": write_rul_file(folder / names["rul"], rul),
    }


def simulated_fleet_dir(
    n_train_units: int = 20,
    n_test_units: int = 10,
    seed: int = 0,
    *,
    parent: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Path:
    """Write a simulated fleet into a new temporary directory and return that directory.

    The directory (``gabalab-cmapss-*`` under ``parent`` or the system temp folder) is not
    deleted automatically; it is small (about 1 MB with the defaults).

    Parameters
    ----------
    n_train_units, n_test_units, seed : int
        As in :func:`simulate_fleet`.
    parent : str, os.PathLike or None
        Where to create the directory; ``None`` uses the system temp folder.
    **kwargs
        Further keyword arguments of :func:`simulate_fleet` (``subset``, ``min_life``, ...).

    Returns
    -------
    pathlib.Path
        Directory usable as ``data_dir`` in :func:`load_cmapss`.

    Examples
    --------
    >>> folder = simulated_fleet_dir(n_train_units=2, n_test_units=1)
    >>> (folder / "train_FD001.txt").is_file()
    True
    """
    folder = Path(tempfile.mkdtemp(prefix="gabalab-cmapss-", dir=parent))
    simulate_fleet(folder, n_train_units, n_test_units, seed, **kwargs)
    return folder
