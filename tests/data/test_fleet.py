"""The writers and the simulated fleet: byte-for-byte round trips, seeds, trends."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from gabalab.data import (
    CmapssSubset,
    load_cmapss,
    prepare_cmapss,
    read_cmapss_table,
    simulate_fleet,
    simulated_fleet,
    simulated_fleet_files,
    write_cmapss_table,
    write_rul_file,
)
from tests.script_failures import NO_SPACE, disk_full_in, listing


def test_simulated_files_round_trip_byte_for_byte(fleet_dir: Path, tmp_path: Path) -> None:
    original = fleet_dir / "train_FD001.txt"
    table = read_cmapss_table(original)
    copy = write_cmapss_table(tmp_path / "copy.txt", table.values)
    assert copy.read_bytes() == original.read_bytes()
    first = original.read_text().splitlines()[0]
    assert first.endswith("  ") and len(first.split()) == 26


def test_simulation_is_deterministic_and_seed_dependent(tmp_path: Path) -> None:
    a = simulate_fleet(tmp_path / "a", 3, 2, seed=1)
    b = simulate_fleet(tmp_path / "b", 3, 2, seed=1)
    c = simulate_fleet(tmp_path / "c", 3, 2, seed=2)
    for key in ("train", "test", "rul"):
        assert a[key].read_bytes() == b[key].read_bytes()
    assert a["train"].read_bytes() != c["train"].read_bytes()


def test_simulated_sensors_trend_with_degradation(fleet: CmapssSubset) -> None:
    # s4 rises and s7 falls toward failure, as in FD001
    early, late = [], []
    for start, stop in fleet.train.unit_bounds():
        early.append(fleet.train["s4"][start : start + 20].mean())
        late.append(fleet.train["s4"][stop - 20 : stop].mean())
    assert np.all(np.array(late) > np.array(early))
    s7 = fleet.train["s7"]
    bounds = fleet.train.unit_bounds()
    assert all(s7[b - 20 : b].mean() < s7[a : a + 20].mean() for a, b in bounds)


def test_simulate_fleet_argument_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_train_units"):
        simulate_fleet(tmp_path, n_train_units=0)
    with pytest.raises(ValueError, match="max_life"):
        simulate_fleet(tmp_path, min_life=50, max_life=40)
    with pytest.raises(TypeError, match="seed"):
        simulate_fleet(tmp_path, seed=1.5)


def test_simulated_fleet_files_are_removed_after_the_block(tmp_path: Path) -> None:
    with simulated_fleet_files(n_train_units=2, n_test_units=2, seed=4, parent=tmp_path) as folder:
        assert folder.parent == tmp_path and folder.name.startswith("gabalab-cmapss-")
        prepared = prepare_cmapss(load_cmapss("FD001", folder))
        assert len(prepared.test) == 2 and len(prepared.train) > 0
    assert not folder.exists() and list(tmp_path.iterdir()) == []


def test_simulated_fleet_files_are_removed_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="inside"), simulated_fleet_files(2, 1,
                                                                         parent=tmp_path):
        raise RuntimeError("inside")
    with pytest.raises(ValueError, match="n_test_units"), simulated_fleet_files(2, 0,
                                                                              parent=tmp_path):
        pass  # pragma: no cover - never entered
    assert list(tmp_path.iterdir()) == []


def test_in_memory_fleet_equals_the_files_read_back(tmp_path: Path) -> None:
    options = dict(min_life=40, max_life=60, min_test_cycles=5, noise=0.5)
    simulate_fleet(tmp_path, 3, 4, seed=9, subset="FD002", **options)
    from_files = load_cmapss("FD002", tmp_path)
    in_memory = simulated_fleet(3, 4, seed=9, subset="FD002", **options)
    assert in_memory.name == from_files.name == "FD002" and in_memory.files == {}
    for part in ("train", "test"):
        a, b = getattr(in_memory, part), getattr(from_files, part)
        assert np.array_equal(a.values, b.values) and a.source == b.source
    assert np.array_equal(in_memory.rul, from_files.rul)


@pytest.mark.parametrize(
    ("column", "value", "row", "fragment"),
    [
        (0, 2.0, 0, "unit 2 comes as the first unit"),
        (1, 3.0, 1, "skips from cycle 1"),
        (1, 1.0, 1, "does not increase"),
        (0, 1.5, 1, "positive integer"),
        (5, np.nan, 2, "non-finite"),
    ],
)
def test_writer_refuses_rows_the_reader_would_refuse(
    tmp_path: Path, column: int, value: float, row: int, fragment: str
) -> None:
    values = np.ones((3, 26))
    values[:, 1] = [1, 2, 3]
    values[row, column] = value
    path = tmp_path / "t.txt"
    with pytest.raises(ValueError, match="values") as info:
        write_cmapss_table(path, values)
    assert fragment in str(info.value)
    assert not path.exists()


def test_rul_writer_refuses_a_2d_array(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rul must be 1-D"):
        write_rul_file(tmp_path / "RUL.txt", [[3, 4], [5, 6]])


@pytest.mark.parametrize("writer", ["table", "rul"])
def test_a_write_failing_midway_leaves_the_old_file(
    fleet_dir: Path, tmp_path: Path, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = read_cmapss_table(fleet_dir / "train_FD001.txt").values
    path = tmp_path / ("train_FD001.txt" if writer == "table" else "RUL_FD001.txt")

    def write() -> Path:
        if writer == "table":
            return write_cmapss_table(path, table)
        return write_rul_file(path, np.arange(1, 200))

    if writer == "table":  # the earlier, shorter file
        write_cmapss_table(path, table[:3])
    else:
        write_rul_file(path, [7, 8])
    before = listing(tmp_path)
    disk_full_in(monkeypatch, tmp_path)
    with pytest.raises(OSError, match=NO_SPACE):
        write()
    monkeypatch.undo()
    assert listing(tmp_path) == before
    assert write().stat().st_size > len(before[path.name])


def test_writers_create_missing_folders_and_keep_permissions(tmp_path: Path) -> None:
    path = write_rul_file(tmp_path / "new" / "RUL.txt", [3, 12])
    assert path.read_text() == "3 \n12 \n"
    path.chmod(0o640)
    write_rul_file(path, [4])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "4 \n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["RUL.txt"]
