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

Timing (``harness.py``, shared with the other timing benchmarks): every repetition runs each
variant once, in orders from a balanced Latin square shuffled from ``--seed`` (each variant
sits in each slot equally often, and follows each other variant equally often), so that slow
drifts of the machine hit every variant alike; the first ``--warmup`` repetitions are
discarded and the median (and quartiles) of the next ``--repeats`` are reported, with each
median's ratio to ``a_plain`` and the median of the per-repetition ratios (each variant's time
over ``a_plain``'s in the same repetition, which cancels slow spells of the machine that last a
repetition). Wall time is the measure; process CPU time (with its own ratios) and the minor
and major page faults of every step are recorded beside it, and the order of every
repetition. The default counts (30 warm-up + 50 measured repetitions at batch 32, 5 + 30 at
batch 256: at least 30 samples per variant) keep the run near 10 minutes on 2 idle cores;
``--warmup`` and ``--repeats`` take one value per batch size.

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
import functools
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
import torch
import torch.nn.functional as F
from torch import nn

from gabalab.data import make_loader, prepare_cmapss, simulated_fleet
from gabalab.experiments.provenance import OneLineErrorParser, check_out
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
    """Time the variants at one batch size, interleaved (:func:`harness.run_interleaved`).

    Returns
    -------
    dict
        ``batch_size``, ``warmup``, ``repeats``, ``timing_wall_s``, ``order`` (every
        repetition's order, warm-up first), ``slot_counts`` and ``variants``: per variant its
        wall and CPU times, page faults and ratios to ``a_plain``.
    """
    batch = simulated_batch(batch_size, seed)
    base = DualTaskModel(seed=0)
    runners = [Variant(name, copy.deepcopy(base)) for name in variants]
    torch.manual_seed(seed)  # dropout masks
    samples = harness.run_interleaved(
        [harness.Step(r.name, functools.partial(r.run, batch)) for r in runners],
        warmup=warmup, repeats=repeats, seed=seed, log=log, label=f"batch {batch_size}: ")
    rows = {name: variant_row(samples, name) for name in variants}
    return {"batch_size": batch_size, "warmup": warmup, "repeats": repeats,
            "timing_wall_s": samples.timing_wall_s, "order": samples.order,
            "slot_counts": harness.slot_counts(samples.measured_order(), variants),
            "variants": rows}


def variant_row(samples: harness.Samples, name: str) -> dict[str, Any]:
    """One variant's entry of a run: its statistics and its ratios to ``a_plain``."""
    return {"description": DESCRIPTIONS[name], **harness.row_against(samples, name, "a_plain")}


def memory_probe(name: str, batch_size: int, steps: int, seed: int) -> dict[str, float]:
    """Run in a fresh process: :func:`harness.memory_of_steps` of one variant."""
    batch = simulated_batch(batch_size, seed)
    variant = Variant(name, DualTaskModel(seed=0))
    variant.prime_optimizer()
    torch.manual_seed(seed)
    return harness.memory_of_steps(functools.partial(variant.run, batch), steps)


