"""The verdicts read the selected epochs' predictions and compare methods seed by seed."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from gabalab.comparison import BootstrapInterval, holm, paired_comparison
from gabalab.experiments.records import UnitPredictions
from gabalab.experiments.verdicts import (
    METRICS,
    RULE,
    Contrast,
    contrasts_table,
    method_scores,
    paired_contrasts,
    probe_accuracies,
    ratio_through_training,
    scores_table,
    unit_interval,
    unit_metric,
    verdict,
)
from gabalab.training import cmapss_score
from tests.experiments.test_records import record

TRUE = (10.0, 40.0, 80.0, 125.0, 125.0, 60.0)
CLASSES = (2, 1, 0, 0, 0, 1)


def predictions(offset: float, wrong: int) -> UnitPredictions:
    """Predictions ``offset`` cycles late on every unit, the first ``wrong`` classes wrong."""
    pred = tuple(t + offset for t in TRUE)
    classes = tuple((c + 1) % 3 if i < wrong else c for i, c in enumerate(CLASSES))
    return UnitPredictions(TRUE, pred, CLASSES, classes)


def runs(offsets: dict[str, list[float]]) -> dict:
    out = {}
    for method, values in offsets.items():
        for seed, offset in enumerate(values):
            wrong = 0 if method == "gaba" else seed  # gaba gets every class right
            out[(method, seed)] = record(method, seed, predictions=predictions(offset, wrong))
    return out


RUNS = runs({"sum": [5.0, 6.0, 7.0, 8.0, 9.0], "gaba": [1.0, 2.0, 2.0, 3.0, 4.0],
             "fixed": [5.0, 7.0, 6.0, 9.0, 8.0]})


def test_unit_metric_matches_the_definitions() -> None:
    p = predictions(3.0, 2)
    assert unit_metric("rmse", *vars(p).values()) == pytest.approx(3.0)
    assert unit_metric("score", *vars(p).values()) == pytest.approx(
        cmapss_score(np.array(p.rul_pred), np.array(p.rul_true)))
    assert unit_metric("accuracy", *vars(p).values()) == pytest.approx(4 / 6)
    assert unit_metric("recall_2", *vars(p).values()) == 0.0  # the one class-2 unit is wrong
    assert unit_metric("recall_0", *vars(p).values()) == 1.0
    assert math.isnan(unit_metric("recall_2", [1.0], [1.0], [0], [0]))
    with pytest.raises(ValueError, match="metric must be one of"):
        unit_metric("mae", [1.0], [1.0], [0], [0])
    with pytest.raises(ValueError, match="one value per unit"):
        unit_metric("rmse", [1.0, 2.0], [1.0], [0], [0])


def test_method_scores_are_per_seed_values_at_the_selected_epoch() -> None:
    scores = {s.method: s for s in method_scores(RUNS, ["sum", "gaba"])}
    assert scores["sum"].values["rmse"] == pytest.approx((5.0, 6.0, 7.0, 8.0, 9.0))
    assert scores["sum"].mean("rmse") == pytest.approx(7.0)
    assert scores["sum"].sd("rmse") == pytest.approx(np.std([5, 6, 7, 8, 9], ddof=1))
    assert scores["gaba"].selected_epochs == (2,) * 5
    assert scores["gaba"].values["accuracy"] == (1.0,) * 5
    assert set(scores["gaba"].values) == set(METRICS)


def test_paired_contrasts_pair_by_seed_and_adjust_the_family() -> None:
    out = paired_contrasts(RUNS, ["sum", "gaba", "fixed"], "sum", ["rmse", "accuracy"])
    assert [(c.method, c.metric) for c in out] == [("gaba", "rmse"), ("gaba", "accuracy"),
                                                   ("fixed", "rmse"), ("fixed", "accuracy")]
    gaba = out[0].comparison
    expected = paired_comparison([1.0, 2.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, 9.0])
    assert gaba.differences == pytest.approx(expected.differences)
    assert gaba.p_exact == 0.0625  # every seed better: the floor of five seeds
    adjusted = holm([c.comparison.p_exact for c in out])
    assert [c.p_exact_holm for c in out] == pytest.approx(adjusted.tolist())


def test_unit_interval_resamples_the_units_of_every_seed() -> None:
    out = unit_interval(RUNS, "gaba", "sum", "rmse", n_resamples=200, seed=1)
    # every unit is off by the same amount, so every resample gives the same difference
    assert out.estimate == pytest.approx(np.mean([1, 2, 2, 3, 4]) - 7.0)
    assert out.low == pytest.approx(out.estimate) and out.high == pytest.approx(out.estimate)
    spread = unit_interval(RUNS, "gaba", "sum", "accuracy", n_resamples=200, seed=1)
    assert spread.estimate == pytest.approx(np.mean([0, 1, 2, 3, 4]) / 6)
    assert spread.low < spread.estimate < spread.high


def test_bad_runs_are_refused() -> None:
    with pytest.raises(TypeError, match="runs must be"):
        method_scores({}, ["sum"])
    with pytest.raises(ValueError, match="no run of method 'uncertainty'"):
        method_scores(RUNS, ["uncertainty"])
    few = {k: v for k, v in RUNS.items() if k[1] == 0}
    with pytest.raises(ValueError, match="share 1 seed"):
        paired_contrasts(few, ["gaba"], "sum")


def test_ratio_through_training_stops_at_the_selected_epoch() -> None:
    out = ratio_through_training(RUNS, "sum")
    assert sorted(out) == [0, 1, 2, 3, 4]
    rows = out[0]
    assert [r["epoch"] for r in rows] == [1, 2]  # the constructed runs select epoch 2 of 3
    assert rows[0]["q50"] == 3.0 and rows[0]["n_steps"] == 7
    assert ratio_through_training(RUNS, "sum", weighted=True)[0] == []  # none recorded


def test_probe_accuracies_read_each_runs_probe() -> None:
    probe = {"probe_test": {"accuracy": 0.8}, "health_head_test": {"accuracy": 0.7},
             "majority_chance_test": 0.57}
    with_probe = {k: replace(v, probe=probe) for k, v in RUNS.items()}
    out = probe_accuracies(with_probe, ["sum"])
    assert out["sum"] == {"probe": (0.8,) * 5, "head": (0.7,) * 5, "majority": (0.57,) * 5}
    with pytest.raises(ValueError, match="has no probe"):
        probe_accuracies(RUNS, ["sum"])


def _contrast(mean_diff: float, p_t_holm: float, metric: str = "rmse") -> Contrast:
    base = [10.0, 11.0, 12.0, 13.0]
    return Contrast("gaba", "sum", metric,
                    paired_comparison([b + mean_diff + 0.1 * (i % 2) for i, b in enumerate(base)],
                                      base), p_exact_holm=0.5, p_t_holm=p_t_holm)


def _interval(low: float, high: float) -> BootstrapInterval:
    return BootstrapInterval(estimate=(low + high) / 2, low=low, high=high, confidence=0.95,
                             n_resamples=100, seed=0)


@pytest.mark.parametrize(("diff", "p", "units", "metric", "expected"), [
    (-2.0, 0.01, (-3.0, -1.0), "rmse", "better"),          # lower RMSE, both agree
    (2.0, 0.01, (1.0, 3.0), "rmse", "worse"),
    (0.1, 0.01, (0.05, 0.2), "accuracy", "better"),        # higher accuracy is better
    (-2.0, 0.20, (-3.0, -1.0), "rmse", "inside the noise"),  # the seeds do not carry it
    (-2.0, 0.01, (-3.0, 0.5), "rmse", "inside the noise"),   # the test engines do not
    (-2.0, 0.01, None, "rmse", "inside the noise"),
    (-2.0, math.nan, (-3.0, -1.0), "rmse", "inside the noise"),
])
def test_the_verdict_needs_both_the_seeds_and_the_test_engines(
        diff: float, p: float, units: tuple | None, metric: str, expected: str) -> None:
    interval = None if units is None else _interval(*units)
    assert verdict(_contrast(diff, p, metric), interval) == expected


def test_the_rule_on_the_page_names_both_conditions() -> None:
    assert "t-interval over the seeds" in RULE and "test engines" in RULE
    assert "Holm" in RULE and "inside the noise" in RULE


def test_the_scores_table_has_a_row_per_method_and_a_cell_per_column() -> None:
    scores = method_scores(RUNS, ["sum", "gaba", "fixed"])
    table = scores_table(scores).splitlines()
    assert len(table) == 2 + 3
    assert len({row.count("|") for row in table}) == 1
    assert table[0] == ("| method | seeds | RMSE | score | accuracy | recall degrading "
                        "| recall critical | selected epoch |")
    gaba = next(row for row in table if row.startswith("| gaba |"))
    rmse = scores[1].mean("rmse"), scores[1].sd("rmse")
    assert f"| {rmse[0]:.2f} ± {rmse[1]:.2f} |" in gaba


def test_the_contrasts_table_shows_each_contrast_with_its_verdict() -> None:
    contrasts = paired_contrasts(RUNS, ["gaba", "fixed"], "sum", ["rmse", "accuracy"])
    units = {("gaba", "rmse"): unit_interval(RUNS, "gaba", "sum", n_resamples=200)}
    rows = contrasts_table(contrasts, units).splitlines()[2:]
    assert len(rows) == len(contrasts) == 4
    for c, row in zip(contrasts, rows):
        assert row.endswith(f"| {verdict(c, units.get((c.method, c.metric)))} |")
    assert "not resampled" in rows[1]
    assert "\u2212" in rows[0]  # minus signs, not hyphens
