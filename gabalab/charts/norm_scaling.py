"""Live explorer of section 12.1: how the two gradient norms scale with the parameter count.

Sliders for ``log10 N`` and each task's per-element gradient scale (log10); the chart
shows both L2 norms and their ratio against ``N`` on log-log axes, with the current
setting marked, and the numbers of the current setting as text. The norms grow like
``sqrt(N)``; the ratio and the root-mean-square entries ``||g|| / sqrt(N)`` do not
(the chart writes them as the page does: ``‖g_rul‖₂``, ``√N``).

Python twin: :func:`gabalab.norms.norm_scaling`. A gradient there is ``scale * z`` with
``z`` a standard normal draw of length ``N`` from a seeded generator, so its norm is
``scale * ||z||``. The draws cannot be made in the page (Vega has no seeded generator), so
:func:`norm_grid` computes ``||z||`` of both tasks once, in Python, for every ``N`` on the
slider's grid, and the page multiplies by the scales: :data:`EXPRESSIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np

from gabalab._checks import as_array, as_list, check_int
from gabalab.charts._common import finish, require_altair, round_sig, row_readout
from gabalab.norms import MAX_PARAMS, norm_scaling

__all__ = ["CONTROLS", "EXPRESSIONS", "READOUT", "norm_grid", "norm_scaling_chart"]

#: Sliders: (name, label, min, max, step, start), all on log10 grids (each label says so:
#: the number beside the slider is the log10). The N grid and the scale grids are those of
#: the JupyterLab explorer; HS starts at 10^-2.7 (about 0.002).
CONTROLS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("log10_n", "log₁₀ N (shared parameters) ", 1.0, 6.5, 0.25, 4.0),
    ("log10_scale_rul", "log₁₀ RUL per-element scale ", -4.0, 1.0, 0.1, 0.0),
    ("log10_scale_hs", "log₁₀ HS per-element scale ", -4.0, 1.0, 0.1, -2.7),
)

#: Each shown number as a Vega expression of one grid row (``datum.n``: N, ``datum.z_rul``
#: and ``datum.z_hs``: the unit-scale norms) and the sliders; keyed like the result of
#: :func:`gabalab.norms.norm_scaling` (plus the two scales).
EXPRESSIONS: dict[str, str] = {
    "n_params": "datum.n",
    "scale_rul": "pow(10, log10_scale_rul)",
    "scale_hs": "pow(10, log10_scale_hs)",
    "norm_rul": "pow(10, log10_scale_rul) * datum.z_rul",
    "norm_hs": "pow(10, log10_scale_hs) * datum.z_hs",
    "ratio": "(pow(10, log10_scale_rul) * datum.z_rul) / (pow(10, log10_scale_hs) * datum.z_hs)",
    "rms_rul": "pow(10, log10_scale_rul) * datum.z_rul / sqrt(datum.n)",
    "rms_hs": "pow(10, log10_scale_hs) * datum.z_hs / sqrt(datum.n)",
}
#: Readout lines: (label, key of EXPRESSIONS, d3 format).
READOUT: tuple[tuple[str, str, str], ...] = (
    ("N", "n_params", ",d"),
    ("RUL per-element scale", "scale_rul", ".4~g"),
    ("HS per-element scale", "scale_hs", ".4~g"),
    ("‖g_rul‖₂", "norm_rul", ".4~g"),
    ("‖g_hs‖₂", "norm_hs", ".4~g"),
    ("ratio ‖g_rul‖ / ‖g_hs‖", "ratio", ".4~g"),
    ("‖g_rul‖ / √N", "rms_rul", ".4~g"),
    ("‖g_hs‖ / √N", "rms_hs", ".4~g"),
)


def grid_values() -> list[float]:
    """The ``log10 N`` values of the slider, from its min to its max."""
    _, _, lo, hi, step, _ = CONTROLS[0]
    count = round((hi - lo) / step) + 1
    return [round(lo + i * step, 10) for i in range(count)]


def norm_grid(seed: int = 0, log10_n: Sequence[float] | None = None) -> list[dict[str, float]]:
    """Unit-scale norms of both tasks' random gradients for every ``N`` of the slider.

    Parameters
    ----------
    seed : int, default 0
        As in :func:`gabalab.norms.norm_scaling`.
    log10_n : sequence of float, optional
        The ``log10 N`` values; default :func:`grid_values`. ``N = round(10 ** value)``.

    Returns
    -------
    list of dict
        One row per value: ``log10_n``, ``n`` (int), ``z_rul`` and ``z_hs`` (the norms of
        :func:`gabalab.norms.norm_scaling` with both scales 1, to 10 significant digits).

    Raises
    ------
    TypeError, ValueError
        If ``seed`` is not an integer ``>= 0``, or ``log10_n`` is not a non-empty 1-D array
        of finite numbers each giving ``1 <= N <=`` :data:`gabalab.norms.MAX_PARAMS`.

    Examples
    --------
    >>> rows = norm_grid(0, [2.0])
    >>> rows[0]["n"], round(rows[0]["z_rul"] / 10, 1)
    (100, 1.0)
    """
    seed = check_int("seed", seed, minimum=0)
    if log10_n is None:
        values = grid_values()
    else:
        values = as_array("log10_n", log10_n, ndim=1, nonempty=True).tolist()
    sizes = []
    for i, value in enumerate(values):
        # 10 ** 8 is beyond MAX_PARAMS; the bound also keeps 10 ** value from overflowing
        n = round(10.0 ** float(value)) if value <= 8 else MAX_PARAMS + 1
        if not 1 <= n <= MAX_PARAMS:
            raise ValueError(f"log10_n[{i}] = {value} gives N = round(10 ** {value}), which "
                             f"must lie in [1, {MAX_PARAMS}]")
        sizes.append(n)
    rows = []
    for value, n in zip(values, sizes):
        out = norm_scaling(n, 1.0, 1.0, seed=seed)
        rows.append({"log10_n": float(value), "n": n, "z_rul": round_sig(out["norm_rul"]),
                     "z_hs": round_sig(out["norm_hs"])})
    return rows


def norm_scaling_chart(grid: Sequence[dict[str, float]], width: int = 440) -> Any:
    """The 12.1 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    grid : sequence of dict
        From :func:`norm_grid` (one row per ``N`` of the slider).
    width : int, default 440
        Width of the chart in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    ValueError
        If ``grid`` does not hold a finite positive row for every ``N`` of the slider, or
        ``width`` is out of range.
    TypeError
        If ``grid`` is not a list of rows (mappings of numbers) or ``width`` is not an
        integer.
    """
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    rows = []
    for i, row in enumerate(as_list("grid", grid)):
        if not isinstance(row, Mapping):
            raise TypeError(f"grid[{i}] must be a row of norm_grid (a mapping), got "
                            f"{type(row).__name__}")
        missing = [k for k in ("log10_n", "n", "z_rul", "z_hs") if k not in row]
        if missing:
            raise ValueError(f"grid[{i}] lacks {missing}")
        for key in ("log10_n", "n", "z_rul", "z_hs"):
            if isinstance(row[key], bool) or not isinstance(row[key], Real):
                raise TypeError(f"grid[{i}][{key!r}] must be a number, got "
                                f"{type(row[key]).__name__}")
        rows.append(dict(row))
    have = sorted(round(float(r["log10_n"]), 10) for r in rows)
    if have != grid_values():
        raise ValueError("grid must hold one row per slider value of log10 N (see norm_grid)")
    for r in rows:
        if not all(np.isfinite(r[k]) and r[k] > 0 for k in ("n", "z_rul", "z_hs")):
            raise ValueError(f"grid row {r} must hold finite positive n, z_rul and z_hs")
    alt = require_altair()
    params = [
        alt.param(name=name, value=start,
                  bind=alt.binding_range(min=lo, max=hi, step=step, name=label))
        for name, label, lo, hi, step, start in CONTROLS
    ]
    current = "abs(datum.log10_n - log10_n) < 1e-9"
    base = alt.Chart(alt.Data(values=rows)).transform_calculate(
        **{key: EXPRESSIONS[key] for key in ("norm_rul", "norm_hs", "ratio")}
    )
    series = {"norm_rul": READOUT[3][0], "norm_hs": READOUT[4][0], "ratio": "ratio"}
    folded = base.transform_fold(list(series), as_=["series", "value"]).transform_calculate(
        name=" : ".join(f"datum.series == '{k}' ? '{v}'" for k, v in list(series.items())[:-1])
        + f" : '{list(series.values())[-1]}'"
    )
    colour = alt.Color("name:N", title=None, scale=alt.Scale(
        domain=list(series.values()), range=["#c0392b", "#2471a3", "#555555"]))
    x = alt.X("n:Q", scale=alt.Scale(type="log"), title="N, shared parameters (log scale)",
              axis=alt.Axis(values=[10**k for k in range(1, 7)], format="~s"))
    y = alt.Y("value:Q", scale=alt.Scale(type="log"), title="norm, or ratio (log scale)")
    lines = folded.mark_line().encode(x=x, y=y, color=colour,
                                      strokeDash=alt.condition("datum.series == 'ratio'",
                                                               alt.value([5, 3]),
                                                               alt.value([1, 0])))
    points = folded.transform_filter(current).mark_point(size=70, filled=True).encode(
        x=x, y=y, color=colour)
    plot = alt.layer(lines, points).properties(
        width=width, height=220, title="Norms grow like √N; their ratio does not")
    readout = row_readout(base.transform_filter(current), READOUT, EXPRESSIONS, width=width)
    return finish(alt.vconcat(plot, readout).add_params(*params))
