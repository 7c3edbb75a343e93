"""Cost of one GABA training step against a plain summed-loss step, on the course's model.

Variants, each a full training step (``zero_grad`` to ``optimizer.step()``) of its own copy of
``DualTaskModel(seed=0)`` with its own Adam optimiser, on the same simulated-fleet batch:

* ``a_plain``     forward, ``(L_rul + L_health).backward()``, step;
* ``b_reference`` forward, two retain-graph ``torch.autograd.grad`` calls for the per-task norms
  (:func:`gabalab.norms.task_grad_norms`), then ``backward()`` of the weighted sum: three
  backward passes;
* ``c_gabalab``   forward, :meth:`gabalab.gaba.GabaBalancer.step` (two gradient calls, the
  weighted gradient combined from them), step;
* ``d_batched``   forward, one ``torch.autograd.grad(..., is_grads_batched=True)`` call (vmap
  over the two grad outputs), norms and combination from the batched gradients, step;
* ``e_floor``     forward, ``L_rul.backward(retain_graph=True)``, ``L_health.backward()``, step:
  one forward plus K backward passes with nothing else, the floor for any method that needs
  one gradient per task.

Timing: every repetition runs all variants one after the other (the order rotates from one
repetition to the next), so that slow drifts of the machine hit every variant alike; the
first ``--warmup`` repetitions are discarded and the median (and quartiles) of the next
``--repeats`` are reported, with each median's ratio to ``a_plain`` and the median of the
per-repetition ratios (each variant's time over ``a_plain``'s in the same repetition, which
cancels slow spells of the machine that last a repetition). Wall time is the measure;
process CPU time is recorded beside it. The default counts (30 warm-up + 50 measured
repetitions at batch 32, 5 + 25 at batch 256) keep the run under 10 minutes on 2
idle cores; ``--warmup`` and ``--repeats`` take one value per batch size.

Memory: for each variant and batch size a fresh Python process builds the model, creates
the Adam state, reads its resident set size (RSS, ``VmRSS``), runs ``--memory-steps`` steps
and reads the peak RSS (``VmHWM`` in ``/proc/self/status``). The reported
``peak_rss_delta_mib`` is that peak minus the RSS before the first step: the working memory
of a step (activations, gradients, temporaries, allocator overhead) on top of model,
optimiser state and data.

Before timing, ``c_gabalab`` and ``d_batched`` are checked against ``b_reference`` on one
forward pass of a dropout-free copy (relative gradient differences reported), and a profiler
counts the LSTM backward kernel calls of each (does vmap batch the tasks or loop over them?).

Run from the repository root (about 10 minutes on 2 otherwise idle CPU cores)::

    .venv/bin/python benchmarks/gaba_step.py --out results/benchmarks/gaba_step.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import gabalab
from gabalab.data import make_loader, prepare_cmapss, simulated_fleet
from gabalab.experiments.provenance import (
    OneLineErrorParser,
    argument_check,
    require_int,
)
from gabalab.files import atomic_write_text, check_writable
from gabalab.gaba import GabaBalancer
from gabalab.models import DualTaskModel, parameter_counts
from gabalab.norms import shared_parameters, task_grad_norms
from gabalab.weighting import gaba_weights

VARIANTS = ("a_plain", "b_reference", "c_gabalab", "d_batched", "e_floor")
DESCRIPTIONS = {
    "a_plain": "forward, (L1 + L2).backward(), step",
    "b_reference": "forward, 2 retain-graph autograd.grad for norms, backward of weighted sum "
    "(3 backward passes), step",
    "c_gabalab": "forward, GabaBalancer.step (2 autograd.grad, combine with foreach), step",
    "d_batched": "forward, 1 autograd.grad(is_grads_batched=True), combine, step",
    "e_floor": "forward, L1.backward(retain_graph=True), L2.backward(), step",
}
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def simulated_batch(batch_size: int, seed: int) -> Batch:
    """The first shuffled batch of simulated-fleet training windows (30 cycles x 14 sensors)."""
    prepared = prepare_cmapss(simulated_fleet(n_train_units=20, n_test_units=2, seed=seed))
    x, y, c = next(iter(make_loader(prepared.train, batch_size=batch_size, seed=seed)))
    return x.contiguous(), y, c


def task_losses(model: nn.Module, batch: Batch) -> list[torch.Tensor]:
    x, y, c = batch
    rul, logits = model(x)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]


class Variant:
    """One model copy, its optimiser and the step function of one variant."""

    def __init__(self, name: str, model: nn.Module) -> None:
        self.name = name
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.params = list(model.parameters())
        shared_ids = {id(p) for p in shared_parameters(model)}
        self.shared = [p for p in self.params if id(p) in shared_ids]
        self.is_shared = [id(p) in shared_ids for p in self.params]
        self.balancer = GabaBalancer.from_model(model)
        self.run: Callable[[Batch], None] = getattr(self, name[2:])

    def prime_optimizer(self) -> None:
        """Create the Adam state with a zero-gradient step (the parameters do not move)."""
        for p in self.params:
            p.grad = torch.zeros_like(p)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    # The step functions. Each is a complete training step.
    def plain(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        l1, l2 = task_losses(self.model, batch)
        (l1 + l2).backward()
        self.optimizer.step()

    def reference_grads(self, batch: Batch) -> None:
        l1, l2 = task_losses(self.model, batch)
        weights = gaba_weights(task_grad_norms([l1, l2], self.shared, retain_graph=True))
        (float(weights[0]) * l1 + float(weights[1]) * l2).backward()

    def reference(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.reference_grads(batch)
        self.optimizer.step()

    def gabalab(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.balancer.step(task_losses(self.model, batch))
        self.optimizer.step()

    def batched_grads(self, batch: Batch) -> None:
        losses = torch.stack(task_losses(self.model, batch))
        eye = torch.eye(2, dtype=losses.dtype)
        grads = torch.autograd.grad(losses, self.params, grad_outputs=eye,
                                    is_grads_batched=True, allow_unused=True)
        per_tensor = torch.stack([g.reshape(2, -1).norm(dim=1)
                                  for g, s in zip(grads, self.is_shared) if s and g is not None])
        norms = per_tensor.double().norm(dim=0).tolist()
        weights = torch.tensor(gaba_weights(norms), dtype=losses.dtype)
        for p, g in zip(self.params, grads):
            if g is not None:
                p.grad = torch.tensordot(weights, g, dims=1)

    def batched(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.batched_grads(batch)
        self.optimizer.step()

    def floor(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        l1, l2 = task_losses(self.model, batch)
        l1.backward(retain_graph=True)
        l2.backward()
        self.optimizer.step()


def check_agreement(batch: Batch) -> dict[str, Any]:
    """Gradients of c_gabalab and d_batched against b_reference on one dropout-free forward."""
    base = DualTaskModel(seed=0, dropout=0.0)
    out: dict[str, object] = {}
    grads: dict[str, list[torch.Tensor]] = {}
    for name, fill in (("b_reference", "reference_grads"), ("c_gabalab", None),
                       ("d_batched", "batched_grads")):
        variant = Variant(name, copy.deepcopy(base))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if fill is None:
                    variant.balancer.step(task_losses(variant.model, batch))
                else:
                    getattr(variant, fill)(batch)
            grads[name] = [p.grad for p in variant.params if p.grad is not None]
            out[f"{name}_warnings"] = sorted({str(w.message)[:300] for w in caught})
        except Exception as err:  # report, do not hide, a variant that does not work
            out[f"{name}_error"] = f"{type(err).__name__}: {str(err)[:500]}"
    out["lstm_backward_kernel_calls"] = lstm_backward_calls(base, batch)
    ref = grads["b_reference"]
    total = math.sqrt(sum(float(g.double().norm()) ** 2 for g in ref))
    for name in ("c_gabalab", "d_batched"):
        if name not in grads:
            continue
        diffs = [float((a.double() - b.double()).norm()) for a, b in zip(grads[name], ref)]
        sizes = [float(b.double().norm()) for b in ref]
        out[f"{name}_global_rel_diff"] = math.sqrt(sum(d * d for d in diffs)) / total
        # per parameter, leaving out those whose exact gradient is ~0 (the attention score
        # bias: a softmax over time ignores a constant shift), where only rounding is left
        out[f"{name}_max_param_rel_diff"] = max(
            d / n for d, n in zip(diffs, sizes) if n > 1e-6 * total)
    return out


def lstm_backward_calls(base: nn.Module, batch: Batch) -> dict[str, int]:
    """Count LSTM backward kernel calls (profiler) of one c_gabalab and one d_batched step.

    Tells whether vmap batched the two tasks through the LSTM backward or looped over them.
    """
    counts = {}
    for name, fill in (("c_gabalab", None), ("d_batched", "batched_grads")):
        variant = Variant(name, copy.deepcopy(base))
        with torch.autograd.profiler.profile() as prof:
            if fill is None:
                variant.balancer.step(task_losses(variant.model, batch))
            else:
                getattr(variant, fill)(batch)
        counts[name] = sum(1 for e in prof.function_events
                           if "rnn" in e.name.lower() and e.name.startswith("aten::")
                           and "backward" in e.name.lower())
    return counts


def time_variants(batch_size: int, warmup: int, repeats: int, seed: int,
                  variants: tuple[str, ...], log: Callable[[str], None]) -> dict[str, Any]:
    batch = simulated_batch(batch_size, seed)
    base = DualTaskModel(seed=0)
    runners = [Variant(name, copy.deepcopy(base)) for name in variants]
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    torch.manual_seed(seed)  # dropout masks
    start = time.perf_counter()
    for rep in range(warmup + repeats):
        shift = rep % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            c0, t0 = time.process_time(), time.perf_counter()
            runner.run(batch)
            elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            if rep >= warmup:
                times[runner.name].append(elapsed)
                cpu[runner.name].append(cpu_s)
        if rep in (0, warmup - 1, warmup + repeats - 1) or (rep + 1) % 10 == 0:
            log(f"  batch {batch_size}: repetition {rep + 1}/{warmup + repeats} "
                f"({time.perf_counter() - start:.0f} s)")
    plain = float(np.median(times["a_plain"]))
    plain_cpu = float(np.median(cpu["a_plain"]))
    rows = {}
    for name in variants:
        t = np.asarray(times[name])
        rows[name] = {
            "description": DESCRIPTIONS[name],
            "median_ms": 1e3 * float(np.median(t)),
            "q25_ms": 1e3 * float(np.percentile(t, 25)),
            "q75_ms": 1e3 * float(np.percentile(t, 75)),
            "ratio_to_plain": float(np.median(t)) / plain,
            "paired_ratio_to_plain": float(np.median(t / np.asarray(times["a_plain"]))),
            "cpu_median_ms": 1e3 * float(np.median(cpu[name])),
            "cpu_ratio_to_plain": float(np.median(cpu[name])) / plain_cpu,
            "times_ms": [round(1e3 * v, 3) for v in t],
        }
    return {"batch_size": batch_size, "warmup": warmup, "repeats": repeats,
            "timing_wall_s": round(time.perf_counter() - start, 1), "variants": rows}


def _proc_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} field")


def memory_probe(name: str, batch_size: int, steps: int, seed: int) -> dict[str, float]:
    """Run in a fresh process: RSS before the first step and peak RSS after ``steps`` steps.

    The peak is VmHWM, the high-water mark of this process's own address space. (``ru_maxrss``
    would not do: Linux carries it over from the parent process across fork and exec.)
    """
    batch = simulated_batch(batch_size, seed)
    variant = Variant(name, DualTaskModel(seed=0))
    variant.prime_optimizer()
    rss_before = _proc_status_kib("VmRSS")
    hwm_before = _proc_status_kib("VmHWM")
    torch.manual_seed(seed)
    for _ in range(steps):
        variant.run(batch)
    peak = _proc_status_kib("VmHWM")
    return {"rss_before_mib": rss_before / 1024, "peak_before_steps_mib": hwm_before / 1024,
            "peak_rss_mib": peak / 1024, "peak_rss_delta_mib": (peak - rss_before) / 1024}


def measure_memory(batch_size: int, steps: int, seed: int, variants: tuple[str, ...],
                   log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, object] = {}
    for name in variants:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", name,
               "--batch-sizes", str(batch_size), "--memory-steps", str(steps),
               "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out[name] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        log(f"  batch {batch_size}: memory of {name}: {out[name]}")
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(argv: list[str], wall: float, load_start: tuple[float, ...]) -> dict[str, Any]:
    return {
        "command": " ".join([".venv/bin/python", "benchmarks/gaba_step.py"]
                            + [shlex.quote(a) for a in argv]),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "gabalab": gabalab.__version__},
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "mkldnn_enabled": torch.backends.mkldnn.is_available(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1_5_15_at_start": [round(v, 2) for v in load_start],
        "load_average_1_5_15_at_end": [round(v, 2) for v in os.getloadavg()],
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall, 1),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad argument ends the script at once.

    Every check runs before the first timing: one line on standard error that names the
    option, and exit status 2.
    """
    parser = OneLineErrorParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/benchmarks/gaba_step.json")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--warmup", type=int, nargs="+", default=[30, 5],
                        help="discarded repetitions, one value per batch size (or one for all)")
    parser.add_argument("--repeats", type=int, nargs="+", default=[50, 25],
                        help="measured repetitions, one value per batch size (or one for all)")
    parser.add_argument("--memory-steps", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    if args.probe:
        return args
    argument_check(parser, check_writable, args.out, "--out")
    return args


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks shared with ``gaba_sensors.py``: sizes, repetitions, seed, ``--variants``.

    ``--warmup`` and ``--repeats`` given once apply to every batch size (the lists are
    expanded in place).
    """
    for size in args.batch_sizes:
        require_int(parser, "--batch-sizes", size, 1)
    require_int(parser, "--memory-steps", args.memory_steps, 1)
    require_int(parser, "--seed", args.seed, 0)
    if args.probe:
        return
    if "a_plain" not in args.variants:
        parser.error("--variants must include a_plain (the reference for ratios)")
    for option, minimum in (("warmup", 0), ("repeats", 1)):
        values = getattr(args, option)
        if len(values) == 1:
            values = values * len(args.batch_sizes)
        if len(values) != len(args.batch_sizes):
            parser.error(f"--{option} needs one value per batch size ({len(args.batch_sizes)})"
                         f" or one for all, got {len(values)}")
        for value in values:
            require_int(parser, f"--{option}", value, minimum)
        setattr(args, option, values)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.batch_sizes[0], args.memory_steps,
                                      args.seed)))
        return {}

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_start = os.getloadavg()
    start = time.perf_counter()
    variants = tuple(args.variants)
    model = DualTaskModel(seed=0)
    log("agreement check on one batch of 32")
    agreement = check_agreement(simulated_batch(32, args.seed))
    log(f"  {agreement}")
    runs = []
    for batch_size, warmup, repeats in zip(args.batch_sizes, args.warmup, args.repeats):
        log(f"timing batch size {batch_size}: {warmup} warm-up + {repeats} measured repetitions")
        run = time_variants(batch_size, warmup, repeats, args.seed, variants, log)
        run["memory"] = measure_memory(batch_size, args.memory_steps, args.seed, variants, log)
        for name, row in run["variants"].items():
            log(f"  {name:12s} median {row['median_ms']:9.1f} ms  x{row['ratio_to_plain']:.2f}"
                f"  (paired x{row['paired_ratio_to_plain']:.2f}, CPU time "
                f"x{row['cpu_ratio_to_plain']:.2f})")
        runs.append(run)
    summary = []
    for run in runs:
        rows = run["variants"]
        line = {"batch_size": run["batch_size"]}
        for name, row in rows.items():
            line[name] = {"median_ms": round(row["median_ms"], 2),
                          "ratio_to_plain": round(row["ratio_to_plain"], 3),
                          "paired_ratio_to_plain": round(row["paired_ratio_to_plain"], 3),
                          "cpu_ratio_to_plain": round(row["cpu_ratio_to_plain"], 3),
                          "peak_rss_delta_mib": run["memory"][name].get("peak_rss_delta_mib")}
        if "c_gabalab" in rows and "e_floor" in rows:
            c_over_e = rows["c_gabalab"]["median_ms"] / rows["e_floor"]["median_ms"]
            line["c_over_e"] = round(c_over_e, 3)
            paired = np.median(np.asarray(rows["c_gabalab"]["times_ms"])
                               / np.asarray(rows["e_floor"]["times_ms"]))
            line["c_over_e_paired"] = round(float(paired), 3)
        summary.append(line)
    payload = {
        "benchmark": "gaba_step",
        "model": {"class": "DualTaskModel", "config": model.config,
                  "parameter_counts": parameter_counts(model)},
        "data": "first shuffled batch of simulated-fleet training windows "
                "(simulated_fleet(n_train_units=20, n_test_units=2, seed=--seed)), "
                "30 cycles x 14 sensors; losses mse_loss and cross_entropy (mean)",
        "optimizer": "torch.optim.Adam(lr=1e-3), one per variant; model in training mode",
        "protocol": {
            "timing": "perf_counter around one full step (zero_grad ... optimizer.step); every "
                      "repetition runs each variant once, order rotated per repetition; "
                      "warm-up repetitions discarded; medians and quartiles of the rest; "
                      "ratio_to_plain = median / median of a_plain; paired_ratio_to_plain = "
                      "median over repetitions of time / a_plain's time in the same "
                      "repetition (robust to slow spells that hit a whole repetition)",
            "memory": "fresh process per variant and batch size: resident set size (VmRSS "
                      "in /proc/self/status) once model, batch and Adam state exist, then the "
                      "peak (VmHWM) after memory_steps steps; peak_rss_delta_mib = peak - "
                      "before",
            "memory_steps": args.memory_steps,
            "targets": "c_gabalab <= 1.6 x a_plain at batch 32; c_gabalab within 10% of e_floor",
        },
        "agreement": agreement,
        "summary": summary,
        "runs": runs,
        "provenance": provenance(argv, time.perf_counter() - start, load_start),
    }
    out = atomic_write_text(args.out, json.dumps(payload, indent=1, allow_nan=False) + "\n")
    log(f"wrote {out} ({time.perf_counter() - start:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
