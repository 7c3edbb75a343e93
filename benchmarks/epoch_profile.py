"""Where the time of an FD001 training epoch goes: data, forward, backward, optimiser, per method.

Section 18.2 trains four methods (``sum``, ``fixed``, ``gaba``, ``uncertainty``) with
``python -m gabalab.experiments.trained``: the course's ``DualTaskModel`` at its default sizes,
Adam (lr 1e-3), float32, batches of 32 from a shuffled loader, one torch thread per process and
two processes side by side on the two cores. This script times the steps of that training,
split in four phases:

* ``data``      the next batch from the loader's iterator (a new pass over the windows begins
  when one is exhausted, as the next epoch would);
* ``forward``   the model's forward pass and the two task losses, as the training computes them
  (:func:`gabalab.experiments.balancing.task_losses`: MSE and cross-entropy with the target
  checks, then the same finiteness check as :func:`gabalab.training.train_epoch`);
* ``backward``  the method's ``backward(losses)``, which writes ``.grad`` (for ``gaba`` its two
  gradient calls and the weighted combination), and the freeing of the spent graph and batch
  (which a training loop pays when it next reassigns them);
* ``optimizer`` ``optimizer.step()`` and ``optimizer.zero_grad(set_to_none=True)``.

Every method is built as the training builds it (:func:`gabalab.experiments.trained.make_method`
on a ``DualTaskModel(seed=--seed)``, Adam over the model's parameters and the method's own,
``make_loader(..., shuffle=True, seed=--seed)``), on the FD001 training units that the training
keeps after holding out its validation units (:func:`gabalab.data.choose_validation_units`,
:func:`gabalab.data.prepare_with_validation`, the split of ``trained.main``). Left out, as the
training's own step time leaves them out: the per-epoch evaluation and the norm measurements of
the methods that do not measure (every ``measure_every`` steps).

For each batch size (``--batch-sizes``) and each torch thread count (``--threads``, set with
``torch.set_num_threads`` in this process) the methods are interleaved by the shared harness
(``harness.py``: balanced orders, warm-up discarded, the wall and CPU time of every step), and
each step records its phases. Reported per (threads, batch size, method): median and quartiles
of every phase and of the whole step, each phase's share of the step time, samples per second
(batch size over the median step; also without the data phase, as the training runs'
``compute.samples_per_s`` counts), the paired ratio of the step to ``sum``'s and an epoch's
time at the median step; per batch size, the speed-up of each thread count over the fewest.

What the two cores can do: the script starts itself as fresh processes (hidden ``--worker``
option), each timing ``sum`` at ``--process-batch-size`` (32) for ``--process-steps`` steps
after ``--process-warmup`` discarded ones: two processes of one thread at the same time (the
way the training runs), then one process of two threads alone, then one of one thread alone.
Their samples per second (the two processes' added together) are reported side by side.

Run from the repository root on an otherwise idle machine (about 5 to 8 minutes on 2 cores)::

    .venv/bin/python benchmarks/epoch_profile.py --out results/benchmarks/epoch_profile.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import harness
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gabalab.data import (
    SplitData,
    choose_validation_units,
    make_loader,
    prepare_with_validation,
)
from gabalab.experiments.balancing import task_losses
from gabalab.experiments.provenance import (
    OneLineErrorParser,
    base_parser,
    check_data_files,
    check_out,
    load_subset,
    require_int,
)
from gabalab.experiments.trained import METHODS, Protocol, make_method
from gabalab.models import DualTaskModel, parameter_counts

#: The timed phases of a training step, in the order they run.
PHASES = ("data", "forward", "backward", "optimizer")

#: The method every ratio is taken against.
BASELINE = "sum"

#: The fresh processes of the two-core measurement: group name and each process's threads.
PROCESS_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("two_processes_1_thread", (1, 1)),
    ("one_process_2_threads", (2,)),
    ("one_process_1_thread", (1,)),
)

Batch = Sequence[torch.Tensor]


# ------------------------------------------------------------------------------ the steps

class BatchSource:
    """The batches of a loader one at a time, a new pass begun when one is exhausted.

    Parameters
    ----------
    loader : torch.utils.data.DataLoader
        The training loader (a new pass reshuffles, as the next epoch would).

    Attributes
    ----------
    passes : int
        Passes begun so far (1 after the first batch).
    """

    def __init__(self, loader: DataLoader[Any]) -> None:
        self.loader = loader
        self.passes = 0
        self._iterator: Any = None

    def next(self) -> Batch:
        """The next batch; the loader's iterator is made anew when it is exhausted."""
        if self._iterator is not None:
            try:
                batch: Batch = next(self._iterator)
                return batch
            except StopIteration:
                pass
        self._iterator = iter(self.loader)
        self.passes += 1
        batch = next(self._iterator)
        return batch


