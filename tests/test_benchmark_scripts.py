"""What the benchmark scripts hand to torch is accepted by it, a bad command line stops them at
once, their defaults give every timed step enough samples, a tiny run of each writes the
fields the book reads (and the new ones), and their results are written whole or not at all
(the benchmarks themselves are run by hand, not by the tests: their timings depend on the
machine). The harness they share has its own tests (``test_benchmark_harness.py``)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch
import torch.distributed as dist

from tests.script_failures import NO_SPACE, assert_one_line_error, disk_full_in, listing

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import ``benchmarks/<name>.py``, with its folder first on ``sys.path`` (as when run)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import harness (and gaba_step)
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_scale_benchmarks_comm_hook_has_the_annotations_ddp_requires(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # DistributedDataParallel.register_comm_hook refuses a hook whose bucket annotation is
    # not dist.GradBucket or whose return annotation is not Future[Tensor]; postponed
    # annotations would be strings and refused at the first run.
    hook = _load("gaba_scale", monkeypatch).counting_hook
    signature = inspect.signature(hook)
    assert signature.parameters["bucket"].annotation is dist.GradBucket
    assert signature.return_annotation == torch.futures.Future[torch.Tensor]


# ------------------------------------------------------------------ command lines and output

#: Small settings, so that a version which only failed at the end got there quickly.
FAST = {
    "gaba_step": ["--batch-sizes", "2", "--warmup", "0", "--repeats", "1", "--variants",
                  "a_plain", "--memory-steps", "1"],
    "gaba_sensors": ["--batch-sizes", "2", "--warmup", "0", "--repeats", "1", "--variants",
                     "a_plain", "--memory-steps", "1"],
    "gaba_scale": ["--world-size", "1", "--batch-size", "2", "--micro-batches", "1",
                   "--warmup", "0", "--repeats", "1", "--variants", "plain", "gaba"],
    "explorer_pages": ["--repeats", "2", "--warmup", "0"],
    "epoch_profile": ["--simulated", "--batch-sizes", "2", "--threads", "1", "--warmup", "0",
                      "--repeats", "1", "--methods", "sum", "--process-steps", "1",
                      "--process-warmup", "0", "--process-batch-size", "2"],
}

#: (benchmark, arguments, the option the one-line message must name); ``{empty}`` is an
#: empty folder, ``{file}`` a regular file.
BAD = [
    ("gaba_step", ["--seed", "-1"], "--seed"),
    ("gaba_step", ["--batch-sizes", "0"], "--batch-sizes"),
    ("gaba_step", ["--warmup", "-1"], "--warmup"),
    ("gaba_step", ["--repeats", "0"], "--repeats"),
    ("gaba_step", ["--repeats", "1", "2", "3"], "--repeats"),
    ("gaba_step", ["--memory-steps", "0"], "--memory-steps"),
    ("gaba_step", ["--variants", "c_gabalab"], "--variants"),
    ("gaba_step", ["--variants", "a_plain", "a_plain"], "--variants"),
    ("gaba_step", ["--out", "{empty}"], "--out"),
    ("gaba_step", ["--bogus"], "--bogus"),
    ("gaba_sensors", ["--device", "tpu"], "--device"),
    ("gaba_sensors", ["--memory-steps", "0"], "--memory-steps"),
    ("gaba_sensors", ["--batch-sizes", "2", "-1"], "--batch-sizes"),
    ("gaba_sensors", ["--out", "{file}/r.json"], "--out"),
    ("gaba_sensors", ["--repeats", "0"], "--repeats"),
    ("gaba_sensors", ["--warmup", "1", "2", "3"], "--warmup"),
    ("gaba_sensors", ["--seed", "x"], "--seed"),
    ("gaba_scale", ["--world-size", "0"], "--world-size"),
    ("gaba_scale", ["--micro-batches", "3"], "--micro-batches"),
    ("gaba_scale", ["--timeout", "nan"], "--timeout"),
    ("gaba_scale", ["--threads", "0"], "--threads"),
    ("gaba_scale", ["--seed", "-5"], "--seed"),
    ("gaba_scale", ["--out", "{empty}"], "--out"),
    ("gaba_scale", ["--repeats", "0"], "--repeats"),
    ("gaba_scale", ["--warmup", "-1"], "--warmup"),
    ("explorer_pages", ["--repeats", "1"], "--repeats"),
    ("explorer_pages", ["--warmup", "-1"], "--warmup"),
    ("explorer_pages", ["--out", "{empty}"], "--out"),
    ("epoch_profile", ["--threads", "0"], "--threads"),
    ("epoch_profile", ["--threads", "1,1"], "--threads"),
    ("epoch_profile", ["--batch-sizes", "32,x"], "--batch-sizes"),
    ("epoch_profile", ["--methods", "gaba"], "--methods"),
    ("epoch_profile", ["--methods", "sum,bogus"], "--methods"),
    ("epoch_profile", ["--repeats", "0"], "--repeats"),
    ("epoch_profile", ["--warmup", "1", "2", "3"], "--warmup"),
    ("epoch_profile", ["--process-steps", "0"], "--process-steps"),
    ("epoch_profile", ["--process-batch-size", "-2"], "--process-batch-size"),
    ("epoch_profile", ["--seed", "-1"], "--seed"),
    ("epoch_profile", ["--data-dir", "{empty}"], "--data-dir"),  # with --simulated
    ("epoch_profile", ["--out", "{empty}"], "--out"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("places")
    (folder / "empty").mkdir()
    (folder / "file").write_text("a file, not a folder\n")
    return {"{empty}": str(folder / "empty"), "{file}": str(folder / "file")}


def _run_bad(name: str, args: list[str], places: dict[str, str],
             folder: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder.mkdir(parents=True)
    argv = [*FAST[name]]
    for arg in args:
        for key, value in places.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    out = folder / "out" / "r.json"
    if "--out" not in args:
        argv += ["--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(BENCHMARKS.parent), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *argv],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=300)
    return proc, out


@pytest.fixture(scope="module")
def bad_runs(places: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> list[tuple[subprocess.CompletedProcess[str], Path]]:
    """Every bad command line run in its own fresh process, a few at a time."""
    root = tmp_path_factory.mktemp("bad")
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = [pool.submit(_run_bad, name, args, places, root / f"case{i}")
                   for i, (name, args, _) in enumerate(BAD)]
        return [future.result() for future in futures]


@pytest.mark.parametrize("index", range(len(BAD)),
                         ids=[f"{n}:{' '.join(a)}" for n, a, _ in BAD])
def test_a_bad_command_line_stops_at_once_with_one_line(
    index: int, bad_runs: list[tuple[subprocess.CompletedProcess[str], Path]]
) -> None:
    name, _, option = BAD[index]
    proc, out = bad_runs[index]
    assert_one_line_error(proc.returncode, proc.stderr, option)
    assert proc.stderr.startswith(f"{name}.py: error: ")
    assert not out.exists()


def _stub_the_measurements(name: str, module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace what takes minutes by empty results: only the writing of the JSON is left."""
    if name == "gaba_scale":
        monkeypatch.setattr(module, "spawn_local", lambda *a, **k: [
            {"traffic": {}, "balancer_skips": 0, "threads": 1}])
        monkeypatch.setattr(module, "summarise", lambda *a: {"variants": {}, "ratios": {}})
        return
    if name == "epoch_profile":
        split = SimpleNamespace(prepared=SimpleNamespace(train=[0] * 5))
        monkeypatch.setattr(module, "load_split", lambda args: (split, {
            "source": "simulated", "subset": "FD001", "files_sha256": {}}))
        monkeypatch.setattr(module, "profile", lambda *a: [])
        groups = {group: {"samples_per_s": 1.0, "overlap_share": 1.0}
                  for group, _ in module.PROCESS_GROUPS}
        monkeypatch.setattr(module, "two_cores", lambda *a: {
            "method": "sum", "batch_size": 2, "steps": 1, **groups,
            "two_processes_over_one_thread": 1.0, "two_threads_over_one_thread": 1.0,
            "two_processes_over_two_threads": 1.0})
        return
    monkeypatch.setattr(module, "simulated_batch", lambda *a: None)
    monkeypatch.setattr(module, "check_agreement", lambda *a: {})
    monkeypatch.setattr(module, "time_variants",
                        lambda batch, *a: {"batch_size": 2, "variants": {}})
    monkeypatch.setattr(module, "measure_memory", lambda *a: {})
    if name == "gaba_sensors":
        monkeypatch.setattr(module, "_to", lambda batch, device: batch)


