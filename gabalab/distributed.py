"""Exact GABA across processes: averaged per-task gradients, agreed decisions, guards.

Under data parallelism every rank (process) computes the task gradients of its own shard of
the batch, and the optimiser applies their average. GABA's norms must be the norms of that
average. They are not the average of the ranks' own norms: for rank gradients ``g_r`` with
mean ``g``,

    (1/R) sum_r ||g_r||^2 = ||g||^2 + (1/R) sum_r ||g_r - g||^2,

so local norms overstate the norm of the applied gradient by the spread between ranks, and
weights computed from them change with the number of ranks. :class:`gabalab.gaba.GabaBalancer`
therefore averages each task's gradient across the ranks before it measures anything. This
module holds the pieces it uses, each usable alone:

* :func:`norm_spread` is the NumPy reference of the identity above, for a set of shard
  gradients, and :func:`shard_gradients` makes such a set from one batch of the dual-task
  model, split as ranks would split it;
* :func:`active_group` decides whether a step is distributed at all;
* :func:`agree` is one small all-reduce through which the ranks compare what they are about
  to do (the balancer's options and state, parameter layout, replica checksum, errors,
  non-finite values), so that every rank takes the same decision: all step, all skip, or all
  raise;
* every collective here takes a ``timeout_s``: a peer that stops answering makes the call
  raise :class:`CollectiveTimeoutError`, naming the collective, after that many seconds
  (``None``: the process group's own timeout);
* :func:`sum_over_ranks` and :func:`mean_over_ranks` add a few numbers, or average a small
  tensor, over the ranks (the representation sensor's statistics);
* :func:`average_task_gradients` averages every task's gradients in a few flat, bucketed
  all-reduces and counts the bytes it sends;
* :func:`check_replicated_parameters` and :func:`unwrap_model` refuse setups that cannot be
  exact (FSDP's and tensor parallelism's sharded parameters), and :func:`uses_static_graph`
  finds a DDP static graph, which the cheaper sensors' ``backward()`` cannot share;
* :func:`broadcast_parameters` makes unwrapped replicas equal, and :func:`spawn_local` runs a
  function in a few local processes joined by a ``gloo`` group (tests, examples, benchmarks).

Communication: a plain data-parallel step all-reduces every gradient once, ``P_s + P_h``
values (shared and head parameters). The exact GABA step all-reduces each task's gradient on
the shared parameters and each head's gradient, ``K * P_s + P_h`` values for K tasks with
disjoint heads, plus two small messages: about K times a plain step's traffic on the trunk.
:func:`scale_costs` reads what ``benchmarks/gaba_scale.py`` measured of it, and of the time.
"""

from __future__ import annotations

import datetime
import math
import multiprocessing
import pickle
import queue
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed import TCPStore  # type: ignore[attr-defined]

from gabalab._checks import (
    as_array,
    as_list,
    check_choice,
    check_int,
    check_real,
    check_task_targets,
    check_tensor,
)
from gabalab.norms import DEFAULT_HEADS, shared_parameters

__all__ = [
    "RemoteRankError",
    "CollectiveTimeoutError",
    "check_timeout",
    "CommStats",
    "NormSpread",
    "norm_spread",
    "shard_gradients",
    "ScaleCosts",
    "scale_costs",
    "active_group",
    "check_process_group",
    "agree",
    "sum_over_ranks",
    "mean_over_ranks",
    "gather_messages",
    "average_task_gradients",
    "check_replicated_parameters",
    "unwrap_model",
    "uses_static_graph",
    "broadcast_parameters",
    "spawn_local",
]

#: One task's gradients, one entry per parameter (``None`` where the task does not reach it).
TaskGrads = Sequence[torch.Tensor | None]

#: Bytes per bucket of the gradient all-reduce unless told otherwise (as DDP's default).
DEFAULT_BUCKET_CAP_MB = 25.0


class RemoteRankError(RuntimeError):
    """Raised on every other rank when one rank's part of a step failed.

    The failing rank raises its own exception; the others raise this one, with that rank's
    message, so that no rank is left waiting in a collective the failing rank never joins.
    """


class CollectiveTimeoutError(RuntimeError):
    """Raised when a collective waited longer than the caller's ``timeout_s`` for its peers.

    The message names the collective that waited. A peer that stopped answering (crashed,
    hung, or never called the step) leaves the process group unusable: destroy it and
    restart the ranks from a checkpoint.
    """


def check_timeout(timeout_s: Any, name: str = "timeout_s") -> float | None:
    """Validate a collective timeout: ``None`` (the process group's own) or seconds > 0.

    Examples
    --------
    >>> check_timeout(None), check_timeout(30)
    (None, 30.0)
    """
    if timeout_s is None:
        return None
    return check_real(name, timeout_s, positive=True)


def _run_collective(start: Callable[[bool], Any], group: Any, timeout_s: float | None,
                    what: str) -> None:
    """Run one collective, waiting at most ``timeout_s`` seconds (``None``: the group's)."""
    if timeout_s is None:
        start(False)
        return
    work = start(True)
    try:
        finished = work.wait(timeout=datetime.timedelta(seconds=timeout_s))
    except RuntimeError as err:
        if "timed out" not in str(err).lower() and "timeout" not in str(err).lower():
            raise
        finished = False
    if finished is False:
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        raise CollectiveTimeoutError(
            f"rank {rank} of {world} waited more than {timeout_s:g} s in {what}: another rank "
            "stopped answering (it crashed, hangs, or did not call the same step); the process "
            "group cannot be used after this, restart the ranks from a checkpoint") from None


