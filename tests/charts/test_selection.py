"""gabalab.charts.selection: the 18.1 explorer against gabalab.blocks.selection_readout."""

from __future__ import annotations

import itertools
import json

import pytest

from gabalab.blocks import selection_readout
from gabalab.charts import selection as chart
from tests.charts.vega_expressions import evaluate

TABLE = {
    "conv": {"n_params": 1000, "rul": 4.0e4, "health": 0.02},
    "lstm": {"n_params": 20000, "rul": 9.0e4, "health": 0.03},
    "funnel": {"n_params": 500, "rul": 1.0e2, "health": 0.001},
    "rul_head": {"n_params": 17, "rul": 5.0e5, "health": 0.0},
    "health_head": {"n_params": 51, "rul": 0.0, "health": 0.5},
}
CHOICES = [list(c) for k in range(1, len(TABLE) + 1) for c in itertools.combinations(TABLE, k)]


def _aggregate(chosen: list[str]) -> dict[str, float]:
    """What the chart's aggregate leaves for the ticked blocks (sums over the rows)."""
    rows = [r for r in chart.block_rows(TABLE) if r["block"] in chosen]
    return {"n": sum(r["n_params"] for r in rows), "sq_rul": sum(r["sq_rul"] for r in rows),
            "sq_health": sum(r["sq_health"] for r in rows)}


@pytest.mark.parametrize("chosen", CHOICES, ids=["+".join(c) for c in CHOICES])
def test_every_expression_equals_the_python_twin(chosen: list[str]) -> None:
    r = selection_readout(TABLE, chosen)
    want = {"n_params": r["n_params"], "norm_rul": r["norms"]["rul"],
            "norm_health": r["norms"]["health"], "ratio": r["ratio"],
            "lambda_rul": r["weights"]["rul"], "lambda_health": r["weights"]["health"]}
    env = {"datum": _aggregate(chosen)}
    for key, expression in chart.EXPRESSIONS.items():
        assert evaluate(expression, env) == pytest.approx(want[key], rel=1e-12), key


def test_with_no_gradient_at_all_the_weights_are_equal() -> None:
    env = {"datum": {"n": 3, "sq_rul": 0.0, "sq_health": 0.0}}
    assert evaluate(chart.EXPRESSIONS["lambda_rul"], env) == 0.5
    assert evaluate(chart.EXPRESSIONS["lambda_health"], env) == 0.5


def test_the_rows_round_to_four_digits_and_keep_the_order() -> None:
    table = {"a": {"n_params": 2, "rul": 1.234567890123, "health": 5.1358654e-14}}
    rows = chart.block_rows({**table, **TABLE})
    assert chart.DIGITS == 4
    assert rows[0] == {"i": 0, "block": "a", "n_params": 2, "sq_rul": 1.235,
                       "sq_health": 5.136e-14}
    assert [r["block"] for r in rows[1:]] == list(TABLE)


def test_a_checkbox_per_block_heads_unticked() -> None:
    spec = chart.selection_chart(TABLE).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    for i, block in enumerate(TABLE):
        assert params[f"block_{i}"]["bind"] == {"input": "checkbox", "name": f"{block} "}
        assert params[f"block_{i}"]["value"] is (block not in ("rul_head", "health_head"))
    text = json.dumps(spec)
    for expression in chart.EXPRESSIONS.values():
        assert json.dumps(expression)[1:-1] in text


@pytest.mark.parametrize(("table", "match"), [
    ({}, "non-empty"),
    ({"x": {"n_params": 1, "rul": 1.0}}, "lacks"),
    ({"x": {"n_params": 1, "rul": -1.0, "health": 0.0}}, "finite values >= 0"),
    ({"it's": {"n_params": 1, "rul": 1.0, "health": 0.0}}, "without quotes"),
])
def test_bad_tables_are_refused(table: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        chart.block_rows(table)
