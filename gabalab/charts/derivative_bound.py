"""Live explorer of section 12.2: the two output-gradient sizes of one sample.

Sliders for the residual ``r``, the true-class probability ``p_true``, the batch size ``B``
and the number of classes ``K``; the chart shows, on a log axis, the MSE gradient on the
prediction ``2|r|/B``, the cross-entropy gradient on the true-class logit
``(1 - p_true)/B`` and the L2 norm of the whole logit row, against the cross-entropy bound
``1/B``, and below it the four numbers and the ratio ``2|r|/(1 - p_true)`` as text.

Every number is a Vega expression of the slider values; :data:`EXPRESSIONS` lists them and
:func:`gabalab.losses.gradient_magnitudes` is their Python twin (the tests evaluate both).
"""

from __future__ import annotations

from typing import Any

from gabalab._checks import check_int
from gabalab.charts._common import finish, readout_chart, require_altair

__all__ = ["CONTROLS", "EXPRESSIONS", "READOUT", "derivative_bound_chart"]

#: Slider of each parameter: (name, label, min, max, step, start). The start values are the
#: ones the section's text uses (K = 3 and p_true on the slider grid near 1/K).
CONTROLS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("r", "residual r = ŷ − y (cycles) ", -125.0, 125.0, 1.0, -60.0),
    ("p_true", "true-class probability p_true ", 0.0, 0.99, 0.01, 0.33),
    ("B", "batch size B (samples) ", 1.0, 256.0, 1.0, 32.0),
    ("K", "health classes K ", 2.0, 10.0, 1.0, 3.0),
)

#: Each shown quantity as a Vega expression of the slider values, keyed like the result
#: of :func:`gabalab.losses.gradient_magnitudes` (plus ``bound``, the 1/B ceiling).
EXPRESSIONS: dict[str, str] = {
    "mse": "2 * abs(r) / B",
    "ce_true": "(1 - p_true) / B",
    "ce_row": "(1 - p_true) / B * sqrt(K / (K - 1))",
    "bound": "1 / B",
    "ratio": "2 * abs(r) / (1 - p_true)",
}

#: Lines of the readout under the chart: (label, key of EXPRESSIONS, d3 number format).
READOUT: tuple[tuple[str, str, str], ...] = (
    ("|∂L_mse/∂ŷ| = 2|r|/B", "mse", ".4f"),
    ("|∂L_ce/∂z_true| = (1 − p_true)/B", "ce_true", ".6f"),
    ("‖∂L_ce/∂z‖₂ over the K logits", "ce_row", ".6f"),
    ("cross-entropy bound 1/B", "bound", ".6f"),
    ("ratio MSE / CE = 2|r|/(1 − p_true)", "ratio", ".1f"),
)

_BARS = (
    ("MSE, on ŷ: 2|r|/B", "mse", "#c0392b"),
    ("CE, true-class logit: (1 − p_true)/B", "ce_true", "#2471a3"),
    ("CE, whole logit row: ‖·‖₂", "ce_row", "#7fb3d5"),
)


def derivative_bound_chart(width: int = 420) -> Any:
    """The 12.2 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    width : int, default 420
        Width of the bar chart in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    TypeError, ValueError
        If ``width`` is not an integer in range.

    Examples
    --------
    >>> spec = derivative_bound_chart().to_dict()
    >>> sorted(p["name"] for p in spec["params"])
    ['B', 'K', 'p_true', 'r']
    """
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    alt = require_altair()
    params = [
        alt.param(
            name=name,
            value=start,
            bind=alt.binding_range(min=lo, max=hi, step=step, name=label),
        )
        for name, label, lo, hi, step, start in CONTROLS
    ]
    rows = [{"term": term, "key": key, "colour": colour} for term, key, colour in _BARS]
    value = " : ".join(
        f"datum.key == '{key}' ? ({EXPRESSIONS[key]})" for _, key, _ in _BARS[:-1]
    ) + f" : ({EXPRESSIONS[_BARS[-1][1]]})"
    scale = alt.Scale(type="log", domain=[1e-5, 300], clamp=True)
    base = alt.Chart(alt.Data(values=rows)).transform_calculate(g=value)
    # Each bar's name on two lines (what, then its formula) keeps the chart narrow.
    y = alt.Y("term:N", sort=[term for term, _, _ in _BARS], title=None,
              axis=alt.Axis(labelLimit=260, labelExpr="split(datum.label, ': ')"))
    bars = base.transform_filter("datum.g > 0").mark_bar().encode(
        x=alt.X("g:Q", scale=scale, title="gradient size (log scale)"),
        y=y,
        color=alt.Color("colour:N", scale=None),
    )
    labels = base.mark_text(align="left", dx=4).encode(
        x=alt.X("g:Q", scale=scale),
        y=y,
        text=alt.Text("g:Q", format=".3g"),
    )
    bound = alt.Chart(alt.Data(values=[{}])).transform_calculate(
        bound=EXPRESSIONS["bound"]
    ).mark_rule(color="#333", strokeDash=[4, 3]).encode(x=alt.X("bound:Q", scale=scale))
    bound_label = alt.Chart(alt.Data(values=[{}])).transform_calculate(
        bound=EXPRESSIONS["bound"], text="'CE bound 1/B'"
    ).mark_text(align="left", dx=3, dy=-4, baseline="bottom", color="#333").encode(
        x=alt.X("bound:Q", scale=scale), y=alt.value(0), text="text:N"
    )
    chart = alt.layer(bars, labels, bound, bound_label).properties(
        width=width, height=120,
        title="Output gradients of one sample",
    )
    readout = readout_chart(READOUT, EXPRESSIONS, width=width)
    return finish(alt.vconcat(chart, readout).add_params(*params))
