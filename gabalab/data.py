"""Read, prepare and simulate NASA C-MAPSS turbofan data.

The C-MAPSS "Turbofan Engine Degradation Simulation Data Set" (NASA Prognostics Center of
Excellence Data Repository) ships one text file per split and subset: ``train_FD00x.txt``
(run-to-failure trajectories), ``test_FD00x.txt`` (trajectories cut before failure) and
``RUL_FD00x.txt`` (true remaining useful life at the last test cycle of each unit).  Every data
row has 26 whitespace-separated numbers: unit, cycle, three operational settings and 21 sensors.

The module has four parts.

* Reading: :func:`read_cmapss_table`, :func:`read_rul_file` and :func:`load_cmapss`, strict
  readers that never drop or coerce anything and name the file and 1-based line of any problem;
  :func:`resolve_data_dir` finds the files (explicit argument, else the ``GABALAB_CMAPSS_DIR``
  environment variable, else :data:`DEFAULT_DATA_DIR`).
* Preparation: :func:`prepare_cmapss` selects the 14 informative sensors, min-max normalises them
  with statistics fitted on the training rows only, cuts sliding windows of
  :data:`~gabalab.constants.WINDOW_LENGTH` cycles, and attaches the capped RUL target and the
  health label from :func:`health_labels`.
* Torch glue: :class:`WindowDataset` and :func:`make_loader` (seeded shuffling).
* Simulation: :func:`simulate_fleet` writes a small synthetic fleet in the same file format, so
  every notebook and test runs on a machine without the NASA files.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gabalab._checks import check_finite_array, check_int, check_real
from gabalab.constants import HEALTH_THRESHOLDS, INFORMATIVE_SENSORS, RUL_CAP, WINDOW_LENGTH

__all__ = [
    "COLUMNS",
    "SUBSETS",
    "ENV_VAR",
    "DEFAULT_DATA_DIR",
    "DATA_SOURCE_HINT",
    "CmapssTable",
    "CmapssSubset",
    "MinMaxNormaliser",
    "WindowDataset",
    "PreparedData",
    "read_cmapss_table",
    "read_rul_file",
    "subset_file_names",
    "resolve_data_dir",
    "load_cmapss",
    "health_labels",
    "capped_rul",
    "train_rows_rul",
    "rows_rul_from_end",
    "fit_minmax",
    "count_windows",
    "sliding_windows",
    "last_windows",
    "prepare_cmapss",
    "make_loader",
    "write_cmapss_table",
    "write_rul_file",
    "simulate_fleet",
    "simulated_fleet_dir",
]

#: Names of the 26 columns of a C-MAPSS data file, in file order.
COLUMNS: tuple[str, ...] = (
    ("unit", "cycle", "setting1", "setting2", "setting3")
    + tuple(f"s{i}" for i in range(1, 22))
)

#: The four C-MAPSS subsets.
SUBSETS: tuple[str, ...] = ("FD001", "FD002", "FD003", "FD004")

#: Environment variable naming the directory that holds the C-MAPSS text files.
ENV_VAR: str = "GABALAB_CMAPSS_DIR"

#: Directory searched when neither ``data_dir`` nor ``GABALAB_CMAPSS_DIR`` is given.
DEFAULT_DATA_DIR: Path = Path("~/.cache/gabalab/cmapss")

#: Where to get the real data; quoted by :func:`resolve_data_dir` when files are missing.
DATA_SOURCE_HINT: str = (
    "Download the 'Turbofan Engine Degradation Simulation Data Set' (C-MAPSS) from the NASA "
    "Prognostics Center of Excellence Data Repository "
    "(https://www.nasa.gov/intelligent-systems-division/discovery-and-systems-health/pcoe/"
    "pcoe-data-set-repository/), unzip it, and either pass its directory as data_dir, set "
    f"{ENV_VAR} to it, or place the text files in {DEFAULT_DATA_DIR}. "
    "Without the real data, gabalab.data.simulate_fleet writes a synthetic fleet in the same "
    "format."
)

_N_COLUMNS = len(COLUMNS)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CmapssTable:
    """One C-MAPSS data file as a numeric array with named columns.

    Parameters
    ----------
    values : numpy.ndarray
        Array of shape ``(n_rows, 26)``, dtype float64, in file order.
    columns : tuple of str
        Column names, :data:`COLUMNS` for a file read by :func:`read_cmapss_table`.
    source : str
        Where the rows came from (a file name), used in messages.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.zeros((2, 26)); rows[:, 0] = 1; rows[:, 1] = [1, 2]
    >>> table = CmapssTable(rows, COLUMNS, "example")
    >>> table["cycle"].tolist(), table.n_units
    ([1.0, 2.0], 1)
    """

    values: np.ndarray
    columns: tuple[str, ...] = COLUMNS
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if not isinstance(self.values, np.ndarray) or self.values.ndim != 2:
            raise TypeError("values must be a 2-D numpy array")
        if self.values.shape[1] != len(self.columns):
            raise ValueError(
                f"values has {self.values.shape[1]} columns but columns names "
                f"{len(self.columns)}"
            )

    def __getitem__(self, name: str) -> np.ndarray:
        """Return the column called ``name`` (a view, do not modify)."""
        try:
            index = self.columns.index(name)
        except ValueError:
            raise KeyError(f"name {name!r} is not a column; columns are {self.columns}") from None
        return self.values[:, index]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def select(self, names: Sequence[str]) -> np.ndarray:
        """Return the columns ``names`` as a new ``(n_rows, len(names))`` array."""
        return np.stack([self[name] for name in names], axis=1)

    @property
    def unit_ids(self) -> np.ndarray:
        """Unit ids in order of first appearance (int64)."""
        units = self["unit"].astype(np.int64)
        if units.size == 0:
            return units
        starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
        return units[starts]

    @property
    def n_units(self) -> int:
        """Number of units (engines)."""
        return int(self.unit_ids.size)

    def unit_bounds(self) -> list[tuple[int, int]]:
        """Return ``(start, stop)`` row indices of each unit's contiguous block."""
        units = self["unit"]
        if units.size == 0:
            return []
        starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
        stops = np.r_[starts[1:], units.size]
        return [(int(a), int(b)) for a, b in zip(starts, stops)]

    def unit_lengths(self) -> np.ndarray:
        """Number of cycles (rows) of each unit, in unit order (int64)."""
        return np.array([b - a for a, b in self.unit_bounds()], dtype=np.int64)


