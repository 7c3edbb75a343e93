"""What the timing benchmarks share: argument checks, interleaving, statistics, memory, provenance.

The scripts ``gaba_step.py``, ``gaba_sensors.py`` and ``gaba_scale.py`` each time a few
*variants* of one training step against a baseline. This module holds, once, what they do
alike:

* **Argument checks** (:func:`check_ints`, :func:`per_size`, :func:`require_variant`,
  :func:`check_device`), built on :mod:`gabalab.experiments.provenance`: a bad option ends the
  script with one line on standard error that names it, and exit status 2.
* **Paired interleaving** (:func:`interleaved_orders`, :func:`run_interleaved`). Every
  repetition runs each timed step once. The orders come in blocks of ``n`` repetitions (``n``
  steps) taken from a balanced Latin square (Williams' design), with the step names relabelled
  and the rows shuffled at random for each block, from ``seed``: within a block every step sits
  in every slot exactly once, and, for an even ``n`` (over two blocks for an odd ``n``), every
  step directly follows every other step equally often. The warm-up repetitions have blocks of
  their own and are discarded.
* **Per-sample measurements** (:func:`measure_once`): beside the wall time of each step, the
  process CPU time (:func:`time.process_time`) and the minor and major page faults
  (``getrusage(RUSAGE_SELF)``) it took.
* **Statistics** (:func:`variant_stats`, :func:`paired_ratios`, :func:`mixture_quartiles`):
  medians and quartiles, the ratio of medians to the baseline and the paired ratio, the median
  over repetitions of the step's time over the baseline's time in the same repetition (for
  wall and CPU time), and the median page faults.
* **Memory** (:func:`memory_of_steps`, :func:`memory_in_fresh_process`): a fresh Python
  process per variant reads its resident set size (``VmRSS``) once model, data and optimiser
  state exist, runs the steps, and reads its peak resident set size (``VmHWM``).
* **Provenance** (:func:`benchmark_provenance`): the block of
  :func:`gabalab.experiments.provenance.provenance` with the command as run from the repository
  root, the CPU model, the load averages at start and end and the torch thread counts.

The scripts import it as ``harness``: run as ``python benchmarks/<name>.py``, Python puts the
folder of the script first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gabalab.experiments.provenance import provenance, require_int
from gabalab.files import atomic_write_text

#: The fewest measured samples each timed step gets with a script's default settings.
MIN_SAMPLES = 30

#: Environment variables that set the number of threads, recorded in the provenance.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")

Hook = Callable[[], None]


def log(message: str) -> None:
    """Print ``message`` on standard error at once (the progress of a benchmark)."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- argument checks

def option_value(args: argparse.Namespace, option: str) -> Any:
    """The parsed value of ``option`` (``"--batch-sizes"`` is ``args.batch_sizes``)."""
    return getattr(args, option.removeprefix("--").replace("-", "_"))


def check_ints(parser: argparse.ArgumentParser, args: argparse.Namespace,
               minimums: Mapping[str, int]) -> None:
    """Check that each option holds integers no smaller than its minimum.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Reports a bad value (one line naming the option, exit status 2).
    args : argparse.Namespace
        The parsed command line.
    minimums : mapping of str to int
        Option (``"--seed"``) to its least value; an option that takes several values has
        each checked.
    """
    for option, minimum in minimums.items():
        value = option_value(args, option)
        for item in value if isinstance(value, list) else [value]:
            require_int(parser, option, item, minimum)


def per_size(parser: argparse.ArgumentParser, option: str, values: Sequence[int], n_sizes: int,
             minimum: int) -> list[int]:
    """One value of ``option`` per batch size: a single value applies to all.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Reports a bad value.
    option : str
        The option's name, for the message (``"--repeats"``).
    values : sequence of int
        As given on the command line.
    n_sizes : int
        The number of batch sizes.
    minimum : int
        The least value allowed.

    Returns
    -------
    list of int
        ``n_sizes`` values.
    """
    out = list(values) * n_sizes if len(values) == 1 else list(values)
    if len(out) != n_sizes:
        parser.error(f"{option} needs one value per batch size ({n_sizes}) or one for all, "
                     f"got {len(values)}")
    for value in out:
        require_int(parser, option, value, minimum)
    return out