def measure_memory(batch_size: int, steps: int, seed: int, variants: tuple[str, ...],
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Each variant's memory, measured in a fresh process (this script with ``--probe``)."""
    out: dict[str, object] = {}
    for name in variants:
        out[name] = harness.memory_in_fresh_process(
            Path(__file__).resolve(), ["--probe", name, "--batch-sizes", str(batch_size),
                                       "--memory-steps", str(steps), "--seed", str(seed)])
        log(f"  batch {batch_size}: memory of {name}: {out[name]}")
    return out


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
    parser.add_argument("--repeats", type=int, nargs="+", default=[50, 30],
                        help="measured repetitions, one value per batch size (or one for all)")
    parser.add_argument("--memory-steps", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    harness.add_probe_option(parser, VARIANTS)
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    if not args.probe:
        check_out(args, parser)
    return args


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks shared with ``gaba_sensors.py``: sizes, repetitions, seed, ``--variants``.

    ``--warmup`` and ``--repeats`` given once apply to every batch size (the lists are
    expanded in place).
    """
    harness.check_ints(parser, args, {"--batch-sizes": 1, "--memory-steps": 1, "--seed": 0})
    if args.probe:
        return
    harness.require_variant(parser, args.variants, "a_plain")
    n_sizes = len(args.batch_sizes)
    args.warmup = harness.per_size(parser, "--warmup", args.warmup, n_sizes, 0)
    args.repeats = harness.per_size(parser, "--repeats", args.repeats, n_sizes, 1)


def summary_line(run: dict[str, Any]) -> dict[str, Any]:
    """The short form of one batch size's run: each variant's median, ratios and memory."""
    rows = run["variants"]
    line: dict[str, Any] = {"batch_size": run["batch_size"]}
    for name, row in rows.items():
        line[name] = {"median_ms": rounded(row["median_ms"], 2),
                      "ratio_to_plain": rounded(row["ratio_to_plain"], 3),
                      "paired_ratio_to_plain": rounded(row["paired_ratio_to_plain"], 3),
                      "cpu_ratio_to_plain": rounded(row["cpu_ratio_to_plain"], 3),
                      "cpu_paired_ratio_to_plain": rounded(row["cpu_paired_ratio_to_plain"], 3),
                      "minor_faults_median": row["minor_faults_median"],
                      "major_faults_median": row["major_faults_median"],
                      "peak_rss_delta_mib": run["memory"][name].get("peak_rss_delta_mib")}
    if "c_gabalab" in rows and "e_floor" in rows:
        c_over_e = rows["c_gabalab"]["median_ms"] / rows["e_floor"]["median_ms"]
        line["c_over_e"] = round(c_over_e, 3)
        paired = harness.paired_ratio(rows["c_gabalab"]["times_ms"], rows["e_floor"]["times_ms"])
        line["c_over_e_paired"] = rounded(paired, 3)
    return line


def rounded(value: float | None, digits: int) -> float | None:
    """``round(value, digits)``, with ``None`` (a ratio that is not defined) kept."""
    return None if value is None else round(value, digits)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (or, with ``--probe``, one memory probe) and write its JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.batch_sizes[0], args.memory_steps,
                                      args.seed)))
        return {}
    log = harness.log
    started = harness.start()
    variants = tuple(args.variants)
    model = DualTaskModel(seed=0)
    log("agreement check on one batch of 32")
    agreement = check_agreement(simulated_batch(32, args.seed))
    log(f"  {agreement}")
    runs = []
    for batch_size, warmup, repeats in zip(args.batch_sizes, args.warmup, args.repeats):
        log(f"timing batch size {batch_size}: {warmup} warm-up + {repeats} measured repetitions")
        if repeats < harness.MIN_SAMPLES:
            log(f"  (fewer than {harness.MIN_SAMPLES} samples per variant: a quick check)")
        run = time_variants(batch_size, warmup, repeats, args.seed, variants, log)
        run["memory"] = measure_memory(batch_size, args.memory_steps, args.seed, variants, log)
        for name, row in run["variants"].items():
            log(f"  {name:12s} median {row['median_ms']:9.1f} ms  x{row['ratio_to_plain']:.2f}"
                f"  (paired x{row['paired_ratio_to_plain']:.2f}, CPU time paired "
                f"x{harness.shown(row['cpu_paired_ratio_to_plain'])})")
        runs.append(run)
    payload = {
        "benchmark": "gaba_step",
        "model": {"class": "DualTaskModel", "config": model.config,
                  "parameter_counts": parameter_counts(model)},
        "data": "first shuffled batch of simulated-fleet training windows "
                "(simulated_fleet(n_train_units=20, n_test_units=2, seed=--seed)), "
                "30 cycles x 14 sensors; losses mse_loss and cross_entropy (mean)",
        "optimizer": "torch.optim.Adam(lr=1e-3), one per variant; model in training mode",
        "protocol": {
            "timing": "one full step (zero_grad ... optimizer.step) per timed sample; "
                      + harness.protocol_text("a_plain")
                      + "; ratio_to_plain and cpu_ratio_to_plain are ratios of medians, "
                        "paired_ratio_to_plain and cpu_paired_ratio_to_plain paired ratios",
            "memory": "fresh process per variant and batch size: resident set size (VmRSS "
                      "in /proc/self/status) once model, batch and Adam state exist, then the "
                      "peak (VmHWM) after memory_steps steps; peak_rss_delta_mib = peak - "
                      "before",
            "memory_steps": args.memory_steps,
            "min_samples_by_default": harness.MIN_SAMPLES,
            "targets": "c_gabalab <= 1.6 x a_plain at batch 32; c_gabalab within 10% of e_floor",
        },
        "agreement": agreement,
        "summary": [summary_line(run) for run in runs],
        "runs": runs,
        "provenance": harness.benchmark_provenance("gaba_step", argv, args.seed, started),
    }
    out = harness.write_result(args.out, payload)
    log(f"wrote {out} ({time.perf_counter() - started.perf:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