@dataclass(frozen=True)
class CmapssSubset:
    """The three files of one C-MAPSS subset, read and cross-checked.

    Parameters
    ----------
    name : str
        Subset name, e.g. ``"FD001"``.
    train, test : CmapssTable
        Training (run-to-failure) and test (cut) trajectories.
    rul : numpy.ndarray
        True RUL at the last cycle of each test unit, in test-unit order (float64).
    files : dict of str to pathlib.Path
        The files read, keyed ``"train"``, ``"test"``, ``"rul"`` (empty when built in memory).
    """

    name: str
    train: CmapssTable
    test: CmapssTable
    rul: np.ndarray
    files: dict[str, Path] = field(default_factory=dict)


def _parse_number(token: str, where: str, column: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ValueError(
            f"{where}: field {column!r} is not numeric: {token!r}"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: field {column!r} is not finite: {token!r}")
    return value


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line_number, text)`` of the data lines; blank lines only allowed at the end."""
    with open(path, "r", encoding="ascii", errors="strict", newline=None) as handle:
        try:
            lines = handle.read().split("\n")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name}: not an ASCII text file ({exc.reason})") from None
    # Trailing blank lines (the final newline, trailing whitespace-only lines) carry no data.
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path.name}: line 1: file is empty")
    out = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            raise ValueError(f"{path.name}: line {number}: blank line inside the data")
        out.append((number, text))
    return out


def read_cmapss_table(path: str | os.PathLike[str]) -> CmapssTable:
    """Read one C-MAPSS data file (``train_FD00x.txt`` or ``test_FD00x.txt``).

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.  Fields are separated by any whitespace; trailing blanks and a final
        newline are accepted.

    Returns
    -------
    CmapssTable
        All rows, in file order, with columns :data:`COLUMNS`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file and the 1-based line: empty file, blank line inside the data, a row
        without exactly 26 fields, a non-numeric or non-finite field, a unit id or cycle that is
        not a positive integer, a unit whose rows are not one contiguous block, or cycles that
        do not strictly increase within a unit.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train_FD001.txt"
    >>> _ = path.write_text("1 1 " + " ".join(["0.5"] * 24) + "  \\n")
    >>> read_cmapss_table(path).values.shape
    (1, 26)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file")
    rows = []
    seen_units: set[int] = set()
    current_unit: int | None = None
    last_cycle = 0
    for number, text in _data_lines(path):
        where = f"{path.name}: line {number}"
        tokens = text.split()
        if len(tokens) != _N_COLUMNS:
            raise ValueError(
                f"{where}: expected {_N_COLUMNS} whitespace-separated fields, got {len(tokens)}"
            )
        row = [_parse_number(tok, where, col) for tok, col in zip(tokens, COLUMNS)]
        unit, cycle = row[0], row[1]
        for name, value in (("unit", unit), ("cycle", cycle)):
            if value != int(value) or value < 1:
                raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
        unit_id = int(unit)
        if unit_id != current_unit:
            if unit_id in seen_units:
                raise ValueError(
                    f"{where}: unit {unit_id} appears again after other units; "
                    "each unit's rows must form one contiguous block"
                )
            seen_units.add(unit_id)
            current_unit = unit_id
        elif cycle <= last_cycle:
            raise ValueError(
                f"{where}: cycle {int(cycle)} of unit {unit_id} does not increase strictly "
                f"(previous cycle {int(last_cycle)})"
            )
        last_cycle = cycle
        rows.append(row)
    return CmapssTable(np.asarray(rows, dtype=np.float64), COLUMNS, path.name)


def read_rul_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``RUL_FD00x.txt`` file: one non-negative integer per line.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        The RUL values (float64), one per test unit in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file and the 1-based line: empty file, blank line inside the data, more than
        one field on a line, a non-numeric, negative or non-integer value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "RUL_FD001.txt"
    >>> _ = path.write_text("112 \\n98 \\n")
    >>> read_rul_file(path).tolist()
    [112.0, 98.0]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file")
    values = []
    for number, text in _data_lines(path):
        where = f"{path.name}: line {number}"
        tokens = text.split()
        if len(tokens) != 1:
            raise ValueError(f"{where}: expected 1 field (the RUL), got {len(tokens)}")
        value = _parse_number(tokens[0], where, "RUL")
        if value < 0 or value != int(value):
            raise ValueError(f"{where}: RUL must be a non-negative integer, got {tokens[0]!r}")
        values.append(value)
    return np.asarray(values, dtype=np.float64)


def _check_subset(subset: str) -> str:
    if not isinstance(subset, str):
        raise TypeError(f"subset must be a string, got {type(subset).__name__}")
    name = subset.upper()
    if name not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    return name


def subset_file_names(subset: str = "FD001") -> dict[str, str]:
    """Return the file names of a subset, keyed ``"train"``, ``"test"``, ``"rul"``.

    Parameters
    ----------
    subset : str
        One of :data:`SUBSETS` (case-insensitive).

    Returns
    -------
    dict of str to str

    Raises
    ------
    ValueError
        If ``subset`` is not a C-MAPSS subset.

    Examples
    --------
    >>> subset_file_names("fd002")["rul"]
    'RUL_FD002.txt'
    """
    name = _check_subset(subset)
    return {"train": f"train_{name}.txt", "test": f"test_{name}.txt", "rul": f"RUL_{name}.txt"}


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None,
    subset: str = "FD001",
    *,
    environ: dict[str, str] | None = None,
) -> Path:
    """Find the directory holding a subset's three C-MAPSS files.

    Resolution order: an explicit ``data_dir`` is the only place looked at; otherwise the
    directory in the ``GABALAB_CMAPSS_DIR`` environment variable (when set and non-empty) and
    then :data:`DEFAULT_DATA_DIR` (``~/.cache/gabalab/cmapss``), the first holding all three
    files winning.

    Parameters
    ----------
    data_dir : str, os.PathLike or None
        Explicit directory.
    subset : str
        One of :data:`SUBSETS`.
    environ : dict or None
        Environment to read ``GABALAB_CMAPSS_DIR`` from; ``None`` means :data:`os.environ`.

    Returns
    -------
    pathlib.Path
        The directory (user-expanded, not resolved further).

    Raises
    ------
    FileNotFoundError
        Listing every directory looked at, the files missing there, and how to get the data.
    ValueError
        If ``subset`` is not a C-MAPSS subset.

    Examples
    --------
    >>> import tempfile
    >>> folder = simulated_fleet_dir(n_train_units=2, n_test_units=1)
    >>> resolve_data_dir(folder) == folder
    True
    """
    names = subset_file_names(subset)
    env = os.environ if environ is None else environ
    candidates: list[tuple[str, Path]] = []
    if data_dir is not None:
        candidates.append(("data_dir argument", Path(data_dir).expanduser()))
    else:
        from_env = env.get(ENV_VAR, "")
        if from_env:
            candidates.append((f"{ENV_VAR} environment variable", Path(from_env).expanduser()))
        candidates.append(("default directory", DEFAULT_DATA_DIR.expanduser()))
    report = []
    for label, folder in candidates:
        missing = [n for n in names.values() if not (folder / n).is_file()]
        if not missing:
            return folder
        report.append(f"  - {folder} ({label}): missing {', '.join(missing)}")
    if data_dir is None and not env.get(ENV_VAR, ""):
        report.append(f"  ({ENV_VAR} is not set)")
    raise FileNotFoundError(
        f"C-MAPSS subset {_check_subset(subset)} not found. Looked in:\n"
        + "\n".join(report)
        + "\n"
        + DATA_SOURCE_HINT
    )


