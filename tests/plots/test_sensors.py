"""The cheaper-sensors figure: the weight series and their quotients."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from gabalab.plots.sensors import plot_sensor_weights


def test_plot_sensor_weights_draws_every_series() -> None:
    series = {"exact_w": [0.1, 0.2, 0.4], "rep_w": [0.2, 0.2, 0.2],
              "held_2_w": [0.1, 0.1, 0.4], "exact_norms": [[1.0, 2.0]] * 3}
    fig = plot_sensor_weights(series)
    assert isinstance(fig, Figure)
    left, right = fig.axes
    assert len(left.lines) == 3 and left.get_yscale() == "log"
    np.testing.assert_allclose(right.lines[0].get_ydata(), [2.0, 1.0, 0.5])
    np.testing.assert_allclose(right.lines[1].get_ydata(), [1.0, 0.5, 1.0])
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "exact", "representation", "held, N = 2"]


@pytest.mark.parametrize(
    "series, message",
    [
        ({"rep_w": [0.1]}, "reference 'exact_w'"),
        ({"exact_w": [0.1]}, "at least one weight series"),
        ({"exact_w": [0.1, 0.2], "rep_w": [0.1]}, "one value per step"),
        ({"exact_w": [0.1], "rep_w": [0.0]}, r"series\['rep_w'\] must hold positive"),
    ],
)
def test_plot_sensor_weights_validates(series, message) -> None:
    with pytest.raises(ValueError, match=message):
        plot_sensor_weights(series)
