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

Timing (``harness.py``, shared with the other timing benchmarks): every repetition runs each
timed step once, in orders from a balanced Latin square shuffled from ``--seed`` (each step
sits in each slot equally often and follows each other step equally often); the first
``--warmup`` repetitions are discarded. A periodic variant alternates two kinds of step, and
each kind is a timed step of its own: before its measuring step the balancer's held weights
are made due, before its held step they are made fresh (untimed, through
``state_dict``/``load_state_dict``; only their age changes), so that both kinds get a sample in
every repetition. For each variant the JSON holds the median and quartiles of the step time,
and the paired ratio to ``a_plain``: the median over repetitions of its time over
``a_plain``'s time in the same repetition; the same for process CPU time, and the median minor
and major page faults per step. A periodic variant's kinds (``measured``, ``held``) have those
fields each; its cost per step is the amortised paired ratio ``((N - 1) r_held + r_measured) /
N`` from the kinds' paired ratios, and its own median and ratios are those of its kinds mixed in
their natural proportion (one measuring step to N - 1 held ones). On CUDA every step is
bracketed by ``torch.cuda.synchronize()``.

Memory: on CPU, for each variant a fresh Python process builds model, batch and Adam state,
runs ``--memory-steps`` steps (16 by default, so that a periodic variant measures once) and
reports its peak resident set size over the one before the first step; on CUDA, the peak of
``torch.cuda.max_memory_allocated`` over the same steps, in this process.

Agreement, before timing, on a dropout-free copy of the model: a held step's gradient against
``backward()`` of the weighted loss with the held weights, and a representation step's norms
and gradient against the same written out with ``torch.autograd.grad`` (relative differences
reported).

