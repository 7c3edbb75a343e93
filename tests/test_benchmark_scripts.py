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
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
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
    monkeypatch.setattr(module, "simulated_batch", lambda *a: None)
    monkeypatch.setattr(module, "check_agreement", lambda *a: {})
    monkeypatch.setattr(module, "time_variants",
                        lambda batch, *a: {"batch_size": 2, "variants": {}})
    monkeypatch.setattr(module, "measure_memory", lambda *a: {})
    if name == "gaba_sensors":
        monkeypatch.setattr(module, "_to", lambda batch, device: batch)


@pytest.mark.parametrize("name", ["gaba_step", "gaba_sensors", "gaba_scale"])
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

@pytest.mark.parametrize("name", ["gaba_step", "gaba_sensors", "gaba_scale"])
def test_the_defaults_give_every_timed_step_the_minimum_of_samples(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one sample per timed step and measured repetition; a periodic sensor's measuring and
    # held steps are timed steps of their own (checked on a run below)
    module = _load(name, monkeypatch)
    args = module.parse_args(["--out", str(tmp_path / "r.json")])
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
