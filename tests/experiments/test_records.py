"""The trained-run records: written once, read back equal, every broken file refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gabalab.experiments.records import (
    SCHEMA,
    EpochRecord,
    Metrics,
    Quantiles,
    RunRecord,
    UnitPredictions,
    load_run,
    load_runs,
    write_run,
)


def metrics(rmse: float) -> Metrics:
    return Metrics(rmse=rmse, mae=rmse * 0.8, score=10 * rmse, accuracy=0.9,
                   per_class_recall=(0.9, 0.8, None), support=(5, 3, 0), n=8)


def epoch(number: int, val_rmse: float) -> EpochRecord:
    ratio = Quantiles(1.0, 2.0, 3.0, 4.0, 5.0, n_steps=7)
    return EpochRecord(epoch=number, lr=1e-3, train_mse=100.0, train_ce=0.5, step_s=2.0,
                       n_batches=10, validation=metrics(val_rmse), test=metrics(val_rmse + 1),
                       ratio=ratio, weighted_ratio=None, weights=(1.0, 1.0))


def record(method: str = "sum", seed: int = 0, **changes) -> RunRecord:
    base = dict(
        method=method, seed=seed, protocol={"lr": 1e-3, "patience": 3},
        validation_units=(3, 7), epochs=(epoch(1, 20.0), epoch(2, 15.0), epoch(3, 16.0)),
        selected_epoch=2, stopped="cap", selected_test=metrics(16.0),
        predictions=UnitPredictions((10.0, 50.0), (12.0, 45.0), (2, 0), (2, 1)),
        method_detail={}, probe=None, compute={"train_s": 6.0}, provenance={"argv": []})
    base.update(changes)
    return RunRecord(**base)


def test_a_run_survives_the_round_trip(tmp_path: Path) -> None:
    path = write_run(tmp_path / "sum-seed0.json", record())
    loaded = load_run(path)
    assert loaded == record()
    assert loaded.selected.validation.rmse == 15.0
    assert json.loads(path.read_text())["schema"] == SCHEMA


def test_load_runs_keys_by_method_and_seed(tmp_path: Path) -> None:
    for method in ("sum", "gaba"):
        for seed in (0, 1):
            write_run(tmp_path / f"{method}-{seed}.json", record(method, seed))
    runs = load_runs(tmp_path)
    assert sorted(runs) == [("gaba", 0), ("gaba", 1), ("sum", 0), ("sum", 1)]


def test_load_runs_refuses_duplicates_and_mixed_protocols(tmp_path: Path) -> None:
    write_run(tmp_path / "a.json", record())
    write_run(tmp_path / "b.json", record())
    with pytest.raises(ValueError, match="two runs of method 'sum', seed 0"):
        load_runs(tmp_path)
    (tmp_path / "b.json").unlink()
    write_run(tmp_path / "c.json", record(seed=1, protocol={"lr": 1e-2, "patience": 3}))
    with pytest.raises(ValueError, match="another protocol"):
        load_runs(tmp_path)
    (tmp_path / "c.json").unlink()
    write_run(tmp_path / "d.json", record(seed=1, validation_units=(4, 7)))
    with pytest.raises(ValueError, match="another validation split"):
        load_runs(tmp_path)


@pytest.mark.parametrize(("change", "match"), [
    (lambda d: d.update(schema="gabalab.trained-run/0"), "has schema"),
    (lambda d: d.update(selected_epoch=3), "not the epoch with the lowest validation RMSE"),
    (lambda d: d.update(selected_epoch=9), "past the last epoch"),
    (lambda d: d["epochs"].pop(0), "number the epochs"),
    (lambda d: d.update(stopped="tired"), "stopped"),
    (lambda d: d["epochs"][1]["validation"].update(rmse=float("nan")), "must be finite"),
    (lambda d: d["predictions"]["rul_pred"].pop(), "one value per test unit"),
    (lambda d: d["epochs"][0]["ratio"].update(q10=9.0), "must not decrease"),
    (lambda d: d.pop("provenance"), "lacks"),
])
def test_a_broken_file_is_refused_naming_it(tmp_path: Path, change, match) -> None:
    data = record().to_dict()
    change(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match) as info:
        load_run(path)
    assert "broken.json" in str(info.value)


def test_not_json_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        load_run(path)
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "none.json")
    with pytest.raises(FileNotFoundError):
        load_runs(tmp_path / "none")


def test_write_run_checks_before_it_writes(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run.json", record())
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not the epoch with the lowest"):
        write_run(path, record(selected_epoch=1))
    assert path.read_bytes() == before
    with pytest.raises(TypeError, match="record must be a RunRecord"):
        write_run(path, record().to_dict())  # type: ignore[arg-type]