@dataclass(frozen=True)
class CommStats:
    """What one step sent through the process group.

    Attributes
    ----------
    calls : int
        Number of all-reduce (and all-gather) calls.
    bytes : int
        Bytes of the tensors handed to those calls by this rank (payload only; the network
        traffic of a ring all-reduce is about twice this, for any algorithm the same factor
        as for a plain step).
    """

    calls: int = 0
    bytes: int = 0

    def __add__(self, other: CommStats) -> CommStats:
        return CommStats(self.calls + other.calls, self.bytes + other.bytes)


@dataclass(frozen=True)
class NormSpread:
    """One task's shard gradients ``g_1 .. g_R`` and their mean ``g``, summarised.

    ``mean_square_local = square_of_mean + spread`` holds exactly in real arithmetic.

    Attributes
    ----------
    n_shards : int
        R, the number of ranks or micro-batches.
    mean_square_local : float
        ``(1/R) sum_r ||g_r||^2``: what averaging the ranks' squared norms reports.
    square_of_mean : float
        ``||g||^2``: the squared norm of the gradient the optimiser applies.
    spread : float
        ``(1/R) sum_r ||g_r - g||^2``: how far the shards scatter around their mean.
    mean_local_norm : float
        ``(1/R) sum_r ||g_r||``: what averaging the ranks' norms reports; between
        ``norm_of_mean`` and ``sqrt(mean_square_local)``.
    norm_of_mean : float
        ``||g||``.
    """

    n_shards: int
    mean_square_local: float
    square_of_mean: float
    spread: float
    mean_local_norm: float
    norm_of_mean: float

    @property
    def excess(self) -> float:
        """``spread / square_of_mean``: how much the local view overstates ``||g||^2``."""
        return self.spread / self.square_of_mean if self.square_of_mean else math.inf


def norm_spread(gradients: Any) -> NormSpread:
    """Decompose the shards' mean squared norm into the averaged gradient's and the spread.

    The NumPy reference of the identity ``(1/R) sum_r ||g_r||^2 = ||g||^2 + (1/R) sum_r
    ||g_r - g||^2`` that makes local norms overstate the norm of the averaged gradient.

    Parameters
    ----------
    gradients : array_like, shape (R, P)
        One flattened gradient per shard (rank or micro-batch), R >= 1, all finite.

    Returns
    -------
    NormSpread

    Raises
    ------
    TypeError
        If ``gradients`` is not a numeric array.
    ValueError
        If ``gradients`` is not two-dimensional, has no shard or no entry, or holds NaN
        or inf.

    Examples
    --------
    >>> out = norm_spread([[3.0, 0.0], [1.0, 0.0]])
    >>> out.mean_square_local, out.square_of_mean, out.spread
    (5.0, 4.0, 1.0)
    >>> out.mean_local_norm, out.norm_of_mean
    (2.0, 2.0)
    """
    g = as_array("gradients", gradients, finite=False)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise ValueError(f"gradients must have shape (R, P) with R, P >= 1, got {g.shape}")
    g = as_array("gradients", g)
    mean = g.mean(axis=0)
    local = np.einsum("rp,rp->r", g, g)
    deviations = g - mean
    return NormSpread(
        n_shards=int(g.shape[0]),
        mean_square_local=math.fsum(local) / g.shape[0],
        square_of_mean=float(mean @ mean),
        spread=math.fsum(np.einsum("rp,rp->r", deviations, deviations)) / g.shape[0],
        mean_local_norm=math.fsum(np.sqrt(local)) / g.shape[0],
        norm_of_mean=float(np.sqrt(mean @ mean)),
    )


