"""The trained-model protocol: paired seeds, validation-selected epochs, exact resumption."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gabalab.data import choose_validation_units, prepare_with_validation, simulated_fleet
from gabalab.experiments import trained
from gabalab.experiments.records import RunRecord
from gabalab.experiments.trained import METHODS, Protocol, ratio_quantiles, train_run

SMALL = {"conv_channels": (8,), "lstm_hidden": 8, "lstm_layers": 1, "attention_hidden": 4,
         "funnel": (16,), "dropout": 0.1}
FLEET = simulated_fleet(n_train_units=8, n_test_units=4, seed=0)
SPLIT = prepare_with_validation(FLEET, choose_validation_units(FLEET, seed=0)).to(
    torch.float64)
PROTOCOL = Protocol(epoch_cap=4, patience=2, schedule="plateau", lr_patience=1, dtype="float64",
                    model_kwargs=tuple(sorted(SMALL.items())), fixed_batches=3,
                    measure_every=3)


def run(name: str, seed: int = 1, **options) -> RunRecord:
    return train_run(name, seed, SPLIT, PROTOCOL, max_batches=4, probe=False, **options)


def numbers(record: RunRecord) -> list[dict]:
    """Every epoch's numbers except its wall time."""
    return [{k: v for k, v in e.to_dict().items() if k != "step_s"} for e in record.epochs]


@pytest.fixture(scope="module")
def runs() -> dict[str, RunRecord]:
    return {name: run(name) for name in METHODS}


def test_every_method_runs_and_keeps_its_best_validation_epoch(runs) -> None:
    for name, record in runs.items():
        rmse = [e.validation.rmse for e in record.epochs]
        assert record.selected_epoch == 1 + int(np.argmin(rmse))
        assert record.selected_test.n == len(SPLIT.prepared.test)
        assert record.validation_units == SPLIT.validation_units
        assert len(record.predictions.rul_pred) == len(SPLIT.prepared.test)
        rmse_pred = math.sqrt(np.mean((np.array(record.predictions.rul_pred)
                                       - np.array(record.predictions.rul_true)) ** 2))
        assert rmse_pred == pytest.approx(record.selected_test.rmse, rel=1e-12), name
        assert record.stopped in ("cap", "patience")
        assert len(record.epochs) <= PROTOCOL.epoch_cap


def test_methods_start_from_the_same_weights_and_batches(runs) -> None:
    # Before the first step every method's model is the seed's model: the epoch-0 state is
    # not recorded, but the sum and the uncertainty method (weights 1 and 1/2, 1 at the
    # start) take nearly the same first steps on the same batches.
    first = {name: r.epochs[0].validation.rmse for name, r in runs.items()}
    assert first["sum"] != first["gaba"]
    assert abs(first["sum"] - first["uncertainty"]) < abs(first["sum"] - first["gaba"])
    assert runs["fixed"].method_detail["fixed_weights"][0] == 1.0
    assert runs["uncertainty"].method_detail["log_variances"] != [0.0, 0.0]
    assert runs["sum"].epochs[0].weights == (1.0, 1.0)
    assert sum(runs["gaba"].epochs[0].weights) == pytest.approx(1.0, abs=0.05)  # medians


def test_the_same_seed_gives_the_same_run() -> None:
    one, two = run("gaba", seed=2), run("gaba", seed=2)
    assert numbers(one) == numbers(two) and one.predictions == two.predictions


def _stopping_at(call: int, original):
    """``original``, except that its ``call``-th call raises KeyboardInterrupt (a kill)."""
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)
    return wrapped


def test_an_interrupted_run_resumes_to_the_same_numbers(tmp_path: Path, monkeypatch) -> None:
    for name in ("gaba", "uncertainty"):
        whole = run(name, seed=3)
        path = tmp_path / f"{name}.pt"
        original = trained.train_epoch
        monkeypatch.setattr(trained, "train_epoch", _stopping_at(3, original))
        with pytest.raises(KeyboardInterrupt):
            run(name, seed=3, checkpoint=path)
        monkeypatch.setattr(trained, "train_epoch", original)
        assert path.is_file()
        resumed = run(name, seed=3, checkpoint=path)
        assert numbers(resumed) == numbers(whole), name
        assert resumed.predictions == whole.predictions
        assert resumed.method_detail == whole.method_detail


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    run("sum", seed=1, checkpoint=path)
    with pytest.raises(ValueError, match="belongs to another run or protocol"):
        run("gaba", seed=1, checkpoint=path)


def test_ratio_quantiles_of_raw_and_weighted_pulls() -> None:
    steps = [{"norms": [100.0 * k, 1.0], "weights": [0.01, 0.99]} for k in (1, 2, 3, 4, 5)]
    raw = ratio_quantiles(steps, weighted=False)
    assert (raw.q10, raw.q50, raw.q90, raw.n_steps) == pytest.approx((140.0, 300.0, 460.0, 5))
    weighted = ratio_quantiles(steps, weighted=True)
    assert weighted.q50 == pytest.approx(3.0 / 0.99)
    assert ratio_quantiles([{"norms": [1.0, 0.0], "weights": [1.0, 1.0]}], False) is None


@pytest.mark.parametrize(("options", "match"), [
    (dict(lr=0.0), "lr"), (dict(lr_factor=1.0), "lr_factor"), (dict(patience=0), "patience"),
    (dict(validation_fraction=1.0), "validation_fraction"), (dict(dtype="float16"), "dtype"),
    (dict(schedule="cosine"), "schedule"), (dict(lr_gamma=1.0), "lr_gamma"),
])
def test_protocol_refuses_impossible_settings(options, match) -> None:
    with pytest.raises(ValueError, match=match):
        Protocol(**options)


def test_protocol_round_trips_through_its_dict() -> None:
    assert Protocol.from_dict(PROTOCOL.to_dict()) == PROTOCOL


def test_the_plateau_schedule_halves_the_rate_only_after_an_epoch_without_improvement() -> None:
    protocol = Protocol(**{**PROTOCOL.__dict__, "lr": 1e-6, "min_lr": 1e-9, "lr_patience": 0,
                           "patience": 4})
    record = train_run("sum", 1, SPLIT, protocol, max_batches=2, probe=False)
    rmse = [e.validation.rmse for e in record.epochs]
    expected = [1e-6]
    for i in range(1, len(rmse)):
        improved = i == 1 or rmse[i - 1] < min(rmse[:i - 1]) * (1 - 1e-4)
        expected.append(expected[-1] if improved else expected[-1] * 0.5)
    assert [e.lr for e in record.epochs] == pytest.approx(expected)
    assert min(expected) < 1e-6, "the case must include an epoch without improvement"


def test_the_default_protocol_is_the_exponential_schedule_the_pilot_chose() -> None:
    default = Protocol()
    assert (default.schedule, default.lr_gamma, default.patience, default.epoch_cap) == (
        "exponential", 0.9, 10, 40)


def test_the_exponential_schedule_lowers_the_rate_every_epoch_down_to_its_floor() -> None:
    protocol = Protocol(**{**PROTOCOL.__dict__, "schedule": "exponential", "lr_gamma": 0.1,
                           "min_lr": 2e-5, "patience": 4})
    record = train_run("sum", 1, SPLIT, protocol, max_batches=2, probe=False)
    assert [e.lr for e in record.epochs] == pytest.approx([1e-3, 1e-4, 2e-5, 2e-5])
    assert "x0.1 after every epoch" in record.protocol["schedule_text"]
