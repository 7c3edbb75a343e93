"""GABA in a training loop: per-task gradients, closed-form weights, one combined ``.grad``.

A GABA step replaces ``loss.backward()`` in a multi-task training loop. The caller runs one
forward pass and computes the K scalar task losses; the step then

1. takes one gradient per task with :func:`torch.autograd.grad` on every trainable parameter
   involved (shared trunk and task heads), keeping the graph between tasks;
2. measures each task's L2 gradient norm on the *shared* parameters only;
3. turns the norms into the closed-form weights of :func:`gabalab.weighting.gaba_weights`
   (by default proportional to the inverse norms; GABA's published rule by name),
   optionally after smoothing the norms with an exponential moving average (EMA) and
   flooring the weights;
4. adds ``sum_i w_i * grad_i`` to each parameter's ``.grad``, built from the per-task
   gradients it already holds, so there is no third backward pass.

The caller then calls ``optimizer.step()`` as usual; the step never does. Each head receives
its own task's gradient times that task's weight: exactly what ``(sum_i w_i L_i).backward()``
would give with the weights held constant, at the cost of one forward plus K gradient calls.

``.grad`` semantics
    The weighted gradient is *accumulated* into ``.grad``, as ``backward()`` does: a
    parameter whose ``.grad`` is ``None`` receives the weighted gradient, one that already
    has a gradient gets it added. Call ``optimizer.zero_grad()`` before the step, as before
    a backward pass (or leave gradients in place on purpose to accumulate micro-batches).

Failure policy
    Non-finite losses or gradients raise :class:`ValueError` by default
    (``on_nonfinite="raise"``). With ``on_nonfinite="skip"`` the step returns a result
    flagged ``skipped`` with the reason, and leaves ``.grad`` and the EMA state exactly as
    they were; the caller should then not call ``optimizer.step()``. When every norm is
    zero the weights are uniform. Parameters a task does not reach (a "shared" parameter
    one task never touches, or a head parameter no task touches) count as zero in that
    task's norm; they are reported by name in a warning, once per balancer, and are listed
    on every result and in :attr:`GabaBalancer.unreached`.

Use :class:`GabaBalancer` in a loop (it keeps the EMA state and validates the parameter
lists once); :func:`gaba_backward` is the one-call form without state.

Cheaper sensors
    ``measure_every=N`` measures on one step in N and holds the weights in between (those
    steps run one ordinary ``backward()`` of the weighted loss); ``sensor="representation"``
    measures the norms on the shared features the heads read, passed as
    ``step(losses, features=z)``, instead of on the shared parameters. See
    :mod:`gabalab.sensors` and the class notes.

Scaling out
    Under a process group with more than one rank (a model wrapped in
    ``DistributedDataParallel`` or not), each task's gradients are averaged over the ranks
    before any norm is taken, so that the norms are those of the gradient the optimiser
    applies and the weights are the same on every rank (:mod:`gabalab.distributed`).
    Micro-batches are accumulated with :meth:`GabaBalancer.accumulate` and weighted once by
    :meth:`GabaBalancer.apply`; a ``GradScaler`` is passed as ``scaler=`` and its scale is
    kept out of the norms and the EMA (:mod:`gabalab.amp`).

The stages of a step are plain functions, each testable alone, in
:mod:`gabalab.gaba_stages` (steps 1, 2 and 4) and :mod:`gabalab.weighting` (step 3,
:func:`~gabalab.weighting.stabilised_weights`);
:func:`gabalab.distributed.average_task_gradients` sits between steps 1 and 2 on more than
one rank.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from gabalab import distributed, sensors
from gabalab._checks import (
    as_array,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_scalar_losses,
)
from gabalab.amp import flag_overflow, loss_scale
from gabalab.distributed import CommStats, RemoteRankError
from gabalab.gaba_stages import (
    TaskGrads,
    _nonfinite,
    add_task_gradients,
    shared_norms,
    task_gradients,
    tensor_norms,
    write_weighted_grad,
)
from gabalab.norms import DEFAULT_HEADS, shared_named_parameters
from gabalab.sensors import HeldWeights
from gabalab.weighting import (
    DEFAULT_EMA,
    DEFAULT_FLOOR,
    DEFAULT_RULE,
    WEIGHT_RULES,
    check_ema,
    check_floor,
    check_rule,
    stabilised_weights,
)

__all__ = [
    "GabaResult",
    "GabaBalancer",
    "gaba_backward",
    "HEADER_FIELDS",
]

# Parameters as tensors, or as (name, tensor) pairs such as model.named_parameters() yields.
_Params = Iterable[torch.Tensor] | Iterable[tuple[str, torch.Tensor]]

_POLICIES = ("raise", "skip")

# What a step does, in the order sent between ranks: measure exactly, measure on the
# features, or hold the last weights.
_MODES = ("exact", "representation", "held")
_PHASES = ("accumulate()", "apply()")

#: The numbers every rank sends in each agreement all-reduce of a step, in this order. The
#: message has the same length on every rank, whatever its settings, so ranks that were
#: built or loaded differently can still compare before anything else is sent. The first
#: fifteen describe the balancer: its options, its parameters and its state (step count, EMA
#: and held weights, as fingerprints of their exact bits); the next five this step; the last
#: three the outcome (which rank failed or saw a non-finite value, and the norm of ``.grad``
#: after a one-backward step).
HEADER_FIELDS: tuple[str, ...] = (
    "n_tasks", "sensor", "measure_every", "ema", "floor", "weight_rule", "on_nonfinite",
    "representation_norm", "bucket_cap_mb",
    "n_tensors", "numel", "layout",
    "n_steps", "ema_state", "held_state",
    "phase", "mode", "micro_batch", "scale", "replicas",
    "error_rank", "bad_rank", "grad_norm",
)
_SETUP_FIELDS = HEADER_FIELDS[:15]
_STEP_FIELDS = HEADER_FIELDS[15:20]

_SAME_OPTIONS = ": build every rank's balancer with the same options"
_SAME_STATE = (": load the same state_dict on every rank (or call reset() on every rank), and "
               "step every rank alike")
#: How a disagreement on each field is told, and what to do about it.
_DISAGREEMENTS: dict[str, tuple[str, str]] = {
    "n_tasks": ("the number of tasks (n_tasks) differs between ranks", _SAME_OPTIONS),
    "sensor": ("the sensor differs between ranks", _SAME_OPTIONS),
    "measure_every": ("measure_every differs between ranks", _SAME_OPTIONS),
    "ema": ("the EMA factor (ema) differs between ranks", _SAME_OPTIONS),
    "floor": ("the floor differs between ranks", _SAME_OPTIONS),
    "weight_rule": ("weight_rule differs between ranks", _SAME_OPTIONS),
    "on_nonfinite": ("on_nonfinite differs between ranks", _SAME_OPTIONS),
    "representation_norm": ("representation_norm differs between ranks", _SAME_OPTIONS),
    "bucket_cap_mb": ("bucket_cap_mb differs between ranks", _SAME_OPTIONS),
    "n_tensors": ("the number of parameters differs between ranks",
                  ": build every rank's balancer from the same model"),
    "numel": ("the parameter sizes differ between ranks",
              ": build every rank's balancer from the same model"),
    "layout": ("the parameter lists differ between ranks (order or sizes)",
               ": build every rank's balancer from the same model"),
    "n_steps": ("the step count (n_steps) differs between ranks", _SAME_STATE),
    "ema_state": ("the EMA of the norms differs between ranks", _SAME_STATE),
    "held_state": ("the held weights differ between ranks", _SAME_STATE),
    "phase": ("the ranks are at different calls of the step",
              ": call accumulate() as many times on every rank before apply()"),
    "mode": ("the ranks disagree on whether this step measures", _SAME_STATE),
    "micro_batch": ("the ranks are at different micro-batches of the step",
                    ": call accumulate() as many times on every rank before apply()"),
    "scale": ("the GradScaler scale differs between ranks (or only some ranks pass a "
              "scaler)", ": give every rank's step the same scaler state"),
    "replicas": ("the replicas' parameters differ between ranks",
                 ": start every rank from the same values (DistributedDataParallel "
                 "broadcasts them; otherwise use gabalab.distributed.broadcast_parameters) "
                 "and step every rank's optimiser alike"),
}


def _fingerprint(values: Sequence[float] | None) -> float:
    """A number that two ranks share exactly when ``values`` are equal bit for bit (-1: none).

    48 bits of a BLAKE2b digest of the float64 bytes, exact as a float64.
    """
    if values is None:
        return -1.0
    raw = np.asarray(values, dtype=np.float64).tobytes()
    return float(int.from_bytes(hashlib.blake2b(raw, digest_size=6).digest(), "little"))


@dataclass(frozen=True)
class GabaResult:
    """What one GABA step measured and applied, for logging.

    Attributes
    ----------
    norms : tuple of float
        Each task's L2 gradient norm measured on this step: on the shared parameters, or
        with ``sensor="representation"`` on the shared features (NaN or inf where that
        gradient is not finite; NaN on a held step, which measures nothing).
    smoothed_norms : tuple of float
        The norms the weights were computed from: ``norms`` itself without EMA, else the EMA
        state after this step's update; on a held step, those of the measurement the weights
        come from. NaN on a skipped step.
    weights : tuple of float
        The weights applied (after the floor, if any); they sum to one. NaN on a skipped
        step.
    ratio : float
        ``max(norms) / min(norms)``: ``inf`` when the smallest norm is zero and the largest
        is not, NaN when every norm is zero or a norm is not finite.
    skipped : bool
        True when the step wrote nothing (non-finite values with ``on_nonfinite="skip"``).
    reason : str
        Why the step was skipped; empty otherwise.
    unreached : tuple of (int, str)
        ``(task, name)`` pairs found on this step: ``losses[task]`` does not reach the
        parameter ``name``. A head parameter appears only when no task reaches it.
    local_norms : tuple of float
        This rank's own norms, before the gradients were averaged over the ranks (equal to
        ``norms`` in a single process). Their mean overstates the norm of the averaged
        gradient by the spread between ranks; they are reported for comparison only.
        Empty when the result was built by hand.
    world_size : int
        Number of ranks the gradients were averaged over (1 in a single process).
    micro_batches : int
        Number of :meth:`GabaBalancer.accumulate` calls combined in this step.
    scale : float or None
        The ``GradScaler`` scale the gradients carried (the norms are divided by it);
        ``None`` without an enabled scaler.
    overflow : bool
        True when, with a scaler, a value was not finite: nothing was updated, and ``.grad``
        was flagged so that ``scaler.step`` skips and ``scaler.update`` lowers the scale.
        Still call ``scaler.step`` and ``scaler.update`` then.
    all_reduce_calls, all_reduce_bytes : int
        Collectives this rank took part in for the step, and the bytes of the tensors it
        handed to them (0 in a single process).
    sensor : str
        The sensor that measured the weights applied: ``"exact"`` (the shared parameters)
        or ``"representation"`` (the shared features); on a held step, ``age`` steps ago.
    fresh : bool
        True when the weights were measured on this step, False when they were held from an
        earlier measurement (``measure_every > 1``).
    age : int
        Applied steps since the weights were measured (0 when fresh).
    """

    norms: tuple[float, ...]
    smoothed_norms: tuple[float, ...]
    weights: tuple[float, ...]
    ratio: float
    skipped: bool = False
    reason: str = ""
    unreached: tuple[tuple[int, str], ...] = ()
    local_norms: tuple[float, ...] = ()
    world_size: int = 1
    micro_batches: int = 1
    scale: float | None = None
    overflow: bool = False
    all_reduce_calls: int = 0
    all_reduce_bytes: int = 0
    sensor: str = "exact"
    fresh: bool = True
    age: int = 0

    def as_dict(self, prefix: str = "gaba/") -> dict[str, float]:
        """Flat ``{name: number}`` view for a metrics logger.

        Parameters
        ----------
        prefix : str
            Prepended to every key.

        Returns
        -------
        dict of str to float
            ``norm_i``, ``smoothed_norm_i`` and ``weight_i`` for each task ``i``, plus
            ``ratio`` and ``skipped`` (0.0 or 1.0), ``fresh`` (1.0 when the weights were
            measured on this step, 0.0 when held), ``age`` (steps since they were measured)
            and ``sensor_<name>`` = 1.0 for the sensor that measured them. A step averaged
            over several ranks adds ``local_norm_i``, ``world_size``, ``all_reduce_calls``
            and ``all_reduce_bytes``; a step with a scaler adds ``scale`` and ``overflow``;
            an accumulated step adds ``micro_batches``.

        Examples
        --------
        >>> r = GabaResult((3.0, 1.0), (3.0, 1.0), (0.25, 0.75), 3.0)
        >>> r.as_dict()["gaba/weight_1"]
        0.75
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        out: dict[str, float] = {}
        for i, (g, s, w) in enumerate(zip(self.norms, self.smoothed_norms, self.weights)):
            out[f"{prefix}norm_{i}"] = g
            out[f"{prefix}smoothed_norm_{i}"] = s
            out[f"{prefix}weight_{i}"] = w
        out[f"{prefix}ratio"] = self.ratio
        out[f"{prefix}skipped"] = float(self.skipped)
        out[f"{prefix}fresh"] = float(self.fresh)
        out[f"{prefix}age"] = float(self.age)
        out[f"{prefix}sensor_{self.sensor}"] = 1.0
        if self.world_size > 1:
            for i, g in enumerate(self.local_norms):
                out[f"{prefix}local_norm_{i}"] = g
            out[f"{prefix}world_size"] = float(self.world_size)
            out[f"{prefix}all_reduce_calls"] = float(self.all_reduce_calls)
            out[f"{prefix}all_reduce_bytes"] = float(self.all_reduce_bytes)
        if self.scale is not None:
            out[f"{prefix}scale"] = self.scale
            out[f"{prefix}overflow"] = float(self.overflow)
        if self.micro_batches > 1:
            out[f"{prefix}micro_batches"] = float(self.micro_batches)
        return out


