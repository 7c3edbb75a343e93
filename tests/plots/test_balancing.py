"""The figures of section 18.2 draw what they are given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from gabalab.plots.balancing import METHOD_COLOURS, plot_trained_runs


def spread(values: list[float], seeds: tuple[int, ...]) -> dict:
    return {"mean": float(np.mean(values)), "std": 0.0, "values": values, "seeds": seeds}


def test_every_run_is_a_line_and_its_selected_epoch_a_dot() -> None:
    spreads = {"sum": {"val_rmse": [spread([20.0, 22.0], (0, 1)), spread([15.0, 18.0], (0, 1)),
                                    spread([16.0], (1,))]},
               "gaba": {"val_rmse": [spread([19.0], (3,)), spread([14.0], (3,))]}}
    selected = {"sum": {0: 2, 1: 3}, "gaba": {3: 2}}
    fig = plot_trained_runs(spreads, selected, ["val_rmse"])
    ax = fig.axes[0]
    lines = [(list(line.get_xdata()), list(line.get_ydata()), line.get_color(),
              line.get_marker()) for line in ax.get_lines()]
    assert ([1, 2], [20.0, 15.0], METHOD_COLOURS["sum"], "None") in lines
    assert ([1, 2, 3], [22.0, 18.0, 16.0], METHOD_COLOURS["sum"], "None") in lines
    assert ([2], [15.0], METHOD_COLOURS["sum"], "o") in lines      # seed 0 chose epoch 2
    assert ([3], [16.0], METHOD_COLOURS["sum"], "o") in lines      # seed 1 chose epoch 3
    assert ([2], [14.0], METHOD_COLOURS["gaba"], "o") in lines
    assert len(lines) == 6
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sum", "gaba"]
    plt.close(fig)