def shard_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y_rul: torch.Tensor,
    y_health: torch.Tensor,
    n_shards: int,
    *,
    heads: Sequence[str] = DEFAULT_HEADS,
) -> list[np.ndarray]:
    """Each shard's gradient of each task on the shared parameters, flattened, for NumPy.

    The batch is split into ``n_shards`` equal consecutive shards, as that many ranks (or
    micro-batches) would split it; on each shard the dual-task model runs one forward pass,
    and each task's mean loss (MSE for RUL, cross-entropy for health) is differentiated
    with respect to the parameters outside ``heads``. The model is not changed and no
    ``.grad`` is touched.

    Parameters
    ----------
    model : torch.nn.Module
        A dual-task model: ``model(x)`` returns ``(rul, logits)``.
    x : torch.Tensor
        The batch of inputs, its first axis the samples.
    y_rul, y_health : torch.Tensor
        The batch's RUL targets (the predictions' shape) and health labels (1-D integers).
    n_shards : int
        Shards, >= 1, dividing the batch evenly.
    heads : sequence of str
        Names of the head modules (as :func:`gabalab.norms.shared_parameters`).

    Returns
    -------
    list of numpy.ndarray
        ``[rul, health]``, each of shape ``(n_shards, P)`` in float64; a shared parameter a
        task does not reach contributes zeros.

    Raises
    ------
    TypeError
        If ``model`` is not a module or a batch argument not a tensor of the right kind.
    ValueError
        If ``n_shards`` < 1 or does not divide the batch, or the targets do not fit the
        model's outputs.

    Examples
    --------
    >>> from gabalab.models import TinyDualHead
    >>> gen = torch.Generator().manual_seed(0)
    >>> x = torch.rand(4, 14, generator=gen)
    >>> model = TinyDualHead(seed=0)
    >>> rul, health = shard_gradients(model, x, torch.full((4,), 50.0),
    ...                               torch.tensor([0, 1, 2, 0]), 2)
    >>> rul.shape == health.shape == (2, sum(
    ...     p.numel() for p in shared_parameters(model)))
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_tensor("x", x, ndim=(2, 3), floating=True)
    n_shards = check_int("n_shards", n_shards, minimum=1)
    if x.shape[0] % n_shards:
        raise ValueError(f"n_shards must divide the batch of {x.shape[0]} evenly, got "
                         f"{n_shards}")
    for name, value in (("y_rul", y_rul), ("y_health", y_health)):
        check_tensor(name, value)
        if value.shape[:1] != x.shape[:1]:
            raise ValueError(f"{name} must hold one target per sample of x ({x.shape[0]}), "
                             f"got shape {tuple(value.shape)}")
    shared = shared_parameters(model, heads)
    size = x.shape[0] // n_shards
    per_task: list[list[np.ndarray]] = [[], []]
    for r in range(n_shards):
        part = slice(r * size, (r + 1) * size)
        rul, logits = model(x[part])
        check_task_targets(rul, logits, y_rul[part], y_health[part])
        losses = [F.mse_loss(rul, y_rul[part]), F.cross_entropy(logits, y_health[part])]
        for task, loss in enumerate(losses):
            grads = torch.autograd.grad(loss, shared, retain_graph=task == 0,
                                        allow_unused=True)
            flat = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                              for g, p in zip(grads, shared)])
            per_task[task].append(flat.detach().double().numpy())
    return [np.stack(rows) for rows in per_task]


@dataclass(frozen=True)
class ScaleCosts:
    """What an exact GABA step costs under DDP, from ``benchmarks/gaba_scale.py``'s result.

    Built by :func:`scale_costs`.

    Attributes
    ----------
    setup : dict
        The benchmark's ``setup``: ranks, backend, windows per rank, micro-batches, AMP,
        warm-up and measured repetitions.
    date : str
        When it ran (UTC, ISO 8601).
    median_ms : dict of str to float
        Per variant, the median time of a step (ms; a step's time is the slowest rank's).
    ratios : dict of str to tuple of float
        Per pair ``"a/b"``, the ratio of the medians and the median of the paired ratios.
    plain_bytes : int
        Bytes DDP's reducer all-reduces in a plain step.
    gaba_bytes : int
        Bytes the balancer all-reduces in a GABA step.
    measured_ratio : float
        ``gaba_bytes / plain_bytes``.
    predicted_ratio : float
        ``(K P_s + P_h) / (P_s + P_h)``.
    """

    setup: dict[str, Any]
    date: str
    median_ms: dict[str, float]
    ratios: dict[str, tuple[float, float]]
    plain_bytes: int
    gaba_bytes: int
    measured_ratio: float
    predicted_ratio: float

    def paired(self, pair: str) -> float:
        """The median paired ratio of ``pair`` (such as ``"gaba/plain"``).

        Raises
        ------
        ValueError
            If the benchmark has no such pair.
        """
        if pair not in self.ratios:
            raise ValueError(f"pair must be one of {sorted(self.ratios)}, got {pair!r}")
        return self.ratios[pair][1]

    def table(self) -> str:
        """The setup, the median step times, the ratios and the bytes (76 columns at most)."""
        s = self.setup
        lines = [f"{s['world_size']} ranks ({s['backend']}), {s['batch_size_per_rank']} "
                 f"windows per rank, {s['micro_batches']} micro-batches,",
                 f"AMP: {s['amp']}, {s['warmup']} + {s['repeats']} repetitions"]
        lines += [f"{name:12s} median {ms:7.1f} ms" for name, ms in self.median_ms.items()]
        lines += [f"{name:24s} ratio of medians {of_medians:.2f}, paired {paired:.2f}"
                  for name, (of_medians, paired) in self.ratios.items()]
        lines += [f"bytes per step: plain {self.plain_bytes:,}, GABA {self.gaba_bytes:,}",
                  f"  x{self.measured_ratio:.3f} (predicted x{self.predicted_ratio:.3f})"]
        return "\n".join(lines)

    def quotes(self) -> dict[str, str]:
        """The numbers a page quotes, formatted (keys without a prefix).

        ``gaba``, ``accum``, ``amp``, ``local``: paired ratios of a GABA step to its plain
        step (``local``: on a one-rank group, no averaging); ``comm``: what the averaging adds
        to ``local`` (percent); ``ratio``: bytes, GABA over plain; ``mb``, ``plain_mb``:
        MiB per step; ``date``.
        """
        return {"gaba": f"{self.paired('gaba/plain'):.2f}",
                "accum": f"{self.paired('gaba_accum/plain_accum'):.2f}",
                "amp": f"{self.paired('gaba_amp/plain_amp'):.2f}",
                "local": f"{self.paired('gaba_local/plain'):.2f}",
                "comm": f"{self.paired('gaba/gaba_local') - 1:.0%}",
                "ratio": f"{self.measured_ratio:.3f}",
                "mb": f"{self.gaba_bytes / 2**20:.1f}",
                "plain_mb": f"{self.plain_bytes / 2**20:.1f}",
                "date": self.date[:10]}


def _mapping(name: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
    return value


def _field(name: str, value: Any, key: str) -> Any:
    value = _mapping(name, value)
    if key not in value:
        raise ValueError(f"{name} has no entry {key!r} (it holds {sorted(map(str, value))})")
    return value[key]


def scale_costs(benchmark: Mapping[str, Any]) -> ScaleCosts:
    """Read the stored result of ``benchmarks/gaba_scale.py`` into a :class:`ScaleCosts`.

    Parameters
    ----------
    benchmark : mapping
        The stored result (``results/benchmarks/gaba_scale.json``, parsed): its
        ``setup``, ``summary`` (``variants`` with ``median_ms``, ``ratios`` with
        ``ratio_of_medians`` and ``paired_ratio``), ``bytes_per_step`` and
        ``provenance['date_utc']``.

    Returns
    -------
    ScaleCosts

    Raises
    ------
    TypeError
        If ``benchmark`` or an entry read from it is not a mapping, or a number not real.
    ValueError
        If an entry is missing, a number not finite and positive, or one of the pairs
        ``gaba/plain``, ``gaba_local/plain``, ``gaba/gaba_local``,
        ``gaba_accum/plain_accum``, ``gaba_amp/plain_amp`` is absent.

    Examples
    --------
    >>> pairs = ("gaba/plain", "gaba_local/plain", "gaba/gaba_local",
    ...          "gaba_accum/plain_accum", "gaba_amp/plain_amp")
    >>> ratios = {p: {"ratio_of_medians": 1.5, "paired_ratio": 1.6}
    ...           for p in pairs}
    >>> plain = {"plain": {"median_ms": 10.0}}
    >>> bench = {"setup": {},
    ...          "provenance": {"date_utc": "2026-01-02T03"},
    ...          "summary": {"variants": plain, "ratios": ratios},
    ...          "bytes_per_step": {"per_variant": {
    ...              "plain": {"ddp_reducer_bytes": 100},
    ...              "gaba": {"balancer_bytes": 200}},
    ...              "measured_ratio": 2.0, "predicted_ratio": 2.0}}
    >>> costs = scale_costs(bench)
    >>> costs.paired("gaba/plain"), costs.quotes()["comm"]
    (1.6, '60%')
    """
    setup = _mapping("benchmark['setup']", _field("benchmark", benchmark, "setup"))
    date = _field("benchmark['provenance']", _field("benchmark", benchmark, "provenance"),
                  "date_utc")
    if not isinstance(date, str):
        raise TypeError(f"benchmark['provenance']['date_utc'] must be a string, got "
                        f"{type(date).__name__}")
    summary = _field("benchmark", benchmark, "summary")
    variants = _mapping("benchmark['summary']['variants']",
                        _field("benchmark['summary']", summary, "variants"))
    median_ms = {}
    for variant, row in variants.items():
        name = f"benchmark['summary']['variants'][{variant!r}]"
        median_ms[str(variant)] = check_real(f"{name}['median_ms']",
                                             _field(name, row, "median_ms"), positive=True)
    ratios = _mapping("benchmark['summary']['ratios']",
                      _field("benchmark['summary']", summary, "ratios"))
    pairs = {}
    for pair, row in ratios.items():
        name = f"benchmark['summary']['ratios'][{pair!r}]"
        pairs[str(pair)] = tuple(check_real(f"{name}[{key!r}]", _field(name, row, key),
                                            positive=True)
                                 for key in ("ratio_of_medians", "paired_ratio"))
    for pair in ("gaba/plain", "gaba_local/plain", "gaba/gaba_local", "gaba_accum/plain_accum",
                 "gaba_amp/plain_amp"):
        if pair not in pairs:
            raise ValueError(f"benchmark['summary']['ratios'] has no pair {pair!r}")
    traffic = _field("benchmark", benchmark, "bytes_per_step")
    per_variant = _field("benchmark['bytes_per_step']", traffic, "per_variant")
    where = "benchmark['bytes_per_step']['per_variant']"
    plain = check_int(f"{where}['plain']['ddp_reducer_bytes']", _field(
        f"{where}['plain']", _field(where, per_variant, "plain"), "ddp_reducer_bytes"),
        minimum=1)
    gaba = check_int(f"{where}['gaba']['balancer_bytes']", _field(
        f"{where}['gaba']", _field(where, per_variant, "gaba"), "balancer_bytes"), minimum=1)
    return ScaleCosts(
        setup=dict(setup), date=date, median_ms=median_ms,
        ratios=cast(dict[str, tuple[float, float]], pairs),
        plain_bytes=plain, gaba_bytes=gaba,
        measured_ratio=check_real("benchmark['bytes_per_step']['measured_ratio']", _field(
            "benchmark['bytes_per_step']", traffic, "measured_ratio"), positive=True),
        predicted_ratio=check_real("benchmark['bytes_per_step']['predicted_ratio']", _field(
            "benchmark['bytes_per_step']", traffic, "predicted_ratio"), positive=True),
    )


def check_process_group(process_group: Any) -> Any:
    """Validate a ``process_group`` argument: ``None`` or a :class:`torch.distributed.ProcessGroup`.

    Examples
    --------
    >>> check_process_group(None) is None
    True
    """
    if process_group is None:
        return None
    if not dist.is_available() or not isinstance(process_group, dist.ProcessGroup):
        raise TypeError("process_group must be None or a torch.distributed.ProcessGroup, got "
                        f"{type(process_group).__name__}")
    return process_group


def active_group(process_group: Any = None) -> Any:
    """The process group a step must average over, or ``None`` for a single-process step.

    Parameters
    ----------
    process_group : torch.distributed.ProcessGroup or None
        An explicit group; ``None`` means the default group when :mod:`torch.distributed` is
        initialised.

    Returns
    -------
    torch.distributed.ProcessGroup or None
        ``None`` when there is no initialised group or it has a single rank.

    Raises
    ------
    TypeError
        If ``process_group`` is not a process group.
    RuntimeError
        If an explicit group is given but :mod:`torch.distributed` is not initialised.

    Examples
    --------
    >>> active_group() is None  # no process group in this process
    True
    """
    process_group = check_process_group(process_group)
    if not dist.is_available() or not dist.is_initialized():
        if process_group is not None:
            raise RuntimeError("process_group was given but torch.distributed is not initialised")
        return None
    group = process_group if process_group is not None else dist.group.WORLD
    return group if dist.get_world_size(group) > 1 else None


def agree(
    values: Mapping[str, float],
    group: Any,
    device: torch.device | str = "cpu",
    *,
    timeout_s: float | None = None,
    what: str = "the agreement all-reduce",
) -> tuple[dict[str, tuple[float, float]], CommStats]:
    """Smallest and largest value of each named number over the ranks, in one all-reduce.

    Every rank must pass the same names in the same order (the message has a fixed length,
    so ranks that disagree on anything else can still compare). Non-finite values are sent
    as ``-1``.

    Parameters
    ----------
    values : mapping of str to float
        The numbers to compare.
    group : torch.distributed.ProcessGroup
        The group (from :func:`active_group`).
    device : torch.device or str
        Where the message tensor lives (a CUDA device for NCCL).
    timeout_s : float or None
        Longest wait for the other ranks, in seconds; ``None`` (default) leaves it to the
        process group's timeout.
    what : str
        The collective's name in the :class:`CollectiveTimeoutError` message.

    Returns
    -------
    dict of str to (float, float)
        ``(min, max)`` of each value over the ranks.
    CommStats
        One call, ``16 * len(values)`` bytes.

    Raises
    ------
    CollectiveTimeoutError
        If the other ranks did not join within ``timeout_s``.
    """
    names = list(values)
    numbers = [float(values[n]) for n in names]
    numbers = [v if math.isfinite(v) else -1.0 for v in numbers]
    message = torch.tensor(numbers + [-v for v in numbers], dtype=torch.float64, device=device)
    _run_collective(lambda a: dist.all_reduce(message, op=dist.ReduceOp.MAX, group=group,
                                              async_op=a), group, timeout_s, what)
    out = message.tolist()
    n = len(names)
    agreed = {name: (-out[n + i], out[i]) for i, name in enumerate(names)}
    return agreed, CommStats(1, message.numel() * message.element_size())


def sum_over_ranks(
    values: Sequence[float],
    group: Any,
    device: torch.device | str = "cpu",
    *,
    timeout_s: float | None = None,
) -> tuple[list[float], CommStats]:
    """The sum over the ranks of each of a few numbers, in one float64 all-reduce.

    Parameters
    ----------
    values : sequence of float
        This rank's numbers; every rank passes as many.
    group : torch.distributed.ProcessGroup
        The group (from :func:`active_group`).
    device : torch.device or str
        Where the message tensor lives (a CUDA device for NCCL).
    timeout_s : float or None
        Longest wait for the other ranks (``None``: the process group's timeout).

    Returns
    -------
    list of float
        The sums, the same on every rank.
    CommStats
        One call, ``8 * len(values)`` bytes.
    """
    message = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    _run_collective(lambda a: dist.all_reduce(message, op=dist.ReduceOp.SUM, group=group,
                                              async_op=a),
                    group, timeout_s, "the all-reduce of the representation sensor's squares")
    return message.tolist(), CommStats(1, message.numel() * message.element_size())


def mean_over_ranks(tensor: torch.Tensor, group: Any, *,
                    timeout_s: float | None = None) -> tuple[torch.Tensor, CommStats]:
    """The mean over the ranks of a small tensor (a copy; the input is not modified).

    Parameters
    ----------
    tensor : torch.Tensor
        This rank's tensor; every rank passes one of the same shape and dtype.
    group : torch.distributed.ProcessGroup
        The group (from :func:`active_group`).
    timeout_s : float or None
        Longest wait for the other ranks (``None``: the process group's timeout).

    Returns
    -------
    torch.Tensor
        The mean, the same on every rank.
    CommStats
        One call, the tensor's bytes.
    """
    out = tensor.detach().clone()
    out.div_(dist.get_world_size(group))
    _run_collective(lambda a: dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group,
                                              async_op=a),
                    group, timeout_s, "the all-reduce of the representation sensor's sums")
    return out, CommStats(1, out.numel() * out.element_size())


def gather_messages(message: str, group: Any, *, timeout_s: float | None = None,
                    device: torch.device | str = "cpu") -> list[str]:
    """Every rank's ``message``, in rank order (for rare error paths).

    Two collectives on plain tensors: an all-reduce of the longest UTF-8 length, then an
    all-gather of the padded bytes. Both are bounded by ``timeout_s``.

    Parameters
    ----------
    message : str
        This rank's message ("" for none).
    group : torch.distributed.ProcessGroup
    timeout_s : float or None
        Longest wait for the other ranks (``None``: the process group's timeout).
    device : torch.device or str
        Where the message tensors live (a CUDA device for NCCL).

    Returns
    -------
    list of str
    """
    data = str(message).encode("utf-8")
    length = torch.tensor([len(data)], dtype=torch.int64, device=device)
    _run_collective(lambda a: dist.all_reduce(length, op=dist.ReduceOp.MAX, group=group,
                                              async_op=a),
                    group, timeout_s, "the all-reduce of the error messages' length")
    size = int(length.item()) + 8
    own = torch.zeros(size, dtype=torch.uint8, device=device)
    own[:8] = torch.tensor(list(len(data).to_bytes(8, "little")), dtype=torch.uint8)
    if data:
        own[8: 8 + len(data)] = torch.tensor(list(data), dtype=torch.uint8)
    parts = [torch.empty_like(own) for _ in range(dist.get_world_size(group))]
    _run_collective(lambda a: dist.all_gather(parts, own, group=group, async_op=a),
                    group, timeout_s, "the all-gather of the error messages")
    out = []
    for part in parts:
        raw = bytes(part.cpu().tolist())
        n = int.from_bytes(raw[:8], "little")
        out.append(raw[8: 8 + n].decode("utf-8", errors="replace"))
    return out


def _reach_mask(grads: Sequence[TaskGrads], n_params: int, device: Any) -> torch.Tensor:
    return torch.tensor([[g is not None for g in task] for task in grads], dtype=torch.uint8,
                        device=device).reshape(len(grads), n_params)


def average_task_gradients(
    grads: Sequence[TaskGrads],
    params: Sequence[torch.Tensor],
    group: Any,
    *,
    bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB,
    timeout_s: float | None = None,
) -> tuple[list[tuple[torch.Tensor | None, ...]], CommStats]:
    """Average every task's gradients over the ranks: exact, bucketed, bytes counted.

    First the ranks agree on which ``(task, parameter)`` pairs any rank reaches (one small
    all-reduce of a ``K x n`` mask); a rank that does not reach a pair contributes zeros, as
    ``DistributedDataParallel`` does for unused parameters. Then the gradients are packed,
    per dtype and in order, into flat buckets of at most ``bucket_cap_mb`` MiB (a tensor
    larger than that travels alone), each bucket is divided by the world size and summed over
    the ranks in one all-reduce, and the results are handed back as views of the buckets.

    Parameters
    ----------
    grads : sequence of sequence of torch.Tensor or None
        ``grads[i][j]``: task ``i``'s gradient on ``params[j]``, ``None`` where unreached.
    params : sequence of torch.Tensor
        The parameters (for shapes, dtypes and the device of the mask).
    group : torch.distributed.ProcessGroup
        The group to average over (every rank must call this function).
    bucket_cap_mb : float
        Largest bucket in MiB, > 0.
    timeout_s : float or None
        Longest wait for the other ranks in each all-reduce (``None``: the process group's
        timeout).

    Returns
    -------
    list of tuple of torch.Tensor or None
        The averaged gradients, identical on every rank; ``None`` where no rank reaches the
        pair.
    CommStats
        The calls and bytes of the mask and the buckets.

    Raises
    ------
    ValueError
        If ``grads`` does not hold one entry per parameter for each task, or
        ``bucket_cap_mb`` is not positive.
    """
    cap = check_real("bucket_cap_mb", bucket_cap_mb, positive=True) * 2**20
    n = len(params)
    if any(len(task) != n for task in grads):
        raise ValueError(f"grads must hold one entry per parameter ({n}) for every task")
    device = params[0].device if n else torch.device("cpu")
    timeout_s = check_timeout(timeout_s)
    mask = _reach_mask(grads, n, device)
    _run_collective(lambda a: dist.all_reduce(mask, op=dist.ReduceOp.MAX, group=group,
                                              async_op=a),
                    group, timeout_s, "the all-reduce of the task-gradient reach mask")
    stats = CommStats(1, mask.numel() * mask.element_size())
    reached = mask.tolist()
    world = dist.get_world_size(group)
    slots = [(i, j) for i in range(len(grads)) for j in range(n) if reached[i][j]]
    # Buckets: consecutive slots of one dtype, up to the cap in bytes.
    buckets: list[list[tuple[int, int]]] = []
    size = 0.0
    for slot in slots:
        p = params[slot[1]]
        nbytes = p.numel() * p.element_size()
        last = buckets[-1] if buckets else None
        if last is None or params[last[0][1]].dtype != p.dtype or size + nbytes > cap:
            buckets.append([slot])
            size = nbytes
        else:
            last.append(slot)
            size += nbytes
    out: list[list[torch.Tensor | None]] = [[None] * n for _ in grads]
    for number, bucket in enumerate(buckets, start=1):
        parts = []
        for i, j in bucket:
            g = grads[i][j]
            parts.append(torch.zeros(params[j].numel(), dtype=params[j].dtype, device=device)
                         if g is None else g.detach().reshape(-1).to(params[j].dtype))
        flat = torch.cat(parts)
        # Divide first, as DDP does, so that low-precision sums cannot overflow.
        flat.div_(world)
        _run_collective(lambda a, flat=flat: dist.all_reduce(  # type: ignore[misc]
            flat, op=dist.ReduceOp.SUM, group=group, async_op=a), group, timeout_s,
            f"the all-reduce of the task gradients (bucket {number} of {len(buckets)})")
        stats = stats + CommStats(1, flat.numel() * flat.element_size())
        for (i, j), view in zip(bucket, flat.split([params[j].numel() for _, j in bucket])):
            out[i][j] = view.view(params[j].shape)
    return [tuple(row) for row in out], stats


def _sharding_reason(tensor: torch.Tensor) -> str:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover - torch without DTensor
        DTensor = ()  # type: ignore[assignment,misc]
    if isinstance(tensor, DTensor):
        return "is a DTensor (sharded by FSDP2's fully_shard or tensor parallelism)"
    if getattr(tensor, "_fsdp_flattened", False) or type(tensor).__name__ == "FlatParameter":
        return "is managed by FullyShardedDataParallel (a flattened, sharded parameter)"
    return ""


_FSDP_HELP = ("GabaBalancer needs every task's full gradient on every rank; FSDP and tensor "
              "parallelism give each rank only a shard, so the norms cannot be exact. Train "
              "with DistributedDataParallel (or an unwrapped model under a process group) "
              "instead")


def check_replicated_parameters(named: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Raise when a parameter is sharded across ranks (FSDP, DTensor), where GABA cannot be exact.

    Parameters
    ----------
    named : iterable of (str, torch.Tensor)
        The parameters with their names.

    Raises
    ------
    TypeError
        Naming the first sharded parameter, or when ``named`` is not a list of
        ``(name, tensor)`` pairs.

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> check_replicated_parameters([("w", w)])
    """
    for i, pair in enumerate(as_list("named", named)):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], torch.Tensor)):
            raise TypeError(f"named[{i}] must be a (name, tensor) pair, got "
                            f"{type(pair).__name__}")
        name, tensor = pair
        reason = _sharding_reason(tensor)
        if reason:
            raise TypeError(f"parameter {name} {reason}. {_FSDP_HELP}.")


