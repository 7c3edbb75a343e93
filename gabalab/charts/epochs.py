"""Live explorer of section 12.3: scrub through the measured epochs of a training run.

Radio buttons choose an epoch of the stored FD001 training sweep; the chart shows the
histogram of that epoch's per-batch ratios on a fixed log axis (so the distribution moves,
not the axis) with its median and quartiles, and, behind it, the distribution of a
second sample (the simulated fleet at initialisation) for comparison. The numbers of the
chosen epoch are shown as text.

The median, quartiles and extremes are computed in Python with
:func:`gabalab.measure.summarise` (NumPy's linear quantile rule) and embedded per epoch,
so the page shows the same numbers as the section's tables; the histogram is binned in the
page from the embedded ``log10`` ratios.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gabalab._checks import as_array, check_int
from gabalab.charts._common import finish, require_altair, round_sig, row_readout
from gabalab.measure import summarise

__all__ = ["LOG_DIGITS", "READOUT", "epoch_chart", "epoch_rows"]

#: Decimals of the embedded log10 ratios (for the histogram only; the summaries are exact).
LOG_DIGITS = 4
#: Readout lines for the chosen epoch: (label, key, d3 format). Keys of
#: :func:`gabalab.measure.summarise`, plus ``spread`` (q75 / q25) and ``vs_first`` (median
#: over the first epoch's median).
READOUT: tuple[tuple[str, str, str], ...] = (
    ("batches", "n_batches", ",d"),
    ("median", "median", ".4~g"),
    ("quartiles q25", "q25", ".4~g"),
    ("quartiles q75", "q75", ".4~g"),
    ("min", "min", ".4~g"),
    ("max", "max", ".4~g"),
    ("spread q75/q25", "spread", ".3~g"),
    ("median / median at the first epoch", "vs_first", ".3~g"),
)


def _positive(name: str, values: Any) -> np.ndarray:
    array = as_array(name, values, ndim=1, finite=False)
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must hold finite ratios > 0")
    return array


def epoch_rows(
    ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray],
) -> list[dict[str, Any]]:
    """One row per epoch: its summary, spread, median against the first, and log10 ratios.

    Parameters
    ----------
    ratios_by_epoch : mapping of int to array-like
        Per-batch ratios of each measured epoch.

    Returns
    -------
    list of dict
        Keys ``epoch``, those of :func:`gabalab.measure.summarise` (``mean`` left out),
        ``spread``, ``vs_first`` (10 significant digits) and ``log10`` (list of the
        log10 ratios, :data:`LOG_DIGITS` decimals), in epoch order.

    Raises
    ------
    TypeError
        If ``ratios_by_epoch`` is not a mapping, an epoch is not an integer, or its ratios
        are not a 1-D array of numbers.
    ValueError
        If it is empty or a ratio is not finite and positive.

    Examples
    --------
    >>> rows = epoch_rows({0: [100.0, 200.0, 400.0], 4: [50.0, 100.0]})
    >>> rows[1]["epoch"], rows[1]["median"], rows[1]["vs_first"]
    (4, 75.0, 0.375)
    """
    if not isinstance(ratios_by_epoch, Mapping):
        raise TypeError("ratios_by_epoch must be a mapping from epoch to ratios")
    if not ratios_by_epoch:
        raise ValueError("ratios_by_epoch must hold at least one epoch")
    for epoch in ratios_by_epoch:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"ratios_by_epoch keys must be integers (epochs), got {epoch!r}")
    rows = []
    first_median = None
    for epoch in sorted(ratios_by_epoch):
        array = _positive(f"ratios_by_epoch[{epoch}]", ratios_by_epoch[epoch])
        s = summarise(array)
        if first_median is None:
            first_median = s["median"]
        row: dict[str, Any] = {"epoch": int(epoch), "n_batches": int(s["n_batches"])}
        for key in ("median", "q25", "q75", "min", "max"):
            row[key] = round_sig(s[key])
        row["spread"] = round_sig(s["q75"] / s["q25"])
        row["vs_first"] = round_sig(s["median"] / first_median)
        row["log10"] = [round(float(v), LOG_DIGITS) for v in np.log10(array)]
        rows.append(row)
    return rows


def epoch_chart(
    ratios_by_epoch: Mapping[int, Sequence[float] | np.ndarray],
    reference: Sequence[float] | np.ndarray,
    *,
    label: str = "FD001 epoch",
    reference_label: str = "simulated fleet, at init",
    n_bins: int = 40,
    width: int = 460,
) -> Any:
    """The 12.3 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    ratios_by_epoch : mapping of int to array-like
        Per-batch ratios of each measured epoch (the radio buttons' choices).
    reference : array-like
        Per-batch ratios of a second sample drawn behind every epoch, as a share of its
        batches per bin (so samples of different sizes compare).
    label, reference_label : str
        Name of the epoch choice, and of the reference sample.
    n_bins : int, default 40
        Bins over the common log range (2 to 200).
    width : int, default 460
        Width in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    TypeError, ValueError
        On invalid ratios or arguments.
    """
    n_bins = check_int("n_bins", n_bins, minimum=2)
    if n_bins > 200:
        raise ValueError(f"n_bins must be <= 200, got {n_bins}")
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    for name, text in (("label", label), ("reference_label", reference_label)):
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        if not text or "'" in text:
            raise ValueError(f"{name} must be a non-empty string without quotes")
    rows = epoch_rows(ratios_by_epoch)
    ref = np.log10(_positive("reference", reference))
    every = np.concatenate([np.asarray(r["log10"]) for r in rows] + [ref])
    lo = math.floor(float(every.min()) * 10) / 10
    hi = math.ceil(float(every.max()) * 10) / 10
    step = round_sig((hi - lo) / n_bins, 6)
    hi = lo + step * n_bins

    alt = require_altair()
    epochs = [r["epoch"] for r in rows]
    epoch = alt.param(name="epoch", value=epochs[0],
                      bind=alt.binding_radio(options=epochs, name=f"{label} "))
    # Bin after the per-epoch rows are flattened (binned explicitly: an encoding-level bin
    # would be moved before the flatten, onto a field that does not exist yet).
    bins = alt.Bin(extent=[lo, hi], step=step)
    ticks = [math.log10(m * 10.0**k) for k in range(-3, 10) for m in (1, 2, 5)
             if lo <= math.log10(m * 10.0**k) <= hi]
    axis = alt.Axis(values=[round(t, 10) for t in ticks],
                    labelExpr="format(pow(10, datum.value), '.1~r')",
                    title="ratio ‖g_rul‖ / ‖g_hs‖ per batch (log scale)")
    x = alt.X("b:Q", bin="binned", scale=alt.Scale(domain=[lo, hi]), axis=axis)
    y = alt.Y("sum(share):Q", title="share of the batches")

    def histogram(chart: Any, colour: str, opacity: float) -> Any:
        return (
            chart.transform_bin(["b", "b_end"], "l", bin=bins)
            .transform_joinaggregate(total="count()")
            .transform_calculate(share="1 / datum.total")
            .mark_bar(color=colour, opacity=opacity)
            .encode(x=x, x2="b_end:Q", y=y)
        )

    chosen = (
        alt.Chart(alt.Data(values=[{k: r[k] for k in ("epoch", "log10")} for r in rows]))
        .transform_filter("datum.epoch == epoch")
        .transform_flatten(["log10"], as_=["l"])
    )
    bars = histogram(chosen, "#c0392b", 0.75)
    behind = histogram(
        alt.Chart(alt.Data(values=[{"l": round(float(v), LOG_DIGITS)} for v in ref])),
        "#999999", 0.35,
    )
    summary = alt.Chart(alt.Data(values=[{k: v for k, v in r.items() if k != "log10"}
                                         for r in rows])).transform_filter("datum.epoch == epoch")
    marks = summary.transform_fold(["q25", "median", "q75"], as_=["stat", "ratio"]) \
        .transform_calculate(l="log(datum.ratio) / LN10") \
        .mark_rule(color="#333").encode(
            x=alt.X("l:Q", scale=alt.Scale(domain=[lo, hi]), axis=axis),
            strokeDash=alt.condition("datum.stat == 'median'", alt.value([1, 0]),
                                     alt.value([4, 3])),
        )
    plot = alt.layer(behind, bars, marks).properties(
        width=width, height=200,
        title=alt.TitleParams([f"{label} (red)", f"and {reference_label} (grey)"],
                              subtitle="the epoch's median (solid) and quartiles (dashed)"),
    )
    values = {key: f"datum.{key}" for _, key, _ in READOUT}
    readout = row_readout(summary, READOUT, values, width=width)
    return finish(alt.vconcat(plot, readout).add_params(epoch))