def forward_losses(model: nn.Module, batch: Batch) -> list[torch.Tensor]:
    """The two task losses of ``batch``, as the training computes and checks them.

    Raises
    ------
    ValueError
        If a loss is not finite (the training stops there too).
    """
    losses = task_losses(model, batch)
    if not all(bool(torch.isfinite(loss)) for loss in losses):
        raise ValueError("a training loss became non-finite")
    return losses


class Runner:
    """One method as the training runs it: model, method, Adam optimiser and batches.

    Parameters
    ----------
    name : str
        One of :data:`gabalab.experiments.trained.METHODS`.
    split : gabalab.data.SplitData
        The training and validation windows (float32).
    batch_size : int
        Windows per batch.
    seed : int
        Seed of the model's weights and of the loader's shuffling.

    Attributes
    ----------
    phase_s : list of tuple of float
        Per step run, the seconds of each of :data:`PHASES`.
    """

    def __init__(self, name: str, split: SplitData, batch_size: int, seed: int) -> None:
        protocol = Protocol(batch_size=batch_size)
        dtype = getattr(torch, protocol.dtype)
        self.name = name
        self.model = DualTaskModel(**dict(protocol.model_kwargs), seed=seed).to(dtype)
        self.method, self.detail = make_method(name, self.model, split, protocol, seed)
        params = list(self.model.parameters())
        if isinstance(self.method, nn.Module):
            self.method.to(dtype)
            params += list(self.method.parameters())
        self.optimizer = torch.optim.Adam(params, lr=protocol.lr)
        self.source = BatchSource(make_loader(split.prepared.train, batch_size, shuffle=True,
                                              seed=seed))
        self.model.train()
        self.phase_s: list[tuple[float, float, float, float]] = []

    def step(self) -> None:
        """One training step, each phase timed (appended to :attr:`phase_s`)."""
        t0 = time.perf_counter()
        batch = self.source.next()
        t1 = time.perf_counter()
        losses = forward_losses(self.model, batch)
        t2 = time.perf_counter()
        self.method.backward(losses)
        del losses, batch  # the spent graph is freed in this phase, not when the step returns
        t3 = time.perf_counter()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        self.phase_s.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))


# ------------------------------------------------------------------------------------ data

def data_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The experiments' data options (FD001, their simulated fleet) with ours in place."""
    out = base_parser("trained", "").parse_args(["--out", os.devnull])
    out.simulated, out.data_dir = args.simulated, args.data_dir
    return out


def load_split(args: argparse.Namespace) -> tuple[SplitData, dict[str, Any]]:
    """The windows the training trains on, split as ``trained.main`` splits them.

    Returns
    -------
    SplitData
        In the protocol's dtype (float32).
    dict
        Where the data came from (with each file's SHA-256) and the split's summary.
    """
    protocol = Protocol()
    subset, description = load_subset(data_arguments(args))
    units = choose_validation_units(subset, fraction=protocol.validation_fraction,
                                    seed=protocol.split_seed)
    split = prepare_with_validation(subset, units).to(protocol.dtype)
    description.update(split.summary())
    return split, description