def load_cmapss(
    subset: str = "FD001",
    data_dir: str | os.PathLike[str] | None = None,
) -> CmapssSubset:
    """Read and cross-check the train, test and RUL files of one subset.

    Parameters
    ----------
    subset : str
        One of :data:`SUBSETS`.
    data_dir : str, os.PathLike or None
        Directory with the files; see :func:`resolve_data_dir` for the search order.

    Returns
    -------
    CmapssSubset

    Raises
    ------
    FileNotFoundError
        If the files are not found (see :func:`resolve_data_dir`).
    ValueError
        For any malformed file (see :func:`read_cmapss_table`), or when the RUL file does not
        hold exactly one value per test unit (message names the RUL file and the line).

    Examples
    --------
    >>> fleet = load_cmapss("FD001", simulated_fleet_dir(n_train_units=3, n_test_units=2))
    >>> fleet.train.n_units, fleet.test.n_units, fleet.rul.shape
    (3, 2, (2,))
    """
    names = subset_file_names(subset)
    folder = resolve_data_dir(data_dir, subset)
    files = {key: folder / name for key, name in names.items()}
    train = read_cmapss_table(files["train"])
    test = read_cmapss_table(files["test"])
    rul = read_rul_file(files["rul"])
    n_test = test.n_units
    if rul.size != n_test:
        line = n_test + 1 if rul.size > n_test else rul.size + 1
        problem = "extra value" if rul.size > n_test else "missing value"
        raise ValueError(
            f"{names['rul']}: line {line}: {problem}: the file has {rul.size} RUL values but "
            f"{names['test']} has {n_test} units"
        )
    return CmapssSubset(_check_subset(subset), train, test, rul, files)


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def _as_float_array(name: str, values: object) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be array-like of real numbers") from None
    check_finite_array(name, array)
    return array


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
    array = _as_float_array("rul", rul)
    if np.any(array < 0):
        raise ValueError(f"rul must be >= 0, got minimum {array.min()}")
    if len(thresholds) != 2:
        raise ValueError(f"thresholds must hold two values, got {len(thresholds)}")
    low = check_real("thresholds[0]", thresholds[0], nonnegative=True)
    high = check_real("thresholds[1]", thresholds[1], nonnegative=True)
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
    array = _as_float_array("rul", rul)
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

    Examples
    --------
    >>> rows = np.zeros((3, 26)); rows[:, 0] = 1; rows[:, 1] = [1, 2, 3]
    >>> train_rows_rul(CmapssTable(rows)).tolist()
    [2.0, 1.0, 0.0]
    """
    return rows_rul_from_end(table, np.zeros(table.n_units))


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
    ValueError
        If ``rul_at_end`` does not have one non-negative finite value per unit.

    Examples
    --------
    >>> rows = np.zeros((2, 26)); rows[:, 0] = 1; rows[:, 1] = [1, 2]
    >>> rows_rul_from_end(CmapssTable(rows), [10]).tolist()
    [11.0, 10.0]
    """
    end = _as_float_array("rul_at_end", rul_at_end).reshape(-1)
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


