"""Figures of section 12.3: the per-batch gradient-norm ratio over whole epochs.

* :func:`log_bins` - histogram bin edges evenly spaced on a log axis, shared by every panel
  that should be compared.
* :func:`plot_ratio_histogram` - one epoch's per-batch ratios as a log-scale histogram with
  the median and quartiles marked.
* :func:`plot_epoch_distributions` - one panel per measured epoch on a common log axis, so the
  distribution can be seen to move during training.
* :func:`plot_proxy_vs_model` - the output-side proxy against the shared-parameter ratio of
  a real model, batch by batch.
* :func:`plot_trained_ratios` - the ratio's quantiles epoch by epoch in trained runs, one
  band and one median line per seed, up to the validation-selected epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogFormatter, MaxNLocator

from gabalab._checks import as_array, as_list, check_bool, check_int, check_real
from gabalab.measure import TrainedRatioTrend
from gabalab.plots.style import TASK_COLOURS

__all__ = [
    "log_bins",
    "plot_ratio_histogram",
    "plot_epoch_distributions",
    "plot_proxy_vs_model",
    "plot_trained_ratios",
]

#: Colour of ratio histograms (the ratio belongs to neither task alone).
RATIO_COLOUR = "0.35"


def _positive_array(name: str, values: object) -> np.ndarray:
    array = as_array(name, values, ndim=1, finite=False)
    if array.size == 0:
        raise ValueError(f"{name} must hold at least one value")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must hold finite values > 0 (ratios)")
    return array


def _short(value: float) -> str:
    """Three significant digits, but whole numbers from 1,000 up (no exponent)."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _plain_log_axis(axis: object) -> None:
    """Label a log axis with plain numbers (200, 300, 1000) instead of powers of ten."""
    for setter in (axis.set_major_formatter, axis.set_minor_formatter):  # type: ignore[attr-defined]
        setter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.5)))


def log_bins(
    values: Sequence[float] | np.ndarray, n_bins: int = 30, pad: float = 1.05
) -> np.ndarray:
    """Bin edges evenly spaced in log scale that cover every value.

    Parameters
    ----------
    values : array-like
        Positive, finite values (all the ratios that the figure will show).
    n_bins : int
        Number of bins, >= 1.
    pad : float
        The edges run from ``min / pad`` to ``max * pad`` (>= 1), so no value sits on an edge.

    Returns
    -------
    numpy.ndarray
        ``n_bins + 1`` increasing edges.

    Raises
    ------
    ValueError
        If ``values`` is empty or holds a value that is not finite and positive, or
        ``pad < 1``.
    TypeError
        If ``n_bins`` is not an integer.

    Examples
    --------
    >>> edges = log_bins([10.0, 1000.0], n_bins=2, pad=1.0)
    >>> edges.round(6).tolist()
    [10.0, 100.0, 1000.0]
    """
    array = _positive_array("values", values)
    n_bins = check_int("n_bins", n_bins, minimum=1)
    pad = check_real("pad", pad)
    if pad < 1:
        raise ValueError(f"pad must be a finite number >= 1, got {pad}")
    low, high = array.min() / pad, array.max() * pad
    if high <= low:  # a single distinct value and pad == 1
        low, high = low / 1.05, high * 1.05
    return np.geomspace(low, high, n_bins + 1)


