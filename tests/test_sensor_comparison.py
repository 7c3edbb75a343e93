"""ShadowSensors and compare_weights: the cheap sensors' weights beside the exact ones."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gabalab.sensor_comparison
from gabalab.gaba import GabaBalancer
from gabalab.models import TinyDualHead
from gabalab.sensor_comparison import (
    ShadowSensors,
    compare_weights,
    comparison_table,
    run_header,
    sensor_costs,
    sensor_gap,
    summary,
)
from gabalab.weighting import stabilised_weights


def test_compare_weights_by_hand() -> None:
    out = compare_weights([0.5, 0.25], [0.5, 0.5], [[1.0, 1.0], [1.0, 1.0]])
    assert out["abs_diff"] == {"median": 0.125, "mean": 0.125, "q90": 0.225, "max": 0.25}
    assert out["rel_diff"]["max"] == 0.5
    assert out["imbalance"]["max"] == pytest.approx(3.0)  # 0.75 / 0.25
    assert out["pearson"] is None  # the exact series is constant
    same = compare_weights([0.1, 0.2, 0.4], [0.1, 0.2, 0.4], [[9.0, 1.0], [4.0, 1.0],
                                                               [1.5, 1.0]])
    assert same["pearson"] == pytest.approx(1.0) and same["spearman"] == pytest.approx(1.0)
    assert same["imbalance"]["max"] == pytest.approx(1.0)  # 1/g weights balance the pulls
    flipped = compare_weights([0.4, 0.2, 0.1], [0.1, 0.2, 0.4], [[1.0, 1.0]] * 3)
    assert flipped["spearman"] == pytest.approx(-1.0)
    assert flipped["pearson_log"] == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "cheap, exact, norms, message",
    [
        ([0.5], [0.5, 0.5], [[1.0, 1.0]], r"exact must hold one weight per step, as cheap"),
        ([], [], [], "cheap is empty"),
        ([0.5], [0.5], [[1.0, 1.0, 1.0]], r"exact_norms must hold two norms per step"),
        ([1.0], [0.5], [[1.0, 1.0]], r"cheap must hold weights in \(0, 1\)"),
        ([0.5], [float("nan")], [[1.0, 1.0]], "exact contains 1 non-finite"),
        ([0.5], [0.5], [[0.0, 1.0]], "exact_norms must be > 0"),
        ([[0.5]], [0.5], [[1.0, 1.0]], "cheap must be 1-D"),
    ],
)
def test_compare_weights_validates(cheap, exact, norms, message) -> None:
    with pytest.raises(ValueError, match=message):
        compare_weights(cheap, exact, norms)


def test_summary() -> None:
    assert summary([3.0]) == {"median": 3.0, "mean": 3.0, "q90": 3.0, "max": 3.0}
    with pytest.raises(ValueError, match="must not be empty"):
        summary([])


def _run(shadow: ShadowSensors, balancer: GabaBalancer, model, steps: int) -> list:
    results = []
    for step in range(steps):
        gen = torch.Generator().manual_seed(step)
        x = torch.randn(8, 14, generator=gen, dtype=torch.float64)
        y = torch.rand(8, generator=gen, dtype=torch.float64) * 100
        c = torch.randint(0, 3, (8,), generator=gen)
        z = model.features(x)
        losses = [F.mse_loss(model.rul_head(z).squeeze(-1), y),
                  F.cross_entropy(model.health_head(z), c)]
        shadow.before_step(step, losses, z)
        result = balancer.step(losses)
        shadow.after_step(step, result)
        results.append(result)
    return results


@pytest.mark.parametrize("ema", [None, 0.5])
def test_shadow_weights_are_what_the_cheap_balancers_would_hold(ema) -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, ema=ema, floor=0.05)
    shadow = ShadowSensors([3], ema=ema, floor=0.05)
    _run(shadow, balancer, model, 7)
    s = shadow.series
    assert len(s["exact_w"]) == len(s["rep_w"]) == len(s["held_3_w"]) == 7
    # held: the exact measurements at steps 0, 3, 6 with an EMA over those steps only
    state, expected = None, []
    for step in range(7):
        if step % 3 == 0:
            update = stabilised_weights(s["exact_norms"][step], state, ema=ema, floor=0.05)
            state = update.norms if ema else None
            held = float(update.weights[0])
        expected.append(held)
    assert s["held_3_w"] == expected
    if ema is None:
        assert s["held_3_w"][3] == s["exact_w"][3]
    # representation: its own norms through the same pipeline, with its own EMA
    for key in ("rep", "rep_frobenius"):
        state, expected = None, []
        for norms in s[f"{key}_norms"]:
            update = stabilised_weights(norms, state, ema=ema, floor=0.05)
            state = update.norms if ema else None
            expected.append(float(update.weights[0]))
        assert s[f"{key}_w"] == expected
    assert s["rep_norms"] != s["rep_frobenius_norms"]
    comparisons = shadow.comparisons()
    assert set(comparisons) == {"exact", "exact_lag_1", "representation",
                                "representation_frobenius", "periodic_3"}
    assert comparisons["exact"]["abs_diff"]["max"] == 0.0
    lag = np.abs(np.array(s["exact_w"][:-1]) - np.array(s["exact_w"][1:]))
    assert comparisons["exact_lag_1"]["abs_diff"]["max"] == pytest.approx(lag.max())
    ratios = shadow.norm_ratios()
    for name, key in (("representation", "rep"), ("representation_frobenius", "rep_frobenius")):
        np.testing.assert_allclose(ratios[f"{name}_over_exact"]["median"], np.median(
            [r[0] / r[1] / (e[0] / e[1]) for r, e in zip(s[f"{key}_norms"], s["exact_norms"])]))
        assert -1 <= ratios[f"{name}_pearson_log"] <= 1
    assert shadow.seconds > 0


def test_the_representation_norms_are_those_of_the_balancer() -> None:
    model = TinyDualHead(seed=0).double()
    shadow = ShadowSensors([2])
    _run(shadow, GabaBalancer.from_model(model), model, 2)
    twin = TinyDualHead(seed=0).double()
    rep = GabaBalancer.from_model(twin, sensor="representation")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 14, generator=gen, dtype=torch.float64)
    y = torch.rand(8, generator=gen, dtype=torch.float64) * 100
    c = torch.randint(0, 3, (8,), generator=gen)
    z = twin.features(x)
    losses = [F.mse_loss(twin.rul_head(z).squeeze(-1), y),
              F.cross_entropy(twin.health_head(z), c)]
    assert list(rep.step(losses, features=z).norms) == shadow.series["rep_norms"][0]


def test_shadow_sensors_validate() -> None:
    with pytest.raises(TypeError, match="periods must be a sequence"):
        ShadowSensors(4)
    with pytest.raises(ValueError, match=r"periods\[1\] must be >= 2"):
        ShadowSensors([4, 1])
    with pytest.raises(ValueError, match="rule must be one of"):
        ShadowSensors([4], rule="x")
    with pytest.raises(ValueError, match="floor must be <= 1/K"):
        ShadowSensors([4], floor=0.6)
    shadow = ShadowSensors([2])
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    z = model.features(torch.ones(4, 14))
    losses = [model.rul_head(z).sum(), model.health_head(z).sum()]
    with pytest.raises(RuntimeError, match="needs before_step"):
        shadow.after_step(0, balancer.step(losses, retain_graph=True))
    shadow.before_step(1, losses, z)
    with pytest.raises(ValueError, match="multiple of 2"):
        shadow.after_step(1, balancer.step(losses, retain_graph=True))
    held = GabaBalancer.from_model(model, measure_every=2)
    held.step(losses, retain_graph=True)
    shadow = ShadowSensors([2])
    shadow.before_step(0, losses, z)
    with pytest.raises(ValueError, match="follows an exact balancer measuring every step"):
        shadow.after_step(0, held.step(losses, retain_graph=True))


def test_doctests() -> None:
    failures, tried = doctest.testmod(gabalab.sensor_comparison)
    assert tried >= 3 and failures == 0


# ------------------------------------------------------------ what a page shows of a run

ROOT = Path(__file__).resolve().parents[1]
NORMS = [[3.0, 1.0], [2.0, 1.0], [4.0, 1.0], [3.0, 1.0]]
EXACT = [0.25, 0.33, 0.2, 0.25]


def _rows(held: list[float], rep: list[float], fro: list[float]) -> dict:
    return {"exact": compare_weights(EXACT, EXACT, NORMS),
            "exact_lag_1": compare_weights(EXACT[:-1], EXACT[1:], NORMS[1:]),
            "representation": compare_weights(rep, EXACT, NORMS),
            "representation_frobenius": compare_weights(fro, EXACT, NORMS),
            "periodic_2": compare_weights(held, EXACT, NORMS)}


def _ratios(sum_over: float, fro_over: float) -> dict:
    return {"exact": {"median": 3.0}, "representation_over_exact": {"median": sum_over},
            "representation_frobenius_over_exact": {"median": fro_over}}


def test_comparison_table_of_a_live_run() -> None:
    model = TinyDualHead(seed=0).double()
    shadow = ShadowSensors([2, 3])
    _run(shadow, GabaBalancer.from_model(model), model, 7)
    comparisons, ratios = shadow.comparisons(), shadow.norm_ratios()
    lines = comparison_table(comparisons, ratios).splitlines()
    assert [line.split()[0] for line in lines[1:-2]] == list(comparisons)
    assert max(map(len, lines)) <= 76
    row = lines[1 + list(comparisons).index("periodic_3")].split()
    assert float(row[1]) == pytest.approx(comparisons["periodic_3"]["rel_diff"]["median"],
                                          abs=5e-4)
    assert float(row[4]) == pytest.approx(comparisons["periodic_3"]["imbalance"]["median"],
                                          abs=5e-3)
    assert lines[-2].endswith(f"exact {ratios['exact']['median']:.0f}")
    assert f"Frobenius {ratios['representation_frobenius_over_exact']['median']:.2f}" in \
        lines[-1]
    assert len(comparison_table(comparisons).splitlines()) == len(lines) - 2


def test_comparison_table_shows_an_undefined_correlation_as_a_dash() -> None:
    flat = compare_weights([0.3, 0.3], [0.2, 0.4], [[1.0, 1.0]] * 2)
    assert flat["pearson_log"] is None
    assert comparison_table({"held": flat}).splitlines()[1].split()[3] == "-"


@pytest.mark.parametrize("comparisons, error, message", [
    ({}, ValueError, "comparisons is empty"),
    ([1], TypeError, "comparisons must be a mapping"),
    ({"exact": {"imbalance": {"median": 1.0}}}, ValueError,
     r"comparisons\['exact'\] has no entry 'rel_diff'"),
    ({"exact": {"rel_diff": {"median": "a", "q90": 1.0}}}, TypeError,
     r"comparisons\['exact'\]\['rel_diff'\]\['median'\] must be a real number"),
])
def test_comparison_table_validates(comparisons, error, message) -> None:
    with pytest.raises(error, match=message):
        comparison_table(comparisons)


def test_sensor_gap_reads_the_medians_and_says_which_way_they_go() -> None:
    rows = _rows(held=[0.25, 0.25, 0.2, 0.2], rep=[0.3, 0.3, 0.3, 0.3],
                 fro=[0.1, 0.1, 0.1, 0.1])
    gap = sensor_gap(rows, _ratios(0.9, 0.2))
    assert gap.n_steps == 4 and list(gap.held) == [2]
    assert gap.lag == rows["exact_lag_1"]["rel_diff"]["median"]
    assert gap.held[2] == rows["periodic_2"]["rel_diff"]["median"]
    assert gap.sum_imbalance == rows["representation"]["imbalance"]["median"]
    assert gap.fro_corr == rows["representation_frobenius"]["pearson_log"]
    quotes = gap.quotes()
    assert gap.held[2] < gap.lag and quotes["p2_vs_lag"] == "less"
    assert gap.sum_imbalance > gap.held_imbalance[2] and quotes["rep_vs_p2"] == "larger"
    assert quotes["closer"] == "batch-summed" and quotes["steps"] == "4"
    assert quotes["sum_over"] == "0.90" and quotes["exact_ratio"] == "3"
    # the other way round
    rows = _rows(held=[0.4, 0.4, 0.4, 0.4], rep=EXACT, fro=EXACT)
    other = sensor_gap(rows, _ratios(0.2, 0.9)).quotes()
    assert (other["p2_vs_lag"], other["rep_vs_p2"], other["closer"]) == (
        "more", "smaller", "Frobenius")
    # a ratio above the exact one by the same factor is as close as one below it
    assert sensor_gap(rows, _ratios(5.0, 0.25)).closer == "Frobenius"
    assert sensor_gap(rows, _ratios(4.0, 0.2)).closer == "batch-summed"


def test_sensor_gap_of_the_stored_fd001_run() -> None:
    stored = json.loads((ROOT / "results/fd001/sensor_cost.json").read_text("utf-8"))
    shadow = stored["shadow"]
    gap = sensor_gap(shadow["comparisons"], shadow["norm_ratios"])
    assert gap.n_steps == shadow["comparisons"]["exact"]["n_steps"]
    assert set(gap.held) == set(stored["settings"]["periods"])
    assert gap.quotes()["steps"] == f"{gap.n_steps:,}"


@pytest.mark.parametrize("drop, ratios, message", [
    ("periodic_2", _ratios(0.9, 0.2), "no 'periodic_<N>' entry"),
    ("exact_lag_1", _ratios(0.9, 0.2), "comparisons has no entry 'exact_lag_1'"),
    (None, _ratios(0.0, 0.2), r"norm_ratios\['representation_over_exact'\]\['median'\] "
                              "must be > 0"),
    (None, {"exact": {"median": 3.0}}, "norm_ratios has no entry"),
])
def test_sensor_gap_validates(drop, ratios, message) -> None:
    rows = _rows(held=EXACT, rep=EXACT, fro=EXACT)
    rows.pop(drop, None)
    with pytest.raises(ValueError, match=message):
        sensor_gap(rows, ratios)


def test_sensor_costs_read_the_stored_benchmark() -> None:
    bench = json.loads((ROOT / "results/benchmarks/gaba_sensors.json").read_text("utf-8"))
    for size in (32, 256):
        line = next(row for row in bench["summary"] if row["batch_size"] == size)
        costs = sensor_costs(bench, size)
        assert costs.exact == line["c_exact"]["paired_ratio_to_plain"]
        assert costs.floor == line["e_floor"]["paired_ratio_to_plain"]
        assert costs.representation == line["h_representation"]["paired_ratio_to_plain"]
        assert costs.per_step[4] == line["f_periodic_4"]["amortised_paired_ratio"]
        assert costs.held[16] == line["g_periodic_16"]["held_paired_ratio"]
        assert costs.measuring[4] == line["f_periodic_4"]["measured_paired_ratio"]
        assert costs.exact_over_floor == line["c_exact_over_e_floor_paired"]
        assert list(costs.paired) == ["plain", "exact", "floor", "periodic_4", "periodic_16",
                                      "representation"]
        table = costs.table().splitlines()
        assert max(map(len, table)) <= 76 and len(table) == 1 + 6 + 2 + 1
        assert table[7].split()[-1] == f"x{costs.per_step[16]:.3f}"
        assert costs.quotes()["p4"] == f"{costs.per_step[4]:.2f}"


def test_sensor_costs_validate() -> None:
    bench = json.loads((ROOT / "results/benchmarks/gaba_sensors.json").read_text("utf-8"))
    with pytest.raises(ValueError, match=r"batch_size 7 is not in benchmark\['summary'\]"):
        sensor_costs(bench, 7)
    line = dict(next(row for row in bench["summary"] if row["batch_size"] == 32))
    del line["h_representation"]
    with pytest.raises(ValueError, match="no 'representation' variant"):
        sensor_costs({"summary": [line], "runs": bench["runs"]}, 32)
    with pytest.raises(TypeError, match="benchmark must be a mapping"):
        sensor_costs([bench], 32)


def test_run_header() -> None:
    prov = {"command": "python x.py --out /tmp/r.json --seed 0", "date_utc": "2026-01-02T03",
            "wall_time_s": 90.0, "versions": {"torch": "2.0"}, "torch_num_threads": 2,
            "cpu_count": 8, "load_average_1_5_15_at_start": [0.5, 1.0, 1.0]}
    lines = run_header(prov, out="results/r.json").splitlines()
    assert lines[:4] == ["command:", "  python x.py \\", "    --out results/r.json \\",
                         "    --seed 0"]
    # the facts on one line where they fit in 76 columns, else the machine's on a second
    assert lines[4:] == ["date 2026-01-02, 1.5 minutes, torch 2.0",
                         "2 threads on 8 cores, load at start 0.50"]
    del prov["load_average_1_5_15_at_start"]
    prov["torch_num_threads"] = 1
    assert run_header(prov).splitlines()[-1] == ("date 2026-01-02, 1.5 minutes, torch 2.0, "
                                                 "1 thread on 8 cores")
    assert "/tmp/r.json" in run_header(prov)
    with pytest.raises(ValueError, match="no --out value"):
        run_header({"command": "python x.py", "date_utc": "2026"}, out="a.json")
    with pytest.raises(ValueError, match="provenance has no entry 'date_utc'"):
        run_header({"command": "python x.py"})
    with pytest.raises(TypeError, match="out must be a string or None"):
        run_header(prov, out=3)  # type: ignore[arg-type]
