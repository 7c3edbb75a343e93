"""The C-MAPSS readers: every malformed file is reported with its name and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gabalab.constants import (
    INFORMATIVE_SENSORS,
)
from gabalab.data import (
    COLUMNS,
    DEFAULT_DATA_DIR,
    ENV_VAR,
    CmapssSubset,
    count_windows,
    load_cmapss,
    prepare_cmapss,
    read_cmapss_table,
    read_rul_file,
    resolve_data_dir,
    simulate_fleet,
)


def _row(unit: int, cycle: int, value: str = "0.5") -> str:
    return f"{unit} {cycle} " + " ".join([value] * 24)


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_on_simulated_files(fleet: CmapssSubset, fleet_dir: Path) -> None:
    assert fleet.train.columns == COLUMNS and len(COLUMNS) == 26
    assert fleet.train.n_units == 6 and fleet.test.n_units == 4
    assert fleet.rul.shape == (4,)
    assert fleet.train.unit_ids.tolist() == [1, 2, 3, 4, 5, 6]
    lengths = fleet.train.unit_lengths()
    assert np.all((lengths >= 120) & (lengths <= 250))
    # cycles run 1..n inside each unit; training units run to failure
    for start, stop in fleet.train.unit_bounds():
        assert fleet.train["cycle"][start:stop].tolist() == list(range(1, stop - start + 1))
    # the seven non-informative sensors are constant
    for name in set(COLUMNS[5:]) - set(INFORMATIVE_SENSORS):
        assert np.ptp(fleet.train[name]) == 0.0
    assert set(fleet.files) == {"train", "test", "rul"}


def test_trailing_blanks_and_final_blank_lines_accepted(tmp_path: Path) -> None:
    path = tmp_path / "train_FD001.txt"
    path.write_text(_row(1, 1) + "   \n" + _row(1, 2) + "\t \n\n  \n")
    table = read_cmapss_table(path)
    assert table.values.shape == (2, 26)


@pytest.mark.parametrize(
    ("lines", "line_number", "fragment"),
    [
        ([_row(1, 1), "1 2 0.5 0.5"], 2, "expected 26"),
        ([_row(1, 1), _row(1, 2) + " 7.0"], 2, "expected 26"),
        ([_row(1, 1), _row(1, 2), _row(1, 3, value="abc")], 3, "not numeric"),
        ([_row(1, 1), _row(1, 2, value="nan")], 2, "not finite"),
        ([_row(1, 1), _row(1, 1)], 2, "does not increase"),
        ([_row(1, 2), _row(1, 1)], 1, "starts at cycle 2"),
        ([_row(1, 1), _row(1, 3)], 2, "skips from cycle 1"),
        ([_row(2, 1), _row(2, 2)], 1, "unit 2 comes as the first unit"),
        ([_row(1, 1), _row(3, 1)], 2, "unit 3 comes after unit 1"),
        ([_row(1, 1), _row(1, 2, value="1_0")], 2, "not numeric"),
        ([_row(1, 1), _row(1, 2, value="infinity")], 2, "not finite"),
        ([_row(1, 1), _row(1, 2, value="0x1")], 2, "not numeric"),
        ([_row(1, 1), _row(2, 1), _row(1, 2)], 3, "contiguous"),
        ([_row(1, 1), _row(2, 1), _row(2, 2), _row(1, 1)], 4, "contiguous"),
        ([_row(1, 1), "1.5 2 " + " ".join(["0"] * 24)], 2, "positive integer"),
        ([_row(1, 1), "", _row(1, 2)], 2, "blank line"),
    ],
)
def test_bad_table_names_file_and_line(
    tmp_path: Path, lines: list[str], line_number: int, fragment: str
) -> None:
    path = _write(tmp_path, "train_FD003.txt", lines)
    with pytest.raises(ValueError) as info:
        read_cmapss_table(path)
    message = str(info.value)
    assert "train_FD003.txt" in message
    assert f"line {line_number}:" in message
    assert fragment in message


def test_empty_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "test_FD002.txt"
    path.write_text("  \n\n")
    with pytest.raises(ValueError, match=r"test_FD002\.txt: line 1: file is empty"):
        read_cmapss_table(path)
    rul = tmp_path / "RUL_FD002.txt"
    rul.write_text("")
    with pytest.raises(ValueError, match=r"RUL_FD002\.txt: line 1: file is empty"):
        read_rul_file(rul)


@pytest.mark.parametrize(
    ("text", "line_number", "fragment"),
    [
        ("10 \n12 3\n", 2, "expected 1 field"),
        ("10\nx\n", 2, "not numeric"),
        ("10\n-1\n", 2, "non-negative integer"),
        ("10\n2.5\n", 2, "non-negative integer"),
        ("10\n1_000\n", 2, "not numeric"),
        ("10\nnan\n", 2, "not finite"),
    ],
)
def test_bad_rul_file(tmp_path: Path, text: str, line_number: int, fragment: str) -> None:
    path = tmp_path / "RUL_FD004.txt"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_rul_file(path)
    assert f"RUL_FD004.txt: line {line_number}:" in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("n_values", "line_number", "problem"), [(3, 4, "missing"), (5, 5, "extra")]
)
def test_rul_length_must_match_test_units(
    fleet_dir: Path, tmp_path: Path, n_values: int, line_number: int, problem: str
) -> None:
    for name in ("train_FD001.txt", "test_FD001.txt"):
        (tmp_path / name).write_bytes((fleet_dir / name).read_bytes())
    (tmp_path / "RUL_FD001.txt").write_text("".join(f"{v} \n" for v in range(10, 10 + n_values)))
    with pytest.raises(ValueError) as info:
        load_cmapss("FD001", tmp_path)
    message = str(info.value)
    assert f"RUL_FD001.txt: line {line_number}:" in message
    assert problem in message and "4 units" in message


def test_any_subset_name(tmp_path: Path) -> None:
    simulate_fleet(tmp_path, 2, 2, seed=0, subset="FD004")
    fleet = load_cmapss("fd004", tmp_path)
    assert fleet.name == "FD004" and fleet.files["rul"].name == "RUL_FD004.txt"
    with pytest.raises(ValueError, match="subset"):
        load_cmapss("FD005", tmp_path)


def test_resolution_order(fleet_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    simulate_fleet(other, 2, 1, seed=0)
    env = {ENV_VAR: str(other)}
    # explicit argument wins over the environment variable
    assert resolve_data_dir(fleet_dir, environ=env) == fleet_dir
    # environment variable used when no argument
    assert resolve_data_dir(None, environ=env) == other
    # default directory used when the variable is unset
    monkeypatch.setattr("gabalab.data.cmapss.DEFAULT_DATA_DIR", fleet_dir)
    assert resolve_data_dir(None, environ={}) == fleet_dir
    # environment variable pointing at an empty place falls through to the default
    assert resolve_data_dir(None, environ={ENV_VAR: str(tmp_path / "nowhere")}) == fleet_dir


def test_missing_files_message_lists_every_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_default = tmp_path / "default"
    empty_env = tmp_path / "env"
    monkeypatch.setattr("gabalab.data.cmapss.DEFAULT_DATA_DIR", empty_default)
    with pytest.raises(FileNotFoundError) as info:
        resolve_data_dir(None, "FD002", environ={ENV_VAR: str(empty_env)})
    message = str(info.value)
    assert str(empty_env) in message and str(empty_default) in message
    assert "train_FD002.txt" in message and "RUL_FD002.txt" in message
    assert "NASA" in message and "Turbofan Engine Degradation Simulation" in message
    # an explicit directory is the only place looked at
    with pytest.raises(FileNotFoundError) as info:
        resolve_data_dir(tmp_path / "explicit", environ={ENV_VAR: str(empty_env)})
    assert str(tmp_path / "explicit") in str(info.value)
    assert str(empty_env) not in str(info.value)
    # variable unset: the message says so
    with pytest.raises(FileNotFoundError, match=f"{ENV_VAR} is not set"):
        resolve_data_dir(None, environ={})


def test_default_directory_is_documented() -> None:
    assert Path("~/.cache/gabalab/cmapss") == DEFAULT_DATA_DIR
    assert "GABALAB_CMAPSS_DIR" in resolve_data_dir.__doc__


def test_real_fd001_counts(real_fd001: Path) -> None:
    fleet = load_cmapss("FD001", real_fd001)
    assert len(fleet.train) == 20631 and fleet.train.n_units == 100
    assert len(fleet.test) == 13096 and fleet.test.n_units == 100
    assert fleet.rul.shape == (100,) and fleet.rul[:3].tolist() == [112.0, 98.0, 69.0]
    prepared = prepare_cmapss(fleet)
    assert len(prepared.train) == count_windows(fleet.train.unit_lengths()) == 17731
    assert prepared.n_skipped_train_units == 0 and prepared.n_padded_test_units == 0
    assert np.bincount(prepared.test.y_health.numpy(), minlength=3).tolist() == [57, 24, 19]


def test_real_fd001_constant_sensors_are_the_uninformative_ones(real_fd001: Path) -> None:
    fleet = load_cmapss("FD001", real_fd001)
    spreads = {name: float(np.ptp(fleet.train[name])) for name in COLUMNS[5:]}
    for name in INFORMATIVE_SENSORS:
        assert spreads[name] > 0
    assert spreads["s1"] == spreads["s5"] == spreads["s10"] == spreads["s16"] == 0.0
