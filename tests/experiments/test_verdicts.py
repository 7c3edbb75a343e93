"""The verdicts read the selected epochs' predictions and compare methods seed by seed."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from gabalab.comparison import BootstrapInterval, holm, paired_comparison
from gabalab.experiments.records import Quantiles, UnitPredictions
from gabalab.experiments.verdicts import (
    METRICS,
    RULE,
    Contrast,
    compare_methods,
    contrasts_table,
    method_scores,
    paired_contrasts,
    paired_runs,
    per_epoch_spreads,
    probe_accuracies,
    ratio_through_training,
    scores_table,
    selected_pulls,
    unit_interval,
    unit_metric,
    validation_wander,
    verdict,
)
from gabalab.training import cmapss_score
from tests.experiments.test_records import epoch, record

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
    # where every seed gives the same difference (sd 0) the exact test stands in for the t-test
    flat = [c for c in out if math.isnan(c.comparison.p_t)]
    assert flat and all(math.isfinite(c.p_t_holm) for c in out)
    stand_ins = [c.comparison.p_t if math.isfinite(c.comparison.p_t) else c.comparison.p_exact
                 for c in out]
    assert [c.p_t_holm for c in out] == pytest.approx(holm(stand_ins).tolist())


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
    assert f"| {rmse[0]:.2f}\u00a0±\u00a0{rmse[1]:.2f} |" in gaba  # one line in a cell


def test_the_contrasts_table_shows_each_contrast_with_its_verdict() -> None:
    contrasts = paired_contrasts(RUNS, ["gaba", "fixed"], "sum", ["rmse", "accuracy"])
    units = {("gaba", "rmse"): unit_interval(RUNS, "gaba", "sum", n_resamples=200)}
    rows = contrasts_table(contrasts, units).splitlines()[2:]
    assert len(rows) == len(contrasts) == 4
    for c, row in zip(contrasts, rows):
        words = verdict(c, units.get((c.method, c.metric)))
        assert row.endswith(f"| {words.replace(' ', chr(0xA0))} |")
        # no entry breaks across lines: every space inside an entry is a no-break space
        assert all(" " not in cell.strip() for cell in row.strip("| ").split(" | "))
    assert "not\u00a0resampled" in rows[1]
    assert "\u2212" in rows[0]  # minus signs, not hyphens


def test_per_epoch_spreads_average_the_seeds_that_trained_each_epoch() -> None:
    short = record("sum", 0, epochs=(epoch(1, 20.0), epoch(2, 14.0)), selected_epoch=2)
    long = record("sum", 1, epochs=(epoch(1, 22.0), epoch(2, 16.0), epoch(3, 15.0)))
    out = per_epoch_spreads({("sum", 0): short, ("sum", 1): long}, ["sum"])
    val = out["sum"]["val_rmse"]
    assert [s["seeds"] for s in val] == [(0, 1), (0, 1), (1,)]
    assert val[0]["mean"] == 21.0 and val[0]["std"] == pytest.approx(math.sqrt(2.0))
    assert val[2] == {"mean": 15.0, "std": 0.0, "values": [15.0], "seeds": (1,)}
    assert out["sum"]["rmse"][1]["values"] == [15.0, 17.0]  # test RMSE after epoch 2
    assert out["sum"]["weighted_ratio"] == [None, None, None]  # not measured in these runs
    assert set(out["sum"]) == {"rmse", "val_rmse", "score", "accuracy", "weighted_ratio"}


def test_per_epoch_spreads_refuse_unknown_metrics() -> None:
    with pytest.raises(ValueError, match="metrics must be one or more of"):
        per_epoch_spreads(RUNS, ["sum"], ["recall_1"])
    with pytest.raises(TypeError, match="metrics must be a sequence"):
        per_epoch_spreads(RUNS, ["sum"], "rmse")
    with pytest.raises(ValueError, match="no run of method 'uncertainty'"):
        per_epoch_spreads(RUNS, ["uncertainty"])


def test_compare_methods_bundles_scores_contrasts_and_intervals() -> None:
    out = compare_methods(RUNS, ["sum", "fixed", "gaba"], "sum", ["rmse", "accuracy"],
                          n_resamples=200)
    assert [s.method for s in out.scores] == ["sum", "fixed", "gaba"]
    # repr: a t p-value is NaN where every difference is equal, and NaN != NaN
    assert repr(out.contrasts) == repr(paired_contrasts(RUNS, ["sum", "fixed", "gaba"], "sum",
                                                        ["rmse", "accuracy"]))
    assert out.units[("gaba", "rmse")] == unit_interval(RUNS, "gaba", "sum", "rmse",
                                                        n_resamples=200)
    words = out.verdicts()
    assert set(words) == {(m, k) for m in ("fixed", "gaba") for k in ("rmse", "accuracy")}
    assert words[("gaba", "rmse")] == verdict(out.contrast("gaba", "rmse"),
                                             out.units[("gaba", "rmse")])
    quotes = out.quotes()
    gaba = out.contrast("gaba", "rmse").comparison
    assert quotes["gaba_rmse_diff"] == f"{gaba.mean:.2f}".replace("-", "\u2212")
    assert quotes["gaba_rmse_verdict"] == words[("gaba", "rmse")]
    assert quotes["sum_seeds"] == "5" and quotes["n_contrasts"] == "4"
    assert quotes["sum_rmse"] == f"{out.score('sum').mean('rmse'):.2f}"
    assert "| gaba | RMSE |" in out.contrasts_table()
    assert out.contrasts_table().startswith("| method − sum | metric |")
    assert out.scores_table(["score"]).splitlines()[0] == ("| method | seeds | score | "
                                                          "selected epoch |")
    assert out.scores_table().splitlines()[0].startswith("| method | seeds | RMSE | accuracy")


def test_compare_methods_needs_the_baseline_among_the_methods() -> None:
    with pytest.raises(ValueError, match="baseline must be one of methods"):
        compare_methods(RUNS, ["fixed", "gaba"], "sum")
    with pytest.raises(TypeError, match="methods must be a sequence"):
        compare_methods(RUNS, "sum")
    with pytest.raises(ValueError, match="alpha must be"):
        compare_methods(RUNS, ["sum", "gaba"], alpha=1.5)
    with pytest.raises(ValueError, match="method must be one of"):
        compare_methods(RUNS, ["sum", "gaba"], metrics=["rmse"], n_resamples=100).score("x")


def test_selected_pulls_read_the_weighted_ratio_at_the_selected_epoch() -> None:
    def run(seed: int, median: float) -> object:
        chosen = replace(epoch(2, 15.0), weighted_ratio=Quantiles(0.5, 0.8, median, 1.2, 2.0, 9))
        return record("gaba", seed, epochs=(epoch(1, 20.0), chosen, epoch(3, 16.0)))
    runs = {("gaba", 0): run(0, 1.0), ("gaba", 1): run(1, 1.5)}
    assert selected_pulls(runs, ["gaba"]) == {"gaba": 1.25}
    with pytest.raises(ValueError, match=r"run \('sum', 0\) measured no step"):
        selected_pulls({("sum", 0): record("sum", 0)}, ["sum"])


def test_validation_wander_measures_the_moves_between_epochs() -> None:
    runs = {("sum", 0): record("sum", 0),  # validation 20, 15, 16: moves 5 and 1
            ("sum", 1): record("sum", 1, epochs=(epoch(1, 18.0), epoch(2, 16.0)),
                               selected_epoch=2)}  # a move of 2
    assert validation_wander(runs) == {"median_move": 2.0, "first_selected": 2,
                                       "last_selected": 2, "most_epochs": 3}
    with pytest.raises(ValueError, match="at least one run of two epochs"):
        validation_wander({("sum", 0): record("sum", 0, epochs=(epoch(1, 9.0),),
                                              selected_epoch=1)})


def test_paired_runs_keep_the_seeds_every_method_has() -> None:
    runs = {**RUNS, ("uncertainty", 1): record("uncertainty", 1),
            ("uncertainty", 3): record("uncertainty", 3)}
    out = paired_runs(runs, ["sum", "uncertainty"])
    assert list(out) == [("sum", 1), ("sum", 3), ("uncertainty", 1), ("uncertainty", 3)]
    assert out[("sum", 3)] is RUNS[("sum", 3)]
    with pytest.raises(ValueError, match="no seed is common"):
        paired_runs({("sum", 0): record("sum", 0), ("gaba", 1): record("gaba", 1)},
                    ["sum", "gaba"])
    with pytest.raises(TypeError, match="methods must be a non-empty sequence"):
        paired_runs(RUNS, [])


def test_two_seeds_that_agree_exactly_are_not_a_certain_difference() -> None:
    two = runs({"sum": [5.0, 6.0], "gaba": [3.0, 4.0]})  # gaba - sum = -2 on both seeds
    (contrast,) = paired_contrasts(two, ["sum", "gaba"], "sum", ["rmse"])
    assert contrast.comparison.sd == 0.0 and math.isnan(contrast.comparison.p_t)
    assert contrast.p_t_holm == contrast.comparison.p_exact == 0.5
    engines = unit_interval(two, "gaba", "sum", "rmse", n_resamples=200)
    assert engines.high < 0  # the test engines alone would call it
    assert verdict(contrast, engines) == "inside the noise"
