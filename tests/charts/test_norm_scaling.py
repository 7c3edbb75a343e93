"""gabalab.charts.norm_scaling: the 12.1 explorer against gabalab.norms.norm_scaling."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from gabalab.charts import norm_scaling as chart
from gabalab.norms import norm_scaling
from tests.charts.vega_expressions import evaluate

GRID = chart.norm_grid(0)


def test_the_grid_covers_the_slider() -> None:
    assert [r["log10_n"] for r in GRID] == chart.grid_values()
    assert GRID[0]["n"] == 10 and GRID[-1]["n"] == round(10**6.5)
    assert all(r["n"] == round(10 ** r["log10_n"]) for r in GRID)


@pytest.mark.parametrize(("row", "log10_rul", "log10_hs"), list(itertools.product(
    [0, 5, 12, len(GRID) - 1], [-4.0, -1.3, 0.0, 1.0], [-2.7, -4.0, 0.5])))
def test_every_expression_equals_the_python_twin(row: int, log10_rul: float,
                                                 log10_hs: float) -> None:
    datum = GRID[row]
    s_rul, s_hs = 10.0**log10_rul, 10.0**log10_hs
    want = {**norm_scaling(datum["n"], s_rul, s_hs, seed=0), "scale_rul": s_rul,
            "scale_hs": s_hs}
    env = {"datum": datum, "log10_scale_rul": log10_rul, "log10_scale_hs": log10_hs}
    for key, expression in chart.EXPRESSIONS.items():
        # the embedded unit norms carry 10 significant digits
        assert evaluate(expression, env) == pytest.approx(want[key], rel=1e-9), key


def test_norms_grow_like_sqrt_n_and_the_ratio_does_not() -> None:
    first, last = GRID[4], GRID[-1]  # N = 100 and N = 3,162,278
    growth = last["z_rul"] / first["z_rul"]
    assert growth == pytest.approx(math.sqrt(last["n"] / first["n"]), rel=0.1)
    assert last["z_rul"] / last["z_hs"] == pytest.approx(1.0, rel=0.01)


def test_the_chart_embeds_the_grid_and_the_tested_expressions() -> None:
    spec = chart.norm_scaling_chart(GRID).to_dict()
    text = json.dumps(spec)
    for expression in chart.EXPRESSIONS.values():
        assert json.dumps(expression)[1:-1] in text
    assert json.dumps(GRID[7]["z_hs"]) in text
    params = {p["name"]: p for p in spec["params"]}
    for name, _label, lo, hi, step, start in chart.CONTROLS:
        bind = params[name]["bind"]
        assert (bind["min"], bind["max"], bind["step"], params[name]["value"]) == (lo, hi, step,
                                                                                    start)


def test_a_grid_that_misses_a_slider_value_is_refused() -> None:
    with pytest.raises(ValueError, match="one row per slider value"):
        chart.norm_scaling_chart(GRID[:-1])
    bad = [dict(r) for r in GRID]
    bad[3]["z_rul"] = float("nan")
    with pytest.raises(ValueError, match="finite positive"):
        chart.norm_scaling_chart(bad)
