"""Figures of section 18.2: the balancing methods compared over epochs, across seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["METHOD_COLOURS", "METRIC_LABELS", "plot_method_curves", "plot_weight_trace"]

#: Colour of each method, the same in every figure of the section.
METHOD_COLOURS: dict[str, str] = {"sum": "#c0392b", "fixed": "#7d3c98", "gaba": "#2471a3"}

#: Axis label of each metric of :func:`gabalab.experiments.balancing.summarise_runs`.
METRIC_LABELS: dict[str, str] = {
    "rmse": "test RMSE (cycles)",
    "score": "C-MAPSS score",
    "accuracy": "health accuracy",
    "weighted_ratio": r"weighted-norm ratio $\lambda_{rul} g_{rul} / \lambda_{hs} g_{hs}$",
    "ratio": r"norm ratio $g_{rul} / g_{hs}$",
    "step_s": "training-step time per epoch (s)",
}


def plot_method_curves(
    per_epoch: Mapping[str, Mapping[str, Sequence[Mapping[str, Any] | None]]],
    metrics: Sequence[str] = ("rmse", "accuracy", "weighted_ratio"),
    *,
    log_metrics: Sequence[str] = ("weighted_ratio", "ratio", "score"),
) -> Figure:
    """Each metric over the epochs: the mean across seeds of every method, and each seed.

    Parameters
    ----------
    per_epoch : mapping
        ``summary["per_epoch"]`` of :func:`gabalab.experiments.balancing.summarise_runs`:
        method -> metric -> one spread (or ``None``) per epoch.
    metrics : sequence of str
        One panel per metric.
    log_metrics : sequence of str
        Metrics drawn on a log axis.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``per_epoch`` or ``metrics`` is empty or a metric is missing.
    """
    if not per_epoch or not metrics:
        raise ValueError("per_epoch and metrics must not be empty")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.0 * len(metrics), 3.4),
                             constrained_layout=True, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method, table in per_epoch.items():
            if metric not in table:
                raise ValueError(f"per_epoch[{method!r}] has no metric {metric!r}")
            spreads = table[metric]
            epochs = np.arange(1, len(spreads) + 1)
            colour = METHOD_COLOURS.get(method)
            means = [np.nan if s is None else s["mean"] for s in spreads]
            ax.plot(epochs, means, "o-", color=colour, label=method, ms=4)
            n_seeds = max((len(s["values"]) for s in spreads if s is not None), default=0)
            for k in range(n_seeds):
                values = [np.nan if s is None or k >= len(s["values"]) else s["values"][k]
                          for s in spreads]
                ax.plot(epochs, values, "-", color=colour, alpha=0.25, lw=1)
        ax.set(xlabel="epoch", ylabel=METRIC_LABELS.get(metric, metric))
        ax.set_xticks(epochs)
        if metric in log_metrics:
            ax.set_yscale("log")
    axes[0][0].legend(fontsize=8)
    return fig


def plot_weight_trace(
    traces: Mapping[str, Sequence[float]],
    *,
    floor: float | None = None,
    ylabel: str = r"$\lambda_{rul}$",
) -> Figure:
    """The RUL weight step by step, one line per configuration.

    Parameters
    ----------
    traces : mapping of str to sequence of float
        Label -> weight at every step.
    floor : float or None
        Draw the weight floor as a dotted line.
    ylabel : str
        Axis label.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``traces`` is empty or a trace has no positive value.
    """
    if not traces:
        raise ValueError("traces must hold at least one configuration")
    fig, ax = plt.subplots(figsize=(7.5, 3.2), constrained_layout=True)
    for label, values in traces.items():
        array = np.asarray(values, dtype=np.float64)
        if not np.any(array > 0):
            raise ValueError(f"traces[{label!r}] has no positive weight to draw")
        ax.plot(np.arange(array.size), array, lw=1, label=label)
    if floor:
        ax.axhline(floor, color="0.4", ls=":", label=f"floor {floor:g}")
    ax.set(xlabel="training step", ylabel=ylabel, yscale="log")
    ax.legend(fontsize=8)
    return fig
