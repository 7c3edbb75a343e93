"""Read NASA C-MAPSS turbofan files: strict readers that name the file and line of a problem.

The C-MAPSS "Turbofan Engine Degradation Simulation Data Set" (NASA Prognostics Center of
Excellence Data Repository) ships one text file per split and subset: ``train_FD00x.txt``
(run-to-failure trajectories), ``test_FD00x.txt`` (trajectories cut before failure) and
``RUL_FD00x.txt`` (true remaining useful life at the last test cycle of each unit). Every data
row has 26 whitespace-separated numbers: unit, cycle, three operational settings and 21 sensors.

:func:`read_cmapss_table`, :func:`read_rul_file` and :func:`load_cmapss` never drop or coerce
anything; :func:`resolve_data_dir` finds the files (explicit argument, else the
``GABALAB_CMAPSS_DIR`` environment variable, else :data:`DEFAULT_DATA_DIR`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gabalab._checks import as_array, as_list, check_choice, check_path

__all__ = [
    "COLUMNS",
    "SUBSETS",
    "ENV_VAR",
    "DEFAULT_DATA_DIR",
    "DATA_SOURCE_HINT",
    "CmapssTable",
    "CmapssSubset",
    "read_cmapss_table",
    "read_rul_file",
    "subset_file_names",
    "resolve_data_dir",
    "load_cmapss",
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


@dataclass(frozen=True)
class CmapssTable:
    """One C-MAPSS data file as a numeric array with named columns.

    A table built in memory is checked as the reader checks a file: at least one row, every
    value finite, and (when the columns include ``unit`` and ``cycle``) units numbered 1, 2,
    3, ... in order, each in one block, with cycles counting 1, 2, 3, ... within a unit; the
    targets (:func:`gabalab.data.targets.train_rows_rul`) and the windows rely on that order.

    Parameters
    ----------
    values : numpy.ndarray
        Array of shape ``(n_rows, 26)`` of real numbers, in file order; stored as float64.
    columns : tuple of str
        Distinct column names, :data:`COLUMNS` for a file read by :func:`read_cmapss_table`.
    source : str
        Where the rows came from (a file name), used in messages.

    Raises
    ------
    TypeError
        If ``values`` is not a 2-D NumPy array of real numbers, ``columns`` is not a
        sequence of strings or ``source`` is not a string.
    ValueError
        If ``values`` has no row, a column count other than ``len(columns)``, a NaN or
        infinite entry, or units and cycles out of the order above (naming the row); or if
        ``columns`` repeats a name.

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
        columns = self.columns
        if isinstance(columns, (str, bytes)) or not isinstance(columns, (tuple, list)) or not all(
            isinstance(c, str) for c in columns
        ):
            raise TypeError("columns must be a tuple of column names (str), such as COLUMNS")
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ValueError(f"columns names {repeated} more than once")
        if not isinstance(self.source, str):
            raise TypeError(f"source must be a str, got {type(self.source).__name__}")
        values = as_array("values", self.values, ndim=2, finite=False)
        if values.shape[1] != len(columns):
            raise ValueError(
                f"values has {values.shape[1]} columns but columns names {len(columns)}"
            )
        if values.shape[0] == 0:
            raise ValueError(f"values holds no row (shape {values.shape}): a table needs at "
                             "least one")
        finite = np.isfinite(values)
        if not finite.all():
            row, col = (int(i[0]) for i in np.nonzero(~finite))
            raise ValueError(f"values row {row}: column {columns[col]!r} is not finite "
                             f"({values[row, col]}); {int(finite.size - finite.sum())} "
                             "non-finite value(s) in all")
        if "unit" in columns and "cycle" in columns:
            _check_unit_order(values[:, columns.index("unit")],
                              values[:, columns.index("cycle")], lambda i: f"values row {i}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "columns", tuple(columns))

    def __getitem__(self, name: str) -> np.ndarray:
        """Return the column called ``name`` (a view, do not modify)."""
        if not isinstance(name, str):
            raise KeyError(f"name must be a column name (str), got {type(name).__name__}")
        try:
            index = self.columns.index(name)
        except ValueError:
            raise KeyError(f"name {name!r} is not a column; columns are {self.columns}") from None
        return self.values[:, index]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def select(self, names: Sequence[str]) -> np.ndarray:
        """Return the columns ``names`` as a new ``(n_rows, len(names))`` array."""
        names = as_list("names", names)
        if not names:
            raise ValueError("names must list at least one column")
        try:
            columns = [self[name] for name in names]
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        return np.stack(columns, axis=1)

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

    Raises
    ------
    TypeError
        If ``name`` is not a string, ``train`` or ``test`` is not a :class:`CmapssTable`,
        ``rul`` is not numeric or ``files`` is not a dict.
    ValueError
        If ``train`` or ``test`` lacks the ``unit`` or ``cycle`` column, or ``rul`` is not
        1-D with one finite value ``>= 0`` per unit of ``test`` (the RUL file is matched to
        the test units by position).
    """

    name: str
    train: CmapssTable
    test: CmapssTable
    rul: np.ndarray
    files: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        for key in ("train", "test"):
            table = getattr(self, key)
            if not isinstance(table, CmapssTable):
                raise TypeError(f"{key} must be a CmapssTable, got {type(table).__name__}")
            missing = [c for c in ("unit", "cycle") if c not in table.columns]
            if missing:
                raise ValueError(f"{key} has no column {missing}: its rows cannot be told apart "
                                 "by unit and cycle")
        rul = as_array("rul", self.rul, ndim=1)
        n_test = self.test.n_units
        if rul.size != n_test:
            raise ValueError(f"rul holds {rul.size} values but test has {n_test} units: one "
                             "RUL per test unit, in unit order")
        if np.any(rul < 0):
            raise ValueError(f"rul must be >= 0 (cycles), got minimum {rul.min()}")
        if not isinstance(self.files, dict):
            raise TypeError(f"files must be a dict, got {type(self.files).__name__}")
        object.__setattr__(self, "rul", rul)


#: A number as the NASA files write it: optional sign, digits with an optional decimal part
#: (or a bare decimal part), optional exponent. Python's ``float`` accepts more (``1_000``,
#: ``inf``, ``nan``, surrounding text forms) that the format does not have.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_number(token: str, where: str, column: str) -> float:
    if not _NUMBER.fullmatch(token):
        try:
            value = float(token)
        except ValueError:
            raise ValueError(f"{where}: field {column!r} is not numeric: {token!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{where}: field {column!r} is not finite: {token!r}")
        raise ValueError(f"{where}: field {column!r} is not numeric in the C-MAPSS format: "
                         f"{token!r} (plain decimal digits, an optional sign, point and "
                         "exponent only)")
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{where}: field {column!r} is not finite: {token!r}")
    return value


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line_number, text)`` of the data lines; blank lines only allowed at the end."""
    raw = path.read_bytes()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path.name}: line {line}: not ASCII text (byte "
                         f"{raw[exc.start]:#04x})") from None
    # Universal newlines, as open() in text mode reads them.
    return _split_lines(text.replace("\r\n", "\n").replace("\r", "\n"), path.name)


