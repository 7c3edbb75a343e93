"""Figures of section 18.2: the balancing methods compared over epochs, across seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gabalab._checks import as_array, as_list, check_real

__all__ = ["METHOD_COLOURS", "METRIC_LABELS", "plot_method_curves", "plot_trained_runs",
           "plot_weight_trace"]

#: Colour of each method, the same in every figure of the section.
METHOD_COLOURS: dict[str, str] = {"sum": "#c0392b", "fixed": "#7d3c98", "gaba": "#2471a3",
                                  "uncertainty": "#1e8449"}

#: Axis label of each metric of :func:`gabalab.experiments.balancing.summarise_runs`
#: (matplotlib mathtext).
#:
#: :meta hide-value:
METRIC_LABELS: dict[str, str] = {
    "rmse": "test RMSE (cycles)",
    "val_rmse": "validation RMSE (cycles)",
    "score": "C-MAPSS score",
    "accuracy": "health accuracy",
    "weighted_ratio": r"weighted-norm ratio $\lambda_{rul} g_{rul} / \lambda_{hs} g_{hs}$",
    "ratio": r"norm ratio $g_{rul} / g_{hs}$",
    "step_s": "training-step time per epoch (s)",
}


def _names(name: str, values: Any) -> list[str]:
    out = as_list(name, values)
    for i, value in enumerate(out):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{i}] must be a metric name, got {type(value).__name__}")
    return out


def _check_per_epoch(per_epoch: Any, name: str = "per_epoch") -> None:
    if not isinstance(per_epoch, Mapping):
        raise TypeError(f"{name} must be a mapping of method to metric tables, got "
                        f"{type(per_epoch).__name__}")
    if not per_epoch:
        raise ValueError(f"{name} must hold at least one method")
    for method, table in per_epoch.items():
        if not isinstance(table, Mapping):
            raise TypeError(f"{name}[{method!r}] must be a mapping of metric to spreads, "
                            f"got {type(table).__name__}")


def _check_spreads(name: str, spreads: Any) -> None:
    """One spread (or None) per epoch, each with a finite ``mean`` and finite ``values``."""
    spreads = as_list(name, spreads)
    if not spreads:
        raise ValueError(f"{name} holds no epoch")
    for e, spread in enumerate(spreads):
        if spread is None:
            continue
        if not isinstance(spread, Mapping):
            raise TypeError(f"{name}[{e}] must be a spread (a mapping) or None, got "
                            f"{type(spread).__name__}")
        missing = [k for k in ("mean", "values") if k not in spread]
        if missing:
            raise ValueError(f"{name}[{e}] lacks {missing}")
        check_real(f"{name}[{e}]['mean']", spread["mean"])
        as_array(f"{name}[{e}]['values']", spread["values"], ndim=1)


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
    TypeError
        If ``per_epoch`` is not a mapping of mappings of lists of spreads (each None or a
        mapping with a ``mean`` and a list of ``values``), or ``metrics`` or
        ``log_metrics`` is not a list of metric names.
    ValueError
        If ``per_epoch`` or ``metrics`` is empty, a metric is missing, a metric has no
        epoch, or a number is not finite.
    """
    _check_per_epoch(per_epoch)
    metrics = _names("metrics", metrics)
    log_metrics = _names("log_metrics", log_metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    for method, table in per_epoch.items():
        for i, metric in enumerate(metrics):
            if metric not in table:
                raise ValueError(f"per_epoch[{method!r}] has no metric {metric!r} "
                                 f"(metrics[{i}])")
            _check_spreads(f"per_epoch[{method!r}][{metric!r}]", table[metric])
    # One panel per row, at the width of the book's text column: side by side, three
    # panels would be shrunk to about half size on the page.
    fig, axes = plt.subplots(len(metrics), 1, figsize=(6.8, 0.5 + 2.1 * len(metrics)),
                             constrained_layout=True, squeeze=False, sharex=True)
    for ax, metric in zip(axes[:, 0], metrics):
        for method, table in per_epoch.items():
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
        ax.set(ylabel=METRIC_LABELS.get(metric, metric))
        ax.set_xticks(epochs)
        if metric in log_metrics:
            ax.set_yscale("log")
    axes[-1][0].set_xlabel("epoch")
    axes[0][0].legend(fontsize=8)
    return fig


def plot_trained_runs(
    spreads: Mapping[str, Mapping[str, Sequence[Mapping[str, Any] | None]]],
    selected: Mapping[str, Mapping[int, int]],
    metrics: Sequence[str] = ("val_rmse", "rmse", "weighted_ratio"),
    *,
    log_metrics: Sequence[str] = ("weighted_ratio", "score"),
) -> Figure:
    """Every run of every method over its epochs, its validation-selected epoch marked.

    Parameters
    ----------
    spreads : mapping
        :func:`gabalab.experiments.verdicts.per_epoch_spreads`: method -> metric -> one
        spread (``values`` and ``seeds``) or ``None`` per epoch.
    selected : mapping
        method -> seed -> the run's selected epoch (1-based).
    metrics : sequence of str
        One panel per metric, top to bottom.
    log_metrics : sequence of str
        Metrics drawn on a log axis.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        As :func:`plot_method_curves`; also if a spread lacks ``seeds`` or a run of
        ``spreads`` has no selected epoch in ``selected``.
    """
    _check_per_epoch(spreads, "spreads")
    metrics = _names("metrics", metrics)
    log_metrics = _names("log_metrics", log_metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    if not isinstance(selected, Mapping):
        raise TypeError(f"selected must be a mapping of method to {{seed: epoch}}, got "
                        f"{type(selected).__name__}")
    curves: dict[tuple[str, str], dict[int, dict[int, float]]] = {}
    for method, table in spreads.items():
        for i, metric in enumerate(metrics):
            if metric not in table:
                raise ValueError(f"spreads[{method!r}] has no metric {metric!r} "
                                 f"(metrics[{i}])")
            name = f"spreads[{method!r}][{metric!r}]"
            _check_spreads(name, table[metric])
            per_seed: dict[int, dict[int, float]] = {}
            for e, spread in enumerate(table[metric], start=1):
                if spread is None:
                    continue
                if "seeds" not in spread or len(spread["seeds"]) != len(spread["values"]):
                    raise ValueError(f"{name}[{e - 1}] must name the seed of every value")
                for seed, value in zip(spread["seeds"], spread["values"]):
                    per_seed.setdefault(int(seed), {})[e] = float(value)
            for seed in per_seed:
                if int(seed) not in selected.get(method, {}):
                    raise ValueError(f"selected[{method!r}] has no epoch for seed {seed}")
            curves[(method, metric)] = per_seed
    fig, axes = plt.subplots(len(metrics), 1, figsize=(6.8, 0.5 + 2.1 * len(metrics)),
                             constrained_layout=True, squeeze=False, sharex=True)
    for ax, metric in zip(axes[:, 0], metrics):
        for method in spreads:
            colour = METHOD_COLOURS.get(method)
            for k, (seed, points) in enumerate(sorted(curves[(method, metric)].items())):
                epochs = sorted(points)
                ax.plot(epochs, [points[e] for e in epochs], "-", color=colour, lw=1,
                        alpha=0.55, label=method if k == 0 else None)
                best = selected[method][seed]
                if best in points:
                    ax.plot([best], [points[best]], "o", color=colour, ms=4)
        ax.set(ylabel=METRIC_LABELS.get(metric, metric))
        if metric in log_metrics:
            ax.set_yscale("log")
    axes[-1][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1][0].set_xlabel("epoch (dot: the epoch validation selected)")
    axes[0][0].legend(fontsize=8, ncols=len(spreads))
    return fig


def plot_weight_trace(
    traces: Mapping[str, Sequence[float]],
    *,
    floor: float | None = None,
    ylabel: str | None = None,
) -> Figure:
    """The RUL weight step by step, one line per configuration.

    Parameters
    ----------
    traces : mapping of str to sequence of float
        Label -> weight at every step.
    floor : float or None
        Draw the weight floor as a dotted line.
    ylabel : str or None
        Axis label; ``None`` writes the RUL weight's symbol.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``traces`` is not a mapping of label to a 1-D array of weights, ``floor`` is not
        a real number or None, or ``ylabel`` is neither a string nor None.
    ValueError
        If ``traces`` is empty, a trace is empty, holds a negative or non-finite weight or
        no positive one, or ``floor`` is outside ``[0, 1/2]``.
    """
    if not isinstance(traces, Mapping):
        raise TypeError(f"traces must be a mapping of label to weights, got "
                        f"{type(traces).__name__}")
    if not traces:
        raise ValueError("traces must hold at least one configuration")
    arrays = {}
    for label, values in traces.items():
        array = as_array(f"traces[{label!r}]", values, ndim=1, nonempty=True)
        if np.any(array < 0):
            raise ValueError(f"traces[{label!r}] holds a negative weight")
        if not np.any(array > 0):
            raise ValueError(f"traces[{label!r}] has no positive weight to draw")
        arrays[label] = array
    if floor is not None:
        floor = check_real("floor", floor, nonnegative=True)
        if floor > 0.5:
            raise ValueError(f"floor must be <= 1/2 (a weight floor for two tasks), got {floor}")
    if ylabel is None:
        ylabel = r"$\lambda_{rul}$"
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str or None, got {type(ylabel).__name__}")
    fig, ax = plt.subplots(figsize=(6.8, 3.2), constrained_layout=True)
    for label, array in arrays.items():
        ax.plot(np.arange(array.size), array, lw=1, label=label)
    if floor:
        ax.axhline(floor, color="0.4", ls=":", label=f"floor {floor:g}")
    ax.set(xlabel="training step", ylabel=ylabel, yscale="log")
    ax.legend(fontsize=8)
    return fig
