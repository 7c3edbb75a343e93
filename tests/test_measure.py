"""Tests of gabalab.measure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gabalab import measure
from gabalab.constants import RUL_CAP
from gabalab.data import (
    WindowDataset,
    health_labels,
    make_loader,
    prepare_cmapss,
    simulated_fleet,
)
from gabalab.measure import (
    EpochMeasurement,
    measure_epoch,
    output_side_proxy,
    summarise,
    synthetic_batches,
)
from gabalab.models import DualTaskModel, TinyDualHead
from gabalab.norms import shared_parameters

SMALL = dict(conv_channels=(8,), lstm_hidden=8, lstm_layers=2, attention_hidden=4,
             funnel=(16,), feature_dim=16, head_hidden=(8,))


@pytest.fixture(scope="module")
def windows() -> WindowDataset:
    fleet = simulated_fleet(n_train_units=3, n_test_units=2, seed=11, min_life=40, max_life=60)
    return prepare_cmapss(fleet).train


def _hand_loop(model, loader, params, max_batches=None):
    """Reference: two backward passes per batch with zero_grad in between."""
    rul_norms, health_norms = [], []
    for i, (x, y_rul, y_health) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        rul, logits = model(x)
        norms = []
        for loss in (F.mse_loss(rul, y_rul), F.cross_entropy(logits, y_health)):
            model.zero_grad(set_to_none=True)
            loss.backward(retain_graph=True)
            norms.append(math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params)))
        rul_norms.append(norms[0])
        health_norms.append(norms[1])
    model.zero_grad(set_to_none=True)
    return np.array(rul_norms), np.array(health_norms)


# ------------------------------------------------------------------------------------------
# Output-side proxy: closed form
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_output_side_proxy_closed_form(n_classes: int) -> None:
    """Zero predictions, uniform probabilities p = 1/K, batch of B targets y:

    * d L_mse / d pred = (2/B)(0 - y)              => ||g_rul|| = (2/B) ||y||_2
    * d L_ce / d logits = (p - onehot) / B; each row has squared norm
      (K-1) (1/K)^2 + (1 - 1/K)^2 = (K-1)/K^2 + (K-1)^2/K^2 = (K-1)/K
                                                   => ||g_ce|| = sqrt(B (K-1)/K) / B
    The ratio is therefore 2 ||y||_2 / sqrt(B (K-1)/K).
    """
    batches = synthetic_batches(20, 32, seed=3)
    if n_classes != 3:
        batches = [(y, np.minimum(c, n_classes - 1)) for y, c in batches]
    result = output_side_proxy(batches, n_classes=n_classes)
    assert result.n_batches == 20
    for k, (y, _) in enumerate(batches):
        b = y.size
        expected_rul = (2.0 / b) * math.sqrt(float(np.sum(y**2)))
        expected_ce = math.sqrt(b * (n_classes - 1) / n_classes) / b
        assert abs(result.rul_norms[k] - expected_rul) <= 1e-12 * expected_rul
        assert abs(result.health_norms[k] - expected_ce) <= 1e-12 * expected_ce
        assert abs(result.ratios[k] - expected_rul / expected_ce) <= 1e-12 * result.ratios[k]


def test_output_side_proxy_matches_autograd() -> None:
    (y, c), = synthetic_batches(1, 16, seed=0)
    pred = torch.zeros(16, dtype=torch.float64, requires_grad=True)
    logits = torch.zeros(16, 3, dtype=torch.float64, requires_grad=True)
    (g_pred,) = torch.autograd.grad(F.mse_loss(pred, torch.as_tensor(y)), pred)
    (g_logits,) = torch.autograd.grad(F.cross_entropy(logits, torch.as_tensor(c)), logits)
    result = output_side_proxy([(y, c)])
    assert result.rul_norms[0] == pytest.approx(float(g_pred.norm()), rel=1e-12)
    assert result.health_norms[0] == pytest.approx(float(g_logits.norm()), rel=1e-12)


def test_synthetic_batches() -> None:
    batches = synthetic_batches(50, 64, seed=1)
    y = np.concatenate([b[0] for b in batches])
    c = np.concatenate([b[1] for b in batches])
    assert y.min() >= 0 and y.max() <= RUL_CAP and np.all(y == np.round(y))
    assert y.min() == 0 and y.max() == RUL_CAP  # both ends reachable in 3200 draws
    np.testing.assert_array_equal(c, health_labels(y))
    again = synthetic_batches(50, 64, seed=1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again))
    assert not np.array_equal(batches[0][0], synthetic_batches(1, 64, seed=2)[0][0])
    with pytest.raises(ValueError, match="batch_size"):
        synthetic_batches(1, 0, seed=0)


def test_output_side_proxy_validation() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        output_side_proxy([])
    with pytest.raises(ValueError, match="equal length"):
        output_side_proxy([(np.zeros(3), np.zeros(2, dtype=int))])
    with pytest.raises(ValueError, match="y_health"):
        output_side_proxy([(np.zeros(2), np.array([0, 3]))])


# ------------------------------------------------------------------------------------------
# measure_epoch
# ------------------------------------------------------------------------------------------


def test_measure_epoch_matches_hand_loop_tiny(windows: WindowDataset) -> None:
    model = TinyDualHead(seed=0)
    params = shared_parameters(model)
    result = measure_epoch(model, make_loader(windows, 16, seed=2), params, progress=False)
    rul, health = _hand_loop(model, make_loader(windows, 16, seed=2), params)
    assert result.n_batches == len(rul) == math.ceil(len(windows) / 16)
    np.testing.assert_allclose(result.rul_norms, rul, rtol=1e-5)
    np.testing.assert_allclose(result.health_norms, health, rtol=1e-5)
    np.testing.assert_allclose(result.ratios, rul / health, rtol=1e-5)
    assert result.batch_sizes.sum() == len(windows)


def test_measure_epoch_matches_hand_loop_dual_task_with_dropout(windows: WindowDataset) -> None:
    model = DualTaskModel(**SMALL, dropout=0.3, seed=0)
    params = shared_parameters(model)
    result = measure_epoch(model, make_loader(windows, 16, seed=4), params, progress=False,
                           seed=9, max_batches=3)
    # the same dropout masks: same seed, same order of forward passes
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(9)
        rul, health = _hand_loop(model, make_loader(windows, 16, seed=4), params, max_batches=3)
    np.testing.assert_allclose(result.rul_norms, rul, rtol=1e-5)
    np.testing.assert_allclose(result.health_norms, health, rtol=1e-5)
    # same seed again: identical numbers; another seed: other dropout masks, other numbers
    again = measure_epoch(model, make_loader(windows, 16, seed=4), params, progress=False,
                          seed=9, max_batches=3)
    np.testing.assert_array_equal(again.ratios, result.ratios)
    other = measure_epoch(model, make_loader(windows, 16, seed=4), params, progress=False,
                          seed=10, max_batches=3)
    assert not np.allclose(other.ratios, result.ratios)


def test_measure_epoch_eval_mode_matches_hand_loop(windows: WindowDataset) -> None:
    model = DualTaskModel(**SMALL, dropout=0.3, seed=1)
    params = shared_parameters(model)
    result = measure_epoch(model, make_loader(windows, 32, seed=0), params, progress=False,
                           train_mode=False)
    model.eval()
    rul, health = _hand_loop(model, make_loader(windows, 32, seed=0), params)
    np.testing.assert_allclose(result.rul_norms, rul, rtol=1e-5)
    np.testing.assert_allclose(result.health_norms, health, rtol=1e-5)


def test_measure_epoch_restores_mode_grads_and_rng(windows: WindowDataset) -> None:
    model = DualTaskModel(**SMALL, seed=0)
    model.eval()
    model.funnel.train()  # a mixed state must come back exactly
    flags = {name: m.training for name, m in model.named_modules()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    measure_epoch(model, make_loader(windows, 16, seed=0), shared_parameters(model),
                  progress=False, max_batches=2, seed=1)
    assert torch.equal(torch.rand(2), expected)
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_measure_epoch_respects_max_batches(windows: WindowDataset) -> None:
    model = TinyDualHead(seed=0)
    loader = make_loader(windows, 8, seed=0)
    result = measure_epoch(model, loader, shared_parameters(model), progress=False,
                           max_batches=2)
    assert result.n_batches == 2 and result.rul_norms.shape == (2,)
    full = measure_epoch(model, loader, shared_parameters(model), progress=False,
                         max_batches=10_000)
    assert full.n_batches == len(loader)


def test_measure_epoch_progress_bar_on_stderr(
    windows: WindowDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    model = TinyDualHead(seed=0)
    measure_epoch(model, make_loader(windows, 16, seed=0), shared_parameters(model),
                  progress=True, max_batches=2, desc="probe-bar")
    captured = capsys.readouterr()
    assert "probe-bar" in captured.err and captured.out == ""
    measure_epoch(model, make_loader(windows, 16, seed=0), shared_parameters(model),
                  progress=False, max_batches=2, desc="hidden-bar")
    assert "hidden-bar" not in capsys.readouterr().err


def test_summary_plain_floats(windows: WindowDataset) -> None:
    model = TinyDualHead(seed=0)
    result = measure_epoch(model, make_loader(windows, 16, seed=0), shared_parameters(model),
                           progress=False)
    summary = result.summary()
    assert set(summary) == {"median", "q25", "q75", "min", "max", "mean", "n_batches"}
    assert all(type(summary[k]) is float for k in summary if k != "n_batches")
    assert type(summary["n_batches"]) is int and summary["n_batches"] == result.n_batches
    assert summary["min"] <= summary["q25"] <= summary["median"] <= summary["q75"] <= summary["max"]
    assert summary["median"] == float(np.median(result.ratios))
    as_dict = result.to_dict()
    assert len(as_dict["ratios"]) == result.n_batches and as_dict["summary"] == summary


def test_summarise_values() -> None:
    s = summarise([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s["median"], s["q25"], s["q75"], s["min"], s["max"], s["mean"]) == (
        3.0, 2.0, 4.0, 1.0, 5.0, 3.0)
    with pytest.raises(ValueError, match="at least one"):
        summarise([])


def test_measure_epoch_validation(windows: WindowDataset) -> None:
    model = TinyDualHead(seed=0)
    params = shared_parameters(model)
    loader = make_loader(windows, 16, seed=0)
    with pytest.raises(ValueError, match="shared_params"):
        measure_epoch(model, loader, [], progress=False)
    with pytest.raises(ValueError, match="no batch"):
        measure_epoch(model, [], params, progress=False)
    with pytest.raises(ValueError, match="max_batches"):
        measure_epoch(model, loader, params, progress=False, max_batches=0)

    def nan_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target) * float("nan")

    with pytest.raises(ValueError, match="non-finite"):
        measure_epoch(model, loader, params, rul_loss=nan_loss, progress=False)

    def zero_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return logits.sum() * 0.0

    with pytest.raises(ValueError, match="non-finite"):
        measure_epoch(model, loader, params, health_loss=zero_loss, progress=False)


def test_epoch_measurement_summary_direct() -> None:
    m = EpochMeasurement(np.array([2.0, 6.0]), np.array([1.0, 2.0]), np.array([2.0, 3.0]),
                         np.array([4, 4]), 2)
    assert m.summary()["mean"] == 2.5


def test_format_value_counts_and_ratios() -> None:
    assert measure.format_value(555) == "555"
    assert measure.format_value(np.int64(93)) == "93"
    assert measure.format_value(512.3456) == "512.3"
    assert measure.format_value(2104.5) == "2104"
    assert measure.format_value(12345.6) == "12346"
    assert measure.format_value(0.00123456) == "0.001235"


@pytest.mark.parametrize("bad, error", [("1", TypeError), (True, TypeError),
                                        (float("nan"), ValueError), (float("inf"), ValueError)])
def test_format_value_rejects(bad: object, error: type) -> None:
    with pytest.raises(error, match="value"):
        measure.format_value(bad)  # type: ignore[arg-type]


def test_quantile_table_text_layout_and_values() -> None:
    table = measure.quantile_table(
        {0: summarise([100.0, 200.0, 300.0, 400.0]), 8: summarise([10.0, 30.0])},
        corner="epoch",
    )
    lines = table.splitlines()
    assert lines[0].split() == ["epoch", "0", "8"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["batches"] == ["4", "2"]
    assert rows["median"] == ["250", "20"]
    assert rows["q25"] == ["175", "15"]
    assert rows["min"] == ["100", "10"]
    assert rows["max"] == ["400", "30"]
    assert all(line == line.rstrip() for line in lines)
    # right-aligned columns: every line has the same length up to the last column
    assert len({len(line) for line in lines}) == 1


def test_quantile_table_markdown() -> None:
    table = measure.quantile_table({"epoch 0": summarise([1.0, 3.0])}, corner="FD001",
                                  markdown=True)
    lines = table.splitlines()
    assert lines[0] == "| FD001 | epoch 0 |"
    assert lines[1] == "| :-- | --: |"
    assert "| median | 2 |" in lines
    assert len(lines) == 2 + len(measure.STATISTICS)


def test_quantile_table_errors() -> None:
    with pytest.raises(ValueError, match="summaries"):
        measure.quantile_table({})
    with pytest.raises(TypeError, match="summaries"):
        measure.quantile_table([summarise([1.0])])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no entry 'p90'"):
        measure.quantile_table({"a": summarise([1.0])}, [("p90", "p90")])
    with pytest.raises(ValueError, match="statistics"):
        measure.quantile_table({"a": summarise([1.0])}, [])


def test_epoch_readout_numbers() -> None:
    ratios = {0: [400.0, 500.0, 600.0], 8: [100.0, 150.0, 200.0, 250.0]}
    text = measure.epoch_readout(ratios, 8)
    lines = text.splitlines()
    assert lines[0] == "epoch 8 (4 batches)"
    assert lines[1] == "median 175, quartiles 137.5 - 212.5, min 100, max 250"
    assert lines[2] == f"spread q75/q25 = {212.5 / 137.5:.4g}, max/min = 2.5"
    assert lines[3] == "median / median at epoch 0 = 0.35"
    assert measure.epoch_readout(ratios, 0).splitlines()[3].endswith("= 1")


def test_epoch_readout_moves_with_the_epoch() -> None:
    rng = np.random.default_rng(0)
    ratios = {e: np.exp(rng.normal(np.log(500.0) - 0.3 * e, 0.4, size=200)) for e in range(4)}
    lines = [measure.epoch_readout(ratios, e).splitlines()[1] for e in range(4)]
    medians = [float(line.split()[1].rstrip(",")) for line in lines]
    assert medians == sorted(medians, reverse=True)
    assert medians[0] > 1.8 * medians[-1]


def test_epoch_readout_errors() -> None:
    with pytest.raises(ValueError, match="epoch 3 was not measured"):
        measure.epoch_readout({0: [1.0], 1: [2.0]}, 3)
    with pytest.raises(ValueError, match=r"ratios_by_epoch\[0\]"):
        measure.epoch_readout({0: [1.0, -2.0]}, 0)
    with pytest.raises(ValueError, match="at least one epoch"):
        measure.epoch_readout({}, 0)
    with pytest.raises(TypeError, match="epoch must be an integer"):
        measure.epoch_readout({0: [1.0]}, 0.0)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# What the section reads off its measurements
# ------------------------------------------------------------------------------------------


def _measurement(rul: list[float], health: list[float], size: int = 8) -> EpochMeasurement:
    r, h = np.array(rul), np.array(health)
    return EpochMeasurement(r, h, r / h, np.full(r.size, size), r.size)


def test_from_dict_round_trips_to_dict() -> None:
    m = _measurement([4.0, 9.0, 1.5], [2.0, 3.0, 0.5])
    back = EpochMeasurement.from_dict(m.to_dict())
    for name in ("rul_norms", "health_norms", "ratios", "batch_sizes"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
    assert back.n_batches == 3 and back.summary() == m.summary()
    with pytest.raises(ValueError, match="ratios must be rul_norms / health_norms"):
        EpochMeasurement.from_dict({**m.to_dict(), "ratios": [2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="no entry 'batch_sizes'"):
        EpochMeasurement.from_dict({k: v for k, v in m.to_dict().items() if k != "batch_sizes"})


def test_from_dict_reads_the_stored_fd001_sweep() -> None:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "results" / "fd001" / "training_sweep.json"
    sweep = json.loads(path.read_text(encoding="utf-8"))
    for entry in sweep["measurements"].values():
        m = EpochMeasurement.from_dict(entry)
        assert m.summary() == pytest.approx(entry["summary"], rel=1e-12)


def test_proxy_ceiling_is_reached_by_capped_targets_only() -> None:
    ceiling = measure.proxy_ceiling()
    assert ceiling == pytest.approx(2 * math.sqrt(3 / 2) * RUL_CAP, rel=1e-15)
    at_cap = output_side_proxy([(np.full(32, RUL_CAP), np.zeros(32, dtype=int))])
    assert at_cap.ratios[0] == pytest.approx(ceiling, rel=1e-12)
    drawn = output_side_proxy(synthetic_batches(200, 8, seed=0))
    assert drawn.ratios.max() < ceiling
    assert measure.proxy_ceiling(2, 10.0) == pytest.approx(20 * math.sqrt(2), rel=1e-15)


def test_proxy_max_verdict() -> None:
    ceiling = measure.proxy_ceiling()
    assert measure.proxy_max_verdict(ceiling * 1.01, 200.0) == "contradicted"
    assert measure.proxy_max_verdict(220.0, 216.0) == "holds"
    assert measure.proxy_max_verdict(300.0, 216.0) == "holds in part"


def test_summed_output_ratio_by_hand() -> None:
    r = np.array([-3.0, -1.0, -2.0])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
    c = np.array([0, 2, 2])
    # sum of p - onehot: (0.2 - 1 + 0.6 + 0.1, 0.3 + 0.2 + 0.1, 0.5 + 0.2 - 1 + 0.8 - 1)
    health = math.sqrt(0.1**2 + 0.6**2 + 0.5**2)
    assert measure.summed_output_ratio(r, p, c) == pytest.approx(2 * 6.0 / health, rel=1e-12)
    # residuals of both signs cancel in the sum, per-sample norms do not
    assert measure.summed_output_ratio([-1.0, 1.0, 0.0], p, c) == 0.0
    with pytest.raises(ValueError, match="zero summed cross-entropy"):
        measure.summed_output_ratio([1.0, 1.0], [[0.5, 0.5], [0.5, 0.5]], [0, 1])


def test_summed_output_ratios_twin_of_the_numpy_reference(windows: WindowDataset) -> None:
    model = DualTaskModel(**SMALL, dropout=0.3, seed=0)
    model.train()
    got = measure.summed_output_ratios(model, make_loader(windows, 16, seed=1))
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    expected = []
    with torch.no_grad():
        for x, y, c in make_loader(windows, 16, seed=1):
            rul, logits = model(x)
            expected.append(measure.summed_output_ratio(
                (rul.double() - y.double()).numpy(),
                torch.softmax(logits.double(), dim=1).numpy(), c.numpy()))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got.size == math.ceil(len(windows) / 16)
    assert measure.summed_output_ratios(model, make_loader(windows, 16, seed=1),
                                        max_batches=2).size == 2


def test_compare_with_proxy_fields() -> None:
    model = np.array([200.0, 400.0, 300.0, 250.0])
    proxy = np.array([190.0, 150.0, 170.0, 180.0])  # moves against the model
    summed = 2.0 * model
    c = measure.compare_with_proxy(model, proxy, summed)
    assert c.n_batches == 4
    assert c.model_median == 275.0 and c.proxy_median == 175.0
    assert c.model_over_proxy == pytest.approx(275.0 / 175.0)
    assert c.proxy_corr < -0.5 and c.summed_corr == pytest.approx(1.0)
    assert c.summed_level == pytest.approx(2.0) and c.summed_median == 550.0
    assert c.quotes()["summed_level"] == "2.0" and c.quotes()["model_over_proxy"] == "1.57"
    assert c.table().splitlines()[0].startswith("on the same 4 batches")
    with pytest.raises(ValueError, match="same batches"):
        measure.compare_with_proxy(model, proxy[:3], summed)
    a, b = _measurement([1.0, 2.0], [1.0, 1.0], 8), _measurement([1.0, 2.0], [1.0, 1.0], 4)
    with pytest.raises(ValueError, match="batch sizes differ"):
        measure.compare_with_proxy(a, b, [1.0, 2.0])


def _sweep_like() -> dict[int, EpochMeasurement]:
    # ratio medians about 500, 340, 910, 2100; after epoch 1 the RUL norm rises, health falls
    return {0: _measurement([30.0, 32.0], [0.06, 0.064]),
            1: _measurement([2000.0, 2400.0], [6.0, 7.0]),
            2: _measurement([2900.0, 2900.0], [3.2, 3.2]),
            8: _measurement([5000.0, 5080.0], [2.4, 2.4])}


def test_training_trend_reads_measurements_and_stored_entries() -> None:
    measured = _sweep_like()
    trend = measure.training_trend(measured)
    stored = measure.training_trend({e: m.to_dict() for e, m in measured.items()})
    assert trend == stored
    assert trend.epochs == (0, 1, 2, 8)
    assert trend.rul_medians == (31.0, 2200.0, 2900.0, 5040.0)
    assert trend.growth == pytest.approx((2200.0 / 31.0, 6.5 / 0.062))
    assert trend.smallest_ratio == pytest.approx(min(m.ratios.min() for m in measured.values()))
    assert trend.climbs_after_first_drop and trend.norms_part_ways
    assert trend.slides_left_verdict() == "contradicted"
    q = trend.quotes()
    assert (q["second_epoch"], q["last_epoch"]) == (1, 8)
    assert q["last_median"] == f"{trend.ratio_medians[-1]:.0f}"
    assert trend.table().splitlines()[-1].split() == ["8", "5040", "2.4"]


def test_training_trend_verdicts_follow_the_medians() -> None:
    falling = measure.training_trend({0: _measurement([600.0], [1.0]),
                                      4: _measurement([120.0], [1.0])})
    assert falling.slides_left_verdict() == "holds" and not falling.climbs_after_first_drop
    halfway = measure.training_trend({0: _measurement([600.0], [1.0]),
                                      4: _measurement([400.0], [1.0])})
    assert halfway.slides_left_verdict() == "holds in part"
    with pytest.raises(ValueError, match="at least two epochs"):
        measure.training_trend({0: _measurement([1.0], [1.0])})


def test_compare_measurements_against_numpy() -> None:
    base = _measurement([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 2.0, 4.0])
    other = _measurement([11.0, 18.0, 33.0], [1.0, 2.2, 2.0])
    shift = measure.compare_measurements(base, other)
    assert shift.n_batches == 3
    assert shift.rul_change == pytest.approx(0.1) and shift.hs_change == pytest.approx(0.0)
    assert shift.smallest_change == pytest.approx(0.0)
    assert shift.rul_factor == pytest.approx(18.0 / 20.0)
    assert shift.hs_factor == pytest.approx(2.0 / 2.0)
    assert shift.base_median == pytest.approx(10.0)
    assert shift.median == pytest.approx(np.median([11.0, 18.0 / 2.2, 16.5]))
    assert shift.ratio_factor == pytest.approx(shift.median / 10.0)
    q = shift.quotes("eval_", base_key="train_median")
    assert q["eval_rul_change"] == "10.0%" and q["train_median"] == "10"
    assert shift.table("a", "b").splitlines()[0].split() == ["first", "3", "batches", "a", "b"]
    with pytest.raises(ValueError, match="more than base"):
        measure.compare_measurements(other, base)
    with pytest.raises(ValueError, match="batch sizes differ"):
        measure.compare_measurements(base, _measurement([1.0], [1.0], size=4))


def test_running_median_and_gap() -> None:
    ratios = np.array([100.0, 300.0, 200.0, 220.0, 180.0, 210.0])
    running = measure.running_median(ratios, (1, 2, 3, 6, 50))
    assert running.sizes == (1, 2, 3, 6)
    assert running.medians == (100.0, 200.0, 200.0, 205.0)
    assert running.full_median == 205.0
    assert running.gap() == pytest.approx(105.0 / 205.0)
    assert running.gap(smallest=2) == pytest.approx(5.0 / 205.0)
    assert running.table().splitlines()[-1] == "first 6 batches: median 205"
    with pytest.raises(ValueError, match="no running median"):
        running.gap(smallest=6)


def test_spread_table_rows() -> None:
    text = measure.spread_table({"a": [3.0, 1.0, 2.0, 4.0], "bb": [10.0]})
    header, row_a, row_b = text.splitlines()
    assert header.split() == ["run", "batch", "0", "median", "min", "max", "max/min", "q75/q25"]
    assert row_a.split() == ["a", "3", "2.5", "1", "4", "4", f"{3.25 / 1.75:.4g}"]
    assert row_b.split() == ["bb", "10", "10", "10", "10", "1", "1"]


# ------------------------------------------------------------------------------------------
# The ratio through training, from trained runs
# ------------------------------------------------------------------------------------------

def _rows(*medians: float, steps: int = 22) -> list[dict[str, float]]:
    """Rows as ratio_through_training gives them: quantiles around each epoch's median."""
    return [{"epoch": e, "q10": m / 3, "q25": m / 1.5, "q50": m, "q75": m * 1.5,
             "q90": m * 3, "n_steps": steps} for e, m in enumerate(medians, start=1)]


