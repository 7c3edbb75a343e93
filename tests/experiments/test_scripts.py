"""End-to-end tests of the experiments on a tiny simulated fleet, plus an FD001 replication."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from gabalab.data import load_cmapss, make_loader, prepare_cmapss
from gabalab.experiments import epoch_at_init, linear_probe, sensor_cost, training_sweep
from gabalab.experiments.provenance import to_jsonable
from gabalab.measure import measure_epoch
from gabalab.models import DualTaskModel
from gabalab.norms import shared_parameters
from gabalab.weighting import DEFAULT_EMA, DEFAULT_FLOOR

TINY_MODEL = json.dumps({"conv_channels": [4], "lstm_hidden": 4, "lstm_layers": 1,
                         "attention_hidden": 4, "funnel": [8], "feature_dim": 8,
                         "head_hidden": [4]})


TINY_FLEET = ["--simulated", "--sim-train-units", "3", "--sim-test-units", "4",
              "--sim-min-life", "40", "--sim-max-life", "60"]


COMMON = TINY_FLEET + ["--batch-size", "16", "--model-kwargs", TINY_MODEL, "--no-progress"]


REPO = Path(__file__).resolve().parents[2]


COMMITTED_INIT = REPO / "results" / "fd001" / "epoch_at_init.json"


def _check_provenance(payload: dict, name: str, argv: list[str]) -> None:
    prov = payload["provenance"]
    assert prov["command"].startswith(f"python -m gabalab.experiments.{name} ")
    assert prov["argv"] == argv and prov["seed"] == 0
    assert set(prov["versions"]) >= {"python", "numpy", "torch", "gabalab"}
    assert all(isinstance(v, str) and v for v in prov["versions"].values())
    hashes = prov["data_files_sha256"]
    assert set(hashes) == {"train_FD001.txt", "test_FD001.txt", "RUL_FD001.txt"}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes.values())
    assert prov["wall_time_s"] > 0 and prov["date_utc"].endswith("+00:00")
    assert isinstance(prov["torch_num_threads"], int) and prov["torch_num_threads"] >= 1
    assert payload["data"]["source"] == "simulated"
    assert payload["data"]["sensors"] and payload["data"]["window_length"] == 30


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("runs")
    argv = {
        "init": COMMON + ["--out", str(out / "init.json")],
        "sweep": COMMON + ["--epochs", "2", "--measure-at", "0,2", "--out",
                           str(out / "sweep.json")],
        "probe": COMMON + ["--epochs", "2", "--out", str(out / "probe.json")],
    }
    payloads = {
        "init": epoch_at_init.main(argv["init"]),
        "sweep": training_sweep.main(argv["sweep"]),
        "probe": linear_probe.main(argv["probe"]),
    }
    return {"dir": out, "argv": argv, "payloads": payloads}


def test_epoch_at_init_json(runs: dict) -> None:
    path = runs["dir"] / "init.json"
    payload = json.loads(path.read_text())
    assert payload == to_jsonable(runs["payloads"]["init"])
    _check_provenance(payload, "epoch_at_init", runs["argv"]["init"])
    m = payload["measurement"]
    n = payload["n_batches_per_epoch"]
    assert payload["n_train_windows"] == payload["data"]["n_train_windows"] > 0
    assert n == -(-payload["n_train_windows"] // 16) == m["n_batches"] == len(m["ratios"])
    assert len(m["rul_norms"]) == len(m["health_norms"]) == n
    np.testing.assert_allclose(np.array(m["rul_norms"]) / np.array(m["health_norms"]),
                               m["ratios"], rtol=1e-12)
    assert m["summary"]["median"] == pytest.approx(float(np.median(m["ratios"])))
    counts = payload["model"]["parameter_counts"]
    assert counts["shared"] + counts["heads"] == counts["total"] and counts["shared"] > 0


def test_training_sweep_json(runs: dict) -> None:
    payload = json.loads((runs["dir"] / "sweep.json").read_text())
    _check_provenance(payload, "training_sweep", runs["argv"]["sweep"])
    assert [e["epoch"] for e in payload["epochs"]] == [0, 1, 2]
    assert payload["epochs"][0]["train"] is None
    for entry in payload["epochs"][1:]:
        assert entry["train"]["mse"] > 0 and entry["train"]["ce"] > 0
        assert entry["train"]["n_batches"] == payload["n_batches_per_epoch"]
    for entry in payload["epochs"]:
        test = entry["test"]
        assert test["n"] == 4 and test["rmse"] >= 0 and 0 <= test["accuracy"] <= 1
        assert len(test["per_class_recall"]) == 3
    assert sorted(payload["measurements"]) == ["0", "2"]
    for key in ("0", "2"):
        meas = payload["measurements"][key]
        assert len(meas["ratios"]) == payload["n_batches_per_epoch"]
        assert payload["epochs"][int(key)]["ratio_summary"] == meas["summary"]
    assert "ratio_summary" not in payload["epochs"][1]
    assert payload["settings"]["measure_at"] == [0, 2] and payload["settings"]["epochs"] == 2
    assert payload["final_test"] == payload["epochs"][-1]["test"]
    # epoch 0 of the sweep repeats the epoch-at-init measurement exactly
    init = json.loads((runs["dir"] / "init.json").read_text())
    assert payload["measurements"]["0"]["ratios"] == init["measurement"]["ratios"]
    # the model file sits next to the JSON
    assert payload["model_file"]["name"] == "sweep_model.pt"
    model_path = runs["dir"] / "sweep_model.pt"
    assert hashlib.sha256(model_path.read_bytes()).hexdigest() == payload["model_file"]["sha256"]


def test_linear_probe_json_and_agreement(runs: dict) -> None:
    payload = json.loads((runs["dir"] / "probe.json").read_text())
    _check_provenance(payload, "linear_probe", runs["argv"]["probe"])
    probe = payload["probe"]
    assert probe["uniform_chance"] == pytest.approx(1 / 3)
    assert 0 <= probe["majority_chance_test"] <= 1 and probe["majority_class"] in (0, 1, 2)
    assert probe["n_test_windows"] == 4 and probe["feature_dim"] == 8
    for key in ("probe_test", "probe_train", "health_head_test"):
        assert 0 <= probe[key]["accuracy"] <= 1 and len(probe[key]["per_class_recall"]) == 3
    # retraining with the same seed gives the sweep's model, hence the same probe
    sweep = json.loads((runs["dir"] / "sweep.json").read_text())
    assert probe["probe_test"] == sweep["probe"]["probe_test"]
    assert probe["health_head_test"] == sweep["probe"]["health_head_test"]
    # and so does loading the saved model
    out = runs["dir"] / "probe_ckpt.json"
    from_ckpt = linear_probe.main(
        TINY_FLEET + ["--no-progress", "--checkpoint", str(runs["dir"] / "sweep_model.pt"),
                      "--out", str(out)]
    )
    assert from_ckpt["model_source"]["from"] == "checkpoint"
    assert to_jsonable(from_ckpt["probe"]["probe_test"]) == sweep["probe"]["probe_test"]
    # a float32 checkpoint probed on float64 windows is converted to them
    wide = linear_probe.main(
        TINY_FLEET + ["--no-progress", "--checkpoint", str(runs["dir"] / "sweep_model.pt"),
                      "--dtype", "float64", "--out", str(runs["dir"] / "probe_wide.json")]
    )
    assert wide["probe"]["probe_test"]["accuracy"] == pytest.approx(
        sweep["probe"]["probe_test"]["accuracy"])


def test_sensor_cost_json(tmp_path: Path) -> None:
    argv = COMMON + ["--epochs", "2", "--periods", "2,3", "--ema", "0", "--floor", "0",
                     "--out", str(tmp_path / "s.json")]
    payload = json.loads(json.dumps(to_jsonable(sensor_cost.main(argv))))
    assert payload == json.loads((tmp_path / "s.json").read_text())
    _check_provenance(payload, "sensor_cost", argv)
    shadow = payload["shadow"]
    steps = shadow["per_step"]
    n = len(steps["exact_w"])
    assert n == 2 * -(-payload["n_train_windows"] // 16)
    for key in ("rep_w", "held_2_w", "held_3_w", "exact_norms", "rep_norms", "rep_frobenius_w",
                "rep_frobenius_norms"):
        assert len(steps[key]) == n
    for period in (2, 3):  # the held weights are the exact ones of the last multiple of N
        held = steps[f"held_{period}_w"]
        assert held == [steps["exact_w"][i - i % period] for i in range(n)]
    # without EMA the representation weights follow from its norms by the inverse rule
    for key in ("rep", "rep_frobenius"):
        for w, (a, b) in zip(steps[f"{key}_w"], steps[f"{key}_norms"]):
            assert w == pytest.approx(b / (a + b), rel=1e-6)
    comparisons = shadow["comparisons"]
    assert set(comparisons) == {"exact", "exact_lag_1", "representation",
                                "representation_frobenius", "periodic_2", "periodic_3"}
    assert comparisons["exact"]["abs_diff"]["max"] == 0.0
    assert comparisons["exact"]["imbalance"]["max"] == pytest.approx(1.0, rel=1e-9)
    for name in ("representation", "periodic_2", "periodic_3"):
        row = comparisons[name]
        assert row["n_steps"] == n and row["abs_diff"]["max"] >= row["abs_diff"]["median"] >= 0
        assert row["imbalance"]["median"] >= 1.0
        assert row["pearson"] is None or -1.0 <= row["pearson"] <= 1.0
    assert set(payload["outcomes"]) == {"periodic_2", "periodic_3", "representation"}
    for period in (2, 3):
        run = payload["outcomes"][f"periodic_{period}"]
        assert run["measured_steps"] == -(-n // period) and run["steps"] == n
    assert payload["outcomes"]["representation"]["measured_steps"] == n
    assert set(payload["final_test"]) == {"exact", "periodic_2", "periodic_3", "representation"}
    assert payload["final_test"]["exact"]["rmse"] == shadow["epochs"][-1]["test"]["rmse"]
    assert [e["epoch"] for e in shadow["epochs"]] == [0, 1, 2]


def test_sensor_cost_defaults_are_the_balancers(tmp_path: Path) -> None:
    payload = sensor_cost.main(COMMON + ["--epochs", "1", "--max-batches", "3",
                                         "--no-outcome-runs", "--out", str(tmp_path / "d.json")])
    assert payload["settings"]["balancer"] == {"ema": DEFAULT_EMA, "floor": DEFAULT_FLOOR,
                                               "weight_rule": "inverse"}
    assert payload["outcomes"] == {} and len(payload["shadow"]["per_step"]["exact_w"]) == 3


def test_sensor_cost_arguments(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        sensor_cost.main(COMMON + ["--periods", "1", "--out", str(tmp_path / "a.json")])
    with pytest.raises(SystemExit):
        sensor_cost.main(COMMON + ["--weight-rule", "x", "--out", str(tmp_path / "b.json")])
    with pytest.raises(SystemExit) as stop:  # refused before the data are read
        sensor_cost.main(COMMON + ["--epochs", "0", "--out", str(tmp_path / "c.json")])
    assert stop.value.code == 2


def test_max_batches_and_argument_errors(tmp_path: Path) -> None:
    payload = epoch_at_init.main(COMMON + ["--max-batches", "2", "--out", str(tmp_path / "a.json")])
    assert payload["measurement"]["n_batches"] == 2 and payload["max_batches"] == 2
    with pytest.raises(SystemExit):
        epoch_at_init.main(COMMON + ["--data-dir", str(tmp_path), "--out", str(tmp_path / "b")])
    with pytest.raises(SystemExit):
        epoch_at_init.main(COMMON + ["--batch-size", "0", "--out", str(tmp_path / "c.json")])
    with pytest.raises(SystemExit):
        training_sweep.main(COMMON + ["--measure-at", "x", "--out", str(tmp_path / "d.json")])
    with pytest.raises(SystemExit) as stop:  # refused before the data are read
        training_sweep.main(COMMON + ["--epochs", "1", "--measure-at", "0,3",
                                      "--out", str(tmp_path / "e.json")])
    assert stop.value.code == 2
    assert not (tmp_path / "e.json").exists()


def test_missing_data_dir_stops_with_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        epoch_at_init.main(["--data-dir", str(tmp_path), "--no-progress",
                            "--out", str(tmp_path / "x.json")])
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--data-dir" in line and str(tmp_path) in line and "missing train_FD001.txt" in line


def test_fd001_first_batches_match_committed_results(real_fd001: Path) -> None:
    committed = json.loads(COMMITTED_INIT.read_text())
    fleet = load_cmapss("FD001", real_fd001)
    for key, path in fleet.files.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert committed["provenance"]["data_files_sha256"][path.name] == digest, key
    seed = committed["provenance"]["seed"]
    prepared = prepare_cmapss(fleet)
    model = DualTaskModel(**committed["model"]["kwargs"], seed=seed)
    loader = make_loader(prepared.train, committed["batch_size"], seed=seed)
    n = 3
    fresh = measure_epoch(model, loader, shared_parameters(model), progress=False,
                          max_batches=n, seed=seed)
    m = committed["measurement"]
    np.testing.assert_allclose(fresh.rul_norms, m["rul_norms"][:n], rtol=1e-5)
    np.testing.assert_allclose(fresh.health_norms, m["health_norms"][:n], rtol=1e-5)
    np.testing.assert_allclose(fresh.ratios, m["ratios"][:n], rtol=1e-5)
