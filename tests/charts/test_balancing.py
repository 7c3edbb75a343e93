"""gabalab.charts.balancing: the 18.2 explorer's expressions and data against their twins."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from gabalab.charts import balancing as chart
from gabalab.weighting import DEFAULT_FLOOR, floor_weights, gaba_weights
from tests.charts.spec_nodes import walk
from tests.charts.vega_expressions import evaluate


def _spread(mean: float, std: float) -> dict:
    return {"mean": mean, "std": std, "min": mean - std, "max": mean + std,
            "values": [mean - std, mean + std]}


PER_EPOCH = {
    method: {metric: [_spread(10.0 * (i + 1) + j, 0.5 + j) for j in range(3)]
             for i, metric in enumerate(chart.RESULT_METRICS)}
    for method in ("sum", "fixed", "gaba")
}


@pytest.mark.parametrize(("log10_ratio", "floor"),
                         list(itertools.product([0.0, 0.5, 2.7, 3.0, 3.3, 4.0],
                                                [0.0, 0.0005, DEFAULT_FLOOR, 0.01, 0.05])))
def test_the_weight_expressions_equal_the_python_twin(log10_ratio: float, floor: float) -> None:
    ratio = 10.0 ** log10_ratio
    lam = floor_weights(gaba_weights([ratio, 1.0]), floor)
    want = {"ratio": ratio, "lambda_rul": lam[0], "lambda_health": lam[1],
            "weighted_ratio": lam[0] * ratio / lam[1]}
    env = {"log10_ratio": log10_ratio, "floor": floor}
    for key, expression in chart.WEIGHT_EXPRESSIONS.items():
        assert evaluate(expression, env) == pytest.approx(want[key], rel=1e-12), key


def test_without_a_binding_floor_the_pulls_are_equal() -> None:
    env = {"log10_ratio": 2.0, "floor": DEFAULT_FLOOR}
    assert evaluate(chart.WEIGHT_EXPRESSIONS["weighted_ratio"], env) == pytest.approx(1.0)


def test_result_rows_embed_every_mean_and_std() -> None:
    rows = chart.result_rows(PER_EPOCH)
    assert len(rows) == 3 * len(chart.RESULT_METRICS) * 3
    for row in rows:
        spread = PER_EPOCH[row["method"]][row["metric"]][row["epoch"] - 1]
        assert (row["mean"], row["std"]) == (spread["mean"], spread["std"])


def test_the_chart_holds_the_tested_expressions_and_data() -> None:
    spec = chart.balancing_chart(PER_EPOCH, floor=DEFAULT_FLOOR).to_dict()
    text = json.dumps(spec)
    for expression in chart.WEIGHT_EXPRESSIONS.values():
        assert json.dumps(expression)[1:-1] in text
    params = {p["name"]: p for p in spec["params"]}
    assert params["floor"]["value"] == DEFAULT_FLOOR
    assert params["log10_ratio"]["value"] == pytest.approx(round(np.log10(500) / 0.05) * 0.05)
    assert params["epoch"]["value"] == 3 and params["metric"]["bind"]["options"] == list(
        chart.RESULT_METRICS)
    assert chart.balancing_chart(PER_EPOCH, floor=DEFAULT_FLOOR).to_dict() == spec


def test_the_readout_names_every_method() -> None:
    lines = chart.result_readout(["sum", "gaba"])
    assert [key for _, key, _ in lines] == ["sum_mean", "sum_std", "gaba_mean", "gaba_std"]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"floor": 0.06}, ValueError, "floor must be <= 0.05"),
    ({"floor": -0.1}, ValueError, "floor must be >= 0"),
    ({"floor": "0"}, TypeError, "floor must be a real number"),
    ({"floor": 0.0, "ratio": 0.5}, ValueError, "ratio must lie in"),
])
def test_bad_arguments_are_refused(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        chart.balancing_chart(PER_EPOCH, **kwargs)
    with pytest.raises(ValueError, match="at least one method"):
        chart.result_rows({})


def test_the_results_run_to_the_last_epoch_every_method_trained() -> None:
    ragged = {**PER_EPOCH, "gaba": {m: v[:2] for m, v in PER_EPOCH["gaba"].items()}}
    spec = chart.balancing_chart(ragged, floor=DEFAULT_FLOOR).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["epoch"]["value"] == 2 and params["epoch"]["bind"]["max"] == 2
    rows = next(n["data"]["values"] for n in walk(spec)
                if isinstance(n.get("data"), dict) and "epoch" in (n["data"].get("values")
                                                                   or [{}])[0])
    assert max(r["epoch"] for r in rows) == 2 and {r["method"] for r in rows} == set(ragged)


def test_the_chart_opens_at_the_last_epoch_every_seed_trained() -> None:
    def one_seed(spread: dict) -> dict:
        return {**spread, "std": 0.0, "values": spread["values"][:1]}

    # one gaba seed stopped after epoch 1: epochs 2 and 3 average a single seed
    ragged = {**PER_EPOCH, "gaba": {m: [v[0]] + [one_seed(s) for s in v[1:]]
                                    for m, v in PER_EPOCH["gaba"].items()}}
    params = {p["name"]: p for p in
              chart.balancing_chart(ragged, floor=DEFAULT_FLOOR).to_dict()["params"]}
    assert params["epoch"]["value"] == 1 and params["epoch"]["bind"]["max"] == 3