Run from the repository root, on an otherwise idle machine (roughly 11 minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/gaba_sensors.py --out results/benchmarks/gaba_sensors.json

and on a machine with a GPU::

    .venv/bin/python benchmarks/gaba_sensors.py --device cuda \\
        --out results/benchmarks/gaba_sensors_cuda.json
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import harness
import numpy as np
import torch
import torch.nn.functional as F
from gaba_step import check_common_args, rounded, simulated_batch
from torch import nn

from gabalab.experiments.provenance import OneLineErrorParser, check_out
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
#: The two kinds of step of a periodic variant, timed as two steps of the interleaving.
KINDS = ("measured", "held")
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

    def expect(self, kind: str, batch: Batch) -> None:
        """Set a periodic variant's balancer so that its next step is of ``kind`` (untimed).

        ``"measured"``: the held weights are made due (their age set to ``measure_every - 1``,
        as after that many held steps). ``"held"``: their age is set back to 0, after one
        untimed measuring step if nothing is held yet. Only the age changes; the EMA, the
        weights and the counters stay as the steps left them.
        """
        balancer = self.balancer
        if kind == "held" and balancer.held_weights is None:
            self.run(batch)
        if balancer.measurement_due != (kind == "measured"):
            state = balancer.state_dict()
            state["held_age"] = balancer.measure_every - 1 if kind == "measured" else 0
            balancer.load_state_dict(state)

    def check_kind(self, kind: str) -> None:
        """Fail if the last step was not of ``kind`` (``"measured"`` or ``"held"``)."""
        if self.fresh != (kind == "measured"):
            raise RuntimeError(f"{self.name}: a {kind} step was expected, the balancer ran "
                               f"{'a measuring' if self.fresh else 'a held'} step")

    def steps(self, batch: Batch) -> list[harness.Step]:
        """The timed steps of this variant: one, or one per kind for a periodic variant."""
        run = functools.partial(self.run, batch)
        if self.name not in PERIODS:
            return [harness.Step(self.name, run)]
        return [harness.Step(f"{self.name}:{kind}", run,
                             prepare=functools.partial(self.expect, kind, batch),
                             check=functools.partial(self.check_kind, kind))
                for kind in KINDS]

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
    """Time the variants at one batch size, interleaved (:func:`harness.run_interleaved`).

    A periodic variant is two timed steps of the interleaving, its measuring step and its
    held step (``<name>:measured``, ``<name>:held``), so that each kind gets a sample in
    every repetition.

    Returns
    -------
    dict
        ``batch_size``, ``warmup``, ``repeats``, ``timing_wall_s``, ``order`` (every
        repetition's order of the timed steps, warm-up first), ``slot_counts`` and
        ``variants``: per variant its times, page faults and ratios to ``a_plain``.
    """
    device = batch[0].device
    base = DualTaskModel(seed=0).to(device)
    runners = [Variant(name, copy.deepcopy(base)) for name in variants]
    steps = [step for runner in runners for step in runner.steps(batch)]
    torch.manual_seed(seed)  # dropout masks
    samples = harness.run_interleaved(
        steps, warmup=warmup, repeats=repeats, seed=seed, log=log,
        before=functools.partial(_sync, device), after=functools.partial(_sync, device))
    rows = {name: periodic_row(samples, name) if name in PERIODS
            else {"description": DESCRIPTIONS[name],
                  **harness.row_against(samples, name, "a_plain")}
            for name in variants}
    return {"batch_size": int(batch[0].shape[0]), "warmup": warmup, "repeats": repeats,
            "timing_wall_s": samples.timing_wall_s, "order": samples.order,
            "slot_counts": harness.slot_counts(samples.measured_order(), samples.names),
            "variants": rows}


def periodic_row(samples: harness.Samples, name: str) -> dict[str, Any]:
    """A periodic variant's entry: each kind's statistics, their mixture and amortised cost.

    The kinds' entries (``measured``, ``held``) have the fields of every other variant. The
    variant's own median, quartiles and ratios describe its steps in their natural
    proportion, one measuring step to ``N - 1`` held ones (:func:`harness.mixture_quartiles`);
    ``amortised_paired_ratio`` is ``((N - 1) held + measured) / N`` of the kinds' paired
    ratios. ``times_ms`` and ``fresh`` hold every sample and its kind in the order run.
    """
    n = PERIODS[name]
    share = {"measured": 1 / n, "held": (n - 1) / n}
    units = {kind: f"{name}:{kind}" for kind in KINDS}
    kinds = {kind: harness.row_against(samples, unit, "a_plain") for kind, unit in units.items()}

    def mixture(table: Mapping[str, Sequence[float]],
                paired_to: Sequence[float] | None = None) -> tuple[float, float, float]:
        groups: list[tuple[Sequence[float], float]] = []
        for kind, unit in units.items():
            values = table[unit]
            if paired_to is not None:
                values = harness.paired_ratio_values(values, paired_to).tolist()
            groups.append((values, share[kind]))
        return harness.mixture_quartiles(groups)

    wall = mixture(samples.wall_s)
    cpu = mixture(samples.cpu_s)
    plain, plain_cpu = samples.wall_s["a_plain"], samples.cpu_s["a_plain"]
    row: dict[str, Any] = {
        "description": DESCRIPTIONS[name],
        "n": sum(kinds[kind]["n"] for kind in KINDS),
        "median_ms": 1e3 * wall[1], "q25_ms": 1e3 * wall[0], "q75_ms": 1e3 * wall[2],
        "ratio_to_plain": harness.ratio(wall[1], float(np.median(plain))),
        "paired_ratio_to_plain": mixture(samples.wall_s, plain)[1],
        "mean_paired_ratio": sum(share[k] * kinds[k]["mean_paired_ratio"] for k in KINDS),
        "cpu_median_ms": 1e3 * cpu[1], "cpu_q25_ms": 1e3 * cpu[0], "cpu_q75_ms": 1e3 * cpu[2],
        "cpu_ratio_to_plain": harness.ratio(cpu[1], float(np.median(plain_cpu))),
        "cpu_paired_ratio_to_plain": mixture(samples.cpu_s, plain_cpu)[1],
        "minor_faults_median": mixture(samples.minor_faults)[1],
        "major_faults_median": mixture(samples.major_faults)[1],
    }
    times: list[float] = []
    fresh: list[bool] = []
    seen = dict.fromkeys(KINDS, 0)
    for order in samples.measured_order():
        for kind in sorted(KINDS, key=lambda k: order.index(units[k])):
            times.append(kinds[kind]["times_ms"][seen[kind]])
            fresh.append(kind == "measured")
            seen[kind] += 1
    row.update({"times_ms": times, "fresh": fresh, **kinds})
    for prefix in ("", "cpu_"):
        held, measured = (kinds[k][f"{prefix}paired_ratio_to_plain"] for k in ("held",
                                                                             "measured"))
        if held is not None and measured is not None:
            row[f"amortised_{prefix}paired_ratio"] = ((n - 1) * held + measured) / n
    return row


def memory_probe(name: str, batch_size: int, steps: int, seed: int) -> dict[str, float]:
    """Run in a fresh process (CPU): :func:`harness.memory_of_steps` of one variant."""
    batch = simulated_batch(batch_size, seed)
    variant = Variant(name, DualTaskModel(seed=0))
    variant.prime_optimizer()
    torch.manual_seed(seed)
    out = harness.memory_of_steps(functools.partial(variant.run, batch), steps)
    out["peak_delta_mib"] = out["peak_rss_delta_mib"]  # the name the CUDA path uses too
    return out


def measure_memory(batch: Batch, steps: int, seed: int, variants: tuple[str, ...],
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Each variant's memory: a fresh process per variant on CPU, the allocator on CUDA."""
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
            out[name] = harness.memory_in_fresh_process(
                Path(__file__).resolve(),
                ["--probe", name, "--batch-sizes", str(int(batch[0].shape[0])),
                 "--memory-steps", str(steps), "--seed", str(seed)])
        log(f"  memory of {name}: {out[name]}")
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
                             "all); each is one sample of every variant and of each kind of "
                             "a periodic variant's steps")
    parser.add_argument("--memory-steps", type=int, default=16)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="stored in the provenance")
    harness.add_probe_option(parser, VARIANTS)
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    if args.probe:
        return args
    harness.check_device(parser, args.device)
    check_out(args, parser)
    return args


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    """The short form of one batch size's run: medians, ratios, memory and the goals met."""
    rows = run["variants"]
    line: dict[str, Any] = {"batch_size": run["batch_size"]}
    for name, row in rows.items():
        entry = {"median_ms": rounded(row["median_ms"], 2),
                 "paired_ratio_to_plain": rounded(row["paired_ratio_to_plain"], 3),
                 "cpu_paired_ratio_to_plain": rounded(row["cpu_paired_ratio_to_plain"], 3),
                 "minor_faults_median": row["minor_faults_median"],
                 "major_faults_median": row["major_faults_median"],
                 "peak_delta_mib": run["memory"].get(name, {}).get("peak_delta_mib")}
        if "amortised_paired_ratio" in row:
            entry["amortised_paired_ratio"] = rounded(row["amortised_paired_ratio"], 3)
            entry["amortised_cpu_paired_ratio"] = rounded(
                row.get("amortised_cpu_paired_ratio"), 3)
            for kind in KINDS:
                entry[f"{kind}_paired_ratio"] = rounded(row[kind]["paired_ratio_to_plain"], 3)
                entry[f"{kind}_n"] = row[kind]["n"]
        line[name] = entry
    if "c_exact" in rows and "e_floor" in rows:
        paired = harness.paired_ratio(rows["c_exact"]["times_ms"], rows["e_floor"]["times_ms"])
        line["c_exact_over_e_floor_paired"] = rounded(paired, 3)
    goals = {}
    if "f_periodic_4" in line and "amortised_paired_ratio" in line["f_periodic_4"]:
        goals["f_periodic_4"] = line["f_periodic_4"]["amortised_paired_ratio"] <= GOALS[
            "f_periodic_4"]
    if "h_representation" in line:
        goals["h_representation"] = line["h_representation"]["paired_ratio_to_plain"] <= GOALS[
            "h_representation"]
    if line.get("c_exact_over_e_floor_paired") is not None:
        goals["c_exact_over_e_floor"] = line["c_exact_over_e_floor_paired"] <= GOALS[
            "c_exact_over_e_floor"]
    line["goals_met"] = goals
    return line


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (or, with ``--probe``, one memory probe) and write its JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.batch_sizes[0], args.memory_steps,
                                      args.seed)))
        return {}
    log = harness.log
    device = torch.device(args.device)
    started = harness.start()
    variants = tuple(args.variants)
    model = DualTaskModel(seed=0)
    log("agreement check on one batch of 32")
    agreement = check_agreement(_to(simulated_batch(32, args.seed), device))
    log(f"  {agreement}")
    runs = []
    for batch_size, warmup, repeats in zip(args.batch_sizes, args.warmup, args.repeats):
        batch = _to(simulated_batch(batch_size, args.seed), device)
        log(f"timing batch size {batch_size}: {warmup} warm-up + {repeats} measured repetitions")
        if repeats < harness.MIN_SAMPLES:
            log(f"  (fewer than {harness.MIN_SAMPLES} samples per variant: a quick check)")
        run = time_variants(batch, warmup, repeats, args.seed, variants, log)
        run["memory"] = measure_memory(batch, args.memory_steps, args.seed, variants, log)
        for name, row in run["variants"].items():
            extra = (f", amortised x{harness.shown(row['amortised_paired_ratio'], 3)}"
                     if "amortised_paired_ratio" in row else "")
            log(f"  {name:17s} median {row['median_ms']:8.1f} ms  paired "
                f"x{harness.shown(row['paired_ratio_to_plain'], 3)}{extra}")
        runs.append(run)
    device_info: dict[str, Any] = {"device": str(device), "note": args.note}
    if device.type == "cuda":
        device_info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    payload = {
        "benchmark": "gaba_sensors",
        "model": {"class": "DualTaskModel", "config": model.config,
                  "parameter_counts": parameter_counts(model)},
        "data": "first shuffled batch of simulated-fleet training windows "
                "(simulated_fleet(n_train_units=20, n_test_units=2, seed=--seed)), "
                "30 cycles x 14 sensors; losses mse_loss and cross_entropy (mean)",
        "optimizer": "torch.optim.Adam(lr=1e-3), one per variant; model in training mode",
        "protocol": {
            "timing": "one full step (zero_grad ... optimizer.step) per timed sample; a "
                      "periodic variant is two timed steps, its measuring step and its held "
                      "step (the balancer's held age set before each, untimed), so that each "
                      "kind has one sample per repetition; "
                      + harness.protocol_text("a_plain")
                      + "; a periodic variant's own median, quartiles and ratios are those of "
                        "its two kinds mixed 1 : N-1 (weighted quantiles), and "
                        "amortised_paired_ratio = ((N-1) held + measured) / N of the kinds' "
                        "paired ratios",
            "memory": "CPU: fresh process per variant, peak RSS (VmHWM) over RSS before the "
                      "first of memory_steps steps; CUDA: max_memory_allocated over "
                      "memory_allocated before",
            "memory_steps": args.memory_steps,
            "min_samples_by_default": harness.MIN_SAMPLES,
            "goals": {"f_periodic_4 amortised_paired_ratio <=": GOALS["f_periodic_4"],
                      "h_representation paired_ratio_to_plain <=": GOALS["h_representation"],
                      "c_exact / e_floor (paired) <=": GOALS["c_exact_over_e_floor"],
                      "batch size": 32},
        },
        "agreement": agreement,
        "summary": [summarise(run) for run in runs],
        "runs": runs,
        "provenance": harness.benchmark_provenance("gaba_sensors", argv, args.seed, started,
                                                   **device_info),
    }
    out = harness.write_result(args.out, payload)
    log(f"wrote {out} ({time.perf_counter() - started.perf:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