def _check_ascii(text: str, source: str) -> None:
    if not text.isascii():
        index = next(i for i, ch in enumerate(text) if not ch.isascii())
        raise ValueError(f"{source}: line {text.count(chr(10), 0, index) + 1}: not ASCII text "
                         f"(character {text[index]!r})")


def _split_lines(text: str, source: str) -> list[tuple[int, str]]:
    lines = text.split("\n")
    # Trailing blank lines (the final newline, trailing whitespace-only lines) carry no data.
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{source}: line 1: file is empty")
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f"{source}: line {number}: blank line inside the data")
        out.append((number, line))
    return out


class _UnitOrder:
    """The order rules of a C-MAPSS table, checked row by row.

    Units are numbered 1, 2, 3, ... in file order, each unit's rows form one block, and its
    cycles count 1, 2, 3, ... without a gap. The RUL file is matched to the test units by
    position, so a unit out of order or missing would pair every later unit with another
    engine's RUL.
    """

    def __init__(self) -> None:
        self.unit = 0
        self.cycle = 0
        self.seen: set[int] = set()

    def feed(self, unit: float, cycle: float, where: str) -> None:
        for name, value in (("unit", unit), ("cycle", cycle)):
            if value != int(value) or value < 1:
                raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
        unit_id, cycle_no = int(unit), int(cycle)
        if unit_id != self.unit:
            if unit_id in self.seen:
                raise ValueError(
                    f"{where}: unit {unit_id} appears again after other units; "
                    "each unit's rows must form one contiguous block"
                )
            if unit_id != self.unit + 1:
                after = f"after unit {self.unit}" if self.unit else "as the first unit"
                raise ValueError(
                    f"{where}: unit {unit_id} comes {after}: units must be numbered 1, 2, 3, "
                    f"... in file order (expected unit {self.unit + 1}; test units are matched "
                    "to the RUL file by position)"
                )
            if cycle_no != 1:
                raise ValueError(
                    f"{where}: unit {unit_id} starts at cycle {cycle_no}: every unit's cycles "
                    "must start at 1"
                )
            self.seen.add(unit_id)
            self.unit = unit_id
        elif cycle_no <= self.cycle:
            raise ValueError(
                f"{where}: cycle {cycle_no} of unit {unit_id} does not increase strictly "
                f"(previous cycle {self.cycle})"
            )
        elif cycle_no != self.cycle + 1:
            raise ValueError(
                f"{where}: cycle {cycle_no} of unit {unit_id} skips from cycle {self.cycle}: "
                "cycles must count up by one"
            )
        self.cycle = cycle_no


