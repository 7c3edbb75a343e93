"""Scaling, windows, datasets and the seeded loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gabalab.constants import (
    INFORMATIVE_SENSORS,
    RUL_CAP,
    WINDOW_LENGTH,
)
from gabalab.data import (
    CmapssSubset,
    CmapssTable,
    WindowDataset,
    count_windows,
    fit_minmax,
    last_windows,
    make_loader,
    prepare_cmapss,
    simulated_fleet,
    sliding_windows,
)


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


def test_short_units_skipped_in_train_padded_in_test() -> None:
    fleet = simulated_fleet(4, 6, seed=3, min_life=20, max_life=45, min_test_cycles=5)
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
    for k, (_start, stop) in enumerate(fleet.test.unit_bounds()):
        np.testing.assert_allclose(
            prepared.test.x[k].double().numpy(), rows[stop - WINDOW_LENGTH : stop], rtol=1e-6,
            atol=1e-6,
        )
    np.testing.assert_allclose(prepared.test.y_rul.numpy(), np.minimum(fleet.rul, RUL_CAP))
    np.testing.assert_array_equal(prepared.test_rul_uncapped, fleet.rul)


def test_dataset_item_types(fleet: CmapssSubset) -> None:
    prepared = prepare_cmapss(fleet)
    x, y_rul, y_health = prepared.train[0]
    assert x.dtype == torch.float32 and tuple(x.shape) == (WINDOW_LENGTH, 14)
    assert y_rul.dtype == torch.float32 and y_rul.dim() == 0
    assert y_health.dtype == torch.int64 and y_health.dim() == 0
    with pytest.raises(ValueError, match="y_rul"):
        WindowDataset(np.zeros((2, 3, 4)), [1.0])


def test_a_float64_copy_is_exact_and_shares_the_rest(fleet: CmapssSubset) -> None:
    prepared = prepare_cmapss(fleet)
    wide = prepared.to(torch.float64)
    for narrow, converted in ((prepared.train, wide.train), (prepared.test, wide.test)):
        assert converted.dtype == torch.float64 and converted.y_rul.dtype == torch.float64
        assert torch.equal(converted.x.float(), narrow.x)  # float32 -> float64 is exact
        assert torch.equal(converted.y_rul.float(), narrow.y_rul)
        assert torch.equal(converted.y_health, narrow.y_health)
        assert narrow.dtype == torch.float32  # the original is left as it was
    assert wide.normaliser is prepared.normaliser and wide.summary() == prepared.summary()
    assert prepared.train.to("float32") is prepared.train
    assert WindowDataset(np.zeros((2, 3, 4)), [1.0, 2.0], dtype="float64").x.dtype == \
        torch.float64


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
