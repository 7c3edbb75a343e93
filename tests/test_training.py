"""Training on the summed loss, evaluation and checkpoints."""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gabalab.data import WindowDataset, make_loader
from gabalab.gaba import GabaBalancer
from gabalab.models import DualTaskModel
from gabalab.scoped import seeded
from gabalab.training import (
    classification_report,
    evaluate,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    train_balanced,
    train_summed_loss,
)
from tests.conftest import SMALL_DUAL
from tests.script_failures import NO_SPACE, listing


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


def _half_written_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch.save`` that writes half of the file and then finds the disk full."""
    real_save = torch.save

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        half = buffer.getvalue()[: buffer.tell() // 2]
        if isinstance(f, (str, Path)):
            with open(f, "wb") as handle:
                handle.write(half)
        else:
            f.write(half)
        raise OSError(28, NO_SPACE)

    monkeypatch.setattr(torch, "save", save)


def test_a_checkpoint_write_failing_midway_keeps_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = save_checkpoint(DualTaskModel(**SMALL_DUAL, seed=1), tmp_path / "m.pt")
    assert old is not None
    before = listing(tmp_path)
    _half_written_save(monkeypatch)
    with pytest.raises(OSError, match=NO_SPACE):
        save_checkpoint(DualTaskModel(**SMALL_DUAL, seed=2), tmp_path / "m.pt")
    monkeypatch.undo()
    assert listing(tmp_path) == before
    assert torch.equal(load_checkpoint(old).funnel[0].weight,
                       DualTaskModel(**SMALL_DUAL, seed=1).funnel[0].weight)


def test_a_checkpoint_goes_into_new_folders_and_keeps_its_permissions(tmp_path: Path) -> None:
    path = save_checkpoint(DualTaskModel(**SMALL_DUAL, seed=0), tmp_path / "a" / "b" / "m.pt")
    assert path is not None and path.is_file()
    path.chmod(0o640)
    save_checkpoint(DualTaskModel(**SMALL_DUAL, seed=1), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]


@pytest.mark.parametrize("keep", [0.5, 0.1, 0.99, 1])
def test_a_truncated_checkpoint_is_a_value_error_naming_the_file(tmp_path: Path,
                                                                 keep: float) -> None:
    path = save_checkpoint(DualTaskModel(**SMALL_DUAL, seed=0), tmp_path / "m.pt")
    assert path is not None
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[:-1])
    for read in (load_checkpoint, read_checkpoint):
        with pytest.raises(ValueError, match=r"'.*cut\.pt' is not a torch checkpoint"):
            read(cut)


def test_read_checkpoint_checks_the_stored_model_without_building_it(tmp_path: Path) -> None:
    path = save_checkpoint(DualTaskModel(**SMALL_DUAL, seed=4), tmp_path / "m.pt")
    assert path is not None
    blob = read_checkpoint(path)
    assert "seed" not in blob["config"] and blob["config"]["lstm_hidden"] == 8
    bad = torch.load(path, weights_only=True)
    bad["config"]["lstm_hidden"] = -3
    torch.save(bad, tmp_path / "bad.pt")
    for read in (load_checkpoint, read_checkpoint):
        with pytest.raises(ValueError, match=r"bad\.pt' stores an invalid model configuration: "
                                             "lstm_hidden must be >= 1"):
            read(tmp_path / "bad.pt")


@pytest.mark.parametrize("options", [{}, {"measure_every": 3}, {"sensor": "representation"}])
def test_train_balanced_is_the_loop_written_out(options) -> None:
    data = _windows(20, seed=4)
    model = DualTaskModel(**SMALL_DUAL, seed=0)
    seen: list = []
    log = train_balanced(model, data, GabaBalancer.from_model(model, **options), epochs=2,
                         lr=1e-3, batch_size=8, seed=5, progress=False,
                         before_step=lambda step, losses, z: seen.append(("before", step)),
                         after_step=lambda step, result: seen.append(("after", step,
                                                                      result.fresh)))
    assert [e["epoch"] for e in log] == [1, 2] and log[0]["n_batches"] == 3
    assert [s[:2] for s in seen] == [(k, i) for i in range(6) for k in ("before", "after")]
    every = options.get("measure_every", 1)
    assert [s[2] for s in seen if s[0] == "after"] == [i % every == 0 for i in range(6)]
    twin = DualTaskModel(**SMALL_DUAL, seed=0)
    balancer = GabaBalancer.from_model(twin, **options)
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3)
    loader = make_loader(data, 8, seed=5)
    with seeded(5):
        for _ in range(2):
            twin.train()
            for x, y, c in loader:
                optimizer.zero_grad(set_to_none=True)
                z = twin.features(x)
                losses = [F.mse_loss(twin.rul_head(z).squeeze(-1), y),
                          F.cross_entropy(twin.health_head(z), c)]
                balancer.step(losses, features=z if "sensor" in options else None)
                optimizer.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_train_balanced_validates_its_arguments() -> None:
    data = _windows(8, seed=6)
    model = DualTaskModel(**SMALL_DUAL, seed=0)
    balancer = GabaBalancer.from_model(model)
    with pytest.raises(TypeError, match="balancer must be a GabaBalancer"):
        train_balanced(model, data, None, epochs=1, lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(ValueError, match="balancer must balance the 2 tasks"):
        train_balanced(model, data, GabaBalancer.from_model(model, n_tasks=3), epochs=1,
                       lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(TypeError, match="model must have a callable features"):
        train_balanced(torch.nn.Linear(2, 2), data, balancer, epochs=1, lr=1e-3,
                       batch_size=8, seed=0)
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        train_balanced(model, data, balancer, epochs=-1, lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(ValueError, match="max_batches must be >= 1"):
        train_balanced(model, data, balancer, epochs=1, lr=1e-3, batch_size=8, seed=0,
                       max_batches=0)
