"""Both C-MAPSS file formats, malformed at random: every defect is named with its file and line.

A property-based suite over the readers and writers of :mod:`gabalab.data`. Valid files of a
small simulated fleet are broken one defect at a time (a token Python's ``float`` accepts but
the format does not, a missing or extra field, a line deleted, duplicated or swapped, a unit
renumbered, a cycle skipped, a blank line, a non-ASCII byte, an RUL value out of place), and
each reader must raise :class:`ValueError` naming the file and the line of the defect. The
writers are held to the reader's rules: whatever they write reads back, and a table the
reader would refuse is refused before a byte is written.

Set ``GABALAB_BAD_INPUT_COUNTS`` to a file name to get the number of inputs tried (the counts
of the argument suite go to the same file with ``.api`` inserted before the suffix).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gabalab.data import (
    COLUMNS,
    load_cmapss,
    read_cmapss_table,
    read_rul_file,
    simulate_fleet,
    write_cmapss_table,
    write_rul_file,
)
from gabalab.data.fleet import _format_row

EXAMPLES = 60
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))
COUNTS: Counter[str] = Counter()

#: Tokens that Python's ``float`` reads (or that look like numbers) but the format does not
#: have, and tokens that are not numbers at all.
BAD_TOKENS = ["1_000", "0_5", "nan", "NaN", "inf", "-inf", "Infinity", "0x1f", "1e", "1.2.3",
              "--1", "+", ".", "-", "1,5", "abc", "1e5e", "e5", "1d3", "0b1", "1j", "١",
              "½", "²"]


@pytest.fixture(scope="module")
def fleet_text(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad-files")
    files = simulate_fleet(folder, n_train_units=3, n_test_units=3, seed=5, min_life=4,
                           max_life=7, min_test_cycles=2)
    return {key: path.read_text(encoding="ascii") for key, path in files.items()}


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    out = os.environ.get("GABALAB_BAD_INPUT_COUNTS")
    if out:
        stem, dot, suffix = out.rpartition(".")
        path = f"{stem}.files.{suffix}" if dot else f"{out}.files"
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(COUNTS.items())), handle, indent=1)


def _units(lines: list[str]) -> list[tuple[int, int]]:
    return [(int(line.split()[0]), int(line.split()[1])) for line in lines]


def _mutate_table(lines: list[str], data: st.DataObject) -> tuple[list[str], int]:
    """Break one line of a valid table; return the lines and the 1-based line to be named."""
    ids = _units(lines)
    last_of_unit = [i == len(ids) - 1 or ids[i + 1][0] != ids[i][0] for i in range(len(ids))]
    kind = data.draw(st.sampled_from(
        ["token", "unit_or_cycle", "fields", "delete", "duplicate", "swap", "blank",
         "non_ascii"]), label="kind")
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    out = list(lines)
    if kind == "token":
        j = data.draw(st.integers(0, len(COLUMNS) - 1), label="field")
        tokens = out[i].split()
        tokens[j] = data.draw(st.sampled_from(BAD_TOKENS), label="token")
        out[i] = " ".join(tokens)
        return out, i + 1
    if kind == "unit_or_cycle":
        j = data.draw(st.sampled_from([0, 1]), label="field")
        tokens = out[i].split()
        value = int(tokens[j])
        new = data.draw(st.sampled_from([value + 1, value - 1, value + 2, 0, -value]),
                        label="value")
        tokens[j] = str(new)
        out[i] = " ".join(tokens)
        return out, i + 1
    if kind == "fields":
        tokens = out[i].split()
        if data.draw(st.booleans(), label="extra"):
            tokens.append("0.5")
        else:
            del tokens[data.draw(st.integers(0, len(tokens) - 1), label="field")]
        out[i] = " ".join(tokens)
        return out, i + 1
    if kind == "delete":
        # deleting the last row of a unit leaves a valid, shorter unit
        assume(not last_of_unit[i])
        del out[i]
        return out, i + 1
    if kind == "duplicate":
        out.insert(i + 1, out[i])
        return out, i + 2
    if kind == "swap":
        assume(not last_of_unit[i])
        out[i], out[i + 1] = out[i + 1], out[i]
        return out, i + 1
    if kind == "blank":
        assume(i > 0)
        out.insert(i, data.draw(st.sampled_from(["", "   ", "\t"]), label="blank"))
        return out, i + 1
    where = data.draw(st.integers(0, len(out[i])), label="at")
    out[i] = out[i][:where] + data.draw(st.sampled_from(["\u00e9", "\u2009", "\x85", "\u0661"]),
                                        label="char") + out[i][where:]
    return out, i + 1


@SETTINGS
@given(data=st.data())
def test_every_defect_of_a_table_is_named_with_its_line(
    fleet_text: dict[str, str], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    part = data.draw(st.sampled_from(["train", "test"]), label="file")
    lines = fleet_text[part].rstrip("\n").split("\n")
    broken, line = _mutate_table(lines, data)
    ending = data.draw(st.sampled_from(["\n", "\r\n"]), label="newline")
    name = f"{part}_FD001.txt"
    path = tmp_path_factory.mktemp("table") / name
    path.write_bytes(ending.join(broken).encode("utf-8") + ending.encode())
    COUNTS["gabalab.data.cmapss (data files)"] += 1
    with pytest.raises(ValueError) as info:
        read_cmapss_table(path)
    assert str(info.value).startswith(f"{name}: line {line}: "), str(info.value)


def _mutate_rul(lines: list[str], data: st.DataObject) -> tuple[list[str], int]:
    kind = data.draw(st.sampled_from(["token", "value", "fields", "blank", "non_ascii"]),
                     label="kind")
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    out = list(lines)
    if kind == "token":
        out[i] = data.draw(st.sampled_from(BAD_TOKENS), label="token")
    elif kind == "value":
        out[i] = data.draw(st.sampled_from(["-1", "2.5", "-0.5", "1e-3", "3.25"]), label="value")
    elif kind == "fields":
        out[i] = out[i].strip() + " " + data.draw(st.sampled_from(["3", "x", "0"]), label="add")
    elif kind == "blank":
        assume(i > 0)
        out.insert(i, "")
    else:
        out[i] = out[i] + "\u00e9"
    return out, i + 1


@SETTINGS
@given(data=st.data())
def test_every_defect_of_an_rul_file_is_named_with_its_line(
    fleet_text: dict[str, str], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    lines = fleet_text["rul"].rstrip("\n").split("\n")
    broken, line = _mutate_rul(lines, data)
    path = tmp_path_factory.mktemp("rul") / "RUL_FD001.txt"
    path.write_bytes(("\n".join(broken) + "\n").encode("utf-8"))
    COUNTS["gabalab.data.cmapss (RUL files)"] += 1
    with pytest.raises(ValueError) as info:
        read_rul_file(path)
    assert str(info.value).startswith(f"RUL_FD001.txt: line {line}: "), str(info.value)


@SETTINGS
@given(extra=st.integers(-2, 2).filter(lambda n: n != 0))
def test_an_rul_file_that_does_not_match_the_test_units_is_named(
    fleet_text: dict[str, str], tmp_path_factory: pytest.TempPathFactory, extra: int
) -> None:
    folder = tmp_path_factory.mktemp("subset")
    lines = fleet_text["rul"].rstrip("\n").split("\n")
    n_units = len(lines)
    lines = lines[:n_units + extra] if extra < 0 else lines + ["7 "] * extra
    (folder / "RUL_FD001.txt").write_text("\n".join(lines) + "\n")
    for part in ("train", "test"):
        (folder / f"{part}_FD001.txt").write_text(fleet_text[part])
    COUNTS["gabalab.data.cmapss (RUL files)"] += 1
    with pytest.raises(ValueError) as info:
        load_cmapss("FD001", folder)
    line = n_units + 1 if extra > 0 else n_units + extra + 1
    assert str(info.value).startswith(f"RUL_FD001.txt: line {line}: "), str(info.value)


# ---------------------------------------------------------------------- the writers


@st.composite
def tables(draw: st.DrawFn) -> np.ndarray:
    """Valid tables: units 1..n, cycles 1..length, values of the sizes the sensors have."""
    lengths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    rows = []
    for unit, length in enumerate(lengths, start=1):
        for cycle in range(1, length + 1):
            values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                                   min_size=24, max_size=24))
            rows.append([unit, cycle, *values])
    return np.asarray(rows, dtype=np.float64)


@SETTINGS
@given(values=tables())
def test_what_the_writer_writes_reads_back(
    tmp_path_factory: pytest.TempPathFactory, values: np.ndarray
) -> None:
    path = tmp_path_factory.mktemp("write") / "train_FD001.txt"
    write_cmapss_table(path, values)
    COUNTS["gabalab.data.fleet (writers)"] += 1
    table = read_cmapss_table(path)
    expected = np.array([[float(tok) for tok in _format_row(row).split()] for row in values])
    assert np.array_equal(table.values, expected)


@SETTINGS
@given(values=tables(), data=st.data())
def test_the_writer_refuses_what_the_reader_would_refuse(
    tmp_path_factory: pytest.TempPathFactory, values: np.ndarray, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(values) - 1), label="row")
    j = data.draw(st.sampled_from([0, 1]), label="column")
    shift = data.draw(st.sampled_from([-1.0, 1.0, 2.0, 0.5, -0.5]), label="shift")
    broken = values.copy()
    broken[i, j] += shift
    path = tmp_path_factory.mktemp("refuse") / "train_FD001.txt"
    COUNTS["gabalab.data.fleet (writers)"] += 1
    try:
        write_cmapss_table(path, broken)
    except ValueError as err:
        assert str(err).startswith("values row "), str(err)
        assert not path.exists()
        return
    # Some shifts leave a valid table (the last row of a unit moved to a new unit 1 above,
    # say); then the file must read back.
    read_cmapss_table(path)


@SETTINGS
@given(rul=st.lists(st.integers(0, 10**6), min_size=1, max_size=5),
       bad=st.sampled_from([-1.0, 0.5, np.nan, np.inf]), at=st.integers(0, 4))
def test_the_rul_writer_round_trips_and_refuses(
    tmp_path_factory: pytest.TempPathFactory, rul: list[int], bad: float, at: int
) -> None:
    folder = tmp_path_factory.mktemp("rul-write")
    COUNTS["gabalab.data.fleet (writers)"] += 2
    assert read_rul_file(write_rul_file(folder / "RUL_FD001.txt", rul)).tolist() == rul
    broken = np.asarray(rul, dtype=np.float64)
    broken[min(at, broken.size - 1)] = bad
    with pytest.raises(ValueError, match="^rul "):
        write_rul_file(folder / "RUL_FD002.txt", broken)
    assert not (folder / "RUL_FD002.txt").exists()


def test_the_real_fd001_files_obey_the_rules(real_fd001: Path) -> None:
    fleet = load_cmapss("FD001", real_fd001)
    assert fleet.train.n_units == 100 and fleet.test.n_units == 100 and fleet.rul.size == 100