def plot_ratio_histogram(
    ratios: Sequence[float] | np.ndarray,
    *,
    bins: int | Sequence[float] | np.ndarray = 30,
    ax: Axes | None = None,
    title: str | None = None,
    colour: str = RATIO_COLOUR,
    mark_quartiles: bool = True,
) -> Figure:
    """Histogram of per-batch ratios on a log axis, median and quartiles marked.

    Parameters
    ----------
    ratios : array-like
        Per-batch ratios ``||g_rul|| / ||g_health||`` (finite, > 0).
    bins : int or array-like
        Number of log-spaced bins (see :func:`log_bins`) or explicit edges.
    ax : matplotlib.axes.Axes or None
        Axes to draw on; a new figure when ``None``.
    title : str or None
        Axes title; by default the number of batches.
    colour : str
        Bar colour.
    mark_quartiles : bool
        Draw the median (solid) and the quartiles (dashed) as vertical lines.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``ratios`` is empty or holds a value that is not finite and positive.

    Examples
    --------
    >>> fig = plot_ratio_histogram([100.0, 200.0, 400.0], bins=5)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    array = _positive_array("ratios", ratios)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        edges = log_bins(array, bins)
    else:
        edges = as_array("bins", bins, ndim=1)
        if edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] <= 0:
            raise ValueError("bins must be a number of bins or at least two increasing edges > 0")
    mark_quartiles = check_bool("mark_quartiles", mark_quartiles)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 3.2), constrained_layout=True)
    else:
        parent = ax.get_figure(root=True)
        if not isinstance(parent, Figure):
            raise ValueError("ax must belong to a figure")
        fig = parent
    ax.hist(array, bins=edges.tolist(), color=colour, alpha=0.75, edgecolor="white",
            linewidth=0.5)
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    if mark_quartiles:
        q25, median, q75 = np.quantile(array, [0.25, 0.5, 0.75])
        ax.axvline(median, color="black", lw=1.5, label=f"median {_short(median)}")
        ax.axvline(q25, color="black", lw=1.0, ls="--",
                   label=f"quartiles {_short(q25)}, {_short(q75)}")
        ax.axvline(q75, color="black", lw=1.0, ls="--")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel(r"per-batch ratio $\|g_{\mathrm{rul}}\| / \|g_{\mathrm{hs}}\|$")
    ax.set_ylabel("batches")
    ax.set_title(title if title is not None else f"{array.size} batches")
    return fig


def plot_epoch_distributions(
    ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray],
    epochs: Sequence[int] | None = None,
    *,
    n_bins: int = 30,
    label: str = "epoch",
) -> Figure:
    """One log-scale histogram per measured epoch, stacked on a shared axis.

    All panels use the same bin edges (from every shown ratio), so a shift of the
    distribution between epochs is a shift on the page.

    Parameters
    ----------
    ratios_by_epoch : mapping of int to array-like
        Per-batch ratios of each measured epoch.
    epochs : sequence of int or None
        Which epochs to draw, in this order; all of them, sorted, when ``None``.
    n_bins : int
        Number of log-spaced bins.
    label : str
        Word used in the panel titles ("epoch").

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no epoch is given, an epoch is not in ``ratios_by_epoch``, or its ratios are not
        finite and positive.

    Examples
    --------
    >>> ratios = {0: [300.0, 500.0], 5: [50.0, 80.0]}
    >>> fig = plot_epoch_distributions(ratios)
    >>> len(fig.axes)
    2
    """
    if not isinstance(ratios_by_epoch, Mapping):
        raise TypeError("ratios_by_epoch must be a mapping from epoch to ratios")
    if not ratios_by_epoch:
        raise ValueError("ratios_by_epoch must hold at least one epoch")
    chosen = sorted(ratios_by_epoch) if epochs is None else as_list("epochs", epochs)
    if not chosen:
        raise ValueError("epochs must name at least one epoch")
    missing = [e for e in chosen if e not in ratios_by_epoch]
    if missing:
        raise ValueError(f"epochs {missing} are not in ratios_by_epoch ({sorted(ratios_by_epoch)})")
    arrays = {e: _positive_array(f"ratios_by_epoch[{e}]", ratios_by_epoch[e]) for e in chosen}
    edges = log_bins(np.concatenate(list(arrays.values())), n_bins)
    fig, axes = plt.subplots(
        len(chosen), 1, figsize=(7.0, 1.15 + 1.05 * len(chosen)), sharex=True,
        constrained_layout=True, squeeze=False,
    )
    for ax, epoch in zip(axes[:, 0], chosen):
        values = arrays[epoch]
        ax.hist(values, bins=edges, color=RATIO_COLOUR, alpha=0.75, edgecolor="white",
                linewidth=0.5)
        median = float(np.median(values))
        ax.axvline(median, color="black", lw=1.5)
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
        ax.set_ylabel("batches", fontsize=8)
        ax.set_title(f"{label} {epoch}: median {_short(median)}, {values.size} batches",
                     fontsize=9, loc="left")
    axes[-1, 0].set_xlabel(r"per-batch ratio $\|g_{\mathrm{rul}}\| / \|g_{\mathrm{hs}}\|$")
    return fig


def plot_proxy_vs_model(
    proxy_ratios: Sequence[float] | np.ndarray,
    model_ratios: Sequence[float] | np.ndarray,
    *,
    model_label: str = "shared-parameter ratio",
) -> Figure:
    """The output-side proxy and a model's shared-parameter ratio on the same batches.

    Left: both distributions as log-scale histograms with common bins. Right: batch by batch,
    the model ratio against the proxy ratio, with the diagonal ``y = x``.

    Parameters
    ----------
    proxy_ratios, model_ratios : array-like
        Per-batch ratios of the same batches, in the same order.
    model_label : str
        Name of the model ratio in the legend and axis label.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the arrays differ in length, are empty, or hold values that are not finite and
        positive.

    Examples
    --------
    >>> fig = plot_proxy_vs_model([150.0, 180.0], [400.0, 520.0])
    >>> len(fig.axes)
    2
    """
    proxy = _positive_array("proxy_ratios", proxy_ratios)
    model = _positive_array("model_ratios", model_ratios)
    if proxy.size != model.size:
        raise ValueError(
            f"proxy_ratios and model_ratios must hold the same batches, got {proxy.size} "
            f"and {model.size} values"
        )
    edges = log_bins(np.concatenate([proxy, model]), 30)
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.8, 3.2), constrained_layout=True)
    left.hist(proxy, bins=edges, color=TASK_COLOURS["health"], alpha=0.6, label="output-side proxy")
    left.hist(model, bins=edges, color=TASK_COLOURS["rul"], alpha=0.6, label=model_label)
    left.set(xscale="log", xlabel="per-batch ratio", ylabel="batches", title="distributions")
    left.legend(fontsize=8)
    _plain_log_axis(left.xaxis)
    right.scatter(proxy, model, s=10, color="0.25", alpha=0.7)
    low = min(proxy.min(), model.min()) / 1.1
    high = max(proxy.max(), model.max()) * 1.1
    right.plot([low, high], [low, high], color="0.6", ls=":", label="y = x")
    right.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high),
              xlabel="output-side proxy", ylabel=model_label, title="batch by batch")
    _plain_log_axis(right.xaxis)
    _plain_log_axis(right.yaxis)
    right.legend(fontsize=8)
    return fig


def plot_trained_ratios(trend: TrainedRatioTrend, *, title: str | None = None) -> Figure:
    """The norm ratio epoch by epoch in trained runs: one band and one line per seed.

    For each seed, from epoch 1 to its validation-selected epoch: a light band from q10 to
    q90 and a darker one from q25 to q75 of the ratio over the epoch's measured steps, the
    median as a line with a dot per epoch, and a star on the selected epoch. The ratio axis
    is logarithmic.

    Parameters
    ----------
    trend : gabalab.measure.TrainedRatioTrend
        From :func:`gabalab.measure.trained_ratio_trend`.
    title : str or None
        Axes title; by default the number of runs.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``trend`` is not a :class:`~gabalab.measure.TrainedRatioTrend` or ``title`` is
        not a string or None.

    Examples
    --------
    >>> from gabalab.measure import RatioPath, TrainedRatioTrend
    >>> rows = ((90.0, 150.0, 230.0, 400.0, 700.0),
    ...         (770.0, 970.0, 1240.0, 1840.0, 2650.0))
    >>> path = RatioPath(0, rows, (22, 22))
    >>> fig = plot_trained_ratios(TrainedRatioTrend((path,)))
    >>> fig.axes[0].get_yscale()
    'log'
    """
    if not isinstance(trend, TrainedRatioTrend):
        raise TypeError(f"trend must be a TrainedRatioTrend (gabalab.measure."
                        f"trained_ratio_trend), got {type(trend).__name__}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    fig, ax = plt.subplots(figsize=(7.0, 3.8), constrained_layout=True)
    palette = plt.get_cmap("tab10")
    handles: list[object] = []
    for i, run in enumerate(trend.runs):
        colour = palette(i % 10)
        q = np.asarray(run.quantiles)
        epochs = np.arange(1, run.selected_epoch + 1)
        ax.fill_between(epochs, q[:, 0], q[:, 4], color=colour, alpha=0.08, linewidth=0)
        ax.fill_between(epochs, q[:, 1], q[:, 3], color=colour, alpha=0.22, linewidth=0)
        line, = ax.plot(epochs, q[:, 2], color=colour, marker="o", ms=3, lw=1.5,
                        label=f"seed {run.seed}")
        ax.plot([run.selected_epoch], [q[-1, 2]], linestyle="none", marker="*", ms=14,
                color=colour, markeredgecolor="black", markeredgewidth=0.6)
        handles.append(line)
    handles += [
        Patch(color="0.5", alpha=0.45, label="q25 to q75"),
        Patch(color="0.5", alpha=0.15, label="q10 to q90"),
        Line2D([], [], linestyle="none", marker="*", ms=11, color="0.5",
               markeredgecolor="black", markeredgewidth=0.6, label="selected epoch"),
    ]
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"$\|g_{\mathrm{rul}}\| / \|g_{\mathrm{hs}}\|$ per measured step")
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title if title is not None else
                 f"{trend.n_seeds} runs, epoch 1 to the selected epoch: median and bands")
    return fig