@pytest.mark.parametrize("name", ["gaba_step", "gaba_sensors", "gaba_scale", "epoch_profile"])
def test_a_write_failing_midway_leaves_the_earlier_results(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load(name, monkeypatch)
    _stub_the_measurements(name, module, monkeypatch)
    out = tmp_path / "r.json"
    payload = module.main([*FAST[name], "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    out.write_text('{"benchmark": "the earlier run"}\n')
    before = listing(tmp_path)
    disk_full_in(monkeypatch, tmp_path)
    with pytest.raises(OSError, match=NO_SPACE):
        module.main([*FAST[name], "--out", str(out)])
    assert listing(tmp_path) == before


# ------------------------------------------------------------------ defaults and a tiny run

@pytest.mark.parametrize("name", ["gaba_step", "gaba_sensors", "gaba_scale", "epoch_profile"])
def test_the_defaults_give_every_timed_step_the_minimum_of_samples(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one sample per timed step and measured repetition; a periodic sensor's measuring and
    # held steps are timed steps of their own (checked on a run below)
    module = _load(name, monkeypatch)
    source = ["--simulated"] if name == "epoch_profile" else []  # no FD001 files needed
    args = module.parse_args(["--out", str(tmp_path / "r.json"), *source])
    repeats = args.repeats if isinstance(args.repeats, list) else [args.repeats]
    assert min(repeats) >= sys.modules["harness"].MIN_SAMPLES == 30


#: A run of each script as small as its command line allows, with the variants the book reads.
TINY = {
    "gaba_step": ["--batch-sizes", "2", "--warmup", "1", "--repeats", "2", "--variants",
                  "a_plain", "b_reference", "c_gabalab", "e_floor"],
    "gaba_sensors": ["--batch-sizes", "2", "--warmup", "1", "--repeats", "2",
                     "--memory-steps", "1"],
    "gaba_scale": ["--world-size", "2", "--batch-size", "2", "--micro-batches", "1",
                   "--warmup", "1", "--repeats", "2"],  # two ranks: the balancer all-reduces
}

#: The fields of every timed step (or periodic kind) beside its wall time.
NEW_FIELDS = ("cpu_median_ms", "cpu_q25_ms", "cpu_q75_ms", "cpu_times_ms", "minor_faults",
              "major_faults", "minor_faults_median", "major_faults_median")


def _check_order(run: dict[str, Any], steps: list[str], warmup: int, repeats: int) -> None:
    assert len(run["order"]) == warmup + repeats
    assert all(sorted(order) == sorted(steps) for order in run["order"])
    assert sorted(run["slot_counts"]) == sorted(steps)
    assert all(sum(row) == repeats for row in run["slot_counts"].values())


def _book_fields_of_gaba_step(bench: dict[str, Any]) -> None:
    """What chapter18/per_step_gradient_norm.md reads."""
    prov = bench["provenance"]
    assert prov["command"].startswith(".venv/bin/python benchmarks/gaba_step.py ")
    for key in ("date_utc", "torch_num_threads", "cpu_count"):
        assert key in prov
    assert "torch" in prov["versions"] and len(prov["load_average_1_5_15_at_start"]) == 3
    run = next(r for r in bench["runs"] if r["batch_size"] == 2)
    assert (run["warmup"], run["repeats"]) == (1, 2)
    for name in ("a_plain", "b_reference", "c_gabalab", "e_floor"):
        row = run["variants"][name]
        assert row["median_ms"] > 0 and row["ratio_to_plain"] > 0 and row["description"]
        assert row["paired_ratio_to_plain"] > 0 and len(row["times_ms"]) == 2
        for key in NEW_FIELDS + ("cpu_ratio_to_plain", "cpu_paired_ratio_to_plain"):
            assert key in row, key
    _check_order(run, list(run["variants"]), 1, 2)
    line = bench["summary"][0]
    assert line["c_over_e"] > 0 and line["c_over_e_paired"] > 0
    assert "minor_faults_median" in line["a_plain"]
    assert line["a_plain"]["peak_rss_delta_mib"] > 0


def _book_fields_of_gaba_sensors(bench: dict[str, Any]) -> None:
    """What book/cheaper_sensors.md reads."""
    prov = bench["provenance"]
    assert prov["command"].startswith(".venv/bin/python benchmarks/gaba_sensors.py ")
    assert prov["device"] == "cpu"
    for key in ("date_utc", "torch_num_threads", "cpu_count", "load_average_1_5_15_at_start"):
        assert key in prov
    line = next(row for row in bench["summary"] if row["batch_size"] == 2)
    run = next(r for r in bench["runs"] if r["batch_size"] == 2)
    assert (run["warmup"], run["repeats"]) == (1, 2)
    for name in ("a_plain", "c_exact", "e_floor", "f_periodic_4", "g_periodic_16",
                 "h_representation"):
        assert line[name]["median_ms"] > 0 and line[name]["paired_ratio_to_plain"] > 0
        assert "cpu_paired_ratio_to_plain" in line[name]
    for name in ("f_periodic_4", "g_periodic_16"):
        entry = line[name]
        for key in ("held_paired_ratio", "measured_paired_ratio", "amortised_paired_ratio"):
            assert entry[key] > 0
        assert entry["held_n"] == entry["measured_n"] == 2
        row = run["variants"][name]
        for kind in ("measured", "held"):
            assert row[kind]["n"] == 2 and row[kind]["paired_ratio_to_plain"] > 0
            for key in NEW_FIELDS:
                assert key in row[kind], key
        assert sorted(row["fresh"]) == [False, False, True, True]
        assert row["amortised_cpu_paired_ratio"] > 0
    assert line["c_exact_over_e_floor_paired"] > 0
    goals = bench["protocol"]["goals"]
    assert set(line["goals_met"]) == {"f_periodic_4", "h_representation", "c_exact_over_e_floor"}
    assert "f_periodic_4 amortised_paired_ratio <=" in goals
    assert "h_representation paired_ratio_to_plain <=" in goals
    steps = [s for n in run["variants"] for s in (
        [f"{n}:measured", f"{n}:held"] if "periodic" in n else [n])]
    _check_order(run, steps, 1, 2)


def _book_fields_of_gaba_scale(bench: dict[str, Any]) -> None:
    """What book/scaling_out.md reads."""
    prov = bench["provenance"]
    assert prov["command"].startswith(".venv/bin/python benchmarks/gaba_scale.py ")
    assert "date_utc" in prov and "note" in prov
    assert len(prov["load_average_1_5_15_at_start"]) == 3
    setup = bench["setup"]
    assert setup["world_size"] == 2 and setup["backend"] == "gloo"
    for key in ("batch_size_per_rank", "micro_batches", "amp", "warmup", "repeats"):
        assert key in setup
    summary = bench["summary"]
    for row in summary["variants"].values():
        assert row["median_ms"] > 0
        for key in NEW_FIELDS:
            assert key in row, key
    assert set(summary["ratios"]) == {"gaba/plain", "gaba_local/plain", "gaba/gaba_local",
                                      "gaba_accum/plain_accum", "gaba_amp/plain_amp"}
    for row in summary["ratios"].values():
        assert row["ratio_of_medians"] > 0 and row["paired_ratio"] > 0
        assert "cpu_paired_ratio" in row and "cpu_ratio_of_medians" in row
    traffic = bench["bytes_per_step"]
    assert traffic["per_variant"]["plain"]["ddp_reducer_bytes"] > 0
    assert traffic["per_variant"]["gaba"]["balancer_bytes"] > 0
    assert traffic["measured_ratio"] > 0 and traffic["predicted_ratio"] > 0
    _check_order(summary, list(summary["variants"]), 1, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gaba_step", "gaba_sensors", "gaba_scale"])
def test_a_tiny_run_writes_the_fields_the_book_reads(name: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *TINY[name],
                           "--out", str(out)], capture_output=True, text=True, env=env,
                          cwd=BENCHMARKS.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bench = json.loads(out.read_text())
    assert bench["benchmark"] == name
    {"gaba_step": _book_fields_of_gaba_step, "gaba_sensors": _book_fields_of_gaba_sensors,
     "gaba_scale": _book_fields_of_gaba_scale}[name](bench)


# ------------------------------------------------------------------ epoch_profile.py

def test_the_epoch_profiles_defaults_are_the_trainings_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load("epoch_profile", monkeypatch)
    args = module.parse_args(["--out", str(tmp_path / "r.json"), "--simulated"])
    assert args.methods == ["sum", "fixed", "gaba", "uncertainty"]
    assert (args.batch_sizes, args.threads) == ([32, 128], [1, 2])
    assert args.process_batch_size == 32 and args.process_steps >= 30
    assert module.PHASES == ("data", "forward", "backward", "optimizer")
    spaced = module.parse_args(["--out", str(tmp_path / "r.json"), "--simulated",
                                "--batch-sizes", "8", "16", "--threads", "2",
                                "--methods", "gaba,sum", "--repeats", "3", "5"])
    assert (spaced.batch_sizes, spaced.threads, spaced.methods) == ([8, 16], [2],
                                                                    ["gaba", "sum"])
    assert (spaced.warmup, spaced.repeats) == ([4, 4], [3, 5])


def test_the_epoch_profile_refuses_a_data_folder_without_the_fd001_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _load("epoch_profile", monkeypatch)
    with pytest.raises(SystemExit) as stop:
        module.parse_args(["--out", str(tmp_path / "r.json"), "--data-dir", str(tmp_path)])
    assert_one_line_error(stop.value.code, capsys.readouterr().err, "--data-dir")
    assert not (tmp_path / "r.json").exists()


def test_the_batch_source_begins_a_new_shuffled_pass_when_one_is_exhausted(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from gabalab.data import WindowDataset, make_loader

    module = _load("epoch_profile", monkeypatch)
    windows = torch.arange(5.0).reshape(5, 1, 1).expand(5, 3, 2).numpy()
    loader = make_loader(WindowDataset(windows, [0.0] * 5), batch_size=2, seed=3)
    source = module.BatchSource(loader)
    batches = [source.next()[0][:, 0, 0].tolist() for _ in range(7)]
    assert [len(b) for b in batches] == [2, 2, 1, 2, 2, 1, 2]
    assert source.passes == 3
    first, second = batches[:3], batches[3:6]
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert first != second  # the next pass is shuffled anew, as the next epoch would be


#: A tiny run: every method, one batch size, both thread counts, all three process groups.
PROFILE_TINY = ["--simulated", "--batch-sizes", "2", "--threads", "1,2", "--warmup", "1",
                "--repeats", "4", "--process-steps", "3", "--process-warmup", "1",
                "--process-batch-size", "2"]

#: The timer's resolution in the JSON: every time is rounded to the microsecond.
ROUNDING_MS = 0.0005


@pytest.fixture(scope="module")
def profile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The JSON and the standard output of one tiny run of ``epoch_profile.py``."""
    out = tmp_path_factory.mktemp("profile") / "r.json"
    # passive OpenMP waits: two spinning threads on cores that other work holds would take
    # seconds a step, and the numbers are not looked at here, only how they fit together
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "epoch_profile.py"), *PROFILE_TINY,
                           "--out", str(out)], capture_output=True, text=True, env=env,
                          cwd=BENCHMARKS.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


@pytest.mark.slow
def test_a_tiny_profile_writes_every_field(profile_run: tuple[dict[str, Any], str]) -> None:
    bench, stdout = profile_run
    assert bench["benchmark"] == "epoch_profile"
    prov = bench["provenance"]
    assert prov["command"].startswith(".venv/bin/python benchmarks/epoch_profile.py ")
    assert prov["data_files_sha256"] == bench["data"]["files_sha256"]
    assert len(prov["data_files_sha256"]) == 3 and bench["data"]["source"] == "simulated"
    assert prov["torch_threads_profiled"] == [1, 2]
    assert len(prov["load_average_1_5_15_at_start"]) == 3
    assert set(bench["protocol"]) >= {"step", "timing", "rates", "threads", "two_cores"}
    assert bench["training"]["protocol"]["batch_size"] == 32
    assert [(r["threads"], r["batch_size"]) for r in bench["runs"]] == [(1, 2), (2, 2)]
    methods = ["sum", "fixed", "gaba", "uncertainty"]
    for run in bench["runs"]:
        assert run["torch_num_threads"] == run["threads"]
        assert (run["warmup"], run["repeats"]) == (1, 4)
        _check_order(run, methods, 1, 4)
        for name in methods:
            row = run["methods"][name]
            assert len(row["times_ms"]) == 4 and min(row["times_ms"]) > 0
            for key in NEW_FIELDS + ("paired_ratio_to_sum", "cpu_paired_ratio_to_sum",
                                     "samples_per_s", "samples_per_s_without_data",
                                     "epoch_s_at_median_step", "unattributed"):
                assert key in row, key
            assert list(row["phases"]) == ["data", "forward", "backward", "optimizer"]
            for phase in row["phases"].values():
                assert len(phase["times_ms"]) == 4 and min(phase["times_ms"]) > 0
                assert phase["q25_ms"] <= phase["median_ms"] <= phase["q75_ms"]
    rows = bench["summary"]["rows"]
    assert [(r["threads"], r["method"]) for r in rows] == [(t, m) for t in (1, 2)
                                                          for m in methods]
    lines = stdout.splitlines()
    assert sum(line.split()[2:3] == [name] for line in lines for name in methods) == 8
    assert any(line.startswith("two cores (sum, batch 2, 3 steps)") for line in lines)


@pytest.mark.slow
def test_a_tiny_profiles_phases_add_up_to_its_steps(
    profile_run: tuple[dict[str, Any], str]
) -> None:
    bench, _ = profile_run
    for run in bench["runs"]:
        for name, row in run["methods"].items():
            phases = [p["times_ms"] for p in row["phases"].values()]
            gaps = [total - sum(parts) for total, *parts in zip(row["times_ms"], *phases)]
            # the phases lie inside the harness's timing of the step: what is left is the
            # timer's own cost, microseconds (5 values rounded to the microsecond)
            assert min(gaps) >= -5 * ROUNDING_MS, (name, gaps)
            assert _median(gaps) <= 0.02, (name, gaps)
            assert row["unattributed"]["times_ms"] == pytest.approx(gaps, abs=6 * ROUNDING_MS)
            shares = [p["share"] for p in row["phases"].values()]
            assert sum(shares) + row["unattributed"]["share"] == pytest.approx(1.0, abs=1e-12)
            for share, times in zip(shares, phases):
                assert share == pytest.approx(sum(times) / sum(row["times_ms"]), abs=1e-4)


@pytest.mark.slow
def test_a_tiny_profiles_rates_and_ratios_follow_from_its_times(
    profile_run: tuple[dict[str, Any], str]
) -> None:
    bench, _ = profile_run
    n_windows = bench["summary"]["n_train_windows"]
    assert n_windows == bench["data"]["n_train_windows"]
    for run in bench["runs"]:
        batch = run["batch_size"]
        assert run["batches_per_epoch"] == -(-n_windows // batch)
        base = run["methods"]["sum"]["times_ms"]
        for row in run["methods"].values():
            assert row["median_ms"] == pytest.approx(_median(row["times_ms"]), abs=ROUNDING_MS)
            assert row["samples_per_s"] == pytest.approx(batch * 1e3 / row["median_ms"],
                                                         rel=1e-12)
            compute = [sum(parts) for parts in zip(
                *(row["phases"][p]["times_ms"] for p in ("forward", "backward", "optimizer")))]
            assert row["samples_per_s_without_data"] == pytest.approx(
                batch * 1e3 / _median(compute), rel=1e-3)
            assert row["samples_per_s_without_data"] > row["samples_per_s"]
            paired = _median([t / b for t, b in zip(row["times_ms"], base)])
            assert row["paired_ratio_to_sum"] == pytest.approx(paired, rel=1e-3)
            assert row["epoch_s_at_median_step"] == pytest.approx(
                run["batches_per_epoch"] * row["median_ms"] / 1e3, rel=1e-12)
        assert run["methods"]["sum"]["paired_ratio_to_sum"] == 1.0
    one, two = bench["runs"]
    (speedup,) = bench["summary"]["thread_speedup"]
    assert (speedup["batch_size"], speedup["over_threads"], list(speedup["speedup"])) == (
        2, 1, ["2"])
    for name, value in speedup["speedup"]["2"].items():
        assert value == pytest.approx(two["methods"][name]["samples_per_s"]
                                      / one["methods"][name]["samples_per_s"], rel=1e-12)
    for row in bench["summary"]["rows"]:
        full = bench["runs"][row["threads"] - 1]["methods"][row["method"]]
        assert row["samples_per_s"] == round(full["samples_per_s"], 2)
        assert row["paired_ratio_to_sum"] == round(full["paired_ratio_to_sum"], 3)
        assert row["phases"]["backward"]["median_ms"] == round(
            full["phases"]["backward"]["median_ms"], 3)


@pytest.mark.slow
def test_a_tiny_profile_times_the_two_cores_in_fresh_processes(
    profile_run: tuple[dict[str, Any], str]
) -> None:
    bench, _ = profile_run
    cores = bench["two_cores"]
    assert (cores["method"], cores["batch_size"], cores["steps"]) == ("sum", 2, 3)
    threads = {name: [p["threads"] for p in cores[name]["processes"]]
               for name in ("two_processes_1_thread", "one_process_2_threads",
                            "one_process_1_thread")}
    assert threads == {"two_processes_1_thread": [1, 1], "one_process_2_threads": [2],
                       "one_process_1_thread": [1]}
    pids = [p["pid"] for name in threads for p in cores[name]["processes"]]
    assert len(set(pids)) == 4
    rate = {}
    for name in threads:
        group = cores[name]
        for process in group["processes"]:
            assert process["steps"] == 3 and process["batch_size"] == 2
            assert process["samples_per_s"] == pytest.approx(2 * 3 / process["wall_s"],
                                                             rel=1e-12)
            assert process["end_unix"] - process["start_unix"] == pytest.approx(
                process["wall_s"], abs=1e-3)
        assert group["samples_per_s"] == pytest.approx(
            sum(p["samples_per_s"] for p in group["processes"]), rel=1e-12)
        rate[name] = group["samples_per_s"]
    assert cores["two_processes_over_one_thread"] == pytest.approx(
        rate["two_processes_1_thread"] / rate["one_process_1_thread"], rel=1e-12)
    assert cores["two_threads_over_one_thread"] == pytest.approx(
        rate["one_process_2_threads"] / rate["one_process_1_thread"], rel=1e-12)
    line = bench["summary"]["two_cores"]
    assert line["two_processes_1_thread_samples_per_s"] == round(
        rate["two_processes_1_thread"], 2)
