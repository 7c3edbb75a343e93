"""The 18.2 retraining explorer: the run behind it, its readout and its button."""

from __future__ import annotations

import numpy as np
import pytest

from gabalab.widgets.retraining import RetrainRun, retrain, retrain_explorer


@pytest.fixture(scope="module")
def runs() -> dict[str, RetrainRun]:
    return {
        "raw": retrain(ema=0.0, floor=1e-4, epochs=1),
        "smoothed": retrain(ema=0.9, floor=1e-4, epochs=1),
        "floored": retrain(ema=0.9, floor=0.3, epochs=1),
    }


def test_the_same_arguments_give_the_same_run(runs: dict[str, RetrainRun]) -> None:
    assert retrain(ema=0.0, floor=1e-4, epochs=1) == runs["raw"]


def test_one_weight_per_step_and_none_below_the_floor(runs: dict[str, RetrainRun]) -> None:
    for run in runs.values():
        assert len(run.rul_weights) == 42  # 1,326 windows in batches of 32
        assert min(run.rul_weights) >= run.floor * (1 - 1e-12)
        assert 0 <= run.floor_share <= 1


def test_the_moving_average_smooths_the_weight(runs: dict[str, RetrainRun]) -> None:
    def jitter(run: RetrainRun) -> float:
        return float(np.std(np.diff(np.log(run.rul_weights))))

    assert jitter(runs["smoothed"]) < jitter(runs["raw"]) / 2


def test_a_high_floor_holds_every_step(runs: dict[str, RetrainRun]) -> None:
    # The regression gradient is hundreds of times larger: its weight wants to be ~1/500.
    assert runs["floored"].floor_share == 1.0
    assert runs["floored"].rul_weights == pytest.approx([0.3] * 42)
    assert runs["raw"].floor_share == 0.0


def test_the_readout_quotes_the_run(runs: dict[str, RetrainRun]) -> None:
    run = runs["floored"]
    text = run.readout()
    assert "β = 0.9, λ_min = 0.3, 1 epoch (42 steps)" in text
    assert "at the floor on 100.0% of steps" in text
    assert f"test RMSE {run.test_rmse:.1f} cycles" in text
    assert f"accuracy {run.test_accuracy:.2f}" in text


def test_the_button_trains_the_chosen_setting_and_the_defaults(
        runs: dict[str, RetrainRun], capsys: pytest.CaptureFixture[str]) -> None:
    explorer = retrain_explorer()
    ema, floor, epochs, button = explorer.children[0].children
    ema.value, floor.value, epochs.value = 0.0, 1e-4, 1
    button.click()
    printed = capsys.readouterr().out  # outside a kernel, the Output widgets print here
    chosen, defaults = printed.split("\ndefaults\n")
    assert runs["raw"].readout() in chosen
    assert runs["smoothed"].readout() in defaults
    assert not button.disabled