def test_trained_ratio_trend_reads_each_seed_to_its_selected_epoch() -> None:
    trend = measure.trained_ratio_trend({1: _rows(300.0, 900.0), 0: _rows(200.0, 600.0, 1000.0)},
                                        {0: 3, 1: 2})
    assert trend.seeds == (0, 1) and trend.n_seeds == 2
    assert [run.selected_epoch for run in trend.runs] == [3, 2]
    assert trend.run(1).medians == (300.0, 900.0)
    assert trend.run(0).row(2) == {"q10": 200.0, "q25": 400.0, "q50": 600.0, "q75": 900.0,
                                   "q90": 1800.0, "n_steps": 22}
    assert trend.growth == pytest.approx((5.0, 3.0))
    assert trend.lowest_q10 == pytest.approx(200.0 / 3)
    assert trend.rises_in_every_seed and trend.middle_half_moves_up


def test_trained_ratio_trend_verdicts_follow_the_medians() -> None:
    def verdicts(*runs: tuple[float, ...]) -> tuple[str, str]:
        trend = measure.trained_ratio_trend(
            {s: _rows(*m) for s, m in enumerate(runs)}, {s: len(m) for s, m in enumerate(runs)})
        return trend.slides_left_verdict(), trend.no_balance_verdict()

    assert verdicts((600.0, 1200.0), (500.0, 900.0)) == ("contradicted", "holds")
    assert verdicts((600.0, 120.0), (500.0, 200.0)) == ("holds", "holds")
    assert verdicts((600.0, 400.0), (500.0, 200.0)) == ("holds in part", "holds")
    assert verdicts((600.0, 1200.0), (500.0, 200.0)) == ("holds in part", "holds")
    # a q10 of 20 / 3 is within a factor 10 of balance
    assert verdicts((600.0, 20.0))[1] == "contradicted"
    trend = measure.trained_ratio_trend({0: _rows(600.0, 20.0)}, {0: 2})
    assert trend.no_balance_verdict(factor=5.0) == "holds"
    with pytest.raises(ValueError, match="factor must be > 1"):
        trend.no_balance_verdict(factor=1.0)


