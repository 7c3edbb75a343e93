"""The held and representation path: one ordinary weighted ``backward()`` per micro-batch.

A held step (``measure_every > 1``) reuses the weights of the last measurement; a
representation step measures each task's gradient norm on the shared features first. Both
then run one ``backward()`` of ``sum_i w_i L_i`` (:func:`gabalab.sensors.weighted_backward`),
which writes ``.grad`` at once, through ``DistributedDataParallel``'s hooks when there is a
process group. So the ranks agree *before* each backward (:func:`accumulate_one_backward`)
and check ``.grad`` after the last one (:func:`apply_one_backward`); a refused step resets
every ``.grad`` that was ``None`` when it began (:func:`restore_grads`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gabalab import distributed, sensors
from gabalab._checks import check_bool, check_scalar_losses
from gabalab.amp import loss_scale
from gabalab.distributed import CommStats
from gabalab.gaba._agreement import agree, agreed_reason, rank_header, stop_unless_agreed
from gabalab.gaba._losses import (
    FEATURES_UNUSED,
    check_not_freed,
    check_same_scale,
    freed_graph_named,
    remember_freed,
)
from gabalab.gaba._result import GabaResult, StepFacts, nonfinite_outcome, unscale
from gabalab.gaba._settings import Settings
from gabalab.gaba._state import NOTHING_ACCUMULATED, BalancerState, Pending
from gabalab.sensors import HeldWeights
from gabalab.weighting import stabilised_weights

_RESTORED = ("every .grad that was None before the step is None again (gradients "
             "accumulated in .grad before it are not restored)")


@dataclass
class _MicroBatch:
    """One micro-batch, as far as its checks and its measurement got."""

    local: tuple[float, ...]
    losses: list[torch.Tensor] = field(default_factory=list)
    retain_graph: bool = False
    scale: float | None = None
    values: list[float] = field(default_factory=list)
    reason: str = ""
    sums: torch.Tensor | None = None


def restore_grads(params: Sequence[torch.Tensor], pending: Pending) -> None:
    """Set back to ``None`` every ``.grad`` that was ``None`` when the step began."""
    for p, was_none in zip(params, pending.was_none):
        if was_none:
            p.grad = None


def accumulate_one_backward(settings: Settings, state: BalancerState, pending: Pending,
                            losses: Any, scaler: Any, retain_graph: Any, features: Any,
                            group: Any) -> None:
    """One micro-batch of a held or representation step: check, agree, one backward().

    Under a process group every rank raises here, alike, if any rank's checks failed.
    """
    batch = _MicroBatch(local=settings.nan)
    error: Exception | None = None
    try:
        _read(settings, state, pending, batch, losses, scaler, retain_graph, features)
    except Exception as err:
        if group is None:
            raise
        error = err
    norms, comm, reason = batch.local, CommStats(), batch.reason
    if group is not None:
        norms, comm, reason = _agree_before_backward(settings, state, pending, group, error,
                                                     batch)
    if pending.count == 0:
        pending.was_none = [p.grad is None for p in settings.params]
    pending.reason = pending.reason or reason
    if not pending.reason:
        _backward(settings, state, pending, batch, norms, scaler)
    if pending.mode == "representation":
        pending.norms, pending.local = norms, batch.local
    pending.count += 1
    pending.loss_values.append(batch.values)
    pending.scale = batch.scale
    pending.comm = pending.comm + comm


def _read(settings: Settings, state: BalancerState, pending: Pending, batch: _MicroBatch,
          losses: Any, scaler: Any, retain_graph: Any, features: Any) -> None:
    """Check one micro-batch and, on a representation step, measure it, filling ``batch``."""
    representation = pending.mode == "representation"
    batch.losses = check_scalar_losses(losses, count=settings.n_tasks)
    batch.retain_graph = check_bool("retain_graph", retain_graph)
    check_not_freed(batch.losses, state)
    batch.scale = loss_scale(scaler)
    check_same_scale(pending.count, pending.scale, batch.scale)
    if settings.sensor == "exact" and features is not None:
        raise ValueError(FEATURES_UNUSED)
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
    batch.values = [float(loss.detach()) for loss in batch.losses]
    bad = [i for i, v in enumerate(batch.values) if not math.isfinite(v)]
    if bad:
        batch.reason = f"losses[{bad[0]}] is not finite ({batch.values[bad[0]]})"
    if representation and not batch.reason:
        assert feats is not None
        _measure_features(settings, batch, feats, scaler)


def _measure_features(settings: Settings, batch: _MicroBatch, feats: list[torch.Tensor],
                      scaler: Any) -> None:
    """This rank's representation norms of the micro-batch (and the batch sums they use)."""
    targets = (batch.losses if batch.scale is None
               else [scaler.scale(loss) for loss in batch.losses])
    with freed_graph_named():
        grads = sensors.representation_gradients(targets, feats)
    if settings.representation_norm == "batch_sum":
        batch.sums = sensors.batch_sums(grads)
        batch.local = unscale(tuple(torch.linalg.vector_norm(batch.sums, dim=1).tolist()),
                              batch.scale)
    else:
        batch.local = sensors.feature_norms(grads, batch.scale, reduce="frobenius")
    bad = [i for i, g in enumerate(batch.local) if not math.isfinite(g)]
    if bad:
        batch.reason = (f"losses[{bad[0]}]: the gradient on the features is not finite "
                        "(NaN or inf)")


