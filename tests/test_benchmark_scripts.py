"""What the benchmark scripts hand to torch is accepted by it (the scripts themselves are run
by hand, not by the tests: their timings depend on the machine)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import torch
import torch.distributed as dist

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