def _check_rows(values: np.ndarray, describe: Callable[[int], str]) -> None:
    """Check the order rules of :class:`_UnitOrder` on rows already in memory.

    ``describe(i)`` names row ``i`` in a message (a file line, or an array row).
    """
    order = _UnitOrder()
    for i, (unit, cycle) in enumerate(values[:, :2]):
        order.feed(float(unit), float(cycle), describe(i))


def _check_unit_order(
    units: np.ndarray, cycles: np.ndarray, describe: Callable[[int], str]
) -> None:
    """The rules of :class:`_UnitOrder` on finite columns in memory, vectorised.

    Only when a rule is broken are the rows walked one by one, for the message naming the
    first row at fault (``describe(i)``).
    """
    n = units.size
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    if (np.array_equal(units[starts], np.arange(1, starts.size + 1))
            and np.array_equal(cycles, np.arange(n) - first + 1)):
        return
    order = _UnitOrder()
    for i, (unit, cycle) in enumerate(zip(units.tolist(), cycles.tolist())):
        order.feed(float(unit), float(cycle), describe(i))
    raise ValueError(f"{describe(0)}: units and cycles break the order rules of the format")


def _parse_table(lines: list[tuple[int, str]], source: str) -> CmapssTable:
    rows = []
    order = _UnitOrder()
    for number, text in lines:
        where = f"{source}: line {number}"
        tokens = text.split()
        if len(tokens) != _N_COLUMNS:
            raise ValueError(
                f"{where}: expected {_N_COLUMNS} whitespace-separated fields, got {len(tokens)}"
            )
        row = [_parse_number(tok, where, col) for tok, col in zip(tokens, COLUMNS)]
        order.feed(row[0], row[1], where)
        rows.append(row)
    return CmapssTable(np.asarray(rows, dtype=np.float64), COLUMNS, source)