def unwrap_model(model: nn.Module) -> tuple[nn.Module, Any]:
    """The module to take parameter names from, and the process group of a DDP wrapper.

    ``DistributedDataParallel`` and ``torch.compile`` wrappers are looked through (their
    parameters are the wrapped module's). DDP needs nothing else: its reducer runs from
    hooks on ``.grad`` accumulation, which :func:`torch.autograd.grad` never triggers, so
    DDP neither reduces the balancer's gradients again nor waits for a reduction, with any
    of ``find_unused_parameters`` and ``static_graph`` (which only adds one all-reduce of
    untouched buckets in the first iteration); the balancer does the averaging.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    torch.nn.Module
        The innermost wrapped module.
    torch.distributed.ProcessGroup or None
        The DDP wrapper's process group, ``None`` without DDP.

    Raises
    ------
    TypeError
        If ``model`` is not a module, or any part of it is wrapped by FSDP.

    Examples
    --------
    >>> from torch import nn
    >>> inner, group = unwrap_model(nn.Linear(2, 1))
    >>> type(inner).__name__, group
    ('Linear', None)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    group = None
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            group = model.process_group
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = cast(nn.Module, model._orig_mod)  # torch.compile's OptimizedModule
        else:
            break
    fsdp_types: list[type] = []
    try:
        from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
        fsdp_types = [FSDPModule, FullyShardedDataParallel]
    except ImportError:  # pragma: no cover - torch without FSDP
        pass
    for name, module in model.named_modules():
        if fsdp_types and isinstance(module, tuple(fsdp_types)):
            where = name or "the model"
            raise TypeError(f"{where} is wrapped by FSDP ({type(module).__name__}). "
                            f"{_FSDP_HELP}.")
    return model, group


def uses_static_graph(model: nn.Module) -> bool:
    """Whether ``model`` is (or wraps) a ``DistributedDataParallel`` with ``static_graph=True``.

    A static graph delays its first all-reduce to the end of the first autograd pass through
    the model's outputs, whichever that is; after a balancer's gradient call has been that
    pass, DDP's later reductions are wrong. Held and representation steps, whose
    ``backward()`` relies on DDP, refuse it.

    Examples
    --------
    >>> from torch import nn
    >>> uses_static_graph(nn.Linear(2, 1))
    False
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            if getattr(model, "static_graph", False):
                return True
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = cast(nn.Module, model._orig_mod)
        else:
            return False


