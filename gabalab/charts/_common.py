"""Pieces shared by the explorers of :mod:`gabalab.charts`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "FONT_SIZES",
    "MIN_FONT_SIZE",
    "finish",
    "number_format",
    "readout_chart",
    "require_altair",
    "round_sig",
    "row_readout",
]

#: The smallest size in pixels of any chart text (axis labels, legend labels, readouts).
#: The book's prose is 16 px; Vega's own defaults (10 px axis labels) are too small to read.
MIN_FONT_SIZE = 12
#: Size in pixels of each kind of chart text, set once for every explorer by :func:`finish`
#: (as the chart's Vega-Lite ``config``): labels at :data:`MIN_FONT_SIZE`, titles larger.
#: ``text`` is every text mark (the readout lines, value labels); no chart sets its own.
FONT_SIZES: dict[str, int] = {
    "axis_label": MIN_FONT_SIZE,
    "axis_title": 13,
    "legend_label": MIN_FONT_SIZE,
    "legend_title": 13,
    "header_label": MIN_FONT_SIZE,
    "header_title": 13,
    "subtitle": 13,
    "text": 13,
    "title": 15,
}


def require_altair() -> Any:
    """The ``altair`` module, or an ImportError that says how to get it."""
    try:
        import altair
    except ImportError as exc:  # pragma: no cover - altair is pinned in requirements.txt
        raise ImportError(
            "gabalab.charts needs Altair: pip install -r requirements.txt (altair is pinned there)"
        ) from exc
    return altair


def round_sig(value: float, digits: int = 10) -> float:
    """``value`` rounded to ``digits`` significant digits, as a Python float.

    Data measured with floating-point sums (gradient norms) can differ in the last bits
    between thread counts; the charts embed them rounded, so the stored outputs do not.

    Examples
    --------
    >>> (round_sig(1234.56789, 4), round_sig(0.0, 4),
    ...  round_sig(-0.000123456, 2))
    (1235.0, 0.0, -0.00012)
    """
    value = float(value)
    if value == 0.0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def number_format(fmt: str) -> str:
    """The Python format spec that writes numbers as the d3 format ``fmt`` does.

    Only the forms the charts use: ``.Nf`` (fixed), ``.Ng`` (significant digits; ``.N~g``
    drops trailing zeros, as Python's ``g`` always does),
    ``,d`` (integer with thousands separators) and ``""`` (text, shown as it is).

    Raises
    ------
    ValueError
        For any other format.

    Examples
    --------
    >>> number_format(".4f"), number_format(".4~g"), number_format(",d")
    ('.4f', '.4g', ',d')
    """
    if fmt in (",d", ""):
        return fmt
    if len(fmt) >= 3 and fmt[0] == "." and fmt[-1] in "fg":
        digits = fmt[1:-1].removesuffix("~")
        if digits.isdigit():
            return f".{digits}{fmt[-1]}"
    raise ValueError(f"unsupported number format {fmt!r}")


def readout_chart(
    lines: Sequence[tuple[str, str, str]],
    expressions: Mapping[str, str],
    *,
    width: int,
    line_height: int = 18,
) -> Any:
    """Text lines ``label = value``, one per entry of ``lines``, as an Altair chart.

    Parameters
    ----------
    lines : sequence of (label, key, d3 format)
        What to show; ``key`` names an entry of ``expressions``. An empty format shows
        the expression's value as text.
    expressions : mapping of str to str
        Vega expressions of the chart's parameters.
    width, line_height : int
        Size in pixels.

    Returns
    -------
    altair.Chart

    Raises
    ------
    KeyError
        If a line names a key that ``expressions`` lacks.
    """
    alt = require_altair()
    rows = [{"i": i, "label": label, "fmt": fmt} for i, (label, _, fmt) in enumerate(lines)]
    value = "null"
    for i, (_, key, _) in reversed(list(enumerate(lines))):
        value = f"datum.i == {i} ? ({expressions[key]}) : {value}"
    # A line with an empty format shows text; a number that is not finite shows as
    # inf, -inf or nan.
    shown = (
        "datum.fmt == '' ? datum.value : isFinite(datum.value) ? "
        "format(datum.value, datum.fmt) : datum.value > 0 ? 'inf' : "
        "datum.value < 0 ? '-inf' : 'nan'"
    )
    return (
        alt.Chart(alt.Data(values=rows))
        .transform_calculate(value=value)
        .transform_calculate(text=f"datum.label + ' = ' + ({shown})")
        .mark_text(align="left", baseline="middle")
        .encode(
            x=alt.value(0),
            y=alt.Y("i:O", axis=None),
            text="text:N",
        )
        .properties(width=width, height=line_height * len(lines))
    )


def _shown(value: str, fmt: str) -> str:
    """A Vega expression writing ``value`` with the d3 format ``fmt`` ("" for text);
    numbers that are not finite as inf, -inf or nan."""
    if fmt == "":
        return f"({value})"
    return (f"(isFinite({value}) ? format({value}, '{fmt}') : "
            f"{value} > 0 ? 'inf' : {value} < 0 ? '-inf' : 'nan')")


def row_readout(
    base: Any,
    lines: Sequence[tuple[str, str, str]],
    values: Mapping[str, str],
    *,
    width: int,
    line_height: int = 18,
) -> Any:
    """Text lines ``label = value`` computed from the one row that ``base`` leaves.

    Parameters
    ----------
    base : altair.Chart
        A chart whose data and transforms end in a single row.
    lines : sequence of (label, key, d3 format)
        What to show; an empty format shows text.
    values : mapping of str to str
        For each key, a Vega expression of that row (``datum.field``) and the parameters.
    width, line_height : int
        Size in pixels.

    Returns
    -------
    altair.Chart
    """
    alt = require_altair()
    keys = [key for _, key, _ in lines]
    texts = {key: f"'{label} = ' + " + _shown(values[key], fmt) for label, key, fmt in lines}
    return (
        base.transform_calculate(**texts)
        .transform_fold(keys, as_=["line", "text"])
        .mark_text(align="left", baseline="middle")
        .encode(x=alt.value(0), y=alt.Y("line:N", sort=keys, axis=None), text="text:N")
        .properties(width=width, height=line_height * len(lines))
    )


def finish(chart: Any) -> Any:
    """An explorer's top-level chart with the configuration that every explorer shares.

    * Text sizes of :data:`FONT_SIZES` for axes, legends, headers, titles and text marks
      (so no chart text is smaller than :data:`MIN_FONT_SIZE`).
    * Each legend stands with the panel it describes, above it: in a concatenation the
      colour and dash scales are resolved per panel (Vega-Lite would otherwise merge them
      into one legend beside the whole composition, next to whichever panel comes first),
      and a legend is drawn horizontally on top of its panel, which also keeps the chart
      narrow enough for a phone.
    * No border around the plots.

    Parameters
    ----------
    chart : altair chart
        The explorer, before any ``configure_*`` call.

    Returns
    -------
    altair chart

    Examples
    --------
    >>> import altair as alt
    >>> chart = alt.Chart(alt.Data(values=[{"x": 1}])).mark_text()
    >>> spec = finish(chart.encode(x="x:Q", text="x:Q")).to_dict()
    >>> config = spec["config"]
    >>> config["axis"]["labelFontSize"], config["title"]["fontSize"]
    (12, 15)
    """
    alt = require_altair()
    if isinstance(chart, (alt.VConcatChart, alt.HConcatChart, alt.ConcatChart)):
        chart = chart.resolve_scale(color="independent", strokeDash="independent")
    return (
        chart.configure_view(stroke=None)
        .configure_axis(labelFontSize=FONT_SIZES["axis_label"],
                        titleFontSize=FONT_SIZES["axis_title"])
        .configure_legend(labelFontSize=FONT_SIZES["legend_label"],
                          titleFontSize=FONT_SIZES["legend_title"],
                          orient="top", direction="horizontal", titleOrient="left",
                          titleAnchor="start", columnPadding=14)
        .configure_header(labelFontSize=FONT_SIZES["header_label"],
                          titleFontSize=FONT_SIZES["header_title"])
        .configure_title(fontSize=FONT_SIZES["title"], subtitleFontSize=FONT_SIZES["subtitle"])
        .configure_text(fontSize=FONT_SIZES["text"])
    )
