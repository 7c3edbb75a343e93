"""Training on the summed loss, evaluation and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gabalab.data import WindowDataset
from gabalab.models import DualTaskModel
from gabalab.training import (
    classification_report,
    evaluate,
    load_checkpoint,
    save_checkpoint,
    train_summed_loss,
)
from tests.conftest import SMALL_DUAL


def _windows(n: int, seed: int) -> WindowDataset:
    rng = np.random.default_rng(seed)
    return WindowDataset(rng.random((n, 30, 14)), rng.uniform(0.0, 125.0, n))


def test_classification_report_by_hand() -> None:
    r = classification_report(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["per_class_recall"] == [0.5, 0.5, 1.0]
    assert r["support"] == [2, 2, 1]
    assert r["confusion"] == [[1, 0, 1], [1, 1, 0], [0, 0, 1]]
    assert classification_report(np.array([0]), np.array([0]), 3)["per_class_recall"] == [
        1.0, None, None]


def test_evaluate_matches_a_direct_computation_and_restores_the_mode() -> None:
    model = DualTaskModel(**SMALL_DUAL, seed=0).train()
    data = _windows(10, seed=1)
    out = evaluate(model, data, batch_size=3)
    model.eval()
    with torch.no_grad():
        rul, logits = model(data.x)
    rmse = float(torch.sqrt(torch.mean((rul.double() - data.y_rul.double()) ** 2)))
    assert out["rmse"] == pytest.approx(rmse, rel=1e-6)
    assert out["accuracy"] == pytest.approx(float((logits.argmax(1) == data.y_health).double()
                                                  .mean()))
    assert out["n"] == 10
    model.train()
    assert evaluate(model, data, batch_size=10)["rmse"] == pytest.approx(out["rmse"], rel=1e-6)
    assert model.training


def test_training_is_reproducible_from_its_seed() -> None:
    data = _windows(24, seed=2)
    runs = []
    for _ in range(2):
        model = DualTaskModel(**SMALL_DUAL, seed=0)
        log = train_summed_loss(model, data, epochs=2, lr=1e-3, batch_size=8, seed=5,
                                progress=False)
        runs.append((log, [p.detach().clone() for p in model.parameters()]))
    (log_a, params_a), (log_b, params_b) = runs
    assert [e["total"] for e in log_a] == [e["total"] for e in log_b]
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert [e["epoch"] for e in log_a] == [1, 2] and log_a[0]["n_batches"] == 3


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = DualTaskModel(**SMALL_DUAL, seed=3)
    path = save_checkpoint(model, tmp_path / "m.pt")
    assert path is not None and path.is_file()
    back = load_checkpoint(path)
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="not a file"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a gabalab checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_save_checkpoint_needs_a_config() -> None:
    with pytest.raises(TypeError, match="config"):
        save_checkpoint(torch.nn.Linear(1, 1), "unused.pt")
