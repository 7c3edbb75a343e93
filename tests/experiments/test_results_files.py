"""The experiments' JSON results are written whole or not at all."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gabalab.experiments import epoch_at_init, provenance
from gabalab.experiments.provenance import write_json
from tests.experiments.test_scripts import COMMON
from tests.script_failures import NO_SPACE, disk_full_in, listing

OLD = {"experiment": "epoch_at_init", "rmse": 13.1}
NEW = {"experiment": "epoch_at_init", "ratios": list(range(2000))}


def test_a_write_failing_midway_leaves_the_old_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_json(tmp_path / "r.json", OLD)
    before = listing(tmp_path)
    disk_full_in(monkeypatch, tmp_path)
    with pytest.raises(OSError, match=NO_SPACE):
        write_json(path, NEW)
    monkeypatch.undo()
    assert listing(tmp_path) == before
    assert json.loads(path.read_text()) == OLD


def test_results_go_into_new_folders_and_keep_their_permissions(tmp_path: Path) -> None:
    path = write_json(tmp_path / "results" / "fd001" / "r.json", OLD)
    path.chmod(0o640)
    write_json(path, NEW)
    assert json.loads(path.read_text()) == NEW
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_an_experiment_whose_last_write_fails_leaves_the_earlier_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "init.json"
    write_json(out, OLD)
    before = listing(tmp_path)
    real_load = provenance.load_data

    def load_then_fill_the_disk(args: object) -> provenance.LoadedData:
        data = real_load(args)  # type: ignore[arg-type]
        disk_full_in(monkeypatch, tmp_path)  # the simulated fleet is written elsewhere
        return data

    monkeypatch.setattr(provenance, "load_data", load_then_fill_the_disk)
    with pytest.raises(OSError, match=NO_SPACE):
        epoch_at_init.main(COMMON + ["--max-batches", "1", "--out", str(out)])
    monkeypatch.undo()
    assert listing(tmp_path) == before
