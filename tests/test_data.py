"""Tests of gabalab.data: reader, data-dir resolution, preparation, simulation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gabalab.constants import HEALTH_THRESHOLDS, INFORMATIVE_SENSORS, RUL_CAP, WINDOW_LENGTH
from gabalab.data import (
    COLUMNS,
    DEFAULT_DATA_DIR,
    ENV_VAR,
    CmapssSubset,
    CmapssTable,
    WindowDataset,
    capped_rul,
    count_windows,
    fit_minmax,
    health_labels,
    last_windows,
    load_cmapss,
    make_loader,
    prepare_cmapss,
    read_cmapss_table,
    read_rul_file,
    resolve_data_dir,
    simulate_fleet,
    simulated_fleet_dir,
    sliding_windows,
    write_cmapss_table,
)

REAL_DIR = os.environ.get(ENV_VAR, "")
needs_real = pytest.mark.skipif(
    not (REAL_DIR and (Path(REAL_DIR) / "train_FD001.txt").is_file()),
    reason=f"real C-MAPSS FD001 files not available: set {ENV_VAR} to their directory",
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small models gain nothing from threads; one thread keeps timings steady on busy CPUs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet")
    simulate_fleet(folder, n_train_units=6, n_test_units=4, seed=7)
    return folder


@pytest.fixture(scope="module")
def fleet(fleet_dir: Path) -> CmapssSubset:
    return load_cmapss("FD001", fleet_dir)


def _row(unit: int, cycle: int, value: str = "0.5") -> str:
    return f"{unit} {cycle} " + " ".join([value] * 24)


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------
# Reader
# ------------------------------------------------------------------------------------------


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
        ([_row(1, 2), _row(1, 1)], 2, "does not increase"),
        ([_row(1, 1), _row(2, 1), _row(1, 2)], 3, "contiguous"),
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


# ------------------------------------------------------------------------------------------
# Finding the data
# ------------------------------------------------------------------------------------------


def test_resolution_order(fleet_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    simulate_fleet(other, 2, 1, seed=0)
    env = {ENV_VAR: str(other)}
    # explicit argument wins over the environment variable
    assert resolve_data_dir(fleet_dir, environ=env) == fleet_dir
    # environment variable used when no argument
    assert resolve_data_dir(None, environ=env) == other
    # default directory used when the variable is unset
    monkeypatch.setattr("gabalab.data.DEFAULT_DATA_DIR", fleet_dir)
    assert resolve_data_dir(None, environ={}) == fleet_dir
    # environment variable pointing at an empty place falls through to the default
    assert resolve_data_dir(None, environ={ENV_VAR: str(tmp_path / "nowhere")}) == fleet_dir


def test_missing_files_message_lists_every_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_default = tmp_path / "default"
    empty_env = tmp_path / "env"
    monkeypatch.setattr("gabalab.data.DEFAULT_DATA_DIR", empty_default)
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
    assert DEFAULT_DATA_DIR == Path("~/.cache/gabalab/cmapss")
    assert "GABALAB_CMAPSS_DIR" in resolve_data_dir.__doc__


# ------------------------------------------------------------------------------------------
# Targets and labels
# ------------------------------------------------------------------------------------------


def test_health_labels_at_threshold_boundaries() -> None:
    low, high = HEALTH_THRESHOLDS
    rul = np.array([0, low - 1e-9, low, low + 1e-9, high - 1e-9, high, high + 1e-9, RUL_CAP])
    assert health_labels(rul).tolist() == [2, 2, 2, 1, 1, 1, 0, 0]
    assert health_labels(rul).dtype == np.int64
    assert health_labels(torch.tensor([25.0, 76.0])).tolist() == [2, 0]
    with pytest.raises(ValueError, match="rul"):
        health_labels([-1.0])
    with pytest.raises(ValueError, match="rul"):
        health_labels([np.nan])


def test_rul_cap(fleet: CmapssSubset) -> None:
    prepared = prepare_cmapss(fleet)
    y = prepared.train.y_rul.numpy()
    assert y.max() == RUL_CAP and y.min() == 0.0
    assert capped_rul([0, 124, 125, 126, 400]).tolist() == [0, 124, 125, 125, 125]
    # target along one unit: cap, then linear down to 0 at failure
    start, stop = fleet.train.unit_bounds()[0]
    n = stop - start - WINDOW_LENGTH + 1
    unit_targets = y[:n]
    expected = np.minimum(np.arange(stop - start - WINDOW_LENGTH, -1, -1), RUL_CAP)
    np.testing.assert_array_equal(unit_targets, expected)
    np.testing.assert_array_equal(prepared.train.y_health.numpy(), health_labels(y))


# ------------------------------------------------------------------------------------------
# Windows and normalisation
# ------------------------------------------------------------------------------------------


def test_window_count_formula(fleet: CmapssSubset) -> None:
    lengths = fleet.train.unit_lengths()
    expected = int(sum(max(0, n - WINDOW_LENGTH + 1) for n in lengths))
    prepared = prepare_cmapss(fleet)
    assert len(prepared.train) == expected == count_windows(lengths)
    assert tuple(prepared.train.x.shape) == (expected, WINDOW_LENGTH, len(INFORMATIVE_SENSORS))
    assert count_windows([5, 29, 30, 31], 30) == 0 + 0 + 1 + 2


def test_sliding_windows_content_and_short_units() -> None:
    features = np.arange(12.0)[:, None]
    windows, end = sliding_windows(features, [(0, 2), (2, 7), (7, 12)], window_length=4)
    assert end.tolist() == [5, 6, 10, 11]
    assert windows[:, :, 0].tolist() == [[2, 3, 4, 5], [3, 4, 5, 6], [7, 8, 9, 10], [8, 9, 10, 11]]


def test_short_units_skipped_in_train_padded_in_test(tmp_path: Path) -> None:
    simulate_fleet(tmp_path, 4, 6, seed=3, min_life=20, max_life=45, min_test_cycles=5)
    fleet = load_cmapss("FD001", tmp_path)
    prepared = prepare_cmapss(fleet)
    train_lengths = fleet.train.unit_lengths()
    test_lengths = fleet.test.unit_lengths()
    assert prepared.n_skipped_train_units == int(np.sum(train_lengths < WINDOW_LENGTH))
    assert prepared.n_padded_test_units == int(np.sum(test_lengths < WINDOW_LENGTH))
    assert prepared.n_padded_test_units > 0 and prepared.n_skipped_train_units > 0
    assert len(prepared.test) == fleet.test.n_units
    # a padded unit repeats its first (normalised) row at the front
    k = int(np.flatnonzero(test_lengths < WINDOW_LENGTH)[0])
    start, stop = fleet.test.unit_bounds()[k]
    rows = prepared.normaliser.transform(fleet.test.select(INFORMATIVE_SENSORS)[start:stop])
    window = prepared.test.x[k].double().numpy()
    pad = WINDOW_LENGTH - (stop - start)
    np.testing.assert_allclose(window[:pad], np.repeat(rows[:1], pad, axis=0), rtol=1e-6)
    np.testing.assert_allclose(window[pad:], rows, rtol=1e-6, atol=1e-6)


def test_last_windows_front_padding() -> None:
    windows, end, padded = last_windows(np.arange(5.0)[:, None], [(0, 2), (2, 5)], 3)
    assert windows[:, :, 0].tolist() == [[0, 0, 1], [2, 3, 4]] and padded == 1


def test_normalisation_fitted_on_train_only(fleet: CmapssSubset) -> None:
    prepared = prepare_cmapss(fleet)
    train_rows = fleet.train.select(INFORMATIVE_SENSORS)
    np.testing.assert_allclose(prepared.normaliser.minimum, train_rows.min(axis=0))
    np.testing.assert_allclose(
        prepared.normaliser.span, train_rows.max(axis=0) - train_rows.min(axis=0)
    )
    x = prepared.train.x.numpy()
    np.testing.assert_allclose(x.min(axis=(0, 1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(x.max(axis=(0, 1)), 1.0, atol=1e-6)
    # changing the test data changes nothing in the fitted normaliser
    shifted = CmapssSubset(
        fleet.name, fleet.train,
        CmapssTable(fleet.test.values + np.r_[0, 0, np.full(24, 1000.0)], fleet.test.columns),
        fleet.rul,
    )
    other = prepare_cmapss(shifted)
    np.testing.assert_array_equal(other.normaliser.minimum, prepared.normaliser.minimum)
    assert float(other.test.x.min()) > 1.0  # test values are not clipped to [0, 1]


def test_constant_feature_does_not_divide_by_zero() -> None:
    norm = fit_minmax(np.array([[1.0, 2.0], [1.0, 4.0]]))
    assert norm.span.tolist() == [1.0, 2.0]
    assert norm.transform(np.array([[1.0, 3.0]])).tolist() == [[0.0, 0.5]]


def test_test_set_is_last_window_with_true_rul(fleet: CmapssSubset) -> None:
    prepared = prepare_cmapss(fleet)
    rows = prepared.normaliser.transform(fleet.test.select(INFORMATIVE_SENSORS))
    for k, (start, stop) in enumerate(fleet.test.unit_bounds()):
        np.testing.assert_allclose(
            prepared.test.x[k].double().numpy(), rows[stop - WINDOW_LENGTH : stop], rtol=1e-6,
            atol=1e-6,
        )
    np.testing.assert_allclose(prepared.test.y_rul.numpy(), np.minimum(fleet.rul, RUL_CAP))
    np.testing.assert_array_equal(prepared.test_rul_uncapped, fleet.rul)


# ------------------------------------------------------------------------------------------
# Torch glue
# ------------------------------------------------------------------------------------------


def test_dataset_item_types(fleet: CmapssSubset) -> None:
    prepared = prepare_cmapss(fleet)
    x, y_rul, y_health = prepared.train[0]
    assert x.dtype == torch.float32 and tuple(x.shape) == (WINDOW_LENGTH, 14)
    assert y_rul.dtype == torch.float32 and y_rul.dim() == 0
    assert y_health.dtype == torch.int64 and y_health.dim() == 0
    with pytest.raises(ValueError, match="y_rul"):
        WindowDataset(np.zeros((2, 3, 4)), [1.0])


def test_loader_seeded_shuffle_without_global_rng() -> None:
    ds = WindowDataset(np.arange(40.0).reshape(10, 2, 2), np.arange(10.0))

    def order(seed: int) -> list[float]:
        return torch.cat([b[1] for b in make_loader(ds, 3, seed=seed)]).tolist()

    state = torch.get_rng_state()
    first = order(5)
    assert torch.equal(state, torch.get_rng_state())
    assert first == order(5) and first != order(6)
    assert sorted(first) == list(range(10))
    loader = make_loader(ds, 4, shuffle=False)
    assert [len(b[0]) for b in loader] == [4, 4, 2]
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(ds, 0)
    with pytest.raises(TypeError, match="dataset"):
        make_loader([1, 2], 1)


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


# ------------------------------------------------------------------------------------------
# Real FD001 (skipped without the files)
# ------------------------------------------------------------------------------------------


@needs_real
def test_real_fd001_counts() -> None:
    fleet = load_cmapss("FD001", REAL_DIR)
    assert len(fleet.train) == 20631 and fleet.train.n_units == 100
    assert len(fleet.test) == 13096 and fleet.test.n_units == 100
    assert fleet.rul.shape == (100,) and fleet.rul[:3].tolist() == [112.0, 98.0, 69.0]
    prepared = prepare_cmapss(fleet)
    assert len(prepared.train) == count_windows(fleet.train.unit_lengths()) == 17731
    assert prepared.n_skipped_train_units == 0 and prepared.n_padded_test_units == 0
    assert np.bincount(prepared.test.y_health.numpy(), minlength=3).tolist() == [57, 24, 19]


@needs_real
def test_real_fd001_constant_sensors_are_the_uninformative_ones() -> None:
    fleet = load_cmapss("FD001", REAL_DIR)
    spreads = {name: float(np.ptp(fleet.train[name])) for name in COLUMNS[5:]}
    for name in INFORMATIVE_SENSORS:
        assert spreads[name] > 0
    assert spreads["s1"] == spreads["s5"] == spreads["s10"] == spreads["s16"] == 0.0
