"""A bad command line ends an experiment at once: one line naming the option, exit status 2.

Every case is run twice: as ``python -m gabalab.experiments.<name>`` in a fresh process
(what a reader types), and in-process with the data loader and the model's constructor
replaced by functions that fail the test, which proves that the refusal comes before any
data is read or any model built.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gabalab.data import ENV_VAR
from gabalab.experiments import (
    balancing,
    epoch_at_init,
    linear_probe,
    provenance,
    sensor_cost,
    trained,
    training_sweep,
)
from gabalab.models import DualTaskModel
from gabalab.training import save_checkpoint
from tests.script_failures import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]

MODULES = {"balancing": balancing, "epoch_at_init": epoch_at_init,
           "linear_probe": linear_probe, "sensor_cost": sensor_cost,
           "training_sweep": training_sweep, "trained": trained}

TINY = json.dumps({"conv_channels": [4], "lstm_hidden": 4, "lstm_layers": 1,
                   "attention_hidden": 4, "funnel": [8], "feature_dim": 8, "head_hidden": [4]})

#: Small enough that, where an old version only failed at the end, it got there quickly.
FAST = ["--batch-size", "16", "--max-batches", "1", "--model-kwargs", TINY, "--no-progress"]
SIMULATED = ["--simulated", "--sim-train-units", "3", "--sim-test-units", "4",
             "--sim-min-life", "40", "--sim-max-life", "60", *FAST]

#: (experiment, arguments, the option the message must name, the base arguments).
#: ``{empty}`` is an empty folder, ``{file}`` a regular file, ``{text}`` a file that is not a
#: checkpoint, ``{cut}`` a checkpoint cut to half its bytes, ``{out}`` a fresh output path.
CASES: list[tuple[str, list[str], str, list[str]]] = [
    # epochs
    ("balancing", ["--epochs", "0"], "--epochs", SIMULATED),
    ("balancing", ["--epochs", "-1"], "--epochs", SIMULATED),
    ("sensor_cost", ["--epochs", "0"], "--epochs", SIMULATED),
    ("sensor_cost", ["--epochs", "-3"], "--epochs", SIMULATED),
    ("training_sweep", ["--epochs", "-1"], "--epochs", SIMULATED),
    ("training_sweep", ["--epochs", "1"], "--measure-at", SIMULATED),  # default list reaches 8
    ("training_sweep", ["--epochs", "2", "--measure-at", "0,3"], "--measure-at", SIMULATED),
    ("linear_probe", ["--epochs", "-1"], "--epochs", SIMULATED),
    ("epoch_at_init", ["--epochs", "x"], "--epochs", SIMULATED),  # not an option here
    ("training_sweep", ["--epochs", "two"], "--epochs", SIMULATED),
    # data: subset and folder
    ("epoch_at_init", ["--subset", "FD009"], "--subset", SIMULATED),
    ("training_sweep", ["--subset", "FD009", "--data-dir", "{empty}"], "--subset", FAST),
    ("epoch_at_init", ["--data-dir", "{empty}"], "--data-dir", FAST),
    ("balancing", ["--data-dir", "{empty}/missing"], "--data-dir", FAST),
    ("sensor_cost", ["--data-dir", "{file}"], "--data-dir", FAST),
    ("linear_probe", ["--data-dir", ""], "--data-dir", FAST),
    ("epoch_at_init", [], "--data-dir", FAST),  # nothing in $GABALAB_CMAPSS_DIR or ~/.cache
    ("epoch_at_init", ["--data-dir", "{empty}"], "--data-dir", SIMULATED),  # exclusive
    # model options
    ("epoch_at_init", ["--model-kwargs", "{"], "--model-kwargs", SIMULATED),
    ("training_sweep", ["--model-kwargs", "[1, 2]"], "--model-kwargs", SIMULATED),
    ("linear_probe", ["--model-kwargs", '{"lstm_size": 4}'], "--model-kwargs", SIMULATED),
    ("balancing", ["--model-kwargs", '{"lstm_hidden": -4}'], "--model-kwargs", SIMULATED),
    ("sensor_cost", ["--model-kwargs", '{"funnel": [8, 0]}'], "--model-kwargs", SIMULATED),
    ("epoch_at_init", ["--model-kwargs", '{"dropout": 1.5}'], "--model-kwargs", SIMULATED),
    ("epoch_at_init", ["--model-kwargs", '{"kernel_size": 4}'], "--model-kwargs", SIMULATED),
    ("training_sweep", ["--model-kwargs", '{"n_features": 20}'], "--model-kwargs", SIMULATED),
    ("epoch_at_init", ["--model-kwargs", '{"seed": 3}'], "--model-kwargs", SIMULATED),
    # checkpoint
    ("linear_probe", ["--checkpoint", "{empty}/missing.pt"], "--checkpoint", SIMULATED),
    ("linear_probe", ["--checkpoint", "{cut}"], "--checkpoint", SIMULATED),
    ("linear_probe", ["--checkpoint", "{text}"], "--checkpoint", SIMULATED),
    # counts and seeds
    ("epoch_at_init", ["--batch-size", "0"], "--batch-size", SIMULATED),
    ("balancing", ["--max-batches", "0"], "--max-batches", SIMULATED),
    ("training_sweep", ["--seed", "-1"], "--seed", SIMULATED),
    ("epoch_at_init", ["--sim-train-units", "0"], "--sim-train-units", SIMULATED),
    ("sensor_cost", ["--sim-test-units", "0"], "--sim-test-units", SIMULATED),
    ("linear_probe", ["--sim-seed", "-2"], "--sim-seed", SIMULATED),
    ("epoch_at_init", ["--sim-min-life", "100", "--sim-max-life", "50"], "--sim-max-life",
     SIMULATED),
    ("training_sweep", ["--sim-min-life", "5", "--sim-max-life", "10"], "--sim-min-life",
     SIMULATED),  # no unit long enough for one window
    # real numbers
    ("training_sweep", ["--lr", "nan"], "--lr", SIMULATED),
    ("linear_probe", ["--lr", "-1"], "--lr", SIMULATED),
    ("sensor_cost", ["--lr", "0"], "--lr", SIMULATED),
    ("balancing", ["--lr", "inf"], "--lr", SIMULATED),
    ("sensor_cost", ["--ema", "2"], "--ema", SIMULATED),
    ("sensor_cost", ["--ema", "nan"], "--ema", SIMULATED),
    ("sensor_cost", ["--floor", "-1"], "--floor", SIMULATED),
    ("sensor_cost", ["--floor", "0.7"], "--floor", SIMULATED),
    ("balancing", ["--gaba-ema", "1"], "--gaba-ema", SIMULATED),
    # other options
    ("sensor_cost", ["--periods", "1"], "--periods", SIMULATED),
    ("sensor_cost", ["--weight-rule", "x"], "--weight-rule", SIMULATED),
    ("balancing", ["--methods", "sum,nope"], "--methods", SIMULATED),
    ("epoch_at_init", ["--dtype", "float16"], "--dtype", SIMULATED),
    ("epoch_at_init", ["--bogus"], "--bogus", SIMULATED),
    # the output
    ("epoch_at_init", ["--out", "{empty}"], "--out", SIMULATED),
    ("training_sweep", ["--out", "{file}/r.json"], "--out", SIMULATED),
    ("balancing", ["--out", "{file}/deeper/r.json"], "--out", SIMULATED),
    ("linear_probe", ["--out", ""], "--out", SIMULATED),
    ("sensor_cost", ["--no-out"], "--out", SIMULATED),  # --out missing
    # the trained-model runs: protocol, lists, folders
    ("trained", ["--epoch-cap", "0"], "--epoch-cap", SIMULATED),
    ("trained", ["--patience", "0"], "--patience", SIMULATED),
    ("trained", ["--lr-factor", "1"], "--lr-factor", SIMULATED),
    ("trained", ["--lr-gamma", "1.5"], "--lr-gamma", SIMULATED),
    ("trained", ["--schedule", "cosine"], "--schedule", SIMULATED),
    ("trained", ["--lr", "nan"], "--lr", SIMULATED),
    ("trained", ["--validation-fraction", "0"], "--validation-fraction", SIMULATED),
    ("trained", ["--seeds", "0,0"], "--seeds", SIMULATED),
    ("trained", ["--methods", "sum,pcgrad"], "--methods", SIMULATED),
    ("trained", ["--worker", "2/2"], "--worker", SIMULATED),
    ("trained", ["--out", "{file}"], "--out", SIMULATED),
    ("trained", ["--checkpoints", "{file}"], "--checkpoints", SIMULATED),
    ("trained", ["--model-kwargs", '{"lstm_hidden": 0}'], "--model-kwargs", SIMULATED),
    ("trained", ["--data-dir", "{empty}"], "--data-dir", FAST),
]


def _case_id(case: tuple[str, list[str], str, list[str]]) -> str:
    name, args, _, base = case
    return f"{name}:{' '.join(args) or '(no data)'}" + (":sim" if base is SIMULATED else "")


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("places")
    (folder / "empty").mkdir()
    (folder / "file").write_text("a file, not a folder\n")
    (folder / "text.pt").write_text("not a checkpoint\n")
    model = DualTaskModel(**json.loads(TINY), seed=0)
    whole = save_checkpoint(model, folder / "whole.pt")
    assert whole is not None
    data = whole.read_bytes()
    (folder / "cut.pt").write_bytes(data[: len(data) // 2])
    return {"empty": str(folder / "empty"), "file": str(folder / "file"),
            "text": str(folder / "text.pt"), "cut": str(folder / "cut.pt"),
            "whole": str(whole), "home": str(folder / "home")}


def _fill(arg: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def _argv(case: tuple[str, list[str], str, list[str]], places: dict[str, str],
          out: Path) -> list[str]:
    _, args, _, base = case
    argv = [*base, *(_fill(a, places) for a in args)]
    if "--no-out" in argv:
        argv.remove("--no-out")
    elif "--out" not in args:
        argv += ["--out", str(out)]
    return argv


def _environment(places: dict[str, str]) -> dict[str, str]:
    """No real data anywhere: an empty $GABALAB_CMAPSS_DIR and a home without a cache."""
    return {ENV_VAR: places["empty"], "HOME": places["home"]}


def _run_fresh(case: tuple[str, list[str], str, list[str]], places: dict[str, str],
               folder: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder.mkdir(parents=True)
    out = folder / "out" / "r.json"
    env = {**os.environ, **_environment(places), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", f"gabalab.experiments.{case[0]}",
                           *_argv(case, places, out)],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=300)
    return proc, out


@pytest.fixture(scope="module")
def fresh_runs(places: dict[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Every case's command line run in its own fresh process, a few at a time (each
    process spends most of its time importing torch, which the cores can share)."""
    root = tmp_path_factory.mktemp("fresh")
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {_case_id(c): pool.submit(_run_fresh, c, places, root / f"case{i}")
                   for i, c in enumerate(CASES)}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_command_line_in_a_fresh_process(
        case: tuple[str, list[str], str, list[str]],
        fresh_runs: dict[str, tuple[subprocess.CompletedProcess[str], Path]]) -> None:
    name, _, option, _ = case
    proc, out = fresh_runs[_case_id(case)]
    assert_one_line_error(proc.returncode, proc.stderr, option)
    assert proc.stderr.startswith(f"python -m gabalab.experiments.{name}: error: ")
    assert not out.exists()


