"""The committed trained-model runs load, share one protocol and split, and are consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gabalab.experiments.records import load_runs
from gabalab.experiments.trained import METHODS, Protocol

FOLDER = Path(__file__).resolve().parents[2] / "results" / "fd001" / "trained"


@pytest.fixture(scope="module")
def runs() -> dict:
    if not FOLDER.is_dir() or not any(FOLDER.glob("*.json")):
        pytest.skip("no trained-model run is committed yet")
    return load_runs(FOLDER)


def test_committed_runs_follow_the_default_protocol(runs) -> None:
    for key, record in runs.items():
        assert record.method in METHODS, key
        assert record.protocol == Protocol().to_dict(), key
        assert record.compute["max_batches"] is None, key  # whole epochs only
        assert record.provenance["data_files_sha256"], key


def test_each_run_stopped_for_its_stated_reason(runs) -> None:
    protocol = Protocol()
    for key, record in runs.items():
        rmse = [e.validation.rmse for e in record.epochs]
        best = int(np.argmin(rmse))
        assert record.selected_epoch == best + 1, key
        if record.stopped == "patience":
            assert len(rmse) - 1 - best == protocol.patience, key
        else:
            assert len(rmse) == protocol.epoch_cap, key
        assert record.selected_test == record.selected.test, key  # the kept model's scores