def _named(argument: str, params: Any, *, allow_empty: bool) -> list[tuple[str, torch.Tensor]]:
    """Validate a parameter list and return ``(name, tensor)`` pairs."""
    if isinstance(params, torch.Tensor):
        raise TypeError(f"{argument} must be a list of tensors or (name, tensor) pairs, "
                        "not a single tensor")
    if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(f"{argument} must be a list of tensors or (name, tensor) pairs, "
                        f"got {type(params).__name__}")
    out: list[tuple[str, torch.Tensor]] = []
    for i, item in enumerate(params):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, tensor = item
        else:
            name, tensor = f"{argument}[{i}]", item
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{argument}[{i}] must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.requires_grad:
            raise ValueError(f"{argument}[{i}] ({name}) does not require grad (frozen parameter)")
        if not tensor.is_leaf:
            raise ValueError(f"{argument}[{i}] ({name}) is not a leaf tensor: pass parameters")
        if tensor.layout != torch.strided:
            raise TypeError(f"{argument}[{i}] ({name}) is not a dense tensor")
        out.append((name, tensor))
    if not out and not allow_empty:
        raise ValueError(f"{argument} is empty: select at least one shared parameter")
    seen: dict[int, str] = {}
    for name, tensor in out:
        if id(tensor) in seen:
            raise ValueError(f"{argument} lists the same tensor twice ({seen[id(tensor)]} and "
                             f"{name})")
        seen[id(tensor)] = name
    return out


def _checksum(params: Sequence[torch.Tensor]) -> float:
    """Sum of squares of every parameter (float64 of the float norms): equal replicas agree."""
    with torch.no_grad():
        norms = torch.stack(torch._foreach_norm([p.detach() for p in params])).double()
        return float((norms * norms).sum())


def _ratio(norms: Sequence[float]) -> float:
    if not all(math.isfinite(g) for g in norms):
        return math.nan
    hi, lo = max(norms), min(norms)
    if hi == 0.0:
        return math.nan
    return math.inf if lo == 0.0 else hi / lo


@dataclass
class _Pending:
    """What :meth:`GabaBalancer.accumulate` has gathered since the last step."""

    grads: list[TaskGrads] | None = None
    count: int = 0
    loss_values: list[list[float]] = field(default_factory=list)
    scale: float | None = None
    unreached: list[tuple[int, str]] = field(default_factory=list)
    error: Exception | None = None
    # Held and representation steps (one weighted backward() per micro-batch):
    mode: str = "exact"
    weights: tuple[float, ...] | None = None
    smoothed: tuple[float, ...] | None = None
    norms: tuple[float, ...] | None = None
    local: tuple[float, ...] | None = None
    reason: str = ""
    was_none: list[bool] = field(default_factory=list)
    comm: CommStats = field(default_factory=CommStats)


def _unscale(norms: tuple[float, ...], scale: float | None) -> tuple[float, ...]:
    return norms if scale is None else tuple(g / scale for g in norms)


@contextmanager
def _freed_graph_named() -> Iterator[None]:
    """Turn autograd's "backward through the graph a second time" into a ValueError saying why."""
    try:
        yield
    except RuntimeError as err:
        if "backward through the graph a second time" not in str(err):
            raise
        raise ValueError("losses: their graph was already freed by a backward() or "
                         "autograd.grad call: run a new forward pass (or keep the graph "
                         "with retain_graph=True in that earlier call)") from None


def _raise_if_any_failed(agreed: dict[str, tuple[float, float]], error: Exception | None,
                         group: Any, world: int, timeout_s: float | None = None,
                         device: Any = "cpu") -> None:
    """Raise on every rank when one rank failed: its own error there, RemoteRankError elsewhere."""
    first_error = int(agreed["error_rank"][0])
    if first_error < world:
        message = "" if error is None else f"{type(error).__name__}: {error}"
        messages = distributed.gather_messages(message, group, timeout_s=timeout_s,
                                               device=device)
        if error is not None:
            raise error
        raise RemoteRankError(f"rank {first_error} failed in its part of the GabaBalancer "
                              f"step ({messages[first_error]}); every rank stops here")


def _agreed_reason(agreed: dict[str, tuple[float, float]], local_reason: str, group: Any,
                   world: int, timeout_s: float | None = None, device: Any = "cpu") -> str:
    """The first rank's non-finite reason, the same on every rank ("" when none has one)."""
    first_bad = int(agreed["bad_rank"][0])
    if first_bad >= world:
        return ""
    messages = distributed.gather_messages(local_reason, group, timeout_s=timeout_s,
                                           device=device)
    bad = [r for r, m in enumerate(messages) if m]
    more = f" (and on {len(bad) - 1} more rank(s))" if len(bad) > 1 else ""
    return f"rank {first_bad}: {messages[first_bad]}{more}"