def broadcast_parameters(
    params: Iterable[torch.Tensor], src: int = 0, process_group: Any = None
) -> None:
    """Copy rank ``src``'s parameter values to every rank (for replicas not wrapped in DDP).

    ``DistributedDataParallel`` does this when it wraps a model; an unwrapped model trained
    under a process group must start equal on every rank, or the balancer refuses to step.

    Parameters
    ----------
    params : iterable of torch.Tensor
        The parameters, in the same order on every rank.
    src : int
        The rank whose values are kept.
    process_group : torch.distributed.ProcessGroup or None
        The group; ``None`` uses the default group. Without an initialised group nothing
        happens.

    Raises
    ------
    TypeError, ValueError
        If ``src`` is not a rank of the group or ``process_group`` is not a group.
    """
    src = check_int("src", src, minimum=0)
    process_group = check_process_group(process_group)
    tensors = as_list("params", params)
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"params[{i}] must be a torch.Tensor, got {type(t).__name__}")
    if not dist.is_available() or not dist.is_initialized():
        return
    size = dist.get_world_size(process_group)
    if src >= size:
        raise ValueError(f"src must be a rank of the group (< {size}), got {src}")
    global_src = dist.get_global_rank(process_group, src) if process_group is not None else src
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t, src=global_src, group=process_group)