def _never(what: str, instead_of: Any) -> Any:
    """A function that fails the test, with the signature of the one it replaces."""
    @functools.wraps(instead_of)
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{what} was reached")
    return fail


@pytest.fixture
def nothing_loaded_or_built(monkeypatch: pytest.MonkeyPatch, places: dict[str, str]) -> None:
    for key, value in _environment(places).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(provenance, "load_data", _never("the data loader", provenance.load_data))
    monkeypatch.setattr(provenance, "load_subset",
                        _never("the data reader", provenance.load_subset))
    monkeypatch.setattr(DualTaskModel, "__init__",
                        _never("the model's constructor", DualTaskModel.__init__))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_command_line_stops_before_data_or_model(
    case: tuple[str, list[str], str, list[str]], places: dict[str, str], tmp_path: Path,
    nothing_loaded_or_built: None, capsys: pytest.CaptureFixture[str],
) -> None:
    name, _, option, _ = case
    with pytest.raises(SystemExit) as stop:
        MODULES[name].main(_argv(case, places, tmp_path / "r.json"))
    assert_one_line_error(stop.value.code, capsys.readouterr().err, option)


GOOD = {
    "balancing": ["--epochs", "1"],
    "epoch_at_init": [],
    "linear_probe": ["--checkpoint", "{whole}"],
    "sensor_cost": ["--ema", "0", "--floor", "0.5", "--lr", "1e-2"],
    "training_sweep": ["--epochs", "2", "--measure-at", "0,2"],
    "trained": ["--epoch-cap", "2", "--seeds", "0,1", "--worker", "1/2"],
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_good_command_line_passes_every_check(
    name: str, places: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Reached(Exception):
        pass

    def load_data(args: argparse.Namespace) -> provenance.LoadedData:
        raise Reached

    monkeypatch.setattr(provenance, "load_data", load_data)
    monkeypatch.setattr(provenance, "load_subset", load_data)
    out = tmp_path / "new" / "r.json"
    with pytest.raises(Reached):
        MODULES[name].main([*SIMULATED, *(_fill(a, places) for a in GOOD[name]),
                            "--out", str(out)])
    if name == "trained":  # --out is the folder of the result files
        assert out.is_dir() and not any(out.iterdir())
    else:
        assert out.parent.is_dir() and not out.exists()  # its folder made, nothing written


def test_help_is_still_the_whole_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        epoch_at_init.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m gabalab.experiments.epoch_at_init")
    assert "--model-kwargs" in text and len(text.splitlines()) > 10


def test_a_message_of_several_lines_becomes_one(capsys: pytest.CaptureFixture[str]) -> None:
    parser = provenance.OneLineErrorParser(prog="demo")
    with pytest.raises(SystemExit) as stop:
        parser.error("first line\n  second line\n")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "demo: error: first line second line\n"
