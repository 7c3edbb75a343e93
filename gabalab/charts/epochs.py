"""Live explorer of section 12.3: scrub through the epochs of the trained runs.

Radio buttons choose a seed of the trained runs on one loss (section 12.3: the naive sum),
a slider an epoch. The chart sets that epoch's distribution of the norm ratio over its
measured training steps against epoch 1's, on a fixed log axis (so the distribution moves,
not the axis): a thin bar from q10 to q90, a thick one from q25 to q75 and a tick at the
median. A run stops at the epoch that validation selected; a later epoch on the slider
shows that one. The numbers of the epoch shown are given as text.

The quantiles are those the runs recorded, read through
:func:`gabalab.measure.trained_ratio_trend` and embedded per seed and epoch, so the page
shows the same numbers as the section's table and :meth:`TrainedRatioTrend.readout
<gabalab.measure.TrainedRatioTrend.readout>`.
"""

from __future__ import annotations

import math
from typing import Any

from gabalab._checks import check_int
from gabalab.charts._common import finish, require_altair, round_sig, row_readout
from gabalab.measure import TrainedRatioTrend

__all__ = ["FIRST", "READOUT", "SHOWN", "epoch_chart", "epoch_rows"]

#: Readout lines for the epoch shown: (label, key, d3 format); keys of :func:`epoch_rows`.
READOUT: tuple[tuple[str, str, str], ...] = (
    ("epoch shown", "epoch", ",d"),
    ("validation-selected epoch", "selected", ",d"),
    ("measured steps", "n_steps", ",d"),
    ("q10", "q10", ".4~g"),
    ("q25", "q25", ".4~g"),
    ("median", "q50", ".4~g"),
    ("q75", "q75", ".4~g"),
    ("q90", "q90", ".4~g"),
    ("spread q75/q25", "spread", ".3~g"),
    ("median / median at epoch 1", "vs_first", ".3~g"),
)
#: The row of the chosen seed and epoch (Vega expression of the parameters ``seed`` and
#: ``epoch``): the epoch itself, or the run's selected epoch where the run stops earlier.
SHOWN = "datum.seed == seed && datum.epoch == min(epoch, datum.selected)"
#: Epoch 1 of the chosen seed, the row every epoch is set against.
FIRST = "datum.seed == seed && datum.epoch == 1"
#: Colours of epoch 1 and of the epoch shown.
COLOURS = {"first": "#999999", "shown": "#c0392b"}


def _check_trend(trend: Any) -> TrainedRatioTrend:
    if not isinstance(trend, TrainedRatioTrend):
        raise TypeError(f"trend must be a TrainedRatioTrend (gabalab.measure."
                        f"trained_ratio_trend), got {type(trend).__name__}")
    return trend


def epoch_rows(trend: TrainedRatioTrend) -> list[dict[str, Any]]:
    """One row per seed and epoch: the quantiles, the spread and the median against epoch 1.

    Parameters
    ----------
    trend : gabalab.measure.TrainedRatioTrend
        From :func:`gabalab.measure.trained_ratio_trend`.

    Returns
    -------
    list of dict
        Keys ``seed``, ``epoch``, ``selected`` (the run's selected epoch), ``n_steps``, the
        quantiles ``q10`` to ``q90``, ``spread`` (q75 / q25) and ``vs_first`` (the median
        over epoch 1's), numbers to 10 significant digits; seeds, then epochs, in order.

    Raises
    ------
    TypeError
        If ``trend`` is not a :class:`~gabalab.measure.TrainedRatioTrend`.

    Examples
    --------
    >>> from gabalab.measure import RatioPath, TrainedRatioTrend
    >>> rows = ((10.0, 20.0, 30.0, 40.0, 50.0),
    ...         (30.0, 45.0, 60.0, 80.0, 99.0))
    >>> path = RatioPath(2, rows, (22, 21))
    >>> second = epoch_rows(TrainedRatioTrend((path,)))[1]
    >>> [second[k] for k in ("epoch", "selected", "q50", "vs_first")]
    [2, 2, 60.0, 2.0]
    """
    trend = _check_trend(trend)
    out = []
    for run in trend.runs:
        for epoch in range(1, run.selected_epoch + 1):
            row = run.row(epoch)
            out.append({
                "seed": run.seed, "epoch": epoch, "selected": run.selected_epoch,
                "n_steps": int(row["n_steps"]),
                **{key: round_sig(row[key]) for key in ("q10", "q25", "q50", "q75", "q90")},
                "spread": round_sig(row["q75"] / row["q25"]),
                "vs_first": round_sig(row["q50"] / run.medians[0]),
            })
    return out