def require_variant(parser: argparse.ArgumentParser, variants: Sequence[str],
                    required: str) -> None:
    """Refuse a ``--variants`` list without the baseline the ratios are taken against."""
    if required not in variants:
        parser.error(f"--variants must include {required} (the reference for ratios)")
    if len(set(variants)) != len(variants):
        parser.error(f"--variants names a variant twice: {' '.join(variants)}")


def check_device(parser: argparse.ArgumentParser, text: str) -> torch.device:
    """``--device``: ``cpu`` or ``cuda[:i]``, the latter only where CUDA is available."""
    try:
        device = torch.device(text)
    except RuntimeError as err:
        parser.error(f"--device {text!r}: {err}")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda, got {text!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    return device


def add_probe_option(parser: argparse.ArgumentParser, variants: Sequence[str]) -> None:
    """The hidden ``--probe VARIANT`` with which a script runs as its own memory probe."""
    parser.add_argument("--probe", choices=tuple(variants), help=argparse.SUPPRESS)


# ---------------------------------------------------------------------------- interleaving

def williams_square(n: int, *, mirror: bool = False) -> list[list[int]]:
    """A balanced Latin square of ``n`` rows (Williams' design) over ``0 .. n-1``.

    Each value sits once in each column. For an even ``n`` every ordered pair of values is
    adjacent in exactly one row; for an odd ``n`` the square together with its mirror
    (``mirror=True``, every row reversed) has every ordered pair adjacent exactly twice.

    Examples
    --------
    >>> williams_square(4)
    [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    """
    first = [0] + [(k + 1) // 2 if k % 2 else n - k // 2 for k in range(1, n)]
    rows = [[(value + r) % n for value in first] for r in range(n)]
    return [row[::-1] for row in rows] if mirror else rows


def balanced_orders(n: int, count: int, rng: np.random.Generator) -> list[list[int]]:
    """``count`` orders of ``0 .. n-1``, in blocks of ``n`` rows of a Williams square.

    A cycle is one square (even ``n``) or a square and its mirror (odd ``n``), with the values
    relabelled by one random permutation; the rows of each block of ``n`` are shuffled. Within
    each whole block every value sits in every slot once.
    """
    rows: list[list[int]] = []
    while len(rows) < count:
        labels = rng.permutation(n)
        for mirror in ((False,) if n % 2 == 0 else (False, True)):
            square = williams_square(n, mirror=mirror)
            for r in rng.permutation(n):
                rows.append([int(labels[v]) for v in square[r]])
    return rows[:count]


def interleaved_orders(names: Sequence[str], warmup: int, repeats: int,
                       seed: int) -> list[list[str]]:
    """The order of the steps in each repetition, warm-up repetitions first.

    Parameters
    ----------
    names : sequence of str
        The timed steps.
    warmup, repeats : int
        Discarded and measured repetitions. Each has its own blocks, so that the measured
        repetitions start a block: with ``repeats`` a multiple of ``len(names)`` every step
        sits in every slot equally often, otherwise within one.
    seed : int
        Seed of the relabelling and shuffling (the same seed gives the same orders).

    Returns
    -------
    list of list of str
        ``warmup + repeats`` orders, each a permutation of ``names``.

    Examples
    --------
    >>> orders = interleaved_orders(["a", "b"], 0, 4, seed=0)
    >>> sorted(order[0] for order in orders)
    ['a', 'a', 'b', 'b']
    """
    rng = np.random.default_rng(seed)
    n = len(names)
    indices = balanced_orders(n, warmup, rng) + balanced_orders(n, repeats, rng)
    return [[names[i] for i in order] for order in indices]


def slot_counts(orders: Sequence[Sequence[str]], names: Sequence[str]) -> dict[str, list[int]]:
    """How many of ``orders`` put each name in each slot (first, second, ...).

    Examples
    --------
    >>> slot_counts([["a", "b"], ["b", "a"], ["a", "b"]], ["a", "b"])
    {'a': [2, 1], 'b': [1, 2]}
    """
    counts = {name: [0] * len(names) for name in names}
    for order in orders:
        for slot, name in enumerate(order):
            counts[name][slot] += 1
    return counts


# ------------------------------------------------------------------------------ measurement

@dataclass(frozen=True)
class Sample:
    """What one timed step took: wall and process CPU seconds, minor and major page faults."""

    wall_s: float
    cpu_s: float
    minor_faults: int
    major_faults: int


def measure_once(run: Hook, before: Hook | None = None, after: Hook | None = None) -> Sample:
    """Time ``run()``.

    ``before`` runs untimed first (a barrier, a device synchronisation); ``after`` runs
    inside the timing, at its end (a device synchronisation, so that the step's queued work
    is counted).
    """
    if before is not None:
        before()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    if after is not None:
        after()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    end = resource.getrusage(resource.RUSAGE_SELF)
    return Sample(wall, cpu, end.ru_minflt - usage.ru_minflt, end.ru_majflt - usage.ru_majflt)


@dataclass(frozen=True)
class Step:
    """One timed step of the interleaving.

    Attributes
    ----------
    name : str
        Its name in the results.
    run : callable
        The step, timed.
    prepare : callable or None
        Run untimed just before each timed ``run`` (to set the next step's kind, say).
    check : callable or None
        Run untimed just after each timed ``run`` (to check that it did what was meant).
    """

    name: str
    run: Hook
    prepare: Hook | None = None
    check: Hook | None = None


@dataclass
class Samples:
    """The measured samples of an interleaved run, one per step and measured repetition.

    Attributes
    ----------
    names : list of str
        The steps, in the order they were given.
    warmup, repeats : int
        Discarded and measured repetitions.
    order : list of list of str
        The order of every repetition, the warm-up ones first.
    wall_s, cpu_s : dict of str to list of float
        Per step, its wall and process CPU seconds in each measured repetition.
    minor_faults, major_faults : dict of str to list of int
        Per step, its page faults in each measured repetition.
    timing_wall_s : float
        Wall seconds of the whole interleaved run.
    """

    names: list[str]
    warmup: int
    repeats: int
    order: list[list[str]]
    wall_s: dict[str, list[float]] = field(default_factory=dict)
    cpu_s: dict[str, list[float]] = field(default_factory=dict)
    minor_faults: dict[str, list[int]] = field(default_factory=dict)
    major_faults: dict[str, list[int]] = field(default_factory=dict)
    timing_wall_s: float = 0.0

    def add(self, name: str, sample: Sample) -> None:
        """Append one measured sample of ``name``."""
        self.wall_s.setdefault(name, []).append(sample.wall_s)
        self.cpu_s.setdefault(name, []).append(sample.cpu_s)
        self.minor_faults.setdefault(name, []).append(sample.minor_faults)
        self.major_faults.setdefault(name, []).append(sample.major_faults)

    def measured_order(self) -> list[list[str]]:
        """The orders of the measured repetitions."""
        return self.order[self.warmup:]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (picklable and JSON-ready)."""
        return {"names": list(self.names), "warmup": self.warmup, "repeats": self.repeats,
                "order": self.order, "wall_s": self.wall_s, "cpu_s": self.cpu_s,
                "minor_faults": self.minor_faults, "major_faults": self.major_faults,
                "timing_wall_s": self.timing_wall_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Samples:
        """The inverse of :meth:`to_dict`."""
        return cls(**dict(data))


def run_interleaved(steps: Sequence[Step], *, warmup: int, repeats: int, seed: int,
                    before: Hook | None = None, after: Hook | None = None,
                    log: Callable[[str], None] | None = None, label: str = "") -> Samples:
    """Run every step once per repetition, in the orders of :func:`interleaved_orders`.

    Parameters
    ----------
    steps : sequence of Step
        The timed steps (distinct names).
    warmup : int
        Repetitions run first and discarded (>= 0).
    repeats : int
        Measured repetitions (>= 1).
    seed : int
        Seed of the orders.
    before, after : callable or None
        Passed to :func:`measure_once` for every step.
    log : callable or None
        Receives a progress line now and then.
    label : str
        Start of the progress lines (``"batch 32: "``).

    Returns
    -------
    Samples
        ``repeats`` samples of every step.

    Raises
    ------
    ValueError
        If two steps share a name, or ``warmup`` or ``repeats`` is out of range.
    """
    names = [step.name for step in steps]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"steps must have distinct names, got {names}")
    warmup = require_count("warmup", warmup, 0)
    repeats = require_count("repeats", repeats, 1)
    by_name = {step.name: step for step in steps}
    samples = Samples(names, warmup, repeats, interleaved_orders(names, warmup, repeats, seed))
    total = warmup + repeats
    start = time.perf_counter()
    for rep, order in enumerate(samples.order):
        for name in order:
            step = by_name[name]
            if step.prepare is not None:
                step.prepare()
            sample = measure_once(step.run, before, after)
            if step.check is not None:
                step.check()
            if rep >= warmup:
                samples.add(name, sample)
        if log is not None and (rep in (0, warmup - 1, total - 1) or (rep + 1) % 10 == 0):
            log(f"  {label}repetition {rep + 1}/{total} ({time.perf_counter() - start:.0f} s)")
    samples.timing_wall_s = round(time.perf_counter() - start, 1)
    return samples


def require_count(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (bool refused), else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def combine_ranks(ranks: Sequence[Samples]) -> Samples:
    """One rank-wide sample per step and repetition, from every rank's samples of one run.

    A step's wall time is the slowest rank's (synchronous training waits for it); its CPU
    time and page faults are summed over the ranks (the work of the whole step).

    Raises
    ------
    ValueError
        If the ranks did not run the same steps in the same orders.
    """
    first = ranks[0]
    for other in ranks[1:]:
        if other.order != first.order or other.names != first.names:
            raise ValueError("the ranks ran different steps or orders")
    out = Samples(list(first.names), first.warmup, first.repeats, first.order,
                  timing_wall_s=max(r.timing_wall_s for r in ranks))
    for name in first.names:
        out.wall_s[name] = np.max([r.wall_s[name] for r in ranks], axis=0).tolist()
        out.cpu_s[name] = np.sum([r.cpu_s[name] for r in ranks], axis=0).tolist()
        out.minor_faults[name] = np.sum([r.minor_faults[name] for r in ranks], axis=0).tolist()
        out.major_faults[name] = np.sum([r.major_faults[name] for r in ranks], axis=0).tolist()
    return out


# ------------------------------------------------------------------------------- statistics

def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """The 25th percentile, median and 75th percentile (linear interpolation)."""
    q25, median, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q25), float(median), float(q75)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` where the denominator is not positive."""
    return numerator / denominator if denominator > 0 else None


def shown(value: float | None, digits: int = 2) -> str:
    """A ratio for a progress line: ``value`` to ``digits`` decimals, or ``n/a``."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def paired_ratio_values(values: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    """Each repetition's value over the baseline's in the same repetition.

    Repetitions whose baseline is not positive (a CPU time below the clock's resolution) are
    left out.
    """
    a, b = np.asarray(values, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.shape} and {b.shape}")
    keep = b > 0
    return np.asarray(a[keep] / b[keep])


def paired_ratio(values: Sequence[float], baseline: Sequence[float]) -> float | None:
    """The median over repetitions of ``values / baseline`` (``None`` if none is defined).

    Examples
    --------
    >>> paired_ratio([2.0, 6.0, 3.0], [1.0, 2.0, 3.0])
    2.0
    """
    ratios = paired_ratio_values(values, baseline)
    return float(np.median(ratios)) if ratios.size else None


def variant_stats(samples: Samples, name: str) -> dict[str, Any]:
    """Medians, quartiles and every sample of one step.

    Returns
    -------
    dict
        ``n``; ``median_ms``, ``q25_ms``, ``q75_ms`` (wall time); ``cpu_median_ms``,
        ``cpu_q25_ms``, ``cpu_q75_ms`` (process CPU time); ``minor_faults_median``,
        ``major_faults_median``; and the samples in order of repetition: ``times_ms``,
        ``cpu_times_ms`` (rounded to the microsecond), ``minor_faults``, ``major_faults``.
    """
    wall, cpu = samples.wall_s[name], samples.cpu_s[name]
    q25, median, q75 = quartiles(wall)
    c25, cmedian, c75 = quartiles(cpu)
    return {
        "n": len(wall),
        "median_ms": 1e3 * median, "q25_ms": 1e3 * q25, "q75_ms": 1e3 * q75,
        "cpu_median_ms": 1e3 * cmedian, "cpu_q25_ms": 1e3 * c25, "cpu_q75_ms": 1e3 * c75,
        "minor_faults_median": float(np.median(samples.minor_faults[name])),
        "major_faults_median": float(np.median(samples.major_faults[name])),
        "times_ms": [round(1e3 * v, 3) for v in wall],
        "cpu_times_ms": [round(1e3 * v, 3) for v in cpu],
        "minor_faults": [int(v) for v in samples.minor_faults[name]],
        "major_faults": [int(v) for v in samples.major_faults[name]],
    }


def paired_ratios(samples: Samples, name: str, baseline: str) -> dict[str, float | None]:
    """Step ``name`` against step ``baseline`` of the same run.

    Returns
    -------
    dict
        ``ratio_of_medians`` and ``paired_ratio`` (median over repetitions of the step's
        wall time over the baseline's in the same repetition), ``mean_paired_ratio``, and
        ``cpu_ratio_of_medians`` and ``cpu_paired_ratio``, the same for process CPU time.
    """
    out: dict[str, float | None] = {}
    for prefix, table in (("", samples.wall_s), ("cpu_", samples.cpu_s)):
        values, base = table[name], table[baseline]
        out[f"{prefix}ratio_of_medians"] = ratio(float(np.median(values)),
                                                 float(np.median(base)))
        out[f"{prefix}paired_ratio"] = paired_ratio(values, base)
        if not prefix:
            ratios = paired_ratio_values(values, base)
            out["mean_paired_ratio"] = float(np.mean(ratios)) if ratios.size else None
    return out


def row_against(samples: Samples, name: str, baseline: str,
                suffix: str = "_to_plain") -> dict[str, Any]:
    """:func:`variant_stats` of step ``name`` with its ratios to ``baseline`` beside them.

    The ratios of :func:`paired_ratios` are named after the baseline: with the default
    ``suffix``, ``ratio_to_plain`` (of medians), ``paired_ratio_to_plain``,
    ``mean_paired_ratio``, ``cpu_ratio_to_plain`` and ``cpu_paired_ratio_to_plain``.
    """
    stats = variant_stats(samples, name)
    ratios = paired_ratios(samples, name, baseline)
    wall = ("n", "median_ms", "q25_ms", "q75_ms")
    cpu = ("cpu_median_ms", "cpu_q25_ms", "cpu_q75_ms")
    return {
        **{key: stats[key] for key in wall},
        f"ratio{suffix}": ratios["ratio_of_medians"],
        f"paired_ratio{suffix}": ratios["paired_ratio"],
        "mean_paired_ratio": ratios["mean_paired_ratio"],
        **{key: stats[key] for key in cpu},
        f"cpu_ratio{suffix}": ratios["cpu_ratio_of_medians"],
        f"cpu_paired_ratio{suffix}": ratios["cpu_paired_ratio"],
        **{key: value for key, value in stats.items() if key not in wall + cpu},
    }


def mixture_quartiles(groups: Sequence[tuple[Sequence[float], float]]
                      ) -> tuple[float, float, float]:
    """Quartiles of a mixture of sample groups, each group weighing its given share.

    Used for a step that alternates kinds (a periodic sensor: one measuring step to ``N - 1``
    held ones) whose kinds are timed apart: the groups' samples stand for the mixed stream.

    Parameters
    ----------
    groups : sequence of (samples, share)
        Each group's samples and its share of the mixture (the shares need not sum to 1); an
        empty group is left out.

    Returns
    -------
    tuple of float
        The 25th percentile, median and 75th percentile (weighted inverted CDF).

    Raises
    ------
    ValueError
        If every group is empty.

    Examples
    --------
    >>> mixture_quartiles([([10.0], 1.0), ([1.0, 2.0, 3.0], 3.0)])
    (1.0, 2.0, 3.0)
    """
    groups = [(v, share) for v, share in groups if len(v)]
    if not groups:
        raise ValueError("mixture_quartiles: every group is empty")
    values = np.concatenate([np.asarray(v, dtype=float) for v, _ in groups])
    weights = np.concatenate([np.full(len(v), share / len(v)) for v, share in groups])
    q = np.quantile(values, [0.25, 0.5, 0.75], weights=weights, method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


# ---------------------------------------------------------------------------------- memory

def proc_status_kib(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``: resident now, ``VmHWM``: peak)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name} field")


def memory_of_steps(step: Hook, steps: int) -> dict[str, float]:
    """Resident memory around ``steps`` calls of ``step``, in this process.

    Meant for a fresh process that has just built the model, the data and the optimiser
    state. The peak is ``VmHWM``, the high-water mark of this process's own address space
    (``ru_maxrss`` would not do: Linux carries it over from the parent across fork and exec).

    Returns
    -------
    dict
        ``rss_before_mib`` (``VmRSS`` before the first step), ``peak_before_steps_mib``
        (``VmHWM`` then), ``peak_rss_mib`` (``VmHWM`` after the steps) and
        ``peak_rss_delta_mib``, the peak minus the resident size before: the working memory
        of a step on top of what existed.
    """
    rss_before = proc_status_kib("VmRSS")
    hwm_before = proc_status_kib("VmHWM")
    for _ in range(steps):
        step()
    peak = proc_status_kib("VmHWM")
    return {"rss_before_mib": rss_before / 1024, "peak_before_steps_mib": hwm_before / 1024,
            "peak_rss_mib": peak / 1024, "peak_rss_delta_mib": (peak - rss_before) / 1024}


def memory_in_fresh_process(script: str | os.PathLike[str], args: Sequence[str],
                            timeout_s: float = 600.0) -> dict[str, Any]:
    """Run ``python script *args`` and read the JSON object it prints on its last line.

    The script runs as its own memory probe (its hidden ``--probe`` option) and prints
    :func:`memory_of_steps`'s result.

    Returns
    -------
    dict
        The printed object, or ``{"error": [last line of standard error]}`` when the process
        failed.
    """
    cmd = [sys.executable, os.fspath(script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout_s)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ------------------------------------------------------------------------------ provenance

@dataclass(frozen=True)
class Started:
    """When a benchmark began: ``time.perf_counter()`` and the load averages then."""

    perf: float
    load: tuple[float, float, float]


def start() -> Started:
    """Note the start of a benchmark (for its wall time and load averages)."""
    return Started(time.perf_counter(), os.getloadavg())


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def benchmark_provenance(script: str, argv: Sequence[str], seed: int, started: Started,
                         **extra: Any) -> dict[str, Any]:
    """The provenance block of a benchmark's JSON.

    Parameters
    ----------
    script : str
        The script's name without ``.py`` (``"gaba_step"``).
    argv : sequence of str
        Its arguments.
    seed : int
        Its ``--seed``.
    started : Started
        From :func:`start`.
    **extra
        Further entries (device, note, ...); they replace entries of the same name.

    Returns
    -------
    dict
        :func:`gabalab.experiments.provenance.provenance`'s block (versions, seed, wall time,
        date, torch threads, thread variables, platform, CPU count) with ``command`` as run
        from the repository root, plus ``torch_num_interop_threads``, ``mkldnn_enabled``,
        ``cpu_model``, ``load_average_1_5_15_at_start`` and ``load_average_1_5_15_at_end``.
    """
    out = provenance(script, argv, seed, {}, time.perf_counter() - started.perf)
    del out["data_files_sha256"]  # the benchmarks simulate their data
    out["command"] = " ".join([".venv/bin/python", f"benchmarks/{script}.py",
                               *(shlex.quote(a) for a in argv)])
    out.update({
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "mkldnn_enabled": torch.backends.mkldnn.is_available(),
        "cpu_model": cpu_model(),
        "load_average_1_5_15_at_start": [round(v, 2) for v in started.load],
        "load_average_1_5_15_at_end": [round(v, 2) for v in os.getloadavg()],
    })
    out.update(extra)
    return out


def write_result(out: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, whole or not at all; returns the path."""
    return atomic_write_text(out, json.dumps(payload, indent=1, allow_nan=False) + "\n")


def protocol_text(baseline: str) -> str:
    """How the timing was done, for the ``protocol`` entry of a benchmark's JSON."""
    return (
        "every repetition runs each timed step once; the orders come in blocks of n "
        "repetitions (n steps) from a balanced Latin square (Williams), relabelled and "
        "row-shuffled per block from --seed, so that each step sits in each slot once per "
        "block and follows each other step equally often; the order of every repetition is "
        "stored in 'order' (warm-up repetitions first) and the slot counts of the measured "
        "ones in 'slot_counts'; warm-up repetitions are discarded; per sample: wall time "
        "(perf_counter), process CPU time (process_time) and minor and major page faults "
        "(getrusage, RUSAGE_SELF); medians and quartiles; ratio of medians to "
        f"{baseline}, and paired ratio = median over repetitions of the step's time over "
        f"{baseline}'s time in the same repetition (robust to slow spells of the machine), "
        "for wall and for CPU time"
    )
