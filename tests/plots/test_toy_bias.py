"""The 12.4 figures: toy trajectories and the cost of the fixed point."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gabalab.plots import toy_bias as toy_plots
from gabalab.toy import simulate_sgd


def test_trajectory_figure_labels_diverging_runs() -> None:
    runs = [simulate_sgd(10.0, 0.1, 50), simulate_sgd(10.0, 0.3, 50)]
    fig = toy_plots.plot_toy_trajectories(runs)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["sgd, rho=10, lr=0.1", "sgd, rho=10, lr=0.3  (diverges)"]
    # The loss axes are scaled to the bounded run, not blown up by the diverging one.
    assert fig.axes[1].get_ylim()[1] < 100
    plt.close(fig)


def test_trajectory_figure_rejects_bad_input() -> None:
    run = simulate_sgd(10.0, 0.1, 5)
    with pytest.raises(ValueError, match="trajectories"):
        toy_plots.plot_toy_trajectories([])
    with pytest.raises(TypeError, match="trajectories"):
        toy_plots.plot_toy_trajectories([run.theta])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="labels"):
        toy_plots.plot_toy_trajectories([run], labels=["a", "b"])
    with pytest.raises(ValueError, match="theta_limits"):
        toy_plots.plot_toy_trajectories([run], theta_limits=(1.0, -1.0))


def test_fixed_point_figure_draws_the_closed_form() -> None:
    fig = toy_plots.plot_fixed_point_costs([1.0, 3.0, 99.0])
    x, y = fig.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(y, [0.0, 0.5, 0.98])
    quiet = fig.axes[1].get_lines()[1].get_ydata()
    np.testing.assert_allclose(quiet, [0.5, 1.125, 2 * 99**2 / 100**2])
    assert math.isclose(fig.axes[1].get_lines()[2].get_ydata()[0], 0.5)
    plt.close(fig)
    with pytest.raises(ValueError, match="rhos"):
        toy_plots.plot_fixed_point_costs([1.0, -2.0])
    with pytest.raises(ValueError, match="rhos"):
        toy_plots.plot_fixed_point_costs([])
