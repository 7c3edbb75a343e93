"""Cost of the cheaper GABA sensors against a plain step and the exact sensor, side by side.

Variants, each a full training step (``zero_grad`` to ``optimizer.step()``) of its own copy of
``DualTaskModel(seed=0)`` with its own Adam optimiser, on the same simulated-fleet batch (the
batch of ``benchmarks/gaba_step.py``):

* ``a_plain``           forward, ``(L_rul + L_health).backward()``, step;
* ``c_exact``           forward, ``GabaBalancer.step`` measuring at every step (N = 1: two
  gradient calls on every parameter, the weighted gradient combined from them), step;
* ``e_floor``           forward, ``L_rul.backward(retain_graph=True)``, ``L_health.backward()``,
  step: one forward plus K = 2 backward passes, the floor of any exact sensor;
* ``f_periodic_4``      the balancer with ``measure_every=4``: one step in four is ``c_exact``'s,
  the three others hold its weights and run one ``backward()`` of the weighted loss;
* ``g_periodic_16``     the same with ``measure_every=16``;
* ``h_representation``  forward through ``model.features`` and the heads, the balancer with
  ``sensor="representation"`` (two gradient calls through the heads only, then one
  ``backward()`` of the weighted loss), step.

Timing: every repetition runs every variant once, in an order that rotates from one repetition
to the next; the first ``--warmup`` repetitions are discarded. For each variant the JSON holds
the median and quartiles of the step time, and the paired ratio to ``a_plain``: the median over
repetitions of its time over ``a_plain``'s time in the same repetition. A periodic variant
alternates two kinds of step, so its times are also split by kind (measured or held), and its
cost per step is the amortised paired ratio ``((N - 1) r_held + r_measured) / N`` from the
paired ratios of each kind (``mean_paired_ratio``, the plain mean over its repetitions, is
stored beside it). Wall time is the measure on CPU (process CPU time beside it); on CUDA every
step is bracketed by ``torch.cuda.synchronize()``.

Memory: on CPU, for each variant a fresh Python process builds model, batch and Adam state,
runs ``--memory-steps`` steps (at least 16, so that a periodic variant measures once) and
reports its peak resident set size over the one before the first step; on CUDA, the peak of
``torch.cuda.max_memory_allocated`` over the same steps, in this process.

Agreement, before timing, on a dropout-free copy of the model: a held step's gradient against
``backward()`` of the weighted loss with the held weights, and a representation step's norms
and gradient against the same written out with ``torch.autograd.grad`` (relative differences
reported).

Run from the repository root, on an otherwise idle machine (about 12 minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/gaba_sensors.py --out results/benchmarks/gaba_sensors.json

and on a machine with a GPU::

    .venv/bin/python benchmarks/gaba_sensors.py --device cuda \\
        --out results/benchmarks/gaba_sensors_cuda.json
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gaba_step import _proc_status_kib, check_common_args, cpu_model, simulated_batch
from torch import nn

import gabalab
from gabalab.experiments.provenance import OneLineErrorParser, argument_check
from gabalab.files import atomic_write_text, check_writable
from gabalab.gaba import GabaBalancer
from gabalab.models import DualTaskModel, parameter_counts

VARIANTS = ("a_plain", "c_exact", "e_floor", "f_periodic_4", "g_periodic_16",
            "h_representation")
DESCRIPTIONS = {
    "a_plain": "forward, (L1 + L2).backward(), step",
    "c_exact": "forward, GabaBalancer.step measuring every step (2 autograd.grad on every "
               "parameter, combined with foreach), step",
    "e_floor": "forward, L1.backward(retain_graph=True), L2.backward(), step",
    "f_periodic_4": "GabaBalancer(measure_every=4): 1 step in 4 as c_exact, 3 holding its "
                    "weights with one backward() of the weighted loss",
    "g_periodic_16": "GabaBalancer(measure_every=16): 1 step in 16 as c_exact, 15 held",
    "h_representation": "forward via model.features and the heads, GabaBalancer("
                        "sensor='representation'): 2 autograd.grad through the heads to the "
                        "features, one backward() of the weighted loss, step",
}
PERIODS = {"f_periodic_4": 4, "g_periodic_16": 16}
GOALS = {"f_periodic_4": 1.15, "h_representation": 1.10, "c_exact_over_e_floor": 1.02}
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def task_losses(model: DualTaskModel, batch: Batch, *, features: bool = False
                ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """The two task losses, and the shared features they were computed from when asked."""
    x, y, c = batch
    if not features:
        rul, logits = model(x)
        return [F.mse_loss(rul, y), F.cross_entropy(logits, c)], None
    z = model.features(x)
    rul, logits = model.rul_head(z).squeeze(-1), model.health_head(z)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)], z


class Variant:
    """One model copy, its optimiser, its balancer and the step of one variant."""

    def __init__(self, name: str, model: DualTaskModel) -> None:
        self.name = name
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        options: dict[str, Any] = {}
        if name in PERIODS:
            options["measure_every"] = PERIODS[name]
        if name == "h_representation":
            options["sensor"] = "representation"
        self.balancer = GabaBalancer.from_model(model, **options)
        self.fresh = True  # whether the last step measured

    def prime_optimizer(self) -> None:
        """Create the Adam state with a zero-gradient step (the parameters do not move)."""
        for p in self.model.parameters():
            p.grad = torch.zeros_like(p)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def run(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.name == "a_plain":
            losses, _ = task_losses(self.model, batch)
            (losses[0] + losses[1]).backward()
        elif self.name == "e_floor":
            losses, _ = task_losses(self.model, batch)
            losses[0].backward(retain_graph=True)
            losses[1].backward()
        else:
            representation = self.name == "h_representation"
            losses, z = task_losses(self.model, batch, features=representation)
            self.fresh = self.balancer.step(losses, features=z).fresh
        self.optimizer.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to(batch: Batch, device: torch.device) -> Batch:
    x, y, c = batch
    return x.to(device), y.to(device), c.to(device)


def _grads(model: nn.Module) -> list[torch.Tensor]:
    out = []
    for p in model.parameters():
        assert p.grad is not None
        out.append(p.grad.clone())
    return out


def _rel(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = math.sqrt(sum(float((x.double() - y.double()).norm()) ** 2 for x, y in zip(a, b)))
    return num / math.sqrt(sum(float(y.double().norm()) ** 2 for y in b))


def check_agreement(batch: Batch) -> dict[str, float]:
    """Held and representation steps against the same steps written out by hand."""
    base = DualTaskModel(seed=0, dropout=0.0).to(batch[0].device)
    out: dict[str, float] = {}
    model = copy.deepcopy(base)
    balancer = GabaBalancer.from_model(model, measure_every=2)
    balancer.step(task_losses(model, batch)[0])
    model.zero_grad(set_to_none=True)
    held = balancer.step(task_losses(model, batch)[0])
    ours = _grads(model)
    model.zero_grad(set_to_none=True)
    losses, _ = task_losses(model, batch)
    (held.weights[0] * losses[0] + held.weights[1] * losses[1]).backward()
    out["held_grad_rel_diff"] = _rel(ours, _grads(model))
    model = copy.deepcopy(base)
    losses, z = task_losses(model, batch, features=True)
    assert z is not None
    norms = [float(torch.autograd.grad(loss, z, retain_graph=True)[0].sum(0).norm())
             for loss in losses]  # the default representation norm: summed over the batch
    result = GabaBalancer.from_model(model, sensor="representation").step(losses, features=z)
    ours = _grads(model)
    out["representation_norm_rel_diff"] = max(abs(a - b) / b for a, b in zip(result.norms,
                                                                             norms))
    model.zero_grad(set_to_none=True)
    losses, _ = task_losses(model, batch)
    (result.weights[0] * losses[0] + result.weights[1] * losses[1]).backward()
    out["representation_grad_rel_diff"] = _rel(ours, _grads(model))
    return out


def time_variants(batch: Batch, warmup: int, repeats: int, seed: int,
                  variants: tuple[str, ...], log: Callable[[str], None]) -> dict[str, Any]:
    device = batch[0].device
    base = DualTaskModel(seed=0).to(device)
    runners = [Variant(name, copy.deepcopy(base)) for name in variants]
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    fresh: dict[str, list[bool]] = {name: [] for name in variants}
    torch.manual_seed(seed)  # dropout masks
    start = time.perf_counter()
    for rep in range(warmup + repeats):
        shift = rep % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            _sync(device)
            c0, t0 = time.process_time(), time.perf_counter()
            runner.run(batch)
            _sync(device)
            elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            if rep >= warmup:
                times[runner.name].append(elapsed)
                cpu[runner.name].append(cpu_s)
                fresh[runner.name].append(runner.fresh)
        if rep in (0, warmup - 1, warmup + repeats - 1) or (rep + 1) % 10 == 0:
            log(f"  repetition {rep + 1}/{warmup + repeats} ({time.perf_counter() - start:.0f} s)")
    plain = np.asarray(times["a_plain"])
    plain_cpu = float(np.median(cpu["a_plain"]))
    rows: dict[str, Any] = {}
    for name in variants:
        t = np.asarray(times[name])
        paired = t / plain
        row: dict[str, Any] = {
            "description": DESCRIPTIONS[name],
            "median_ms": 1e3 * float(np.median(t)),
            "q25_ms": 1e3 * float(np.percentile(t, 25)),
            "q75_ms": 1e3 * float(np.percentile(t, 75)),
            "ratio_to_plain": float(np.median(t) / np.median(plain)),
            "paired_ratio_to_plain": float(np.median(paired)),
            "mean_paired_ratio": float(np.mean(paired)),
            "cpu_median_ms": 1e3 * float(np.median(cpu[name])),
            "cpu_ratio_to_plain": float(np.median(cpu[name])) / plain_cpu,
            "times_ms": [round(1e3 * v, 3) for v in t],
        }
        if name in PERIODS:
            n = PERIODS[name]
            kinds = np.asarray(fresh[name])
            row["fresh"] = [bool(f) for f in kinds]
            for kind, mask in (("measured", kinds), ("held", ~kinds)):
                row[kind] = {"n": int(mask.sum()),
                             "median_ms": 1e3 * float(np.median(t[mask])) if mask.any() else None,
                             "paired_ratio_to_plain": float(np.median(paired[mask]))
                             if mask.any() else None}
            if kinds.any() and (~kinds).any():
                row["amortised_paired_ratio"] = (
                    (n - 1) * row["held"]["paired_ratio_to_plain"]
                    + row["measured"]["paired_ratio_to_plain"]) / n
        rows[name] = row
    return {"batch_size": int(batch[0].shape[0]), "warmup": warmup, "repeats": repeats,
            "timing_wall_s": round(time.perf_counter() - start, 1), "variants": rows}


def memory_probe(name: str, batch_size: int, steps: int, seed: int) -> dict[str, float]:
    """Run in a fresh process (CPU): resident set size before the first step, and the peak."""
    batch = simulated_batch(batch_size, seed)
    variant = Variant(name, DualTaskModel(seed=0))
    variant.prime_optimizer()
    rss_before = _proc_status_kib("VmRSS")
    torch.manual_seed(seed)
    for _ in range(steps):
        variant.run(batch)
    peak = _proc_status_kib("VmHWM")
    return {"rss_before_mib": rss_before / 1024, "peak_rss_mib": peak / 1024,
            "peak_delta_mib": (peak - rss_before) / 1024}


def measure_memory(batch: Batch, steps: int, seed: int, variants: tuple[str, ...],
                   log: Callable[[str], None]) -> dict[str, Any]:
    device = batch[0].device
    out: dict[str, Any] = {}
    for name in variants:
        if device.type == "cuda":
            variant = Variant(name, DualTaskModel(seed=0).to(device))
            variant.prime_optimizer()
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            for _ in range(steps):
                variant.run(batch)
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device)
            out[name] = {"allocated_before_mib": before / 2**20, "peak_mib": peak / 2**20,
                         "peak_delta_mib": (peak - before) / 2**20}
            del variant
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", name,
                   "--batch-sizes", str(int(batch[0].shape[0])), "--memory-steps", str(steps),
                   "--seed", str(seed)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                out[name] = {"error": proc.stderr.strip().splitlines()[-1:]}
            else:
                out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        log(f"  memory of {name}: {out[name]}")
    return out


def provenance(argv: list[str], wall: float, load_start: tuple[float, ...],
               device: torch.device, note: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "benchmarks/gaba_sensors.py"]
                            + [shlex.quote(a) for a in argv]),
        "note": note,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "gabalab": gabalab.__version__},
        "device": str(device),
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                               "OMP_WAIT_POLICY")},
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1_5_15_at_start": [round(v, 2) for v in load_start],
        "load_average_1_5_15_at_end": [round(v, 2) for v in os.getloadavg()],
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall, 1),
    }
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
        out["cuda"] = torch.version.cuda
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad argument ends the script at once.

    Every check runs before the first timing: one line on standard error that names the
    option, and exit status 2.
    """
    parser = OneLineErrorParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="results/benchmarks/gaba_sensors.json")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--warmup", type=int, nargs="+", default=[16, 4],
                        help="discarded repetitions, one value per batch size (or one for all)")
    parser.add_argument("--repeats", type=int, nargs="+", default=[64, 32],
                        help="measured repetitions, one value per batch size (or one for "
                             "all); multiples of 16 give every periodic variant whole periods")
    parser.add_argument("--memory-steps", type=int, default=16)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="stored in the provenance")
    parser.add_argument("--probe", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    if args.probe:
        return args
    try:
        device = torch.device(args.device)
    except RuntimeError as err:
        parser.error(f"--device {args.device!r}: {err}")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda, got {args.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    argument_check(parser, check_writable, args.out, "--out")
    return args


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    rows = run["variants"]
    line: dict[str, Any] = {"batch_size": run["batch_size"]}
    for name, row in rows.items():
        entry = {"median_ms": round(row["median_ms"], 2),
                 "paired_ratio_to_plain": round(row["paired_ratio_to_plain"], 3),
                 "peak_delta_mib": run["memory"].get(name, {}).get("peak_delta_mib")}
        if "amortised_paired_ratio" in row:
            entry["amortised_paired_ratio"] = round(row["amortised_paired_ratio"], 3)
            entry["held_paired_ratio"] = round(row["held"]["paired_ratio_to_plain"], 3)
            entry["measured_paired_ratio"] = round(row["measured"]["paired_ratio_to_plain"], 3)
        line[name] = entry
    if "c_exact" in rows and "e_floor" in rows:
        paired = np.median(np.asarray(rows["c_exact"]["times_ms"])
                           / np.asarray(rows["e_floor"]["times_ms"]))
        line["c_exact_over_e_floor_paired"] = round(float(paired), 3)
    goals = {}
    if "f_periodic_4" in line and "amortised_paired_ratio" in line["f_periodic_4"]:
        goals["f_periodic_4"] = line["f_periodic_4"]["amortised_paired_ratio"] <= GOALS[
            "f_periodic_4"]
    if "h_representation" in line:
        goals["h_representation"] = line["h_representation"]["paired_ratio_to_plain"] <= GOALS[
            "h_representation"]
    if "c_exact_over_e_floor_paired" in line:
        goals["c_exact_over_e_floor"] = line["c_exact_over_e_floor_paired"] <= GOALS[
            "c_exact_over_e_floor"]
    line["goals_met"] = goals
    return line


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.batch_sizes[0], args.memory_steps,
                                      args.seed)))
        return {}

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    device = torch.device(args.device)
    load_start = os.getloadavg()
    start = time.perf_counter()
    variants = tuple(args.variants)
    model = DualTaskModel(seed=0)
    log("agreement check on one batch of 32")
    agreement = check_agreement(_to(simulated_batch(32, args.seed), device))
    log(f"  {agreement}")
    runs = []
    for batch_size, warmup, repeats in zip(args.batch_sizes, args.warmup, args.repeats):
        batch = _to(simulated_batch(batch_size, args.seed), device)
        log(f"timing batch size {batch_size}: {warmup} warm-up + {repeats} measured repetitions")
        run = time_variants(batch, warmup, repeats, args.seed, variants, log)
        run["memory"] = measure_memory(batch, args.memory_steps, args.seed, variants, log)
        for name, row in run["variants"].items():
            extra = (f", amortised x{row['amortised_paired_ratio']:.3f}"
                     if "amortised_paired_ratio" in row else "")
            log(f"  {name:17s} median {row['median_ms']:8.1f} ms  paired "
                f"x{row['paired_ratio_to_plain']:.3f}{extra}")
        runs.append(run)
    payload = {
        "benchmark": "gaba_sensors",
        "model": {"class": "DualTaskModel", "config": model.config,
                  "parameter_counts": parameter_counts(model)},
        "data": "first shuffled batch of simulated-fleet training windows "
                "(simulated_fleet(n_train_units=20, n_test_units=2, seed=--seed)), "
                "30 cycles x 14 sensors; losses mse_loss and cross_entropy (mean)",
        "optimizer": "torch.optim.Adam(lr=1e-3), one per variant; model in training mode",
        "protocol": {
            "timing": "one full step (zero_grad ... optimizer.step) per variant and repetition, "
                      "order rotated per repetition, warm-up repetitions discarded; "
                      "paired_ratio_to_plain = median over repetitions of time / a_plain's "
                      "time in the same repetition; periodic variants split by kind, "
                      "amortised_paired_ratio = ((N-1) held + measured) / N of the kinds' "
                      "paired ratios",
            "memory": "CPU: fresh process per variant, peak RSS (VmHWM) over RSS before the "
                      "first of memory_steps steps; CUDA: max_memory_allocated over "
                      "memory_allocated before",
            "memory_steps": args.memory_steps,
            "goals": {"f_periodic_4 amortised_paired_ratio <=": GOALS["f_periodic_4"],
                      "h_representation paired_ratio_to_plain <=": GOALS["h_representation"],
                      "c_exact / e_floor (paired) <=": GOALS["c_exact_over_e_floor"],
                      "batch size": 32},
        },
        "agreement": agreement,
        "summary": [summarise(run) for run in runs],
        "runs": runs,
        "provenance": provenance(argv, time.perf_counter() - start, load_start, device,
                                 args.note),
    }
    out = atomic_write_text(args.out, json.dumps(payload, indent=1, allow_nan=False) + "\n")
    log(f"wrote {out} ({time.perf_counter() - start:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
