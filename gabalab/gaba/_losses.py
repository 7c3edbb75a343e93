"""Checks on the losses of a micro-batch that every path of a step makes alike.

A graph freed by an earlier call of the same balancer is named before any gradient call
(:func:`check_not_freed`); one freed elsewhere is named when autograd finds it
(:func:`freed_graph_named`); a scaler must be given to every micro-batch of a step, with
one scale (:func:`check_same_scale`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from gabalab.gaba._state import BalancerState

#: The error of ``features=`` given to a balancer with the exact sensor.
FEATURES_UNUSED = ("features is only read by sensor='representation'; this balancer "
                   "measures on the shared parameters (sensor='exact'): drop features=")


def check_same_scale(count: int, previous: float | None, scale: float | None) -> None:
    """Refuse a micro-batch whose scaler differs from the ``count`` gathered before it."""
    if count and (scale is None) != (previous is None):
        raise ValueError("scaler must be given to every accumulate() call of a step or to "
                         "none")
    if count and scale != previous:
        raise ValueError(f"the scaler's scale changed between micro-batches ({previous} -> "
                         f"{scale}): call scaler.update() only after apply()")


def check_not_freed(losses: Sequence[torch.Tensor], state: BalancerState) -> None:
    """Name a loss whose graph an earlier call of this balancer freed."""
    for i, loss in enumerate(losses):
        if any(ref() is loss for ref in state.freed):
            raise ValueError(f"losses[{i}] was already differentiated by an earlier step or "
                             "accumulate call, which freed its graph: run a new forward "
                             "pass for every step (or pass retain_graph=True to keep it)")


def remember_freed(losses: Sequence[torch.Tensor], retain_graph: bool,
                   state: BalancerState) -> None:
    """Note the losses whose graph the gradient call just made has freed (none if kept)."""
    state.freed = [] if retain_graph else [weakref.ref(loss) for loss in losses]


@contextmanager
def freed_graph_named() -> Iterator[None]:
    """Turn autograd's "backward through the graph a second time" into a ValueError saying why."""
    try:
        yield
    except RuntimeError as err:
        if "backward through the graph a second time" not in str(err):
            raise
        raise ValueError("losses: their graph was already freed by a backward() or "
                         "autograd.grad call: run a new forward pass (or keep the graph "
                         "with retain_graph=True in that earlier call)") from None