class GabaBalancer:
    """GABA loss balancing as a replacement for ``loss.backward()``.

    Build it once with the shared and head parameters, then call :meth:`step` with the K
    task losses of each batch instead of ``backward()``; it writes the GABA-weighted gradient
    into ``.grad`` and returns a :class:`GabaResult` for logging. It never calls
    ``optimizer.step()``.

    Parameters
    ----------
    shared : iterable of torch.Tensor or of (str, torch.Tensor)
        The shared (trunk) parameters, on which the per-task norms are measured. Names, when
        given as pairs (e.g. from :func:`gabalab.norms.shared_named_parameters`), are used in
        messages.
    heads : iterable of torch.Tensor or of (str, torch.Tensor)
        The task-head parameters: they receive their task's weighted gradient but do not
        enter the norms. May be empty.
    n_tasks : int
        Number of tasks K, ``>= 2``; :meth:`step` expects exactly K losses.
    ema : float or None
        Smoothing factor ``beta`` in ``[0, 1)`` of an exponential moving average of the
        norms, ``m <- beta * m + (1 - beta) * g``, started at the first finite norms.
        Default :data:`gabalab.weighting.DEFAULT_EMA` (0.9: about ten steps of memory);
        ``None`` or 0 uses each step's norms as they are.
    floor : float
        Smallest weight, ``0 <= floor <= 1 / n_tasks``
        (see :func:`gabalab.weighting.floor_weights`). Default
        :data:`gabalab.weighting.DEFAULT_FLOOR` (0.0001, a safety net that binds only when
        one norm is about ten thousand times the other); 0 for no floor.
    on_nonfinite : {"raise", "skip"}
        What to do when a loss or gradient holds NaN or inf: raise :class:`ValueError`
        (default), or skip the step, leaving ``.grad`` and the EMA state untouched. With a
        ``GradScaler`` passed to the step, non-finite values are an overflow instead: see
        :meth:`step`.
    process_group : torch.distributed.ProcessGroup or None
        The ranks to average over. ``None`` (default) uses the default group whenever
        :mod:`torch.distributed` is initialised with more than one rank; in a single process
        nothing changes.
    bucket_cap_mb : float
        Largest all-reduce bucket, in MiB (> 0; default 25, as DDP's). Only used with more
        than one rank.
    weight_rule : {"inverse", "source"}
        How norms become weights (:func:`gabalab.weighting.gaba_weights`). ``"inverse"``
        (default): ``w_i`` proportional to ``1 / g_i``, which makes every weighted norm
        ``w_i g_i`` equal for any number of tasks. ``"source"``: GABA's published closed form
        ``(S - g_i) / ((K - 1) S)``, which does so only for two tasks and leaves the weighted
        norms far apart beyond (tens of times apart at K = 10 for norms spread over two
        orders of magnitude). For two tasks both give the same weights, bit for bit.
    sensor : {"exact", "representation"}
        What is measured. ``"exact"`` (default): each task's gradient norm on the shared
        parameters, one gradient call per task through the whole trunk. ``"representation"``:
        each task's gradient norm on the shared features the heads read, passed to every
        step as ``step(losses, features=z)``; K backward passes through the heads only, then
        one ordinary ``backward()`` of the weighted loss (see Notes).
    measure_every : int
        Measure on one step in ``measure_every`` (>= 1; default 1, every step). The steps in
        between hold the last measurement's weights (after EMA and floor) and run one
        ordinary ``backward()`` of ``sum_i w_i L_i``; skipped and overflowed steps do not
        count, and a measurement that was skipped is retried at the next step.
    representation_norm : {"batch_sum", "frobenius"} or None
        With ``sensor="representation"``: the norm of each task's feature gradient summed
        over the batch (``"batch_sum"``, the default: samples cancel as they do in the
        parameter gradient), or its Frobenius norm over every sample (see
        :mod:`gabalab.sensors`). Must be ``None`` with the exact sensor.
    timeout_s : float or None
        On more than one rank: the longest a collective of the step waits for the other
        ranks, in seconds, before it raises
        :class:`gabalab.distributed.CollectiveTimeoutError` naming the collective. ``None``
        (default) leaves it to the process group's own timeout (30 minutes for gloo by
        default). The wait is bounded through ``Work.wait(timeout)``, which gloo honours.

    Attributes
    ----------
    n_tasks : int
    ema : float or None
    floor : float
    on_nonfinite : str
    bucket_cap_mb : float
    weight_rule : str
    sensor : str
    measure_every : int
    representation_norm : str
        ``"batch_sum"`` unless set (read only with the representation sensor).
    timeout_s : float or None
    n_steps : int
        Steps that returned (:meth:`step` or :meth:`apply`), skipped and overflowed ones
        included.
    n_skipped : int
        Steps skipped because of non-finite values.
    n_overflows : int
        Steps with a scaler whose values were not finite (handed to the scaler).

    Raises
    ------
    TypeError
        If a parameter list is not a list of tensors, an option has the wrong type, or a
        parameter is sharded by FSDP (a DTensor or flattened parameter), where exact norms
        are out of reach.
    ValueError
        If ``shared`` is empty, a tensor is listed twice or in both lists, a tensor is
        frozen or not a leaf, ``n_tasks < 2``, ``ema`` is outside ``[0, 1)``, ``floor`` is
        negative or larger than ``1 / n_tasks``, ``on_nonfinite``, ``weight_rule`` or
        ``sensor`` is unknown, ``bucket_cap_mb`` is not positive, or ``measure_every < 1``.

    See Also
    --------
    gaba_backward : the same step as one call, without EMA state.
    gabalab.weighting.gaba_weights : the closed-form weights.
    gabalab.distributed : the averaging over ranks.

    Notes
    -----
    On more than one rank, each step first compares, in one small all-reduce of the same
    length on every rank (:data:`HEADER_FIELDS`), everything that shapes the messages that
    follow and what every rank is about to do: the options (tasks, sensor, period, EMA,
    floor, rule, policy, buckets), the parameter layout, the state (step count, EMA and held
    weights), a checksum of the parameters, the scaler's scale, local errors and non-finite
    values. A rank that differs makes every rank raise the same ``ValueError``, naming the
    setting and each rank's value, before any gradient is sent or written; otherwise every
    rank reaches the same outcome: all step, all skip, or all raise (the failing rank its
    own error, the others :class:`gabalab.distributed.RemoteRankError`). Errors found in
    :meth:`accumulate` are held until that point. Then each task's gradients are averaged
    over the ranks (:func:`gabalab.distributed.average_task_gradients`) and the step goes on
    as in a single process, identically on every rank. The replicas must start equal (DDP
    broadcasts them; see :func:`gabalab.distributed.broadcast_parameters` otherwise), and a
    rank whose parameters differ makes every rank raise.

    Cheaper sensors. A held step (``measure_every > 1``) and a representation step write
    ``.grad`` through one ordinary ``backward()`` of ``sum_i w_i L_i``
    (:mod:`gabalab.sensors`), so they combine with the rest as any loss does:

    * *Several processes*: that backward must go through ``DistributedDataParallel``, whose
      hooks average ``.grad``; the weights are the same on every rank (held from an exact,
      agreed measurement, or computed from the representation norms summed over the ranks:
      ``||dL/dz||^2 = sum_r ||dL_r/dz_r||^2 / R^2`` for the batch split by rank, so exact for
      that sensor). Before the backward the ranks agree (one small all-reduce) so that a
      failure on one rank stops every rank before DDP's collectives; after it, every rank
      checks that ``.grad`` and the parameters are the same on all ranks, and raises if not
      (a model not wrapped in DDP: use the exact sensor with ``measure_every=1`` there).
      DDP's ``static_graph=True`` is refused by :meth:`from_model` (its first all-reduce
      would fire at the end of the balancer's own gradient call);
      ``find_unused_parameters=True`` works.
    * *Micro-batches*: on a held step each :meth:`accumulate` runs its backward at once (use
      ``ddp.no_sync()`` on all but the last, as for any accumulation) and :meth:`apply`
      checks the sum; the weights are fixed, so the sum is the big batch's weighted
      gradient. The representation sensor measures one micro-batch per step (its weights
      must be known before the backward through the trunk, and weights from one
      micro-batch's norms would be biased): a second :meth:`accumulate` on a measuring step
      raises.
    * *GradScaler*: the backward is ``scaler.scale(loss).backward()``; the representation
      norms are divided by the scale. A non-finite value is an overflow for the scaler as on
      exact steps.
    * *Non-finite values*: losses (and representation norms) are checked before the
      backward, which is then not run; a non-finite gradient is found after it, by one norm
      of ``.grad``. Skipping or raising then resets to ``None`` every ``.grad`` that was
      ``None`` when the step began; a gradient accumulated in ``.grad`` before the step
      cannot be restored (it can with the exact sensor, which writes only after checking).
    * *torch.compile*: the backward is the compiled graph's ordinary backward; the
      representation sensor's gradient calls on the heads need the setting named by
      :func:`gabalab.sensors.compile_hint` if the heads are compiled with donated buffers.

    Examples
    --------
    >>> import torch
    >>> from gabalab.models import TinyDualHead
    >>> model = TinyDualHead(seed=0)
    >>> balancer = GabaBalancer.from_model(model)
    >>> rul, logits = model(torch.ones(8, 14))
    >>> losses = [((rul - 100.0) ** 2).mean(),
    ...           torch.nn.functional.cross_entropy(logits, torch.zeros(8, dtype=torch.long))]
    >>> result = balancer.step(losses)
    >>> round(sum(result.weights), 12), result.norms[0] > result.norms[1]
    (1.0, True)
    >>> model.rul_head.weight.grad is not None
    True
    """

    def __init__(
        self,
        shared: _Params,
        heads: _Params = (),
        *,
        n_tasks: int = 2,
        ema: float | None = DEFAULT_EMA,
        floor: float = DEFAULT_FLOOR,
        on_nonfinite: Literal["raise", "skip"] = "raise",
        process_group: Any = None,
        bucket_cap_mb: float = distributed.DEFAULT_BUCKET_CAP_MB,
        weight_rule: str = DEFAULT_RULE,
        sensor: str = "exact",
        measure_every: int = 1,
        representation_norm: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        shared_named = _named("shared", shared, allow_empty=False)
        if sum(t.numel() for _, t in shared_named) == 0:
            raise ValueError("shared holds no entry: its tensors are all empty, so there is no "
                             "norm to balance")
        head_named = _named("heads", heads, allow_empty=True)
        shared_ids = {id(t): n for n, t in shared_named}
        for name, tensor in head_named:
            if id(tensor) in shared_ids:
                raise ValueError(f"heads and shared overlap: {name} is also listed in shared as "
                                 f"{shared_ids[id(tensor)]}")
        self.n_tasks = check_int("n_tasks", n_tasks, minimum=2)
        self.ema = check_ema(ema)
        self.floor = check_floor(floor, self.n_tasks)
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, _POLICIES)
        self._process_group = distributed.check_process_group(process_group)
        self.bucket_cap_mb = check_real("bucket_cap_mb", bucket_cap_mb, positive=True)
        self.weight_rule = check_rule(weight_rule, "weight_rule")
        self.sensor = sensors.check_sensor(sensor)
        self.measure_every = sensors.check_measure_every(measure_every)
        if self.sensor != "representation" and representation_norm is not None:
            raise ValueError("representation_norm is only used by sensor='representation'; "
                             f"this balancer has sensor={self.sensor!r}")
        self.representation_norm = sensors.check_representation_norm(
            "batch_sum" if representation_norm is None else representation_norm)
        self.timeout_s = distributed.check_timeout(timeout_s)
        named = shared_named + head_named
        distributed.check_replicated_parameters(named)
        self._names = [n for n, _ in named]
        self._params = [t for _, t in named]
        self._n_shared = len(shared_named)
        self._ema_norms: np.ndarray | None = None
        self._unreached: set[tuple[int, str]] = set()
        self._warned = False
        self._pending: _Pending | None = None
        self._held: HeldWeights | None = None
        # The losses of the last call that freed their graph, to name a second step on them.
        self._freed: list[weakref.ref[torch.Tensor]] = []
        self.n_steps = 0
        self.n_skipped = 0
        self.n_overflows = 0

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        heads: Sequence[str] = DEFAULT_HEADS,
        *,
        n_tasks: int | None = None,
        **options: Any,
    ) -> GabaBalancer:
        """Build a balancer from a model whose heads are named modules.

        Shared parameters are selected with :func:`gabalab.norms.shared_named_parameters`;
        every other trainable parameter of the model is a head parameter. A model wrapped
        in ``DistributedDataParallel`` or ``torch.compile`` is looked through (names are
        the wrapped module's), and a DDP wrapper's process group is used unless
        ``process_group`` is given (see :func:`gabalab.distributed.unwrap_model`).

        Parameters
        ----------
        model : torch.nn.Module
            The multi-task model, wrapped or not.
        heads : sequence of str
            Name fragments of the head modules (default ``("rul_head", "health_head")``).
        n_tasks : int or None
            Number of tasks; ``None`` (default) takes ``len(heads)``.
        **options
            ``ema``, ``floor``, ``on_nonfinite``, ``process_group``, ``bucket_cap_mb``,
            ``weight_rule``, ``sensor``, ``measure_every``, ``representation_norm``,
            ``timeout_s`` as in :class:`GabaBalancer`.

        Returns
        -------
        GabaBalancer

        Raises
        ------
        TypeError, ValueError
            As :func:`gabalab.norms.shared_named_parameters`,
            :func:`gabalab.distributed.unwrap_model` (FSDP) and :class:`GabaBalancer`; also
            ``ValueError`` for a ``DistributedDataParallel(static_graph=True)`` model with
            ``measure_every > 1`` or ``sensor="representation"``.
        """
        if n_tasks is None and isinstance(heads, (list, tuple)) and len(heads) < 2:
            raise ValueError(f"heads must name one head module per task (at least 2), got "
                             f"{list(heads)}; or pass n_tasks")
        inner, group = distributed.unwrap_model(model)
        sensor = options.get("sensor", "exact")
        if distributed.uses_static_graph(model) and (
                sensor != "exact" or options.get("measure_every", 1) != 1):
            raise ValueError(
                "DistributedDataParallel(static_graph=True) cannot be combined with held or "
                "representation steps: its first all-reduce fires at the end of the first "
                "autograd pass through the outputs, the balancer's own gradient call, and its "
                "later reductions then leave .grad unaveraged. Wrap the model without "
                "static_graph, or use sensor='exact' with measure_every=1")
        shared = shared_named_parameters(inner, heads)
        ids = {id(t) for _, t in shared}
        head_params = [(n, t) for n, t in inner.named_parameters()
                       if t.requires_grad and id(t) not in ids]
        if group is not None:
            options.setdefault("process_group", group)
        return cls(shared, head_params, n_tasks=len(heads) if n_tasks is None else n_tasks,
                   **options)

    @property
    def params(self) -> tuple[torch.Tensor, ...]:
        """The tensors whose ``.grad`` the balancer writes: the shared ones, then the heads."""
        return tuple(self._params)

    @property
    def shared_names(self) -> tuple[str, ...]:
        """Names of the shared parameters, in order."""
        return tuple(self._names[: self._n_shared])

    @property
    def head_names(self) -> tuple[str, ...]:
        """Names of the head parameters, in order."""
        return tuple(self._names[self._n_shared :])

    @property
    def smoothed_norms(self) -> tuple[float, ...] | None:
        """Current EMA of the norms (``None`` before the first step or without EMA)."""
        if self._ema_norms is None:
            return None
        return tuple(float(g) for g in self._ema_norms)

    @property
    def unreached(self) -> tuple[tuple[int, str], ...]:
        """Every ``(task, name)`` pair seen so far where a task does not reach a parameter."""
        return tuple(sorted(self._unreached))

    @property
    def pending_micro_batches(self) -> int:
        """Micro-batches accumulated since the last step (0 when none is waiting)."""
        return 0 if self._pending is None else self._pending.count

    @property
    def held_weights(self) -> tuple[float, ...] | None:
        """The weights of the last measurement (``None`` before the first one)."""
        return None if self._held is None else self._held.weights

    @property
    def measurement_due(self) -> bool:
        """Whether the next step measures (always, with ``measure_every=1``)."""
        return self._mode() != "held"

    def _mode(self) -> str:
        """What the next step does: ``"held"``, or measure with the balancer's sensor."""
        if self.measure_every > 1 and self._held is not None and not self._held.due(
                self.measure_every):
            return "held"
        return self.sensor

    def reset(self) -> None:
        """Forget the EMA state and the held weights (the next step measures afresh)."""
        self._ema_norms = None
        self._held = None

    def discard(self) -> None:
        """Drop the micro-batches accumulated since the last step, without applying them.

        On a held or representation step their gradients are already in ``.grad``: every
        ``.grad`` that was ``None`` when the step began is set back to ``None``.
        """
        pending, self._pending = self._pending, None
        if pending is not None and pending.mode != "exact":
            self._restore_grads(pending)

    def _restore_grads(self, pending: _Pending) -> None:
        for p, was_none in zip(self._params, pending.was_none):
            if was_none:
                p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """The mutable state, for checkpoints: EMA norms, held weights and step counters.

        Micro-batches accumulated but not yet applied are not part of it.

        Returns
        -------
        dict
            ``{"ema_norms": list of float or None, "n_steps": int, "n_skipped": int,
            "n_overflows": int, "sensor": str, "representation_norm": str,
            "held_weights": list of float or None, "held_norms": list of float or None,
            "held_age": int}``: the sensor the norms were measured with, and the weights of
            the last measurement with the norms they came from and the steps applied since.
        """
        ema = None if self._ema_norms is None else [float(g) for g in self._ema_norms]
        held = self._held
        return {"ema_norms": ema, "n_steps": self.n_steps, "n_skipped": self.n_skipped,
                "n_overflows": self.n_overflows, "sensor": self.sensor,
                "representation_norm": self.representation_norm,
                "held_weights": None if held is None else list(held.weights),
                "held_norms": None if held is None else list(held.norms),
                "held_age": 0 if held is None else held.age}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; on any error nothing changes.

        Parameters
        ----------
        state : dict
            From :meth:`state_dict`: the keys ``ema_norms``, ``n_steps``, ``n_skipped`` and
            ``n_overflows``, and those of the sensors (``sensor``, ``representation_norm``,
            ``held_weights``, ``held_norms``, ``held_age``), which may be absent.

        Raises
        ------
        TypeError
            If ``state`` is not a dict, a counter or the held age is not an integer, or the
            sensor names are not strings.
        ValueError
            If a key is missing or unknown (a misspelling would otherwise reset a counter),
            a counter is negative, the skipped and overflowed steps outnumber ``n_steps``,
            the EMA norms or the held norms do not hold one finite, non-negative value per
            task, the EMA norms are set while this balancer has no EMA, the held weights are
            not K non-negative values that sum to one, the held age is negative, or the state
            was saved with another sensor while it holds norms (the two sensors' norms are on
            different scales). The held entries may be absent (a state from an older
            version): nothing is then held, and the next step measures. The balancer's state
            is left exactly as it was.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        expected = ("ema_norms", "n_steps", "n_skipped", "n_overflows")
        optional = ("sensor", "representation_norm", "held_weights", "held_norms", "held_age")
        unknown = sorted(str(k) for k in state if k not in expected + optional)
        missing = [k for k in expected if k not in state]
        if unknown or missing:
            raise ValueError(f"state must hold the keys {list(expected)} and may hold "
                             f"{list(optional)} (from state_dict()); unknown: {unknown}, "
                             f"missing: {missing}")
        ema = state["ema_norms"]
        if ema is not None:
            if not self.ema:
                raise ValueError("state['ema_norms'] is set but this balancer has no EMA "
                                 "(ema=None or 0): build it with the ema of the saved one")
            ema = self._checked_norms("ema_norms", ema).copy()
        n_steps = check_int("state['n_steps']", state["n_steps"], minimum=0)
        n_skipped = check_int("state['n_skipped']", state["n_skipped"], minimum=0)
        n_overflows = check_int("state['n_overflows']", state["n_overflows"], minimum=0)
        if n_skipped + n_overflows > n_steps:
            raise ValueError(f"state['n_skipped'] + state['n_overflows'] = "
                             f"{n_skipped + n_overflows} exceeds state['n_steps'] = {n_steps}: "
                             "every skipped or overflowed step is also counted in n_steps")
        held_weights, held_norms = state.get("held_weights"), state.get("held_norms")
        if (held_weights is None) != (held_norms is None):
            raise ValueError("state['held_weights'] and state['held_norms'] must both be given "
                             "or both be None")
        held = None
        if held_weights is not None:
            weights = as_array("state['held_weights']", held_weights, finite=False)
            if weights.shape != (self.n_tasks,) or not np.all(np.isfinite(weights)) or np.any(
                    weights < 0) or abs(math.fsum(weights) - 1.0) > 1e-9:
                raise ValueError(f"state['held_weights'] must hold {self.n_tasks} weights >= 0 "
                                 f"that sum to one, got {held_weights}")
            norms = self._checked_norms("held_norms", held_norms)
            age = check_int("state['held_age']", state.get("held_age", 0), minimum=0)
            held = HeldWeights(tuple(float(w) for w in weights),
                               tuple(float(g) for g in norms), age)
        saved = (state.get("sensor", "exact"), state.get("representation_norm", "batch_sum"))
        if not isinstance(saved[0], str) or not isinstance(saved[1], str):
            raise TypeError("state['sensor'] and state['representation_norm'] must be strings")
        mine = (self.sensor, self.representation_norm)
        if self.sensor == "exact" and saved[0] == "exact":
            saved = mine  # the exact sensor has no representation norm
        if saved != mine and (ema is not None or held is not None):
            raise ValueError(f"state was saved by a balancer with (sensor, representation_norm)"
                             f" = {saved}; this one has {mine}, whose norms are on another "
                             "scale: drop the state's EMA and held entries (or call reset()) "
                             "to switch sensors")
        self._ema_norms = ema
        self._held = held
        self.n_steps = n_steps
        self.n_skipped = n_skipped
        self.n_overflows = n_overflows

    def _checked_norms(self, key: str, values: Any) -> np.ndarray:
        array = as_array(f"state[{key!r}]", values, finite=False)
        if array.shape != (self.n_tasks,) or not np.all(np.isfinite(array)) or np.any(
                array < 0):
            raise ValueError(f"state[{key!r}] must hold {self.n_tasks} finite norms >= 0, got "
                             f"{values}")
        return array

    # ----------------------------------------------------------------------------- the step

    def step(
        self,
        losses: Sequence[torch.Tensor],
        *,
        scaler: Any = None,
        retain_graph: bool = False,
        features: Any = None,
    ) -> GabaResult:
        """Write the GABA-weighted gradient of ``losses`` into ``.grad``.

        The step chains the stages of :mod:`gabalab.gaba_stages`:
        :func:`~gabalab.gaba_stages.task_gradients`, then
        :func:`~gabalab.gaba_stages.tensor_norms`, :func:`~gabalab.gaba_stages.shared_norms`
        and :func:`~gabalab.gaba_stages.nonfinite_reason`, then
        :func:`gabalab.weighting.stabilised_weights` (EMA, closed form, floor), then
        :func:`~gabalab.gaba_stages.write_weighted_grad`. It is :meth:`accumulate` of these
        losses followed by :meth:`apply`: micro-batches accumulated before are part of the
        step. A held step (``measure_every > 1``) and a representation step replace these
        stages by those of :mod:`gabalab.sensors` (class notes, "Cheaper sensors").

        Parameters
        ----------
        losses : sequence of torch.Tensor
            The K scalar task losses, from one forward pass.
        scaler : torch.amp.GradScaler or None
            A mixed-precision scaler. When given (and enabled) the step differentiates
            ``scaler.scale(loss)`` itself (do not scale the losses yourself), divides the
            norms by the scale (the norms, the EMA and the weights are those of the true
            gradients) and writes the *scaled* weighted gradient into ``.grad``. Follow it
            with ``scaler.unscale_(optimizer)``, clipping if any, ``scaler.step(optimizer)``
            and ``scaler.update()``. A non-finite value is then an overflow, whatever
            ``on_nonfinite`` says: the result has ``overflow=True``, the EMA is not updated,
            and ``.grad`` is flagged (:func:`gabalab.amp.flag_overflow`) so that
            ``scaler.step`` skips the optimiser step and ``scaler.update`` lowers the scale.
        retain_graph : bool
            Keep the autograd graph after the last gradient call (default False: it is
            freed, as after ``backward()``).
        features : torch.Tensor, sequence of torch.Tensor, or None
            With ``sensor="representation"``: the shared features of this forward pass, the
            trunk's output that the heads read (``z = model.features(x)``, then the heads on
            ``z``); required on measuring steps, ignored on held ones. Must be ``None`` with
            ``sensor="exact"``.

        Returns
        -------
        GabaResult
            Norms, weights and flags of this step.

        Raises
        ------
        TypeError
            If ``losses`` is not a sequence of tensors, ``scaler`` is not a scaler or
            ``features`` is not a tensor or a sequence of tensors.
        ValueError
            If the number of losses is not ``n_tasks``, a loss is not a scalar or does not
            require grad, a loss reaches none of the shared parameters (or, with the
            representation sensor, does not depend on ``features``), ``features`` is missing
            with the representation sensor or given with the exact one, or (with
            ``on_nonfinite="raise"`` and no scaler) a loss or gradient is not finite; on
            more than one rank also if the ranks disagree on the tasks, the parameters or
            the scale, or their parameters differ, or (held and representation steps) their
            ``.grad`` differ after the backward pass.
        gabalab.distributed.RemoteRankError
            On more than one rank, when another rank's part of the step failed.
        """
        self.accumulate(losses, scaler=scaler, retain_graph=retain_graph, features=features)
        return self.apply()

    def accumulate(
        self,
        losses: Sequence[torch.Tensor],
        *,
        scaler: Any = None,
        retain_graph: bool = False,
        features: Any = None,
    ) -> None:
        """Add one micro-batch's per-task gradients to the step being gathered; write nothing.

        Call it once per micro-batch, then :meth:`apply` (or :meth:`step` with the last
        micro-batch) once at the optimiser step: the weights are computed once, from the
        accumulated gradients, exactly as for one step on the concatenated batch. Scale the
        losses as for ``backward()`` accumulation: with mean-reduced losses over M equal
        micro-batches, pass ``loss / M`` (in general ``loss * b_m / B`` for a micro-batch
        of ``b_m`` of the ``B`` samples); the accumulated gradient is then the big batch's
        gradient. On more than one rank nothing is communicated here; errors are held and
        raised by the next :meth:`apply`, on every rank.

        Parameters
        ----------
        losses : sequence of torch.Tensor
            The K scalar task losses of this micro-batch.
        scaler : torch.amp.GradScaler or None
            As in :meth:`step`; give it to every micro-batch of a step or to none.
        retain_graph : bool
            Keep the autograd graph after the last gradient call.
        features : torch.Tensor, sequence of torch.Tensor, or None
            As in :meth:`step`.

        Raises
        ------
        TypeError, ValueError
            As :meth:`step`; also if the scaler is given to some micro-batches of a step
            only, or its scale changed between them (``scaler.update()`` belongs after
            :meth:`apply`), or a second micro-batch is given to a representation
            measurement. On more than one rank they are raised by :meth:`apply` on exact
            steps, and here, on every rank, on held and representation steps.

        Examples
        --------
        >>> import torch
        >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> balancer = GabaBalancer([w])
        >>> for x in (1.0, 3.0):  # two micro-batches, losses scaled by 1/2
        ...     balancer.accumulate([(x * w).sum() / 2, w.sum() / 2])
        >>> balancer.pending_micro_batches
        2
        >>> result = balancer.apply()
        >>> [round(x, 4) for x in result.weights], result.micro_batches
        ([0.3333, 0.6667], 2)
        """
        group = distributed.active_group(self._process_group)
        if self._pending is None:
            self._pending = _Pending(mode=self._mode())
        pending = self._pending
        if pending.mode != "exact":
            self._accumulate_backward(pending, losses, scaler, retain_graph, features, group)
            return
        if group is not None:
            if pending.error is not None:
                return
            try:
                self._accumulate(losses, scaler, retain_graph, features)
            except Exception as err:
                pending.error = err
            return
        self._accumulate(losses, scaler, retain_graph, features)

    def _accumulate(self, losses: Sequence[torch.Tensor], scaler: Any, retain_graph: bool,
                    features: Any) -> None:
        losses = check_scalar_losses(losses, count=self.n_tasks)
        retain_graph = check_bool("retain_graph", retain_graph)
        if features is not None:
            raise ValueError("features is only read by sensor='representation'; this balancer "
                             "measures on the shared parameters (sensor='exact'): drop "
                             "features=")
        scale = loss_scale(scaler)
        pending = self._pending
        if pending is not None and pending.count:
            if (scale is None) != (pending.scale is None):
                raise ValueError("scaler must be given to every accumulate() call of a step or "
                                 "to none")
            if scale != pending.scale:
                raise ValueError(f"the scaler's scale changed between micro-batches "
                                 f"({pending.scale} -> {scale}): call scaler.update() only "
                                 "after apply()")
        self._check_not_freed(losses)
        values = [float(loss.detach()) for loss in losses]
        targets = losses if scale is None else [scaler.scale(loss) for loss in losses]
        with _freed_graph_named():
            grads = task_gradients(targets, self._params, retain_graph=retain_graph)
        self._freed = [] if retain_graph else [weakref.ref(loss) for loss in losses]
        unreached = self._check_reach(grads)
        if pending is None:
            pending = self._pending = _Pending()
        pending.grads = grads if pending.grads is None else add_task_gradients(pending.grads,
                                                                                 grads)
        pending.count += 1
        pending.loss_values.append(values)
        pending.scale = scale
        pending.unreached += [u for u in unreached if u not in pending.unreached]

    def _check_not_freed(self, losses: Sequence[torch.Tensor]) -> None:
        """Name a loss whose graph an earlier call of this balancer freed."""
        for i, loss in enumerate(losses):
            if any(ref() is loss for ref in self._freed):
                raise ValueError(f"losses[{i}] was already differentiated by an earlier step or "
                                 "accumulate call, which freed its graph: run a new forward "
                                 "pass for every step (or pass retain_graph=True to keep it)")

    def apply(self) -> GabaResult:
        """Weight the accumulated micro-batches once and write the result into ``.grad``.

        On more than one rank this is where the ranks communicate: they agree on the
        outcome, average each task's gradients, and every rank then writes the same
        weighted gradient (see the class notes).

        Returns
        -------
        GabaResult
            As :meth:`step`, with ``micro_batches`` set.

        Raises
        ------
        ValueError
            If nothing was accumulated, and as :meth:`step`.
        gabalab.distributed.RemoteRankError
            On more than one rank, when another rank's part of the step failed.
        """
        pending, self._pending = self._pending, None
        group = distributed.active_group(self._process_group)
        if pending is not None and pending.mode != "exact":
            return self._apply_backward(pending, group)
        if group is not None:
            return self._apply_distributed(pending, group)
        if pending is None or pending.count == 0:
            raise ValueError("apply() found no accumulated micro-batch: call "
                             "accumulate(losses) first (or step(losses))")
        assert pending.grads is not None
        per_tensor = tensor_norms(pending.grads)
        norms = _unscale(shared_norms(per_tensor, self._n_shared), pending.scale)
        reason = _nonfinite(pending.loss_values, per_tensor, self._names)
        return self._conclude(pending, pending.grads, norms, norms, reason, 1, CommStats())

    def _apply_distributed(self, pending: _Pending | None, group: Any) -> GabaResult:
        """The collective part of :meth:`apply`: agree, average, then conclude everywhere."""
        world = dist.get_world_size(group)
        error: Exception | None = None
        if pending is not None and pending.error is not None:
            error = pending.error
        elif pending is None or pending.count == 0:
            error = ValueError("apply() found no accumulated micro-batch: call "
                               "accumulate(losses) first (or step(losses))")
        nan = (math.nan,) * self.n_tasks
        local, local_reason, scale = nan, "", None
        if error is None:
            assert pending is not None and pending.grads is not None
            scale = pending.scale
            per_tensor = tensor_norms(pending.grads)
            local = _unscale(shared_norms(per_tensor, self._n_shared), scale)
            local_reason = _nonfinite(pending.loss_values, per_tensor, self._names)
        header = self._header(group, phase=1, mode="exact",
                              micro_batch=0 if pending is None else pending.count, scale=scale,
                              error=error is not None, bad=bool(local_reason))
        agreed, comm = self._agree(header, group, "the step header all-reduce of apply() "
                                                  "(exact step)")
        nothing = "nothing was written to .grad on any rank"
        device = self._params[0].device
        self._refuse_disagreement(agreed, _SETUP_FIELDS, header, group, nothing)
        _raise_if_any_failed(agreed, error, group, world, self.timeout_s, device)
        self._refuse_disagreement(agreed, _STEP_FIELDS, header, group, nothing)
        assert pending is not None and pending.grads is not None
        reason = _agreed_reason(agreed, local_reason, group, world, self.timeout_s, device)
        if reason:
            return self._conclude(pending, None, nan, local, reason, world, comm)
        averaged, traffic = distributed.average_task_gradients(
            pending.grads, self._params, group, bucket_cap_mb=self.bucket_cap_mb,
            timeout_s=self.timeout_s)
        per_tensor = tensor_norms(averaged)
        norms = _unscale(shared_norms(per_tensor, self._n_shared), scale)
        reason = _nonfinite([], per_tensor, self._names)
        return self._conclude(pending, averaged, norms, local, reason, world, comm + traffic)

    # ------------------------------------------- held and representation steps (one backward)

    def _accumulate_backward(self, pending: _Pending, losses: Sequence[torch.Tensor],
                             scaler: Any, retain_graph: bool, features: Any,
                             group: Any) -> None:
        """One micro-batch of a held or representation step: check, agree, one backward()."""
        representation = pending.mode == "representation"
        error: Exception | None = None
        values: list[float] = []
        local: tuple[float, ...] = (math.nan,) * self.n_tasks
        reason, scale = "", None
        sums: torch.Tensor | None = None
        try:
            losses = check_scalar_losses(losses, count=self.n_tasks)
            retain_graph = check_bool("retain_graph", retain_graph)
            self._check_not_freed(losses)
            scale = loss_scale(scaler)
            if pending.count and (scale is None) != (pending.scale is None):
                raise ValueError("scaler must be given to every accumulate() call of a step or "
                                 "to none")
            if pending.count and scale != pending.scale:
                raise ValueError(f"the scaler's scale changed between micro-batches "
                                 f"({pending.scale} -> {scale}): call scaler.update() only "
                                 "after apply()")
            if self.sensor == "exact" and features is not None:
                raise ValueError("features is only read by sensor='representation'; this "
                                 "balancer measures on the shared parameters "
                                 "(sensor='exact'): drop features=")
            feats = None if features is None else sensors.check_features(features)
            if representation:
                if pending.count:
                    raise ValueError(
                        "sensor='representation' measures on one micro-batch per step: its "
                        "weights are needed before the backward pass through the trunk, and "
                        "weights from one micro-batch's norms would be biased. Accumulate "
                        "with sensor='exact', or take one step per batch")
                if feats is None:
                    raise ValueError(
                        "sensor='representation' needs the shared features of this forward "
                        "pass: step(losses, features=z), with z the trunk's output that the "
                        "heads read (z = model.features(x); heads applied to z)")
            values = [float(loss.detach()) for loss in losses]
            bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                reason = f"losses[{bad[0]}] is not finite ({values[bad[0]]})"
            if representation and not reason:
                assert feats is not None
                targets = losses if scale is None else [scaler.scale(loss) for loss in losses]
                with _freed_graph_named():
                    grads = sensors.representation_gradients(targets, feats)
                if self.representation_norm == "batch_sum":
                    sums = sensors.batch_sums(grads)
                    local = _unscale(tuple(torch.linalg.vector_norm(sums, dim=1).tolist()),
                                     scale)
                else:
                    local = sensors.feature_norms(grads, scale, reduce="frobenius")
                bad = [i for i, g in enumerate(local) if not math.isfinite(g)]
                if bad:
                    reason = (f"losses[{bad[0]}]: the gradient on the features is not finite "
                              "(NaN or inf)")
        except Exception as err:
            if group is None:
                raise
            error = err
        norms, comm = local, CommStats()
        if group is not None:
            norms, comm, reason = self._agree_before_backward(pending, group, error, scale,
                                                              local, reason, sums)
        if pending.count == 0:
            pending.was_none = [p.grad is None for p in self._params]
        pending.reason = pending.reason or reason
        if not pending.reason:
            if representation:
                update = stabilised_weights(norms, self._ema_norms, ema=self.ema,
                                            floor=self.floor, rule=self.weight_rule)
                pending.weights = tuple(float(w) for w in update.weights)
                pending.smoothed = tuple(float(g) for g in update.norms)
            else:
                assert self._held is not None
                pending.weights, pending.smoothed = self._held.weights, self._held.norms
            with _freed_graph_named():
                sensors.weighted_backward(losses, pending.weights,
                                          scaler=None if scale is None else scaler,
                                          retain_graph=retain_graph)
            self._freed = [] if retain_graph else [weakref.ref(loss) for loss in losses]
        if representation:
            pending.norms, pending.local = norms, local
        pending.count += 1
        pending.loss_values.append(values)
        pending.scale = scale
        pending.comm = pending.comm + comm

    def _agree_before_backward(
        self, pending: _Pending, group: Any, error: Exception | None, scale: float | None,
        local: tuple[float, ...], local_reason: str, sums: torch.Tensor | None,
    ) -> tuple[tuple[float, ...], CommStats, str]:
        """Before a held or representation backward: every rank goes on, skips, or raises.

        Returns the norms (the representation norms of the whole batch, over the ranks), the
        traffic, and the agreed non-finite reason.
        """
        world = dist.get_world_size(group)
        device = self._params[0].device
        header = self._header(group, phase=0, mode=pending.mode, micro_batch=pending.count,
                              scale=scale, error=error is not None, bad=bool(local_reason))
        agreed, comm = self._agree(
            header, group, f"the step header all-reduce of accumulate() ({pending.mode} step, "
                           f"micro-batch {pending.count + 1})")
        nothing = "nothing was written to .grad on any rank"
        try:
            self._refuse_disagreement(agreed, _SETUP_FIELDS, header, group, nothing)
            _raise_if_any_failed(agreed, error, group, world, self.timeout_s, device)
            self._refuse_disagreement(agreed, _STEP_FIELDS, header, group, nothing)
        except Exception:
            self._pending = None
            if pending.count:
                self._restore_grads(pending)
            raise
        reason = _agreed_reason(agreed, local_reason, group, world, self.timeout_s, device)
        if reason or pending.mode != "representation":
            return local, comm, reason
        # The batch is split by rank: dL/dz_r = (1/R) dL_r/dz_r. Summed over the batch, the
        # global gradient is the mean of the ranks' sums; the squared Frobenius norm is the
        # sum of the ranks' squares over R^2.
        if sums is not None:
            mean, traffic = distributed.mean_over_ranks(sums, group, timeout_s=self.timeout_s)
            norms = _unscale(tuple(torch.linalg.vector_norm(mean, dim=1).tolist()), scale)
            return norms, comm + traffic, ""
        squares, traffic = distributed.sum_over_ranks([g * g for g in local], group, device,
                                                      timeout_s=self.timeout_s)
        return tuple(math.sqrt(v) / world for v in squares), comm + traffic, ""

    def _apply_backward(self, pending: _Pending, group: Any) -> GabaResult:
        """End of a held or representation step: check .grad, agree, conclude."""
        error: Exception | None = None
        if pending.count == 0:
            error = ValueError("apply() found no accumulated micro-batch: call "
                               "accumulate(losses) first (or step(losses))")
            if group is None:
                raise error
        reason = pending.reason
        total = math.nan
        if error is None and not reason:
            total = sensors.grad_norm(self._params)
            if not math.isfinite(total):
                reason = ("the weighted gradient in .grad is not finite (NaN or inf) after "
                          "backward()")
        if group is None:
            return self._conclude_backward(pending, reason, 1, pending.comm)
        world = dist.get_world_size(group)
        device = self._params[0].device
        header = self._header(group, phase=1, mode=pending.mode, micro_batch=pending.count,
                              scale=pending.scale, error=error is not None,
                              bad=bool(reason and not pending.reason), grad_norm=total)
        agreed, comm = self._agree(header, group, f"the step header all-reduce of apply() "
                                                  f"({pending.mode} step)")
        comm = pending.comm + comm
        restored = ("every .grad that was None before the step is None again (gradients "
                    "accumulated in .grad before it are not restored)")
        try:
            self._refuse_disagreement(agreed, _SETUP_FIELDS, header, group, restored)
            _raise_if_any_failed(agreed, error, group, world, self.timeout_s, device)
            self._refuse_disagreement(agreed, _STEP_FIELDS, header, group, restored)
        except Exception:
            self._restore_grads(pending)
            raise
        reason = pending.reason or _agreed_reason(agreed, reason, group, world, self.timeout_s,
                                                  device)
        lo, hi = agreed["grad_norm"]
        if not reason and hi - lo > 1e-6 * hi:
            self._restore_grads(pending)
            raise ValueError(
                f"the gradients in .grad differ between ranks after the weighted backward() "
                f"(norms from {lo:.9g} to {hi:.9g}): held and representation steps rely on "
                "DistributedDataParallel to average .grad, so run the forward pass through "
                "the DDP-wrapped model, without static_graph=True (or use sensor='exact' "
                "with measure_every=1, which averages the task gradients itself)")
        return self._conclude_backward(pending, reason, world, comm)

    def _nonfinite_outcome(self, reason: str, pending: _Pending,
                           result: Callable[..., GabaResult], not_applied: str) -> GabaResult:
        """A step with a non-finite value: a GradScaler's overflow, an error, or a skip.

        ``not_applied`` says, in the error, what was left of the step (it differs between the
        exact step, which writes ``.grad`` last, and the one-backward steps, which restore it).
        """
        nan = (math.nan,) * self.n_tasks
        if pending.scale is not None:
            flag_overflow(self._params)
            self.n_steps += 1
            self.n_overflows += 1
            return result(nan, nan, skipped=False, overflow=True,
                          reason=f"{reason}; handed to the GradScaler as an overflow (.grad "
                                 "flagged: scaler.step skips, scaler.update lowers the scale)")
        if self.on_nonfinite == "raise":
            raise ValueError(f"{reason}; {not_applied} (pass on_nonfinite='skip' to skip such "
                             "steps)")
        self.n_steps += 1
        self.n_skipped += 1
        return result(nan, nan, skipped=True, reason=reason, overflow=False)

    def _conclude_backward(self, pending: _Pending, reason: str, world: int,
                           comm: CommStats) -> GabaResult:
        """Skip, hand over an overflow, raise, or accept: the end of a one-backward step."""
        held = pending.mode == "held"
        nan = (math.nan,) * self.n_tasks
        norms = nan if held or pending.norms is None else pending.norms
        local = nan if held or pending.local is None else pending.local
        age = 0 if not held or self._held is None else self._held.age + 1

        def result(smoothed: tuple[float, ...], weights: tuple[float, ...], *, skipped: bool,
                   reason: str, overflow: bool) -> GabaResult:
            return GabaResult(norms, smoothed, weights, math.nan if held else _ratio(norms),
                              skipped, reason, (), local_norms=local, world_size=world,
                              micro_batches=pending.count, scale=pending.scale,
                              overflow=overflow, all_reduce_calls=comm.calls,
                              all_reduce_bytes=comm.bytes, sensor=self.sensor,
                              fresh=not held, age=age)

        if reason:
            if pending.scale is None:
                self._restore_grads(pending)
            return self._nonfinite_outcome(
                reason, pending, result, "the step was not applied: every .grad that was None "
                "before the step is None again")
        assert pending.weights is not None and pending.smoothed is not None
        if held:
            assert self._held is not None
            self._held.age += 1
        else:
            if self.ema:
                self._ema_norms = np.asarray(pending.smoothed, dtype=np.float64)
            self._held = HeldWeights(pending.weights, pending.smoothed)
        self.n_steps += 1
        return result(pending.smoothed, pending.weights, skipped=False, reason="",
                      overflow=False)

    # ------------------------------------------------------------- agreement between ranks

    def _header(self, group: Any, *, phase: int, mode: str, micro_batch: int,
                scale: float | None, error: bool, bad: bool,
                grad_norm: float = 0.0) -> dict[str, float]:
        """This rank's numbers for :data:`HEADER_FIELDS`, in that order."""
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        held = self._held
        values: dict[str, float] = {
            "n_tasks": float(self.n_tasks),
            "sensor": float(sensors.SENSORS.index(self.sensor)),
            "measure_every": float(self.measure_every),
            "ema": -1.0 if self.ema is None else float(self.ema),
            "floor": float(self.floor),
            "weight_rule": float(WEIGHT_RULES.index(self.weight_rule)),
            "on_nonfinite": float(_POLICIES.index(self.on_nonfinite)),
            "representation_norm": float(
                sensors.REPRESENTATION_NORMS.index(self.representation_norm)),
            "bucket_cap_mb": float(self.bucket_cap_mb),
            "n_tensors": float(len(self._params)),
            "numel": float(sum(p.numel() for p in self._params)),
            "layout": float(sum((j + 1) * p.numel() for j, p in enumerate(self._params))),
            "n_steps": float(self.n_steps),
            "ema_state": _fingerprint(None if self._ema_norms is None
                                      else self._ema_norms.tolist()),
            "held_state": _fingerprint(None if held is None else
                                       [*held.weights, *held.norms, float(held.age)]),
            "phase": float(phase),
            "mode": float(_MODES.index(mode)),
            "micro_batch": float(micro_batch),
            "scale": 0.0 if scale is None else float(scale),
            "replicas": _checksum(self._params),
            "error_rank": float(rank if error else world),
            "bad_rank": float(rank if bad else world),
            "grad_norm": grad_norm if math.isfinite(grad_norm) else 0.0,
        }
        return {name: values[name] for name in HEADER_FIELDS}

    def _readable(self, header: dict[str, float]) -> dict[str, str]:
        """This rank's header as the words of a disagreement message."""
        held = self._held
        codes = {"sensor": sensors.SENSORS, "weight_rule": WEIGHT_RULES,
                 "on_nonfinite": _POLICIES, "representation_norm": sensors.REPRESENTATION_NORMS,
                 "mode": tuple(f"{m!r}" for m in _MODES), "phase": _PHASES}
        out = {}
        for name in _SETUP_FIELDS + _STEP_FIELDS:
            value = header[name]
            if name in codes:
                text = str(codes[name][int(value)])
                out[name] = text if name in ("mode", "phase") else repr(text)
            elif name in ("n_tasks", "measure_every", "n_tensors", "numel", "layout", "n_steps",
                          "micro_batch"):
                out[name] = str(int(value))
            else:
                out[name] = repr(value)
        out["ema"] = repr(self.ema)
        out["scale"] = "no scaler" if header["scale"] == 0.0 else repr(header["scale"])
        out["ema_state"] = ("none" if self._ema_norms is None else
                            str(tuple(float(g) for g in self._ema_norms)))
        out["held_state"] = ("none" if held is None else
                             f"weights {held.weights} held for {held.age} step(s)")
        out["replicas"] = f"checksum {header['replicas']:.17g}"
        return out

    def _agree(self, header: dict[str, float], group: Any,
               what: str) -> tuple[dict[str, tuple[float, float]], CommStats]:
        """The agreement all-reduce of ``header``, bounded by ``timeout_s``."""
        return distributed.agree(header, group, self._params[0].device,
                                 timeout_s=self.timeout_s, what=what)

    def _refuse_disagreement(self, agreed: dict[str, tuple[float, float]],
                             fields: Sequence[str], header: dict[str, float], group: Any,
                             not_written: str) -> None:
        """Raise the same ValueError on every rank if the ranks differ on one of ``fields``.

        The message names the first such field and every rank's value (gathered from the
        ranks, which all take this path together: they see the same min and max).
        """
        differing = [f for f in fields if agreed[f][0] != agreed[f][1]]
        if not differing:
            return
        mine = json.dumps(self._readable(header))
        gathered = distributed.gather_messages(mine, group, timeout_s=self.timeout_s,
                                               device=self._params[0].device)
        field = differing[0]
        ranks_of: dict[str, list[int]] = {}
        for rank, text in enumerate(gathered):
            ranks_of.setdefault(json.loads(text).get(field, "?"), []).append(rank)
        listed = "; ".join(
            f"{value} on rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"
            for value, ranks in ranks_of.items())
        also = f"; also differing: {', '.join(differing[1:])}" if len(differing) > 1 else ""
        subject, advice = _DISAGREEMENTS[field]
        raise ValueError(f"{subject} ({listed}){also}{advice}. Every rank refuses this step: "
                         f"{not_written}")

    def _conclude(
        self,
        pending: _Pending,
        grads: Sequence[TaskGrads] | None,
        norms: tuple[float, ...],
        local: tuple[float, ...],
        reason: str,
        world: int,
        comm: CommStats,
    ) -> GabaResult:
        """Skip, hand over an overflow, raise, or weight and write: the end of every step."""
        unreached = tuple(pending.unreached)

        def result(smoothed: tuple[float, ...], weights: tuple[float, ...], *, skipped: bool,
                   reason: str, overflow: bool) -> GabaResult:
            return GabaResult(norms, smoothed, weights, _ratio(norms), skipped, reason,
                              unreached, local_norms=local, world_size=world,
                              micro_batches=pending.count, scale=pending.scale,
                              overflow=overflow, all_reduce_calls=comm.calls,
                              all_reduce_bytes=comm.bytes)

        if reason:
            return self._nonfinite_outcome(reason, pending, result,
                                           "nothing was written to .grad")
        assert grads is not None
        update = stabilised_weights(norms, self._ema_norms, ema=self.ema, floor=self.floor,
                                    rule=self.weight_rule)
        if self.ema:
            self._ema_norms = update.norms
        weights = tuple(float(w) for w in update.weights)
        write_weighted_grad(self._params, grads, weights)
        self.n_steps += 1
        smoothed = tuple(float(g) for g in update.norms)
        self._held = HeldWeights(weights, smoothed)
        return result(smoothed, weights, skipped=False, reason="", overflow=False)

    def _check_reach(self, grads: Sequence[TaskGrads]) -> tuple[tuple[int, str], ...]:
        """Raise if a task reaches no shared parameter; record the parameters it misses."""
        present = [[j for j, g in enumerate(task) if g is not None] for task in grads]
        for i, idx in enumerate(present):
            if not idx or idx[0] >= self._n_shared:
                raise ValueError(f"losses[{i}] reaches none of the shared parameters; check "
                                 "which parameters are shared and which are heads")
        n_heads = len(self._params) - self._n_shared
        if n_heads and not any(j >= self._n_shared for idx in present for j in idx):
            raise ValueError(f"heads: no loss reaches any of its {n_heads} parameters (are they "
                             "parameters of another model?); nothing was written to .grad")
        return self._record_unreached(present)

    def _record_unreached(self, present: list[list[int]]) -> tuple[tuple[int, str], ...]:
        """Find (task, name) pairs a task does not reach; warn the first time any appear."""
        n_shared, names = self._n_shared, self._names
        found: list[tuple[int, str]] = []
        reached_heads: set[int] = set()
        for i, idx in enumerate(present):
            if len(idx) < n_shared or idx[n_shared - 1] != n_shared - 1:
                have = set(idx)
                found += [(i, names[j]) for j in range(n_shared) if j not in have]
            reached_heads.update(j for j in idx if j >= n_shared)
        dead = [j for j in range(n_shared, len(names)) if j not in reached_heads]
        found += [(i, names[j]) for j in dead for i in range(len(present))]
        if found:
            self._unreached.update(found)
            if not self._warned:
                self._warned = True
                listed = ", ".join(f"losses[{i}] -> {n}" for i, n in found[:8])
                more = f" and {len(found) - 8} more" if len(found) > 8 else ""
                warnings.warn(
                    f"GabaBalancer: some tasks do not reach some parameters ({listed}{more}); "
                    "they count as zero in that task's norm. This warning is shown once; see "
                    "GabaBalancer.unreached.",
                    UserWarning,
                    stacklevel=3,
                )
        return tuple(found)


