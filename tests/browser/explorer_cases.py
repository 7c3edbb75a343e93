"""The live explorers of the book (gabalab.charts), as the browser tests drive them.

One :class:`Case` per explorer: the page and notebook it is on, its chart's name, the
readout lines it shows (label, key, d3 number format, from the chart module), what to do
with its controls (:class:`Move`, each done with the keyboard or the mouse), and its Python
twin: a function from the controls' current values to the value of every readout key.
The static-site test and the JupyterLab test both use these cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gabalab.charts import derivative_bound as chart_12_2
from gabalab.charts._common import number_format
from gabalab.losses import gradient_magnitudes


@dataclass(frozen=True)
class Move:
    """One thing a reader does to a control.

    Attributes
    ----------
    control : str
        The parameter's name (the ``name`` of its ``<input>``).
    how : str
        ``"keys"``: focus the control and press ``keys`` one after the other;
        ``"click"``: click the control (a checkbox, or a radio button's ``value``);
        ``"drag"``: drag a slider's thumb to ``fraction`` of its track with the mouse.
    keys : tuple of str
        Keys for ``"keys"``.
    value : str
        For ``"click"`` on a radio group: the option to click.
    fraction : float
        For ``"drag"``: where on the track to let go, 0 (left) to 1 (right).
    """

    control: str
    how: str
    keys: tuple[str, ...] = ()
    value: str = ""
    fraction: float = 0.5


@dataclass(frozen=True)
class Case:
    """One explorer and how to check it."""

    page: str
    chart: str
    readout: Sequence[tuple[str, str, str]]
    moves: Sequence[Move]
    twin: Callable[[Mapping[str, Any]], Mapping[str, float]]

    @property
    def chart_id(self) -> str:
        return f"gabalab-chart-{self.chart}"

    @property
    def notebook(self) -> str:
        return self.page.removesuffix(".html") + ".md"


def _twin_12_2(c: Mapping[str, Any]) -> dict[str, float]:
    g = gradient_magnitudes(float(c["r"]), float(c["p_true"]), int(c["B"]), int(c["K"]))
    return {**g, "bound": 1.0 / int(c["B"])}


CASES: list[Case] = [
    Case(
        page="chapter12/derivative_bound.html",
        chart="s12_2_derivative_bound",
        readout=chart_12_2.READOUT,
        moves=[
            Move("r", "keys", keys=("ArrowRight",) * 15),
            Move("p_true", "drag", fraction=0.8),
            Move("B", "keys", keys=("End",)),
            Move("K", "drag", fraction=1.0),
            Move("r", "keys", keys=("Home",)),
        ],
        twin=_twin_12_2,
    ),
]

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)(\.\d+)?(e[-+]?\d+)?$")


def shown_number(text: str) -> float:
    """A number as a chart writes it (d3 format: commas, a Unicode minus)."""
    clean = text.strip().replace("\u2212", "-")
    if not _NUMBER.match(clean.replace("+", "", 1) if clean.startswith("+") else clean):
        raise ValueError(f"not a number: {text!r}")
    return float(clean.replace(",", ""))


def agrees(shown: str, value: float, fmt: str) -> bool:
    """Whether ``shown`` is ``value`` written with the d3 format ``fmt``.

    The text must be the value rounded to the format's precision: for ``.Nf`` within half a
    unit of its last decimal, for ``.Ng`` within half a unit of its last significant digit,
    for ``,d`` the same integer. (JavaScript and Python round an exact tie differently,
    so the test compares numbers, not strings.)
    """
    spec = number_format(fmt)
    number = shown_number(shown)
    if spec == ",d":
        return number == round(value)
    digits = int(spec[1:-1])
    if spec.endswith("f"):
        half = 0.5 * 10.0 ** (-digits)
    else:
        if value == 0:
            return number == 0
        import math

        exponent = math.floor(math.log10(abs(value)))
        half = 0.5 * 10.0 ** (exponent - digits + 1)
    return abs(number - value) <= half * (1 + 1e-9)


def check_readout(
    case: Case, texts: Sequence[str], controls: Mapping[str, Any]
) -> list[str]:
    """Differences between the readout a chart shows and its Python twin (empty: none)."""
    want = case.twin(controls)
    trouble = []
    for label, key, fmt in case.readout:
        prefix = f"{label} = "
        lines = [t for t in texts if t.startswith(prefix)]
        if len(lines) != 1:
            trouble.append(f"{len(lines)} readout lines start with {prefix!r}")
            continue
        shown = lines[0][len(prefix):]
        if not agrees(shown, float(want[key]), fmt):
            trouble.append(
                f"{label}: the page shows {shown!r}, the Python twin gives {want[key]!r} "
                f"(format {fmt}) for {dict(controls)}"
            )
    return trouble
