"""The balancing experiment: same start, same batches, each method's weights, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gabalab.experiments import balancing

TINY = json.dumps({"conv_channels": [4], "lstm_hidden": 4, "lstm_layers": 1,
                   "attention_hidden": 4, "funnel": [8]})
ARGS = ["--simulated", "--sim-train-units", "3", "--sim-test-units", "4", "--epochs", "2",
        "--seeds", "0,1", "--max-batches", "4", "--batch-size", "16", "--model-kwargs", TINY,
        "--measure-every", "2", "--fixed-batches", "3", "--no-progress"]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return balancing.main(ARGS + ["--out", str(tmp_path_factory.mktemp("b") / "b.json")])


def test_every_method_and_seed_ran_every_epoch(result: dict) -> None:
    assert set(result["runs"]) == {f"{m}/{s}" for m in balancing.METHODS for s in (0, 1)}
    for run in result["runs"].values():
        assert [e["epoch"] for e in run["epochs"]] == [1, 2]
        assert run["probe"]["probe_test"]["accuracy"] is not None


def test_the_methods_of_a_seed_start_from_the_same_model(result: dict) -> None:
    for seed in (0, 1):
        starts = {json.dumps(result["runs"][f"{m}/{seed}"]["initial_test"], sort_keys=True)
                  for m in balancing.METHODS}
        assert len(starts) == 1


def test_each_method_applies_its_weights(result: dict) -> None:
    for seed in (0, 1):
        fixed = result["runs"][f"fixed/{seed}"]
        w = fixed["fixed_weights"]
        assert w[0] == 1.0 and w[1] > 1.0
        pulls = fixed["epochs"][0]["train"]["pulls"]
        assert pulls["weights_median"] == pytest.approx(w)
        assert pulls["n_steps"] == 2  # every second of 4 batches
        gaba = result["runs"][f"gaba/{seed}"]["epochs"][0]["train"]["pulls"]
        assert gaba["n_steps"] == 4  # GABA measures every step
        assert sum(gaba["weights_median"]) == pytest.approx(1.0, abs=0.05)
        summed = result["runs"][f"sum/{seed}"]["epochs"][0]["train"]["pulls"]
        assert summed["weighted_ratio"] == summed["ratio"]


def test_summary_is_the_spread_of_the_runs(result: dict) -> None:
    final = result["summary"]["final"]
    for method in balancing.METHODS:
        values = [result["runs"][f"{method}/{s}"]["epochs"][-1]["test"]["rmse"] for s in (0, 1)]
        assert final[method]["rmse"]["values"] == values
        assert final[method]["rmse"]["mean"] == pytest.approx(sum(values) / 2)


def test_rerun_gives_the_same_numbers(result: dict, tmp_path: Path) -> None:
    again = balancing.main(ARGS + ["--no-probe", "--out", str(tmp_path / "again.json")])
    for key, run in result["runs"].items():
        repeated = again["runs"][key]["epochs"]
        assert [e["test"] for e in run["epochs"]] == [e["test"] for e in repeated]


def test_bad_options_stop_with_a_message(tmp_path: Path) -> None:
    for bad in (["--methods", "sum,nope"], ["--seeds", "0,0"], ["--seeds", "x"],
                ["--lr", "inf"], ["--lr", "0"], ["--measure-every", "-1"],
                ["--fixed-batches", "0"], ["--fixed-batches", "2.5"], ["--gaba-ema", "1"],
                ["--gaba-floor", "0.6"]):
        with pytest.raises(SystemExit):
            balancing.main(ARGS + bad + ["--out", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit) as stop:  # refused before the data are read
        balancing.main(ARGS + ["--epochs", "0", "--out", str(tmp_path / "y.json")])
    assert stop.value.code == 2


# ------------------------------------------------------------------------------ pitfall runs

@pytest.fixture(scope="module")
def prepared():
    from gabalab import data
    fleet = data.simulated_fleet(3, 2, seed=0, min_life=35, max_life=45)
    return data.prepare_cmapss(fleet).to(torch.float64)


SMALL = {"conv_channels": (4,), "lstm_hidden": 4, "lstm_layers": 1, "attention_hidden": 2,
         "funnel": (8,)}


def test_variant_summary_reads_the_steps_of_a_run(prepared) -> None:
    run = balancing.train_gaba_variant(prepared, SMALL, seed=0, epochs=1, batch_size=16)
    s = balancing.variant_summary(run)
    w = np.array([step["weights"] for step in run["steps"]])
    g = np.array([step["norms"] for step in run["steps"]])
    pull = w[:, 0] * g[:, 0] / (w[:, 1] * g[:, 1])
    assert s["rmse"] == run["test"]["rmse"] and s["accuracy"] == run["test"]["accuracy"]
    assert (s["lam_min"], s["lam_max"]) == (w[:, 0].min(), w[:, 0].max())
    assert s["pull_median"] == np.median(pull)
    assert s["pull_q25"] <= s["pull_median"] <= s["pull_q75"]
    assert s["pull_spread"] == s["pull_q75"] / s["pull_q25"]


def test_without_an_ema_every_step_is_balanced(prepared) -> None:
    s = balancing.variant_summary(balancing.train_gaba_variant(
        prepared, SMALL, seed=0, epochs=1, batch_size=16, ema=None))
    assert abs(s["pull_q25"] - 1) < 1e-12 and abs(s["pull_q75"] - 1) < 1e-12


def test_heads_in_the_norms_unbalance_the_trunk(prepared) -> None:
    from gabalab import norms
    with pytest.warns(UserWarning, match="do not reach"):  # each head, for the other task
        run = balancing.train_gaba_variant(prepared, SMALL, seed=0, epochs=1, batch_size=16,
                                           heads_in_norms=True, ema=None)
    # the recorded norms are over every parameter, so they balance there ...
    assert abs(balancing.variant_summary(run)["pull_median"] - 1) < 1e-12
    # ... and the heads make them differ from the trunk's norms
    model = run["model"]
    x, y_rul, y_health = prepared.train[:16]
    losses = balancing.task_losses(model, (x, y_rul, y_health))
    trunk = norms.task_grad_norms(losses, norms.shared_parameters(model))
    every = norms.task_grad_norms(losses, list(model.parameters()))
    assert trunk[0] / trunk[1] != pytest.approx(every[0] / every[1], rel=1e-3)