def _table_from_text(text: str, source: str) -> CmapssTable:
    """Parse the text of a C-MAPSS data file, with every check of :func:`read_cmapss_table`.

    Parameters
    ----------
    text : str
        The file's contents.
    source : str
        The name used in messages and stored as :attr:`CmapssTable.source`.

    Returns
    -------
    CmapssTable

    Raises
    ------
    TypeError
        If ``text`` or ``source`` is not a string.
    ValueError
        As :func:`read_cmapss_table`, naming ``source`` and the line.

    Examples
    --------
    >>> text = "1 1 " + " ".join(["0.5"] * 24) + "\\n"
    >>> _table_from_text(text, "demo").n_units
    1
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    _check_ascii(text, source)
    return _parse_table(_split_lines(text.replace("\r\n", "\n").replace("\r", "\n"), source),
                        source)


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
    TypeError
        If ``path`` is not a path.
    ValueError
        Naming the file and the 1-based line: empty file, blank line inside the data, a row
        without exactly 26 fields, a field that is not a plain decimal number (digit-group
        underscores, ``nan``, ``inf`` and other forms Python accepts are refused), a unit id
        or cycle that is not a positive integer, units not numbered 1, 2, 3, ... in file
        order, a unit whose rows are not one contiguous block, or cycles that do not count
        1, 2, 3, ... within a unit.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> row = "1 1 " + " ".join(["0.5"] * 24) + "  \\n"
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "train_FD001.txt"
    ...     _ = path.write_text(row)
    ...     read_cmapss_table(path).values.shape
    (1, 26)
    """
    path = _existing_file(path)
    return _parse_table(_data_lines(path), path.name)


def _existing_file(path: object) -> Path:
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file")
    return path


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
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "RUL_FD001.txt"
    ...     _ = path.write_text("112 \\n98 \\n")
    ...     read_rul_file(path).tolist()
    [112.0, 98.0]
    """
    path = _existing_file(path)
    return _parse_rul(_data_lines(path), path.name)


def _rul_from_text(text: str, source: str) -> np.ndarray:
    """Parse the text of a ``RUL_FD00x.txt`` file, with every check of :func:`read_rul_file`.

    Examples
    --------
    >>> _rul_from_text("112 \\n98 \\n", "demo").tolist()
    [112.0, 98.0]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    _check_ascii(text, source)
    return _parse_rul(_split_lines(text.replace("\r\n", "\n").replace("\r", "\n"), source),
                      source)


def _parse_rul(lines: list[tuple[int, str]], source: str) -> np.ndarray:
    values = []
    for number, text in lines:
        where = f"{source}: line {number}"
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
    return check_choice("subset", subset.upper(), SUBSETS)


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
    >>> from gabalab.data import simulated_fleet_files
    >>> with simulated_fleet_files(n_train_units=2,
    ...                            n_test_units=1) as folder:
    ...     resolve_data_dir(folder) == folder
    True
    """
    names = subset_file_names(subset)
    env = os.environ if environ is None else environ
    if not isinstance(env, Mapping):
        raise TypeError(f"environ must be a mapping (or None), got {type(env).__name__}")
    candidates: list[tuple[str, Path]] = []
    if data_dir is not None:
        candidates.append(("data_dir argument", check_path("data_dir", data_dir).expanduser()))
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
    >>> from gabalab.data import simulated_fleet_files
    >>> with simulated_fleet_files(n_train_units=3,
    ...                            n_test_units=2) as folder:
    ...     fleet = load_cmapss("FD001", folder)
    >>> fleet.train.n_units, fleet.test.n_units, fleet.rul.shape
    (3, 2, (2,))
    """
    names = subset_file_names(subset)
    folder = resolve_data_dir(data_dir, subset)
    files = {key: folder / name for key, name in names.items()}
    train = read_cmapss_table(files["train"])
    test = read_cmapss_table(files["test"])
    rul = read_rul_file(files["rul"])
    return _assemble(subset, train, test, rul, files)


def _assemble(
    subset: str, train: CmapssTable, test: CmapssTable, rul: np.ndarray, files: dict[str, Path]
) -> CmapssSubset:
    """Cross-check the RUL values against the test units and build the subset."""
    names = subset_file_names(subset)
    n_test = test.n_units
    if rul.size != n_test:
        line = n_test + 1 if rul.size > n_test else rul.size + 1
        problem = "extra value" if rul.size > n_test else "missing value"
        raise ValueError(
            f"{names['rul']}: line {line}: {problem}: the file has {rul.size} RUL values but "
            f"{names['test']} has {n_test} units"
        )
    return CmapssSubset(_check_subset(subset), train, test, rul, files)