# ------------------------------------------------------------------------- local launcher


def _entry(
    fn: Callable[..., Any],
    rank: int,
    world_size: int,
    port: int,
    timeout_s: float,
    threads: int,
    backend: str,
    args: tuple[Any, ...],
    results: Any,
) -> None:
    """Body of one local rank: join the group, run ``fn``, send back its result or error."""
    try:
        torch.set_num_threads(threads)
        if backend == "nccl":
            torch.cuda.set_device(rank)
        timeout = datetime.timedelta(seconds=timeout_s)
        store = TCPStore("127.0.0.1", port, world_size + 1, is_master=False,
                              timeout=timeout)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                                timeout=timeout)
        try:
            value = fn(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        results.put((rank, True, pickle.dumps(value)))
    except BaseException:
        results.put((rank, False, traceback.format_exc()))


def spawn_local(
    fn: Callable[..., Any],
    world_size: int = 2,
    *,
    args: Sequence[Any] = (),
    timeout_s: float = 120.0,
    threads: int = 1,
    backend: str = "gloo",
) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` local processes joined by gloo.

    The processes are started fresh (``spawn``), meet through a TCP store on 127.0.0.1 on a
    free port, and share a ``gloo`` process group (or ``nccl``, one GPU per rank, rank ``r``
    on ``cuda:r``) whose collectives time out after ``timeout_s``. The whole run is bounded
    too: past ``timeout_s`` (plus start-up) every process is killed and
    :class:`TimeoutError` raised, so a bug fails fast instead of hanging. ``fn`` must be
    importable by name (a module-level function) and return a picklable value.

    Parameters
    ----------
    fn : callable
        ``fn(rank, world_size, *args)``.
    world_size : int
        Number of processes, >= 1.
    args : sequence
        Extra picklable arguments.
    timeout_s : float
        Bound on every collective and on the whole run, in seconds (> 0).
    threads : int
        ``torch.set_num_threads`` in each process (>= 1).
    backend : {"gloo", "nccl"}
        The process group's backend.

    Returns
    -------
    list
        ``fn``'s return value of each rank, in rank order.

    Raises
    ------
    TypeError, ValueError
        On bad arguments.
    RuntimeError
        If a rank raised (with its traceback) or exited without a result.
    TimeoutError
        If the ranks did not finish in time.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    world_size = check_int("world_size", world_size, minimum=1)
    timeout_s = check_real("timeout_s", timeout_s, positive=True)
    threads = check_int("threads", threads, minimum=1)
    backend = check_choice("backend", backend, ("gloo", "nccl"))
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a sequence, got {type(args).__name__}")
    store = TCPStore("127.0.0.1", 0, world_size + 1, is_master=True,
                          timeout=datetime.timedelta(seconds=timeout_s),
                          wait_for_workers=False)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_entry, args=(fn, rank, world_size, store.port, timeout_s,
                                                threads, backend, tuple(args), results),
                         daemon=True)
             for rank in range(world_size)]
    for proc in procs:
        proc.start()
    # Start-up (a fresh interpreter importing torch per rank) is not counted in timeout_s.
    deadline = time.monotonic() + timeout_s + 60.0
    outcome: dict[int, tuple[bool, Any]] = {}
    try:
        while len(outcome) < world_size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"spawn_local: {world_size - len(outcome)} of {world_size} "
                                   f"ranks had not finished after {timeout_s:g} s (+60 s "
                                   "start-up); all were killed")
            try:
                rank, ok, payload = results.get(timeout=min(left, 1.0))
            except queue.Empty:
                dead = [r for r, p in enumerate(procs)
                        if r not in outcome and p.exitcode is not None]
                if dead:
                    # give a result that is on its way a moment to arrive
                    try:
                        rank, ok, payload = results.get(timeout=2.0)
                    except queue.Empty:
                        raise RuntimeError(f"spawn_local: rank {dead[0]} exited with code "
                                           f"{procs[dead[0]].exitcode} without a result") from None
                else:
                    continue
            outcome[rank] = (ok, payload)
            if not ok:
                raise RuntimeError(f"spawn_local: rank {rank} raised:\n{payload}")
    finally:
        for proc in procs:
            proc.join(timeout=5.0 if len(outcome) == world_size else 0.1)
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5.0)
        results.close()
        del store
    return [pickle.loads(outcome[r][1]) for r in range(world_size)]