def test_trained_ratio_trend_sees_a_median_that_falls_or_bands_that_overlap() -> None:
    trend = measure.trained_ratio_trend({0: _rows(300.0, 400.0), 1: _rows(300.0, 250.0)},
                                        {0: 2, 1: 2})
    assert not trend.rises_in_every_seed
    # seed 0: the selected q25 (266.7) lies below epoch 1's q75 (450)
    assert not trend.middle_half_moves_up


def test_trained_ratio_trend_table_quotes_and_readout() -> None:
    trend = measure.trained_ratio_trend({0: _rows(*[100.0 * e for e in range(1, 9)]),
                                         2: _rows(150.0, 300.0, 450.0, steps=21)},
                                        {0: 8, 2: 3})
    assert trend.milestones(0) == (1, 3, 6, 8)
    assert trend.milestones(2) == (1, 2, 3) and trend.milestones(0, n_between=0) == (1, 8)
    lines = trend.table().splitlines()
    assert lines[0].split(" | ")[1:3] == ["epoch", "q10"]
    assert [line.split(" | ")[1] for line in lines[2:]] == ["1", "3", "6", "8 (selected)",
                                                             "1", "2", "3 (selected)"]
    assert lines[5] == "| 0 | 8 (selected) | 266.7 | 533.3 | 800 | 1200 | 2400 | 8.00 |"
    assert trend.quotes() == {
        "n_seeds": 2, "steps": "21–22", "selected_epochs": "epochs 3–8",
        "first_median": "100–150", "selected_median": "450–800", "growth": "3.0–8.0",
        "lowest_q10": "33"}
    big = measure.trained_ratio_trend({0: _rows(1500.0, 4000.0), 1: _rows(2500.0, 9000.0)},
                                      {0: 2, 1: 2})
    assert (big.quotes()["first_median"], big.quotes()["lowest_q10"]) == ("1,500–2,500", "500")
    assert big.quotes()["selected_epochs"] == "epoch 2"
    assert trend.readout(2, 9).splitlines() == [
        "seed 2, epoch 3 (the selected epoch; 9 asked), 21 measured steps",
        "median 450, quartiles 300 to 675, q10 150, q90 1350",
        "spread q75/q25 = 2.25, median / median at epoch 1 = 3"]
    assert trend.readout(0, 2).startswith("seed 0, epoch 2 (of 8), 22 measured steps")
    with pytest.raises(ValueError, match="seed 1 has no run"):
        trend.readout(1, 1)
    with pytest.raises(ValueError, match="epoch must be >= 1"):
        trend.readout(0, 0)
    with pytest.raises(ValueError, match="n_between must be >= 0"):
        trend.table(n_between=-1)


