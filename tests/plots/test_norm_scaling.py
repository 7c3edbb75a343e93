"""The 12.1 figure: norms against the parameter count."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from gabalab import norms
from gabalab.plots import norm_scaling as norm_plots


def test_figure_draws_every_setting() -> None:
    fig = norm_plots.plot_norm_scaling([10, 100, 1000], scale_hs_values=(0.002, 1.0))
    left, right = fig.axes
    assert len(left.get_lines()) == 4  # two norms and two sqrt(N) guides
    assert len(right.get_lines()) == 4  # two ratio curves and two scale-ratio lines
    ratio_line = right.get_lines()[0]
    np.testing.assert_allclose(
        ratio_line.get_ydata(), norms.norm_scaling_sweep([10, 100, 1000], 1.0, 0.002)["ratio"]
    )
    plt.close(fig)
