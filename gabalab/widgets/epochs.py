"""Explorer of section 12.3: scrub through the measured epochs of a training run.

The plain functions return text: :func:`quantile_table` lays the summaries of several epochs
side by side, :func:`epoch_readout` describes one epoch against the first one.  The
explorer, :func:`epoch_explorer`, is a slider over the measured epochs that redraws the
log-scale histogram (with bins fixed across epochs, so the distribution visibly moves) and
prints the readout.  On the static site its place is taken by
:func:`gabalab.plots.epochs.plot_epoch_distributions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gabalab.measure import summarise

__all__ = ["STATISTICS", "format_value", "quantile_table", "epoch_readout", "epoch_explorer"]

#: Rows of :func:`quantile_table` by default: key of :func:`gabalab.measure.summarise` and label.
STATISTICS: tuple[tuple[str, str], ...] = (
    ("n_batches", "batches"),
    ("min", "min"),
    ("q25", "q25"),
    ("median", "median"),
    ("q75", "q75"),
    ("max", "max"),
)


def format_value(value: float | int) -> str:
    """Format a count or a ratio for a table: integers as is, floats to 4 significant digits.

    Values of 1,000 and more are rounded to an integer instead of switching to exponent
    notation.

    Parameters
    ----------
    value : int or float
        Finite number.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not finite.

    Examples
    --------
    >>> format_value(93), format_value(512.3456), format_value(2104.5), format_value(0.012345)
    ('93', '512.3', '2104', '0.01235')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"value must be a real number, got {type(value).__name__}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def quantile_table(
    summaries: Mapping[Any, Mapping[str, float | int]],
    statistics: Sequence[tuple[str, str]] = STATISTICS,
    *,
    corner: str = "",
    markdown: bool = False,
) -> str:
    """Table of several summaries side by side: one column per summary, one row per statistic.

    Parameters
    ----------
    summaries : mapping
        Column label to a summary dict as returned by :func:`gabalab.measure.summarise`
        (or ``EpochMeasurement.summary()``), in column order.
    statistics : sequence of (key, label)
        Which entries to show as rows, and their row labels.
    corner : str
        Text of the top-left cell (e.g. ``"epoch"``).
    markdown : bool
        Return a Markdown pipe table (numbers right-aligned) instead of plain text.

    Returns
    -------
    str
        Plain text: right-aligned columns separated by two spaces, no trailing spaces.
        Markdown: a header row, an alignment row and one row per statistic.

    Raises
    ------
    ValueError
        If ``summaries`` or ``statistics`` is empty or a summary lacks a requested key.
    TypeError
        If ``summaries`` is not a mapping.

    Examples
    --------
    >>> print(quantile_table({"A": summarise([1.0, 2.0, 3.0]), "B": summarise([10.0])},
    ...                      [("median", "median"), ("n_batches", "batches")], corner="run"))
    run      A   B
    median   2  10
    batches  3   1
    >>> print(quantile_table({"A": summarise([1.0, 2.0, 3.0])}, [("median", "median")],
    ...                      markdown=True))
    |  | A |
    | :-- | --: |
    | median | 2 |
    """
    if not isinstance(summaries, Mapping):
        raise TypeError("summaries must be a mapping from column label to summary")
    if not summaries:
        raise ValueError("summaries must hold at least one column")
    statistics = list(statistics)
    if not statistics:
        raise ValueError("statistics must name at least one row")
    header = [str(corner)] + [str(label) for label in summaries]
    rows = [header]
    for key, label in statistics:
        row = [label]
        for column, summary in summaries.items():
            if key not in summary:
                raise ValueError(f"summaries[{column!r}] has no entry {key!r}")
            row.append(format_value(summary[key]))
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |",
                 "| :-- | " + " | ".join(["--:"] * (len(header) - 1)) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _ratios(ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray]) -> dict[int, np.ndarray]:
    if not isinstance(ratios_by_epoch, Mapping):
        raise TypeError("ratios_by_epoch must be a mapping from epoch to ratios")
    if not ratios_by_epoch:
        raise ValueError("ratios_by_epoch must hold at least one epoch")
    out = {}
    for epoch in sorted(ratios_by_epoch):
        array = np.asarray(ratios_by_epoch[epoch], dtype=np.float64).reshape(-1)
        if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise ValueError(f"ratios_by_epoch[{epoch}] must hold finite values > 0")
        out[int(epoch)] = array
    return out


def epoch_readout(ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray], epoch: int) -> str:
    """Text shown by :func:`epoch_explorer` for one measured epoch.

    The median, quartiles and extremes of that epoch's per-batch ratios, the spread
    ``q75 / q25`` and ``max / min``, and the median relative to the first measured epoch.

    Parameters
    ----------
    ratios_by_epoch : mapping of int to array-like
        Per-batch ratios of each measured epoch.
    epoch : int
        One of the keys of ``ratios_by_epoch``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``epoch`` was not measured or ratios are not finite and positive.

    Examples
    --------
    >>> print(epoch_readout({0: [100.0, 200.0, 400.0], 4: [50.0, 100.0]}, 4))
    epoch 4 (2 batches)
    median 75, quartiles 62.5 - 87.5, min 50, max 100
    spread q75/q25 = 1.4, max/min = 2
    median / median at epoch 0 = 0.375
    """
    arrays = _ratios(ratios_by_epoch)
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch must be an integer, got {type(epoch).__name__}")
    epoch = int(epoch)
    if epoch not in arrays:
        raise ValueError(f"epoch {epoch} was not measured; measured epochs are {sorted(arrays)}")
    s = summarise(arrays[epoch])
    first = min(arrays)
    first_median = summarise(arrays[first])["median"]
    f = format_value
    return "\n".join(
        [
            f"epoch {epoch} ({s['n_batches']} batches)",
            f"median {f(s['median'])}, quartiles {f(s['q25'])} - {f(s['q75'])}, "
            f"min {f(s['min'])}, max {f(s['max'])}",
            f"spread q75/q25 = {f(s['q75'] / s['q25'])}, max/min = {f(s['max'] / s['min'])}",
            f"median / median at epoch {first} = {f(s['median'] / first_median)}",
        ]
    )


def epoch_explorer(ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray], n_bins: int = 30) -> Any:
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
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from gabalab.plots.epochs import log_bins, plot_ratio_histogram

    arrays = _ratios(ratios_by_epoch)
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
