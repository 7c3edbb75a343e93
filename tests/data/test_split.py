"""The validation split: whole training units, scaling fitted without them, nothing from test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gabalab.data import count_windows, fit_minmax, prepare_cmapss, simulated_fleet
from gabalab.data.split import choose_validation_units, prepare_with_validation, split_units

FLEET = simulated_fleet(n_train_units=12, n_test_units=4, seed=3)


def test_the_choice_is_seeded_sorted_and_sized() -> None:
    one = choose_validation_units(FLEET, fraction=0.25, seed=7)
    assert one == choose_validation_units(FLEET, fraction=0.25, seed=7)
    assert len(one) == 3 and list(one) == sorted(one)
    assert set(one) <= set(FLEET.train.unit_ids.tolist())
    others = {choose_validation_units(FLEET, fraction=0.25, seed=s) for s in range(8)}
    assert len(others) > 1
    assert len(choose_validation_units(FLEET, fraction=0.01)) == 1  # at least one
    assert len(choose_validation_units(FLEET, fraction=0.99)) == 11  # one left to train on


def test_the_split_keeps_whole_units_apart() -> None:
    units = choose_validation_units(FLEET, fraction=0.25, seed=0)
    split = prepare_with_validation(FLEET, units)
    assert split.validation_units == units
    assert set(split.training_units) | set(units) == set(FLEET.train.unit_ids.tolist())
    assert not set(split.training_units) & set(units)
    lengths = FLEET.train.unit_lengths()
    held = [lengths[u - 1] for u in units]
    kept = [lengths[u - 1] for u in split.training_units]
    assert len(split.validation) == count_windows(held)
    assert len(split.prepared.train) == count_windows(kept)
    assert split.prepared.n_train_units == len(kept)


def test_the_scaling_is_fitted_on_the_training_units_only() -> None:
    units = choose_validation_units(FLEET, fraction=0.25, seed=0)
    split = prepare_with_validation(FLEET, units)
    kept, held = split_units(FLEET, units)
    expected = fit_minmax(kept.train.select(split.prepared.sensors))
    np.testing.assert_array_equal(split.prepared.normaliser.minimum, expected.minimum)
    np.testing.assert_array_equal(split.prepared.normaliser.span, expected.span)
    full = prepare_cmapss(FLEET)
    assert not np.array_equal(full.normaliser.minimum, expected.minimum) or not np.array_equal(
        full.normaliser.span, expected.span)
    # the test targets are untouched by the split
    torch.testing.assert_close(split.prepared.test.y_rul, full.test.y_rul)
    assert len(held) == sum(FLEET.train.unit_lengths()[u - 1] for u in units)


def test_validation_targets_are_capped_rul_of_each_window_end() -> None:
    units = (2,)
    split = prepare_with_validation(FLEET, units, window_length=30)
    n = int(FLEET.train.unit_lengths()[1])
    # windows end at cycles 30..n; the RUL at cycle c of a run-to-failure unit is n - c
    expected = np.minimum(n - np.arange(30, n + 1), 125.0)
    np.testing.assert_array_equal(split.validation.y_rul.numpy(), expected)
    assert split.to(torch.float64).validation.dtype == torch.float64
    summary = split.summary()
    assert summary["validation_units"] == [2] and summary["n_validation_windows"] == n - 29


@pytest.mark.parametrize(("units", "error", "match"), [
    ([], ValueError, "at least one"),
    ([1, 1], ValueError, "repeats"),
    ([99], ValueError, r"names \[99\]"),
    (list(range(1, 13)), ValueError, "none is left"),
    ("1", TypeError, "validation_units"),
    ([1.5], TypeError, r"validation_units\[0\]"),
])
def test_bad_unit_lists_are_refused(units, error, match) -> None:
    with pytest.raises(error, match=match):
        prepare_with_validation(FLEET, units)


def test_bad_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        choose_validation_units(FLEET, fraction=1.0)
    with pytest.raises(TypeError, match="data must be a CmapssSubset"):
        choose_validation_units("FD001")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        choose_validation_units(FLEET, seed=-1)