# ------------------------------------------------------------------------------ statistics

def rounded(value: float | None, digits: int) -> float | None:
    """``round(value, digits)``, with ``None`` (a ratio that is not defined) kept."""
    return None if value is None else round(value, digits)


def phase_stats(values_s: np.ndarray, total_s: np.ndarray) -> dict[str, Any]:
    """Median, quartiles and share of one phase's seconds, against the steps' seconds.

    The share is the phase's part of the time of all measured steps (sum over sum), so that
    the shares of the phases and of the unattributed rest add up to 1.
    """
    q25, median, q75 = harness.quartiles(values_s.tolist())
    return {"median_ms": 1e3 * median, "q25_ms": 1e3 * q25, "q75_ms": 1e3 * q75,
            "share": float(values_s.sum() / total_s.sum()),
            "times_ms": [round(1e3 * float(v), 3) for v in values_s]}


def method_row(samples: harness.Samples, name: str, phases_s: np.ndarray,
               batch_size: int, batches_per_epoch: int) -> dict[str, Any]:
    """One method's entry of a run: the step's statistics, its phases and rates.

    Parameters
    ----------
    samples : harness.Samples
        The interleaved run.
    name : str
        The method.
    phases_s : numpy.ndarray
        Shape ``(repeats, len(PHASES))``: the phases' seconds in each measured repetition.
    batch_size, batches_per_epoch : int
        For the rates.
    """
    total = np.asarray(samples.wall_s[name], dtype=float)
    if phases_s.shape != (total.size, len(PHASES)):
        raise ValueError(f"{name}: {phases_s.shape[0]} phase samples for {total.size} steps")
    row = harness.row_against(samples, name, BASELINE, suffix=f"_to_{BASELINE}")
    rest = total - phases_s.sum(axis=1)
    compute = phases_s[:, 1:].sum(axis=1)
    row["samples_per_s"] = batch_size / (row["median_ms"] / 1e3)
    row["samples_per_s_without_data"] = batch_size / float(np.median(compute))
    row["epoch_s_at_median_step"] = batches_per_epoch * row["median_ms"] / 1e3
    row["phases"] = {phase: phase_stats(phases_s[:, i], total)
                     for i, phase in enumerate(PHASES)}
    row["unattributed"] = {"median_ms": 1e3 * float(np.median(rest)),
                           "share": float(rest.sum() / total.sum()),
                           "times_ms": [round(1e3 * float(v), 3) for v in rest]}
    return row


def time_methods(runners: dict[str, Runner], batch_size: int, threads: int, warmup: int,
                 repeats: int, seed: int, n_windows: int,
                 log: Callable[[str], None]) -> dict[str, Any]:
    """Time the methods at one batch size and thread count, interleaved.

    Returns
    -------
    dict
        ``threads`` (asked), ``torch_num_threads`` (in force), ``batch_size``, ``warmup``,
        ``repeats``, ``timing_wall_s``, ``batches_per_epoch``, ``order``, ``slot_counts`` and
        ``methods``: per method :func:`method_row`.
    """
    torch.set_num_threads(threads)
    for runner in runners.values():
        runner.phase_s.clear()
    samples = harness.run_interleaved(
        [harness.Step(name, runner.step) for name, runner in runners.items()],
        warmup=warmup, repeats=repeats, seed=seed, log=log,
        label=f"batch {batch_size}, {threads} thread(s): ")
    batches = math.ceil(n_windows / batch_size)
    rows = {name: method_row(samples, name, np.asarray(runner.phase_s[warmup:], dtype=float),
                             batch_size, batches)
            for name, runner in runners.items()}
    return {"threads": threads, "torch_num_threads": torch.get_num_threads(),
            "batch_size": batch_size, "warmup": warmup, "repeats": repeats,
            "timing_wall_s": samples.timing_wall_s, "batches_per_epoch": batches,
            "passes_over_the_windows": {n: r.source.passes for n, r in runners.items()},
            "order": samples.order,
            "slot_counts": harness.slot_counts(samples.measured_order(), list(runners)),
            "methods": rows}


