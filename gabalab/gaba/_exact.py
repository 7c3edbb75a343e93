"""The exact path: per-task gradients on every parameter, weighted once, written last.

Each micro-batch adds its K gradient calls to the step being gathered
(:func:`accumulate_exact`); :func:`apply_exact` measures the norms and writes
``sum_i w_i grad_i`` into ``.grad`` in a single process; :func:`apply_exact_distributed`
first agrees with the other ranks, then averages every task's gradients over them and does
the same, identically on every rank. Nothing is written to ``.grad`` before the weights are
known, so a refused step leaves it as it was.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist

from gabalab import distributed
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
from gabalab.gaba._params import check_reach
from gabalab.gaba._result import GabaResult, StepFacts, nonfinite_outcome, unscale
from gabalab.gaba._settings import Settings
from gabalab.gaba._state import NOTHING_ACCUMULATED, BalancerState, Pending
from gabalab.gaba_stages import (
    TaskGrads,
    add_task_gradients,
    nonfinite_values_reason,
    shared_norms,
    task_gradients,
    tensor_norms,
    write_weighted_grad,
)
from gabalab.sensors import HeldWeights
from gabalab.weighting import stabilised_weights

_NOTHING_WRITTEN = "nothing was written to .grad"


def accumulate_exact(settings: Settings, state: BalancerState, pending: Pending, losses: Any,
                     scaler: Any, retain_graph: Any, features: Any, group: Any) -> None:
    """Add one micro-batch's per-task gradients to ``pending``.

    Under a process group (``group`` not ``None``) an error is held in ``pending`` for
    :func:`apply_exact_distributed` to share with the other ranks, and later micro-batches
    of the step are then ignored; in a single process it is raised at once.
    """
    if group is None:
        _gather(settings, state, pending, losses, scaler, retain_graph, features)
        return
    if pending.error is not None:
        return
    try:
        _gather(settings, state, pending, losses, scaler, retain_graph, features)
    except Exception as err:
        pending.error = err


def _gather(settings: Settings, state: BalancerState, pending: Pending, losses: Any,
            scaler: Any, retain_graph: Any, features: Any) -> None:
    """Check one micro-batch, take its K gradients, and add them to ``pending``."""
    losses = check_scalar_losses(losses, count=settings.n_tasks)
    retain_graph = check_bool("retain_graph", retain_graph)
    if features is not None:
        raise ValueError(FEATURES_UNUSED)
    scale = loss_scale(scaler)
    check_same_scale(pending.count, pending.scale, scale)
    check_not_freed(losses, state)
    values = [float(loss.detach()) for loss in losses]
    targets = losses if scale is None else [scaler.scale(loss) for loss in losses]
    with freed_graph_named():
        grads = task_gradients(targets, settings.params, retain_graph=retain_graph)
    remember_freed(losses, retain_graph, state)
    unreached = check_reach(grads, settings, state)
    pending.grads = grads if pending.grads is None else add_task_gradients(pending.grads,
                                                                             grads)
    pending.count += 1
    pending.loss_values.append(values)
    pending.scale = scale
    pending.unreached += [u for u in unreached if u not in pending.unreached]


def _measured(settings: Settings, grads: list[TaskGrads], scale: float | None,
              loss_values: list[list[float]]) -> tuple[tuple[float, ...], str]:
    """The norms on the shared parameters, unscaled, and why they are unusable ("" if not)."""
    per_tensor = tensor_norms(grads)
    norms = unscale(shared_norms(per_tensor, settings.n_shared), scale)
    return norms, nonfinite_values_reason(loss_values, per_tensor, settings.names)


def apply_exact(settings: Settings, state: BalancerState,
                pending: Pending | None) -> GabaResult:
    """Weight the gathered micro-batches and write ``.grad``: the single-process step."""
    if pending is None or pending.count == 0:
        raise ValueError(NOTHING_ACCUMULATED)
    assert pending.grads is not None
    norms, reason = _measured(settings, pending.grads, pending.scale, pending.loss_values)
    facts = _facts(pending, norms, norms, 1, CommStats())
    return _conclude(settings, state, pending.grads, facts, reason)


def apply_exact_distributed(settings: Settings, state: BalancerState,
                            pending: Pending | None, group: Any) -> GabaResult:
    """The collective step: agree, average every task's gradients, then conclude everywhere."""
    world = dist.get_world_size(group)
    error: Exception | None = None
    if pending is not None and pending.error is not None:
        error = pending.error
    elif pending is None or pending.count == 0:
        error = ValueError(NOTHING_ACCUMULATED)
    local, local_reason, scale = settings.nan, "", None
    if error is None:
        assert pending is not None and pending.grads is not None
        scale = pending.scale
        local, local_reason = _measured(settings, pending.grads, scale, pending.loss_values)
    header = rank_header(settings, state, group, phase=1, mode="exact",
                         micro_batch=0 if pending is None else pending.count, scale=scale,
                         error=error is not None, bad=bool(local_reason))
    agreed, comm = agree(header, settings, group,
                         "the step header all-reduce of apply() (exact step)")
    stop_unless_agreed(agreed, header, error, settings, state, group,
                       "nothing was written to .grad on any rank")
    assert pending is not None and pending.grads is not None
    reason = agreed_reason(agreed, local_reason, settings, group)
    if reason:
        facts = _facts(pending, settings.nan, local, world, comm)
        return _conclude(settings, state, None, facts, reason)
    averaged, traffic = distributed.average_task_gradients(
        pending.grads, settings.params, group, bucket_cap_mb=settings.bucket_cap_mb,
        timeout_s=settings.timeout_s)
    norms, reason = _measured(settings, averaged, scale, [])
    facts = _facts(pending, norms, local, world, comm + traffic)
    return _conclude(settings, state, averaged, facts, reason)


def _facts(pending: Pending, norms: tuple[float, ...], local: tuple[float, ...], world: int,
           comm: CommStats) -> StepFacts:
    """What an exact step reports besides its weights: these norms, and what ``pending`` holds."""
    return StepFacts(norms, local, world, pending.count, pending.scale, comm,
                     tuple(pending.unreached))


def _conclude(settings: Settings, state: BalancerState, grads: list[TaskGrads] | None,
              facts: StepFacts, reason: str) -> GabaResult:
    """Skip, hand over an overflow, raise, or weight and write: the end of an exact step."""
    if reason:
        return nonfinite_outcome(facts, reason, settings, state, _NOTHING_WRITTEN)
    assert grads is not None
    update = stabilised_weights(facts.norms, state.ema_norms, ema=settings.ema,
                                floor=settings.floor, rule=settings.weight_rule)
    if settings.ema:
        state.ema_norms = update.norms
    weights = tuple(float(w) for w in update.weights)
    write_weighted_grad(settings.params, grads, weights)
    state.n_steps += 1
    smoothed = tuple(float(g) for g in update.norms)
    state.held = HeldWeights(weights, smoothed)
    return facts.result(smoothed, weights)