# --------------------------------------------------------------------------------------------
# Normalisation and windows
# --------------------------------------------------------------------------------------------


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

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape ``(..., n_features)``; returns float64."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.minimum.size:
            raise ValueError(
                f"x must have {self.minimum.size} features in its last axis, got {x.shape[-1]}"
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
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be 2-D with at least one row, got shape {x.shape}")
    check_finite_array("x", x)
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
    return int(sum(max(0, int(n) - window_length + 1) for n in lengths))


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
        Rows of all units, shape ``(n_rows, n_features)``.
    bounds : sequence of (start, stop)
        Row range of each unit (:meth:`CmapssTable.unit_bounds`).
    window_length : int
        Window length, >= 1.

    Returns
    -------
    windows : numpy.ndarray
        Shape ``(n_windows, window_length, n_features)``, units in order, windows in time order.
    end_rows : numpy.ndarray
        int64 index of the last row of each window (its target row).

    Examples
    --------
    >>> w, end = sliding_windows(np.arange(10.0)[:, None], [(0, 4), (4, 10)], window_length=3)
    >>> w.shape, end.tolist()
    ((6, 3, 1), [2, 3, 6, 7, 8, 9])
    """
    window_length = check_int("window_length", window_length, minimum=1)
    features = np.asarray(features)
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
        Rows of all units, shape ``(n_rows, n_features)``.
    bounds : sequence of (start, stop)
        Row range of each unit.
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

    Examples
    --------
    >>> w, end, padded = last_windows(np.arange(5.0)[:, None], [(0, 2), (2, 5)], window_length=3)
    >>> w[:, :, 0].tolist(), end.tolist(), padded
    ([[0.0, 0.0, 1.0], [2.0, 3.0, 4.0]], [1, 4], 1)
    """
    window_length = check_int("window_length", window_length, minimum=1)
    features = np.asarray(features)
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


# --------------------------------------------------------------------------------------------
# Torch dataset and loader
# --------------------------------------------------------------------------------------------


class WindowDataset(Dataset):
    """Windows with their RUL target and health label.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        Windows, shape ``(n, T, n_features)``; stored as float32.
    y_rul : array-like
        Capped RUL target per window (cycles), shape ``(n,)``; stored as float32.
    y_health : array-like or None
        Health label per window, shape ``(n,)``; ``None`` derives it with :func:`health_labels`.

    Raises
    ------
    ValueError
        If lengths disagree, ``x`` is not 3-D, or any value is non-finite.

    Examples
    --------
    >>> ds = WindowDataset(np.zeros((2, 30, 14)), [10.0, 100.0])
    >>> x, y_rul, y_health = ds[1]
    >>> tuple(x.shape), x.dtype, float(y_rul), int(y_health)
    ((30, 14), torch.float32, 100.0, 0)
    """

    def __init__(self, x: object, y_rul: object, y_health: object | None = None) -> None:
        x_array = _as_float_array("x", x)
        if x_array.ndim != 3:
            raise ValueError(f"x must be 3-D (n, T, n_features), got shape {x_array.shape}")
        rul = _as_float_array("y_rul", y_rul).reshape(-1)
        if rul.size != x_array.shape[0]:
            raise ValueError(f"y_rul must hold {x_array.shape[0]} values, got {rul.size}")
        if y_health is None:
            labels = health_labels(rul)
        else:
            labels = np.asarray(y_health).reshape(-1)
            if labels.size != x_array.shape[0]:
                raise ValueError(f"y_health must hold {x_array.shape[0]} values, got {labels.size}")
            if not np.issubdtype(labels.dtype, np.integer):
                raise TypeError(f"y_health must be integer labels, got dtype {labels.dtype}")
        self.x = torch.as_tensor(x_array, dtype=torch.float32)
        self.y_rul = torch.as_tensor(rul, dtype=torch.float32)
        self.y_health = torch.as_tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[index], self.y_rul[index], self.y_health[index]


def make_loader(
    dataset: Dataset,
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
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
        If ``batch_size`` < 1 or ``seed`` < 0.
    TypeError
        If ``dataset`` is not a torch Dataset.

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
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=bool(shuffle),
        drop_last=bool(drop_last),
        generator=generator,
        num_workers=0,
    )


# --------------------------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------------------------


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
    ValueError
        If an argument is invalid or a sensor name is unknown.

    Examples
    --------
    >>> fleet = load_cmapss("FD001", simulated_fleet_dir(n_train_units=3, n_test_units=2))
    >>> prepared = prepare_cmapss(fleet)
    >>> tuple(prepared.test.x.shape)
    (2, 30, 14)
    """
    if not isinstance(data, CmapssSubset):
        raise TypeError(f"data must be a CmapssSubset, got {type(data).__name__}")
    window_length = check_int("window_length", window_length, minimum=1)
    rul_cap = check_real("rul_cap", rul_cap, positive=True)
    sensors = tuple(sensors)
    unknown = [s for s in sensors if s not in COLUMNS]
    if not sensors or unknown:
        raise ValueError(f"sensors must be non-empty names from COLUMNS; unknown: {unknown}")

    train_features = data.train.select(sensors)
    normaliser = fit_minmax(train_features)
    train_scaled = normaliser.transform(train_features)
    test_scaled = normaliser.transform(data.test.select(sensors))

    train_bounds = data.train.unit_bounds()
    x_train, train_end = sliding_windows(train_scaled, train_bounds, window_length)
    y_train = capped_rul(train_rows_rul(data.train)[train_end], rul_cap)
    skipped = sum(1 for a, b in train_bounds if b - a < window_length)

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


# --------------------------------------------------------------------------------------------
# Writing and simulation
# --------------------------------------------------------------------------------------------

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
    values = _as_float_array("rul", rul).reshape(-1)
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
    **kwargs: object,
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
