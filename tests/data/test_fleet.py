"""The writers and the simulated fleet: byte-for-byte round trips, seeds, trends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gabalab.data import (
    CmapssSubset,
    load_cmapss,
    prepare_cmapss,
    read_cmapss_table,
    simulate_fleet,
    simulated_fleet_dir,
    write_cmapss_table,
)


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


def test_simulated_fleet_dir_is_readable(tmp_path: Path) -> None:
    folder = simulated_fleet_dir(n_train_units=2, n_test_units=2, seed=4, parent=tmp_path)
    assert folder.parent == tmp_path and folder.name.startswith("gabalab-cmapss-")
    prepared = prepare_cmapss(load_cmapss("FD001", folder))
    assert len(prepared.test) == 2 and len(prepared.train) > 0
