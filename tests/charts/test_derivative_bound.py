"""gabalab.charts.derivative_bound: the 12.2 explorer's expressions against their Python twin."""

from __future__ import annotations

import itertools
import json

import pytest

from gabalab.charts import derivative_bound as chart
from gabalab.losses import gradient_magnitudes
from tests.charts.vega_expressions import evaluate

SETTINGS = list(itertools.product([-125.0, -60.0, -0.5, 0.0, 7.0, 125.0],
                                  [0.0, 0.33, 0.5, 0.99], [1, 32, 256], [2, 3, 10]))


@pytest.mark.parametrize(("r", "p_true", "B", "K"), SETTINGS)
def test_every_expression_equals_the_python_twin(r: float, p_true: float, B: int, K: int) -> None:
    want = {**gradient_magnitudes(r, p_true, B, K), "bound": 1 / B}
    env = {"r": r, "p_true": p_true, "B": float(B), "K": float(K)}
    for key, expression in chart.EXPRESSIONS.items():
        assert evaluate(expression, env) == pytest.approx(want[key], rel=1e-15, abs=0), key


def test_the_readout_shows_every_expression() -> None:
    assert {key for _, key, _ in chart.READOUT} == set(chart.EXPRESSIONS)


def test_the_chart_evaluates_the_tested_expressions() -> None:
    text = json.dumps(chart.derivative_bound_chart().to_dict())
    for expression in chart.EXPRESSIONS.values():
        assert json.dumps(expression)[1:-1] in text


def test_the_sliders_are_the_documented_controls() -> None:
    spec = chart.derivative_bound_chart().to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert list(params) == [c[0] for c in chart.CONTROLS]
    for name, label, lo, hi, step, start in chart.CONTROLS:
        bind = params[name]["bind"]
        assert (bind["input"], bind["min"], bind["max"], bind["step"]) == ("range", lo, hi, step)
        assert params[name]["value"] == start and bind["name"] == label
        # the start lies on the slider's grid, so the shown value is the one used
        assert round((start - lo) / step, 9).is_integer()


def test_the_start_matches_the_section() -> None:
    start = {name: value for name, _, _, _, _, value in chart.CONTROLS}
    assert (start["B"], start["K"]) == (32, 3)


def test_the_chart_is_the_same_on_every_call() -> None:
    assert chart.derivative_bound_chart().to_dict() == chart.derivative_bound_chart().to_dict()


@pytest.mark.parametrize(("width", "error"), [(99, ValueError), (2001, ValueError),
                                              (300.0, TypeError)])
def test_bad_width_is_refused(width: object, error: type) -> None:
    with pytest.raises(error, match="width"):
        chart.derivative_bound_chart(width=width)  # type: ignore[arg-type]