def gaba_backward(
    losses: Sequence[torch.Tensor],
    shared: _Params,
    heads: _Params = (),
    *,
    floor: float = DEFAULT_FLOOR,
    on_nonfinite: Literal["raise", "skip"] = "raise",
    retain_graph: bool = False,
    weight_rule: str = DEFAULT_RULE,
) -> GabaResult:
    """One GABA step without state: ``backward()`` of the GABA-weighted loss, done cheaply.

    Equivalent to ``GabaBalancer(shared, heads, n_tasks=len(losses), ...).step(losses)``. In
    a training loop prefer :class:`GabaBalancer`, which checks the parameter lists once,
    keeps the EMA state and warns about unreached parameters only once.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        K >= 2 scalar task losses from one forward pass.
    shared, heads : iterable of torch.Tensor or of (str, torch.Tensor)
        Shared and head parameters, as in :class:`GabaBalancer`.
    floor : float
        Smallest weight, ``0 <= floor <= 1 / K`` (default as :class:`GabaBalancer`).
    on_nonfinite : {"raise", "skip"}
        Failure policy, as in :class:`GabaBalancer`.
    retain_graph : bool
        Keep the graph after the step.
    weight_rule : {"inverse", "source"}
        The closed form, as in :class:`GabaBalancer`.

    Returns
    -------
    GabaResult

    Raises
    ------
    TypeError, ValueError
        As :class:`GabaBalancer` and :meth:`GabaBalancer.step`; also when fewer than two
        losses are given.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> result = gaba_backward([(3 * w).sum(), w.sum()], [w])
    >>> [round(x, 4) for x in result.weights]
    [0.25, 0.75]
    >>> w.grad
    tensor([1.5000, 1.5000])
    """
    losses = check_scalar_losses(losses, minimum=2)
    balancer = GabaBalancer(shared, heads, n_tasks=len(losses), floor=floor,
                            on_nonfinite=on_nonfinite, weight_rule=weight_rule)
    return balancer.step(losses, retain_graph=retain_graph)