def profile(split: SplitData, args: argparse.Namespace,
            log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every (batch size, thread count) run of :func:`time_methods`.

    The methods are built once per batch size (with the most threads asked for) and timed
    at each thread count in turn.
    """
    runs = []
    n_windows = len(split.prepared.train)
    for batch_size, warmup, repeats in zip(args.batch_sizes, args.warmup, args.repeats):
        torch.set_num_threads(max(args.threads))
        log(f"batch size {batch_size}: building {', '.join(args.methods)}")
        runners = {name: Runner(name, split, batch_size, args.seed) for name in args.methods}
        torch.manual_seed(args.seed)  # the dropout masks, as the training seeds them
        for threads in args.threads:
            log(f"timing batch size {batch_size}, {threads} thread(s): {warmup} warm-up + "
                f"{repeats} measured repetitions")
            if repeats < harness.MIN_SAMPLES:
                log(f"  (fewer than {harness.MIN_SAMPLES} samples per method: a quick check)")
            runs.append(time_methods(runners, batch_size, threads, warmup, repeats, args.seed,
                                     n_windows, log))
    return runs


def thread_speedups(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per batch size, each thread count's samples per second over the fewest threads'."""
    out = []
    for batch_size in dict.fromkeys(run["batch_size"] for run in runs):
        mine = sorted((r for r in runs if r["batch_size"] == batch_size),
                      key=lambda r: r["threads"])
        base = mine[0]
        out.append({"batch_size": batch_size, "over_threads": base["threads"], "speedup": {
            str(run["threads"]): {name: row["samples_per_s"]
                                  / base["methods"][name]["samples_per_s"]
                                  for name, row in run["methods"].items()}
            for run in mine[1:]}})
    return out


def summary_rows(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The short form of every (threads, batch size, method): step, phases, rates, ratio."""
    out = []
    for run in runs:
        for name, row in run["methods"].items():
            out.append({
                "threads": run["threads"], "batch_size": run["batch_size"], "method": name,
                "median_ms": round(row["median_ms"], 2), "q25_ms": round(row["q25_ms"], 2),
                "q75_ms": round(row["q75_ms"], 2),
                "samples_per_s": round(row["samples_per_s"], 2),
                "samples_per_s_without_data": round(row["samples_per_s_without_data"], 2),
                f"paired_ratio_to_{BASELINE}": rounded(row[f"paired_ratio_to_{BASELINE}"], 3),
                f"cpu_paired_ratio_to_{BASELINE}":
                    rounded(row[f"cpu_paired_ratio_to_{BASELINE}"], 3),
                "epoch_s_at_median_step": round(row["epoch_s_at_median_step"], 1),
                "phases": {phase: {"median_ms": round(stats["median_ms"], 3),
                                   "share": round(stats["share"], 4)}
                           for phase, stats in row["phases"].items()},
                "unattributed_share": round(row["unattributed"]["share"], 5),
            })
    return out


# ------------------------------------------------------------------- the two-core processes

def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run as a fresh process: time ``sum`` for ``--process-steps`` steps.

    Builds everything, prints ``{"ready": ...}`` on standard output, waits for ``go`` on
    standard input (so that the processes of a group start together), runs the warm-up steps
    and then the timed ones.

    Returns
    -------
    dict
        ``pid``, ``threads``, ``batch_size``, ``steps``, ``wall_s`` and ``cpu_s`` of the timed
        steps, ``samples_per_s`` (batch size x steps / wall seconds), ``start_unix`` and
        ``end_unix`` (wall clock), the median and quartiles of a step and each phase's median.
    """
    torch.set_num_threads(args.worker)
    split, _ = load_split(args)
    runner = Runner(BASELINE, split, args.process_batch_size, args.seed)
    torch.manual_seed(args.seed)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("epoch_profile.py: the worker was not told to go")
    for _ in range(args.process_warmup):
        runner.step()
    runner.phase_s.clear()
    start_unix, wall, cpu = time.time(), time.perf_counter(), time.process_time()
    for _ in range(args.process_steps):
        runner.step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    phases = np.asarray(runner.phase_s, dtype=float)
    q25, median, q75 = harness.quartiles(phases.sum(axis=1).tolist())
    return {"pid": os.getpid(), "threads": torch.get_num_threads(),
            "batch_size": args.process_batch_size, "steps": args.process_steps,
            "wall_s": wall, "cpu_s": cpu,
            "samples_per_s": args.process_batch_size * args.process_steps / wall,
            "start_unix": start_unix, "end_unix": start_unix + wall,
            "median_ms": 1e3 * median, "q25_ms": 1e3 * q25, "q75_ms": 1e3 * q75,
            "phase_median_ms": {p: 1e3 * float(np.median(phases[:, i]))
                                for i, p in enumerate(PHASES)}}


@dataclass
class Worker:
    """A worker process started by :func:`two_cores` and its standard error's file."""

    threads: int
    proc: subprocess.Popen[str]
    stderr: IO[str]

    def failure(self, what: str) -> RuntimeError:
        """An error naming the worker and the end of its standard error."""
        self.stderr.seek(0)
        tail = " | ".join(self.stderr.read().strip().splitlines()[-3:])
        return RuntimeError(f"worker of {self.threads} thread(s) {what}: {tail}")

    def stop(self) -> None:
        """End the process if it still runs (a group left waiting after a failure)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def worker_command(args: argparse.Namespace, threads: int) -> list[str]:
    """The command line of a worker of ``threads`` threads (same data, seed and steps)."""
    source = ["--simulated"] if args.simulated else (
        ["--data-dir", args.data_dir] if args.data_dir else [])
    return [sys.executable, str(Path(__file__).resolve()), "--worker", str(threads), *source,
            "--seed", str(args.seed), "--process-batch-size", str(args.process_batch_size),
            "--process-steps", str(args.process_steps),
            "--process-warmup", str(args.process_warmup)]


@contextmanager
def started_worker(args: argparse.Namespace, threads: int) -> Iterator[Worker]:
    """One worker process; on leaving, it is ended if it still runs and its files closed."""
    with tempfile.TemporaryFile("w+") as stderr, subprocess.Popen(
            worker_command(args, threads), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, text=True) as proc:
        worker = Worker(threads, proc, stderr)
        try:
            yield worker
        finally:
            worker.stop()


def await_ready(worker: Worker) -> None:
    """Read the worker's ``ready`` line; a worker that ended instead is an error."""
    assert worker.proc.stdout is not None
    line = worker.proc.stdout.readline()
    if not line.strip().startswith('{"ready"'):
        worker.proc.wait()
        raise worker.failure(f"did not start (exit status {worker.proc.returncode})")


def release(group: Sequence[Worker]) -> list[dict[str, Any]]:
    """Tell every worker of ``group`` to go at once, and collect their results."""
    for worker in group:
        assert worker.proc.stdin is not None
        worker.proc.stdin.write("go\n")
        worker.proc.stdin.flush()
    results = []
    for worker in group:
        assert worker.proc.stdin is not None and worker.proc.stdout is not None
        worker.proc.stdin.close()
        lines = worker.proc.stdout.read().strip().splitlines()
        if worker.proc.wait() != 0 or not lines:
            raise worker.failure(f"failed (exit status {worker.proc.returncode})")
        results.append(json.loads(lines[-1]))
    return results


def group_entry(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A group's processes, their samples per second added, and how long they overlapped."""
    overlap = (min(r["end_unix"] for r in results) - max(r["start_unix"] for r in results))
    return {"processes": list(results),
            "samples_per_s": sum(r["samples_per_s"] for r in results),
            "overlap_s": overlap,
            "overlap_share": overlap / max(r["wall_s"] for r in results)}


def two_cores(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """What the two cores do side by side: fresh processes timing ``sum``.

    Every worker is started (and builds its model) first; then the groups of
    :data:`PROCESS_GROUPS` run in turn, the processes of a group at the same time.

    Returns
    -------
    dict
        ``method``, ``batch_size``, ``steps``, ``warmup_steps``; per group its processes,
        their summed ``samples_per_s`` and overlap; and the ratios
        ``two_processes_over_one_thread``, ``two_threads_over_one_thread`` and
        ``two_processes_over_two_threads`` of samples per second.
    """
    log(f"two cores: {sum(len(t) for _, t in PROCESS_GROUPS)} fresh processes, "
        f"{args.process_warmup} + {args.process_steps} steps of {BASELINE} at batch "
        f"{args.process_batch_size}")
    groups = {}
    with ExitStack() as stack:
        workers = {name: [stack.enter_context(started_worker(args, t)) for t in threads]
                   for name, threads in PROCESS_GROUPS}
        for group in workers.values():
            for w in group:
                await_ready(w)
        for name, group in workers.items():
            groups[name] = group_entry(release(group))
            log(f"  {name}: {groups[name]['samples_per_s']:.1f} samples/s")
    rate = {name: entry["samples_per_s"] for name, entry in groups.items()}
    return {"method": BASELINE, "batch_size": args.process_batch_size,
            "steps": args.process_steps, "warmup_steps": args.process_warmup, **groups,
            "two_processes_over_one_thread":
                rate["two_processes_1_thread"] / rate["one_process_1_thread"],
            "two_threads_over_one_thread":
                rate["one_process_2_threads"] / rate["one_process_1_thread"],
            "two_processes_over_two_threads":
                rate["two_processes_1_thread"] / rate["one_process_2_threads"]}


def two_cores_summary(block: dict[str, Any]) -> dict[str, Any]:
    """The short form of :func:`two_cores`'s block."""
    out: dict[str, Any] = {key: block[key] for key in ("method", "batch_size", "steps")}
    for name, _ in PROCESS_GROUPS:
        out[f"{name}_samples_per_s"] = round(block[name]["samples_per_s"], 2)
    for key in ("two_processes_over_one_thread", "two_threads_over_one_thread",
                "two_processes_over_two_threads"):
        out[key] = round(block[key], 3)
    out["two_processes_overlap_share"] = round(
        block["two_processes_1_thread"]["overlap_share"], 3)
    return out


# --------------------------------------------------------------------------- command line

def int_list(parser: argparse.ArgumentParser, option: str, values: Sequence[str],
             minimum: int) -> list[int]:
    """Integers given as ``32,128`` or ``32 128``, each ``>= minimum`` and none twice."""
    out = []
    for text in values:
        for item in text.split(","):
            try:
                value = int(item.strip())
            except ValueError:
                parser.error(f"{option} expects integers, got {item.strip()!r}")
            out.append(require_int(parser, option, value, minimum))
    if len(set(out)) != len(out):
        parser.error(f"{option} names a value twice: {' '.join(map(str, out))}")
    return out


def method_list(parser: argparse.ArgumentParser, values: Sequence[str]) -> list[str]:
    """``--methods``: names of :data:`METHODS` (``sum`` required, none twice)."""
    out = [item.strip() for text in values for item in text.split(",") if item.strip()]
    for name in out:
        if name not in METHODS:
            parser.error(f"--methods: {name!r} is not one of {', '.join(METHODS)}")
    if BASELINE not in out:
        parser.error(f"--methods must include {BASELINE} (the reference for ratios)")
    if len(set(out)) != len(out):
        parser.error(f"--methods names a method twice: {' '.join(out)}")
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad argument ends the script at once.

    Every check runs before any data is read: one line on standard error that names the
    option, and exit status 2.
    """
    parser = OneLineErrorParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="results/benchmarks/epoch_profile.json")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", default=None,
                        help="folder of the FD001 files (default: $GABALAB_CMAPSS_DIR, then "
                             "~/.cache/gabalab/cmapss)")
    source.add_argument("--simulated", action="store_true",
                        help="the experiments' simulated fleet instead of FD001")
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help=f"methods to time ({','.join(METHODS)}; {BASELINE} is required)")
    parser.add_argument("--batch-sizes", nargs="+", default=["32,128"])
    parser.add_argument("--threads", nargs="+", default=["1,2"],
                        help="torch thread counts, each timed in turn (default 1,2)")
    parser.add_argument("--warmup", type=int, nargs="+", default=[4],
                        help="discarded repetitions, one value per batch size (or one for all)")
    parser.add_argument("--repeats", type=int, nargs="+", default=[32],
                        help="measured repetitions, one value per batch size (or one for all)")
    parser.add_argument("--process-batch-size", type=int, default=32,
                        help="batch size of the two-core processes (32)")
    parser.add_argument("--process-steps", type=int, default=100,
                        help="timed steps of each two-core process (100)")
    parser.add_argument("--process-warmup", type=int, default=10,
                        help="discarded steps of each two-core process (10)")
    parser.add_argument("--seed", type=int, default=0,
                        help="weights, shuffling, dropout and orders (0)")
    parser.add_argument("--note", default="", help="free text stored in the provenance")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    harness.check_ints(parser, args, {"--process-batch-size": 1, "--process-steps": 1,
                                      "--process-warmup": 0, "--seed": 0})
    if args.worker is not None:
        require_int(parser, "--worker", args.worker, 1)
    else:
        args.methods = method_list(parser, args.methods)
        args.batch_sizes = int_list(parser, "--batch-sizes", args.batch_sizes, 1)
        args.threads = int_list(parser, "--threads", args.threads, 1)
        n_sizes = len(args.batch_sizes)
        args.warmup = harness.per_size(parser, "--warmup", args.warmup, n_sizes, 0)
        args.repeats = harness.per_size(parser, "--repeats", args.repeats, n_sizes, 1)
    data = data_arguments(args)
    check_data_files(data, parser)
    if args.worker is None:
        check_out(args, parser)
    return args


# ---------------------------------------------------------------------------------- output

def table(runs: Sequence[dict[str, Any]], speedups: Sequence[dict[str, Any]],
          cores: dict[str, Any]) -> list[str]:
    """The result as compact text lines, for standard output."""
    short = {"data": "data", "forward": "fwd", "backward": "bwd", "optimizer": "opt"}
    head = (f"{'thr':>3s} {'batch':>5s} {'method':11s} {'step ms':>8s} {'q25-q75':>13s} "
            + " ".join(f"{short[p]:>7s}" for p in PHASES) + f" {'smp/s':>7s} {'x sum':>5s}")
    lines = ["median ms per step and phase (paired ratio of the step to sum's)", head]
    for run in runs:
        for name, row in run["methods"].items():
            spread = f"{row['q25_ms']:.1f}-{row['q75_ms']:.1f}"
            lines.append(
                f"{run['threads']:3d} {run['batch_size']:5d} {name:11s} "
                f"{row['median_ms']:8.1f} {spread:>13s} "
                + " ".join(f"{row['phases'][p]['median_ms']:7.1f}" for p in PHASES)
                + f" {row['samples_per_s']:7.1f} "
                f"{harness.shown(row[f'paired_ratio_to_{BASELINE}']):>5s}")
    for entry in speedups:
        for threads, ratios in entry["speedup"].items():
            lines.append(f"batch {entry['batch_size']}: {threads} threads over "
                         f"{entry['over_threads']}: " + ", ".join(
                             f"{name} x{value:.2f}" for name, value in ratios.items()))
    lines.append(f"two cores ({cores['method']}, batch {cores['batch_size']}, "
                 f"{cores['steps']} steps), samples/s: two 1-thread processes "
                 f"{cores['two_processes_1_thread']['samples_per_s']:.1f}, one 2-thread "
                 f"process {cores['one_process_2_threads']['samples_per_s']:.1f}, one "
                 f"1-thread process {cores['one_process_1_thread']['samples_per_s']:.1f}")
    return lines


def protocol_block(args: argparse.Namespace) -> dict[str, Any]:
    """The ``protocol`` entry of the JSON: how every number was taken."""
    return {
        "step": "one training step per timed sample, in phases timed with perf_counter: "
                "data (next batch of the shuffled loader, a new pass begun when one is "
                "exhausted), forward (model forward, mse_loss and cross_entropy with the "
                "training's target and finiteness checks), backward (the method's "
                "backward(losses), writing .grad, then the spent graph and batch freed), "
                "optimizer (Adam step and zero_grad); "
                "unattributed = the harness's step time minus the phases (timer overhead)",
        "timing": harness.protocol_text(BASELINE)
                  + f"; paired_ratio_to_{BASELINE} and cpu_paired_ratio_to_{BASELINE} are "
                    "paired ratios, ratio_to_sum and cpu_ratio_to_sum ratios of medians",
        "rates": "samples_per_s = batch size / median step; samples_per_s_without_data = "
                 "batch size / median of forward + backward + optimizer (what the training "
                 "runs' compute.samples_per_s counts); epoch_s_at_median_step = batches per "
                 "epoch x median step; phase share = the phase's seconds over the steps' "
                 "seconds, all measured repetitions together",
        "threads": "torch.set_num_threads in this process, each thread count timed in turn "
                   "on the same models (built once per batch size); speedup = samples per "
                   "second at a thread count over that at the fewest threads",
        "two_cores": "fresh processes of this script (hidden --worker), each timing "
                     f"{BASELINE} at batch {args.process_batch_size} for "
                     f"{args.process_steps} steps after {args.process_warmup} discarded "
                     "ones, all built first and then released by group: two processes of 1 "
                     "thread at the same time (samples per second added), one process of 2 "
                     "threads alone, one process of 1 thread alone",
        "left_out": "the per-epoch evaluation, the learning-rate schedule and the norm "
                    "measurements of the methods that do not measure (left out of the "
                    "training's own step time as well)",
        "min_samples_by_default": harness.MIN_SAMPLES,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the profile (or, with ``--worker``, one two-core process) and write its JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args)), flush=True)
        return {}
    log = harness.log
    started = harness.start()
    split, description = load_split(args)
    log(f"{description['source']} {description['subset']}: {len(split.prepared.train)} "
        "training windows")
    runs = profile(split, args, log)
    cores = two_cores(args, log)
    speedups = thread_speedups(runs)
    model = DualTaskModel(seed=args.seed)
    payload = {
        "benchmark": "epoch_profile",
        "model": {"class": "DualTaskModel", "config": model.config,
                  "parameter_counts": parameter_counts(model)},
        "training": {"protocol": Protocol().to_dict(), "methods": list(args.methods),
                     "fixed_weights": "chosen by make_method at each batch size"},
        "data": description,
        "protocol": protocol_block(args),
        "summary": {"n_train_windows": len(split.prepared.train),
                    "rows": summary_rows(runs), "thread_speedup": speedups,
                    "two_cores": two_cores_summary(cores)},
        "runs": runs,
        "two_cores": cores,
        "provenance": harness.benchmark_provenance(
            "epoch_profile", argv, args.seed, started,
            data_files_sha256=dict(description.get("files_sha256", {})),
            torch_threads_profiled=list(args.threads), note=args.note),
    }
    out = harness.write_result(args.out, payload)
    print("\n".join(table(runs, speedups, cores)), flush=True)
    log(f"wrote {out} ({time.perf_counter() - started.perf:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
