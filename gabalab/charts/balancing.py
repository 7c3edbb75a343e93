"""Live explorer of section 18.2: what GABA's weights do, and what the methods reached.

Two parts, one chart:

* **The weights.** A slider for the ratio ``R = g_rul / g_health`` of the two tasks'
  gradient norms (log scale) and one for the weight floor; the chart draws the RUL weight
  against ``R`` with the current point, and the readout shows both weights and the
  weighted-norm ratio ``lambda_rul R / lambda_health`` (1 while the floor does not bind).
  The Python twin is :func:`gabalab.weighting.gaba_weights` followed by
  :func:`gabalab.weighting.floor_weights` on the norms ``(R, 1)``.
* **The results.** Radio buttons choose a metric and a slider an epoch of the committed
  FD001 runs; the chart draws each method's mean per epoch over the seeds that trained that
  epoch (early stopping ends runs at different epochs), and the readout shows every
  method's mean and standard deviation at the chosen epoch, as embedded from
  :func:`gabalab.experiments.verdicts.per_epoch_spreads`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gabalab._checks import as_list, check_int, check_real
from gabalab.charts._common import (
    finish,
    readout_chart,
    require_altair,
    round_sig,
    row_readout,
)

__all__ = [
    "WEIGHT_CONTROLS",
    "WEIGHT_EXPRESSIONS",
    "WEIGHT_READOUT",
    "RESULT_METRICS",
    "METHOD_ORDER",
    "METHOD_COLOURS",
    "result_rows",
    "result_readout",
    "balancing_chart",
]

#: Sliders of the weights part: (name, label, min, max, step).
WEIGHT_CONTROLS: tuple[tuple[str, str, float, float, float], ...] = (
    ("log10_ratio", "log₁₀ R, norm ratio R = g_rul / g_health ", 0.0, 4.0, 0.05),
    ("floor", "weight floor (smallest λ) ", 0.0, 0.05, 0.0005),
)

_RAW = "1 / (1 + pow(10, log10_ratio))"
_FLOORED = f"max(floor, min(1 - floor, {_RAW}))"

#: Each shown quantity of the weights part as a Vega expression of the sliders.
WEIGHT_EXPRESSIONS: dict[str, str] = {
    "ratio": "pow(10, log10_ratio)",
    "lambda_rul": _FLOORED,
    "lambda_health": f"1 - {_FLOORED}",
    "weighted_ratio": f"{_FLOORED} * pow(10, log10_ratio) / (1 - {_FLOORED})",
}

#: Readout lines of the weights part: (label, key, d3 format).
WEIGHT_READOUT: tuple[tuple[str, str, str], ...] = (
    ("norm ratio R = g_rul / g_health", "ratio", ".4~g"),
    ("λ_rul", "lambda_rul", ".4~g"),
    ("λ_health", "lambda_health", ".4~g"),
    ("weighted-norm ratio λ_rul·R / λ_health", "weighted_ratio", ".4~g"),
)

#: Metrics the results part offers, with their labels.
RESULT_METRICS: dict[str, str] = {
    "val_rmse": "validation RMSE (cycles)",
    "rmse": "test RMSE (cycles)",
    "score": "C-MAPSS score",
    "accuracy": "health accuracy",
    "weighted_ratio": "weighted-norm ratio",
}


#: The methods of the experiment, in the order the readout lists them.
METHOD_ORDER: tuple[str, ...] = ("sum", "fixed", "gaba", "uncertainty")

#: Each method's colour, as in the section's figures.
METHOD_COLOURS: dict[str, str] = {"sum": "#c0392b", "fixed": "#7d3c98", "gaba": "#2471a3",
                                  "uncertainty": "#1e8449"}


def result_rows(per_epoch: Mapping[str, Mapping[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """One row per method, metric and epoch: the mean and standard deviation over the seeds.

    Parameters
    ----------
    per_epoch : mapping
        :func:`gabalab.experiments.verdicts.per_epoch_spreads`: method -> metric -> one
        spread (or None) per epoch.

    Returns
    -------
    list of dict
        ``method``, ``metric``, ``epoch`` (from 1), ``mean``, ``std`` (10 significant
        digits); metrics of :data:`RESULT_METRICS` only, entries without data left out.

    Raises
    ------
    TypeError
        If ``per_epoch`` is not a mapping of method to a mapping of metric to a list of
        spreads (each None or a mapping with a real ``mean`` and ``std``).
    ValueError
        If ``per_epoch`` is empty, a method name is empty or holds a quote, a metric is
        missing, a mean or standard deviation is not finite (or the deviation negative),
        or no spread holds data.

    Examples
    --------
    >>> one = {"mean": 20.0, "std": 1.5, "values": [18.5, 21.5]}
    >>> rows = result_rows({"sum": {m: [one] for m in RESULT_METRICS}})
    >>> list(rows[0])
    ['method', 'metric', 'epoch', 'mean', 'std']
    >>> list(rows[0].values())
    ['sum', 'val_rmse', 1, 20.0, 1.5]
    """
    if not isinstance(per_epoch, Mapping):
        raise TypeError(f"per_epoch must be a mapping of method to metric tables, got "
                        f"{type(per_epoch).__name__}")
    if not per_epoch:
        raise ValueError("per_epoch must hold at least one method")
    rows = []
    for method, table in per_epoch.items():
        _check_method_name("each method name (key) of per_epoch", method)
        if not isinstance(table, Mapping):
            raise TypeError(f"per_epoch[{method!r}] must be a mapping of metric to spreads, "
                            f"got {type(table).__name__}")
        for metric in RESULT_METRICS:
            if metric not in table:
                raise ValueError(f"per_epoch[{method!r}] has no metric {metric!r}")
            name = f"per_epoch[{method!r}][{metric!r}]"
            for epoch, spread in enumerate(as_list(name, table[metric]), start=1):
                if spread is None:
                    continue
                at = f"{name}[{epoch - 1}]"
                if not isinstance(spread, Mapping):
                    raise TypeError(f"{at} must be a spread (a mapping) or None, got "
                                    f"{type(spread).__name__}")
                missing = [k for k in ("mean", "std") if k not in spread]
                if missing:
                    raise ValueError(f"{at} lacks {missing}")
                mean = check_real(f"{at}['mean']", spread["mean"])
                std = check_real(f"{at}['std']", spread["std"], nonnegative=True)
                rows.append({"method": method, "metric": metric, "epoch": epoch,
                             "mean": round_sig(mean), "std": round_sig(std)})
    if not rows:
        raise ValueError("per_epoch holds no data: every spread is None")
    return rows


def _check_method_name(name: str, method: Any) -> str:
    """A method's name as the chart's expressions use it: a non-empty string, no quotes."""
    if not isinstance(method, str):
        raise TypeError(f"{name} must be a string, got {type(method).__name__}")
    if not method or "'" in method:
        raise ValueError(f"{name} must be non-empty and without quotes, got {method!r}")
    return method


def result_readout(methods: Sequence[str]) -> tuple[tuple[str, str, str], ...]:
    """Readout lines of the results part: each method's mean and std at the chosen epoch.

    Parameters
    ----------
    methods : sequence of str
        The methods, in the order of the readout: at least one, names without quotes.

    Returns
    -------
    tuple of (label, key, d3 format)

    Raises
    ------
    TypeError, ValueError
        If ``methods`` is not a non-empty list of such names.

    Examples
    --------
    >>> print(*result_readout(["sum"]), sep="\\n")
    ('sum: mean over seeds', 'sum_mean', '.4~g')
    ('sum: std over seeds', 'sum_std', '.3~g')
    """
    names = as_list("methods", methods)
    if not names:
        raise ValueError("methods must name at least one method")
    for i, method in enumerate(names):
        _check_method_name(f"methods[{i}]", method)
    lines: list[tuple[str, str, str]] = []
    for method in names:
        lines.append((f"{method}: mean over seeds", f"{method}_mean", ".4~g"))
        lines.append((f"{method}: std over seeds", f"{method}_std", ".3~g"))
    return tuple(lines)


def _all_seeds_through(per_epoch: Mapping[str, Mapping[str, Sequence[Any]]]) -> int:
    """The last epoch at which every method's spread still holds all of its seeds (>= 1)."""
    def seeds(spread: Any) -> int:
        return len(spread.get("values") or ()) if isinstance(spread, Mapping) else 0

    last = []
    for table in per_epoch.values():
        spreads = next(iter(table.values()))
        n = 0
        while n < len(spreads) and seeds(spreads[n]) == seeds(spreads[0]):
            n += 1
        last.append(n)
    return max(1, min(last))


