"""Figure of section 18.1: how the choice of parameters moves the norms and the weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gabalab.blocks import selection_readout
from gabalab.plots.style import TASK_COLOURS

__all__ = ["plot_selection"]


def plot_selection(
    table: Mapping[str, Mapping[str, float]],
    selections: Mapping[str, Sequence[str]],
) -> Figure:
    """Per-task gradient norms and GABA weights for several choices of parameters.

    Left: the norm of each task's gradient over the chosen blocks (log scale). Right: the
    GABA weight of each task computed from those norms (log scale), with its value written
    on the bar.

    Parameters
    ----------
    table : mapping
        From :func:`gabalab.blocks.block_table`, with tasks ``rul`` and ``health``.
    selections : mapping of str to sequence of str
        Label of each selection and the blocks it counts.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``selections`` is not a mapping, or ``table`` not a block table.
    ValueError
        If ``selections`` is empty or names an unknown block (see
        :func:`gabalab.blocks.selection_readout`).
    """
    if not isinstance(selections, Mapping):
        raise TypeError(f"selections must be a mapping from label to block names, got "
                        f"{type(selections).__name__}")
    if not selections:
        raise ValueError("selections must hold at least one labelled choice of blocks")
    labels = list(selections)
    readouts = [selection_readout(table, selections[k]) for k in labels]
    tasks = list(readouts[0]["norms"])
    x = np.arange(len(labels))
    width = 0.8 / len(tasks)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2), constrained_layout=True)
    for j, task in enumerate(tasks):
        colour = TASK_COLOURS.get(task, f"C{j}")
        offset = (j - (len(tasks) - 1) / 2) * width
        left.bar(x + offset, [r["norms"][task] for r in readouts], width, color=colour,
                 label=rf"$\|g_{{\mathrm{{{task}}}}}\|$")
        if readouts[0]["weights"] is not None:
            values = [r["weights"][task] for r in readouts]
            bars = right.bar(x + offset, values, width, color=colour,
                             label=rf"$\lambda_{{\mathrm{{{task}}}}}$")
            right.bar_label(bars, labels=[f"{v:.4g}" for v in values], fontsize=7, padding=1)
    for ax in (left, right):
        ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    left.set(ylabel="gradient norm", title="per-task norm over the chosen blocks")
    right.set(ylabel="GABA weight", title="weights from those norms")
    return fig