def _agree_before_backward(
    settings: Settings, state: BalancerState, pending: Pending, group: Any,
    error: Exception | None, batch: _MicroBatch,
) -> tuple[tuple[float, ...], CommStats, str]:
    """Before a held or representation backward: every rank goes on, skips, or raises.

    Returns the norms (the representation norms of the whole batch, over the ranks), the
    traffic, and the agreed non-finite reason.
    """
    world = dist.get_world_size(group)
    header = rank_header(settings, state, group, phase=0, mode=pending.mode,
                         micro_batch=pending.count, scale=batch.scale,
                         error=error is not None, bad=bool(batch.reason))
    agreed, comm = agree(header, settings, group,
                         f"the step header all-reduce of accumulate() ({pending.mode} step, "
                         f"micro-batch {pending.count + 1})")
    try:
        stop_unless_agreed(agreed, header, error, settings, state, group,
                           "nothing was written to .grad on any rank")
    except Exception:
        state.pending = None
        if pending.count:
            restore_grads(settings.params, pending)
        raise
    reason = agreed_reason(agreed, batch.reason, settings, group)
    if reason or pending.mode != "representation":
        return batch.local, comm, reason
    # The batch is split by rank: dL/dz_r = (1/R) dL_r/dz_r. Summed over the batch, the
    # global gradient is the mean of the ranks' sums; the squared Frobenius norm is the
    # sum of the ranks' squares over R^2.
    if batch.sums is not None:
        mean, traffic = distributed.mean_over_ranks(batch.sums, group,
                                                    timeout_s=settings.timeout_s)
        norms = unscale(tuple(torch.linalg.vector_norm(mean, dim=1).tolist()), batch.scale)
        return norms, comm + traffic, ""
    squares, traffic = distributed.sum_over_ranks([g * g for g in batch.local], group,
                                                  settings.device, timeout_s=settings.timeout_s)
    return tuple(math.sqrt(v) / world for v in squares), comm + traffic, ""


def _backward(settings: Settings, state: BalancerState, pending: Pending, batch: _MicroBatch,
              norms: tuple[float, ...], scaler: Any) -> None:
    """The weights of the step (measured now, or held), then one weighted backward()."""
    if pending.mode == "representation":
        update = stabilised_weights(norms, state.ema_norms, ema=settings.ema,
                                    floor=settings.floor, rule=settings.weight_rule)
        pending.weights = tuple(float(w) for w in update.weights)
        pending.smoothed = tuple(float(g) for g in update.norms)
    else:
        assert state.held is not None
        pending.weights, pending.smoothed = state.held.weights, state.held.norms
    with freed_graph_named():
        sensors.weighted_backward(batch.losses, pending.weights,
                                  scaler=None if batch.scale is None else scaler,
                                  retain_graph=batch.retain_graph)
    remember_freed(batch.losses, batch.retain_graph, state)


def apply_one_backward(settings: Settings, state: BalancerState, pending: Pending,
                       group: Any) -> GabaResult:
    """End of a held or representation step: check .grad, agree, conclude."""
    error: Exception | None = None
    if pending.count == 0:
        error = ValueError(NOTHING_ACCUMULATED)
        if group is None:
            raise error
    reason = pending.reason
    total = math.nan
    if error is None and not reason:
        total = sensors.grad_norm(settings.params)
        if not math.isfinite(total):
            reason = ("the weighted gradient in .grad is not finite (NaN or inf) after "
                      "backward()")
    if group is None:
        return _conclude(settings, state, pending, reason, 1, pending.comm)
    world = dist.get_world_size(group)
    header = rank_header(settings, state, group, phase=1, mode=pending.mode,
                         micro_batch=pending.count, scale=pending.scale,
                         error=error is not None, bad=bool(reason and not pending.reason),
                         grad_norm=total)
    agreed, comm = agree(header, settings, group,
                         f"the step header all-reduce of apply() ({pending.mode} step)")
    comm = pending.comm + comm
    try:
        stop_unless_agreed(agreed, header, error, settings, state, group, _RESTORED)
    except Exception:
        restore_grads(settings.params, pending)
        raise
    reason = pending.reason or agreed_reason(agreed, reason, settings, group)
    lo, hi = agreed["grad_norm"]
    if not reason and hi - lo > 1e-6 * hi:
        restore_grads(settings.params, pending)
        raise ValueError(
            f"the gradients in .grad differ between ranks after the weighted backward() "
            f"(norms from {lo:.9g} to {hi:.9g}): held and representation steps rely on "
            "DistributedDataParallel to average .grad, so run the forward pass through "
            "the DDP-wrapped model, without static_graph=True (or use sensor='exact' "
            "with measure_every=1, which averages the task gradients itself)")
    return _conclude(settings, state, pending, reason, world, comm)


def _conclude(settings: Settings, state: BalancerState, pending: Pending, reason: str,
              world: int, comm: CommStats) -> GabaResult:
    """Skip, hand over an overflow, raise, or accept: the end of a one-backward step."""
    held = pending.mode == "held"
    nan = settings.nan
    facts = StepFacts(
        nan if held or pending.norms is None else pending.norms,
        nan if held or pending.local is None else pending.local,
        world, pending.count, pending.scale, comm, sensor=settings.sensor, fresh=not held,
        age=0 if not held or state.held is None else state.held.age + 1)
    if reason:
        if pending.scale is None:
            restore_grads(settings.params, pending)
        return nonfinite_outcome(
            facts, reason, settings, state, "the step was not applied: every .grad that was "
            "None before the step is None again")
    assert pending.weights is not None and pending.smoothed is not None
    if held:
        assert state.held is not None
        state.held.age += 1
    else:
        if settings.ema:
            state.ema_norms = np.asarray(pending.smoothed, dtype=np.float64)
        state.held = HeldWeights(pending.weights, pending.smoothed)
    state.n_steps += 1
    return facts.result(pending.smoothed, pending.weights)
