"""Explorer of section 12.3: scrub through the measured epochs of a training run.

:func:`epoch_explorer` is a slider over the measured epochs that redraws the log-scale
histogram of :func:`gabalab.plots.epochs.plot_ratio_histogram` (bins fixed across epochs, so
the distribution visibly moves) and prints :func:`gabalab.measure.epoch_readout`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from gabalab.measure import check_ratios_by_epoch, epoch_readout
from gabalab.plots.epochs import log_bins, plot_ratio_histogram

__all__ = ["epoch_explorer"]


def epoch_explorer(
    ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray], n_bins: int = 30
) -> Any:
    """A slider over the measured epochs redrawing the ratio histogram and the readout.

    The histogram bins are fixed across epochs (computed from all of them), so moving the
    slider moves the distribution, not the axis.

    Parameters
    ----------
    ratios_by_epoch : mapping of int to array-like
        Per-batch ratios of each measured epoch.
    n_bins : int
        Number of log-spaced bins.

    Returns
    -------
    ipywidgets.interactive
        Display it in a notebook (it is the value of the cell).
    """
    import ipywidgets as w  # optional dependency (the "widgets" extra)

    arrays = check_ratios_by_epoch(ratios_by_epoch)
    edges = log_bins(np.concatenate(list(arrays.values())), n_bins)
    epochs = sorted(arrays)

    def show(epoch: int) -> None:
        fig = plot_ratio_histogram(arrays[epoch], bins=edges, title=f"epoch {epoch}")
        fig.axes[0].set_xlim(edges[0], edges[-1])
        plt.show()
        print(epoch_readout(arrays, epoch))

    return w.interactive(
        show,
        epoch=w.SelectionSlider(options=epochs, value=epochs[0], description="epoch",
                                continuous_update=False),
    )
