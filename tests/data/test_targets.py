"""RUL targets, the cap and the health labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gabalab.constants import (
    HEALTH_THRESHOLDS,
    RUL_CAP,
    WINDOW_LENGTH,
)
from gabalab.data import (
    CmapssSubset,
    capped_rul,
    health_labels,
    prepare_cmapss,
)


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