def test_trained_ratio_trend_of_the_stored_runs_matches_their_records() -> None:
    from pathlib import Path

    from gabalab.experiments.records import load_runs
    from gabalab.experiments.verdicts import ratio_through_training

    runs = load_runs(Path(__file__).resolve().parents[1] / "results" / "fd001" / "trained")
    seeds = sorted(s for m, s in runs if m == "sum")
    trend = measure.trained_ratio_trend(ratio_through_training(runs, "sum"),
                                        {s: runs[("sum", s)].selected_epoch for s in seeds})
    assert trend.seeds == tuple(seeds)
    for seed in seeds:
        record, path = runs[("sum", seed)], trend.run(seed)
        assert path.selected_epoch == record.selected_epoch
        for epoch in record.epochs[: record.selected_epoch]:
            assert path.row(epoch.epoch) == {**{k: getattr(epoch.ratio, k) for k in (
                "q10", "q25", "q50", "q75", "q90")}, "n_steps": epoch.ratio.n_steps}


@pytest.mark.parametrize(("through", "selected", "error", "match"), [
    ({}, {}, ValueError, "at least one run"),
    ([_rows(1.0)], {0: 1}, TypeError, "through_training must be a mapping"),
    ({0: _rows(1.0)}, [1], TypeError, "selected_epochs must be a mapping"),
    ({"0": _rows(1.0)}, {"0": 1}, TypeError, "through_training key '0'"),
    ({0: _rows(1.0)}, {1: 1}, ValueError, "selected_epochs must name the seeds"),
    ({0: []}, {0: 1}, ValueError, r"through_training\[0\] must hold at least one epoch"),
    ({0: _rows(1.0, 2.0)[1:]}, {0: 2}, ValueError, "epochs 1, 2, ... without a gap"),
    ({0: _rows(1.0, 2.0)}, {0: 1}, ValueError, r"ends at epoch 2, not at selected_epochs"),
    ({0: [{**_rows(1.0)[0], "q25": 5.0}]}, {0: 1}, ValueError, "must not decrease"),
    ({0: [{**_rows(1.0)[0], "q10": 0.0}]}, {0: 1}, ValueError, r"\['q10'\] must be > 0"),
    ({0: [{k: v for k, v in _rows(1.0)[0].items() if k != "n_steps"}]}, {0: 1}, ValueError,
     r"lacks \['n_steps'\]"),
    ({0: [3.0]}, {0: 1}, TypeError, r"through_training\[0\]\[0\] must be a mapping"),
    ({0: _rows(1.0)}, {0: 1.0}, TypeError, r"selected_epochs\[0\] must be an integer"),
])
def test_trained_ratio_trend_refuses_bad_input(through: object, selected: object,
                                               error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        measure.trained_ratio_trend(through, selected)  # type: ignore[arg-type]