def _log_domain(rows: list[dict[str, Any]]) -> tuple[float, float, list[float]]:
    """A fixed log axis around every q10 and q90, and its 1-2-5 tick values."""
    low = min(r["q10"] for r in rows) / 1.2
    high = max(r["q90"] for r in rows) * 1.2
    lo = 10.0 ** (math.floor(math.log10(low) * 10) / 10)
    hi = 10.0 ** (math.ceil(math.log10(high) * 10) / 10)
    ticks = [m * 10.0**k for k in range(-3, 10) for m in (1, 2, 5)
             if lo <= m * 10.0**k <= hi]
    return round_sig(lo, 4), round_sig(hi, 4), ticks


def epoch_chart(trend: TrainedRatioTrend, *, width: int = 460) -> Any:
    """The 12.3 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    trend : gabalab.measure.TrainedRatioTrend
        The trained runs of one loss (:func:`gabalab.measure.trained_ratio_trend`); the
        seed buttons offer its seeds, the epoch slider runs from 1 to the latest selected
        epoch, and the chart opens on the first seed's selected epoch.
    width : int, default 460
        Width in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    TypeError, ValueError
        If ``trend`` is not a :class:`~gabalab.measure.TrainedRatioTrend` or ``width`` is
        not an integer from 100 to 2000.
    """
    trend = _check_trend(trend)
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    rows = epoch_rows(trend)
    lo, hi, ticks = _log_domain(rows)
    last = max(run.selected_epoch for run in trend.runs)

    alt = require_altair()
    seed = alt.param(name="seed", value=trend.seeds[0],
                     bind=alt.binding_radio(options=list(trend.seeds), name="run with seed "))
    epoch = alt.param(name="epoch", value=trend.runs[0].selected_epoch,
                      bind=alt.binding_range(min=1, max=last, step=1, name="training epoch "))
    data = alt.Data(values=rows)
    axis = alt.Axis(values=ticks, format=",~r",
                    title="ratio ‖g_rul‖ / ‖g_hs‖ per measured step (log scale)")

    def x(field: str) -> Any:
        return alt.X(f"{field}:Q", scale=alt.Scale(type="log", domain=[lo, hi]), axis=axis)

    y = alt.Y("row:N", sort=["epoch 1", "epoch shown"], title=None)

    def marks(condition: str, label: str, colour: str) -> list[Any]:
        base = (alt.Chart(data).transform_filter(condition)
                .transform_calculate(row=f"'{label}'"))
        return [
            base.mark_rule(color=colour, strokeWidth=2).encode(x=x("q10"), x2="q90:Q", y=y),
            base.mark_bar(color=colour, height=18).encode(x=x("q25"), x2="q75:Q", y=y),
            base.mark_tick(color="black", opacity=1, thickness=3, size=26).encode(x=x("q50"), y=y),
        ]

    plot = alt.layer(*marks(FIRST, "epoch 1", COLOURS["first"]),
                     *marks(SHOWN, "epoch shown", COLOURS["shown"])).properties(
        width=width, height=90,
        title=alt.TitleParams(["the epoch shown (red) against epoch 1 (grey)"],
                              subtitle="thin bar: q10 to q90; thick bar: q25 to q75; "
                                       "tick: the median"),
    )
    values = {key: f"datum.{key}" for _, key, _ in READOUT}
    readout = row_readout(alt.Chart(data).transform_filter(SHOWN), READOUT, values,
                          width=width)
    return finish(alt.vconcat(plot, readout).add_params(seed, epoch))
