"""What the benchmark scripts hand to torch is accepted by it, a bad command line stops them at
once, and their results are written whole or not at all (the benchmarks themselves are run
by hand, not by the tests: their timings depend on the machine)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.distributed as dist

from tests.script_failures import NO_SPACE, assert_one_line_error, disk_full_in, listing

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_scale_benchmarks_comm_hook_has_the_annotations_ddp_requires() -> None:
    # DistributedDataParallel.register_comm_hook refuses a hook whose bucket annotation is
    # not dist.GradBucket or whose return annotation is not Future[Tensor]; postponed
    # annotations would be strings and refused at the first run.
    hook = _load("gaba_scale").counting_hook
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
    ("gaba_step", ["--out", "{empty}"], "--out"),
    ("gaba_step", ["--bogus"], "--bogus"),
    ("gaba_sensors", ["--device", "tpu"], "--device"),
    ("gaba_sensors", ["--memory-steps", "0"], "--memory-steps"),
    ("gaba_sensors", ["--batch-sizes", "2", "-1"], "--batch-sizes"),
    ("gaba_sensors", ["--out", "{file}/r.json"], "--out"),
    ("gaba_scale", ["--world-size", "0"], "--world-size"),
    ("gaba_scale", ["--micro-batches", "3"], "--micro-batches"),
    ("gaba_scale", ["--timeout", "nan"], "--timeout"),
    ("gaba_scale", ["--threads", "0"], "--threads"),
    ("gaba_scale", ["--seed", "-5"], "--seed"),
    ("gaba_scale", ["--out", "{empty}"], "--out"),
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


@pytest.mark.parametrize("name,args,option", BAD,
                         ids=[f"{n}:{' '.join(a)}" for n, a, _ in BAD])
def test_a_bad_command_line_stops_at_once_with_one_line(
    name: str, args: list[str], option: str, places: dict[str, str], tmp_path: Path
) -> None:
    argv = [*FAST[name]]
    for arg in args:
        for key, value in places.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "out" / "r.json")]
    env = {**os.environ, "PYTHONPATH": str(BENCHMARKS.parent), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *argv],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, option)
    assert proc.stderr.startswith(f"{name}.py: error: ")
    assert not (tmp_path / "out" / "r.json").exists()


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
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # gaba_sensors imports gaba_step
    module = _load(name)
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