def balancing_chart(
    per_epoch: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    floor: float,
    ratio: float = 500.0,
    width: int = 380,
) -> Any:
    """The 18.2 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    per_epoch : mapping
        The results to embed (:func:`gabalab.experiments.verdicts.per_epoch_spreads` of the
        trained runs, every metric of :data:`RESULT_METRICS`). The chart runs up to the
        last epoch that every method trained, and opens at the last epoch that every run
        trained (each spread's ``values`` as many as at epoch 1), where every mean is over
        all the seeds.
    floor : float
        Start value of the floor slider (the package default), ``0 <= floor <= 0.05``.
    ratio : float
        Start value of the norm ratio, ``1 <= ratio <= 10**4`` (rounded to the slider grid).
    width : int
        Width of each panel in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    TypeError, ValueError
        On arguments out of range or results without data.
    """
    floor = check_real("floor", floor, nonnegative=True)
    if floor > 0.05:
        raise ValueError(f"floor must be <= 0.05 (the slider's range), got {floor}")
    ratio = check_real("ratio", ratio, positive=True)
    if not 1.0 <= ratio <= 1e4:
        raise ValueError(f"ratio must lie in [1, 10000], got {ratio}")
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    alt = require_altair()
    rows = result_rows(per_epoch)
    methods = list(per_epoch)
    # Up to the last epoch that every method trained: beyond it the readout would be blank.
    n_epochs = min(max(r["epoch"] for r in rows if r["method"] == m) for m in methods)
    rows = [r for r in rows if r["epoch"] <= n_epochs]
    start = round(math.log10(ratio) / 0.05) * 0.05
    controls = dict(zip(("log10_ratio", "floor"), (round(start, 2), floor)))
    params = [
        alt.param(name=name, value=controls[name],
                  bind=alt.binding_range(min=lo, max=hi, step=step, name=label))
        for name, label, lo, hi, step in WEIGHT_CONTROLS
    ]
    metric = alt.param(name="metric", value="rmse",
                       bind=alt.binding_radio(options=list(RESULT_METRICS),
                                              labels=list(RESULT_METRICS.values()),
                                              name="metric to plot "))
    epoch = alt.param(name="epoch", value=min(n_epochs, _all_seeds_through(per_epoch)),
                      bind=alt.binding_range(min=1, max=n_epochs, step=1,
                                             name="epoch of the results "))

    grid = [{"log10_r": round(float(v), 3)} for v in np.linspace(0.0, 4.0, 161)]
    curve = (
        alt.Chart(alt.Data(values=grid))
        .transform_calculate(lam=_FLOORED.replace("log10_ratio", "datum.log10_r"))
        .mark_line(color="#c0392b")
        .encode(x=alt.X("log10_r:Q", title="log₁₀ R, R = g_rul / g_health"),
                y=alt.Y("lam:Q", scale=alt.Scale(type="log", domain=[1e-4, 1]),
                        axis=alt.Axis(values=[1e-4, 1e-3, 1e-2, 1e-1, 1], format="~g"),
                        title="λ_rul (log scale)"))
    )
    point = (
        alt.Chart(alt.Data(values=[{}]))
        .transform_calculate(x="log10_ratio", lam=WEIGHT_EXPRESSIONS["lambda_rul"])
        .mark_point(color="#c0392b", size=80, filled=True)
        .encode(x="x:Q", y="lam:Q")
    )
    weights = alt.layer(curve, point).properties(
        width=width, height=160, title="GABA's RUL weight λ_rul against R, floored")
    weight_text = readout_chart(WEIGHT_READOUT, WEIGHT_EXPRESSIONS, width=width)

    data = alt.Chart(alt.Data(values=rows)).transform_filter("datum.metric == metric")
    lines = data.mark_line(point=True).encode(
        x=alt.X("epoch:O", title="epoch", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("mean:Q", title="chosen metric, mean over seeds",
                scale=alt.Scale(zero=False)),
        color=alt.Color("method:N", sort=methods,
                        scale=alt.Scale(domain=methods,
                                        range=[METHOD_COLOURS.get(m, "#555") for m in methods])),
    )
    rule = alt.Chart(alt.Data(values=[{}])).transform_calculate(e="epoch").mark_rule(
        color="#555", strokeDash=[3, 3]).encode(x="e:O")
    results = alt.layer(lines, rule).properties(
        width=width, height=180,
        title="FD001: each method's mean over the seeds that trained that epoch")
    at_epoch = (
        data.transform_filter("datum.epoch == epoch")
        .transform_calculate(key="datum.method")
        .transform_pivot("method", value="mean", groupby=["metric"])
    )
    stds = (
        data.transform_filter("datum.epoch == epoch")
        .transform_calculate(method_std="datum.method + '_std'")
        .transform_pivot("method_std", value="std", groupby=["metric"])
    )
    readout_lines = result_readout(methods)
    mean_text = row_readout(at_epoch, readout_lines[0::2],
                            {f"{m}_mean": f"datum['{m}']" for m in methods}, width=width)
    std_text = row_readout(stds, readout_lines[1::2],
                           {f"{m}_std": f"datum['{m}_std']" for m in methods}, width=width)
    return finish(
        alt.vconcat(weights, weight_text, results, mean_text, std_text)
        .add_params(*params, metric, epoch)
    )
