"""A balancer's mutable state: EMA norms, held weights, counters, and the step being gathered.

:class:`BalancerState` holds everything a step changes; :meth:`BalancerState.as_dict` and
:meth:`BalancerState.load` are the checkpoint format, with every check of a loaded state.
:class:`Pending` is what the micro-batches of one step have gathered so far;
:class:`StateCounter` shows a counter of the state as an attribute of the balancer.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gabalab._checks import as_array, check_int
from gabalab.distributed import CommStats
from gabalab.gaba_stages import TaskGrads
from gabalab.sensors import HeldWeights

#: The error of an apply() with nothing gathered.
NOTHING_ACCUMULATED = ("apply() found no accumulated micro-batch: call accumulate(losses) "
                       "first (or step(losses))")

_EXPECTED = ("ema_norms", "n_steps", "n_skipped", "n_overflows")
_OPTIONAL = ("sensor", "representation_norm", "held_weights", "held_norms", "held_age")


class StateCounter:
    """A balancer attribute that reads and writes one counter of the balancer's state."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, balancer: Any, owner: type | None = None) -> Any:
        return self if balancer is None else getattr(balancer._state, self.name)

    def __set__(self, balancer: Any, value: int) -> None:
        setattr(balancer._state, self.name, value)


@dataclass
class Pending:
    """What the micro-batches of one step have gathered since the last step.

    The exact path fills ``grads``, ``unreached`` and ``error``; the held and representation
    paths, which run one weighted backward per micro-batch, fill ``weights`` to ``comm``.
    """

    grads: list[TaskGrads] | None = None
    count: int = 0
    loss_values: list[list[float]] = field(default_factory=list)
    scale: float | None = None
    unreached: list[tuple[int, str]] = field(default_factory=list)
    error: Exception | None = None
    mode: str = "exact"
    weights: tuple[float, ...] | None = None
    smoothed: tuple[float, ...] | None = None
    norms: tuple[float, ...] | None = None
    local: tuple[float, ...] | None = None
    reason: str = ""
    was_none: list[bool] = field(default_factory=list)
    comm: CommStats = field(default_factory=CommStats)


class BalancerState:
    """Everything a balancer's steps change.

    Attributes
    ----------
    ema_norms : numpy.ndarray or None
        The EMA of the norms (``None`` before the first step or without EMA).
    held : gabalab.sensors.HeldWeights or None
        The weights of the last measurement.
    n_steps, n_skipped, n_overflows : int
        The balancer's counters.
    pending : Pending or None
        The step being gathered (``None`` between steps).
    unreached : set of (int, str)
        Every ``(task, name)`` pair seen so far where a task does not reach a parameter.
    warned : bool
        Whether the warning about unreached parameters was shown.
    freed : list of weakref
        The losses whose graph the last gradient call freed.

    Only the first five are checkpointed (:meth:`as_dict`).
    """

    def __init__(self) -> None:
        self.ema_norms: np.ndarray | None = None
        self.held: HeldWeights | None = None
        self.n_steps = 0
        self.n_skipped = 0
        self.n_overflows = 0
        self.pending: Pending | None = None
        self.unreached: set[tuple[int, str]] = set()
        self.warned = False
        self.freed: list[weakref.ref[torch.Tensor]] = []

    def reset(self) -> None:
        """Forget the EMA norms and the held weights."""
        self.ema_norms = None
        self.held = None

    def as_dict(self, sensor: str, representation_norm: str) -> dict[str, Any]:
        """The checkpointed state, with the sensor settings its norms were measured with."""
        ema = None if self.ema_norms is None else [float(g) for g in self.ema_norms]
        held = self.held
        return {"ema_norms": ema, "n_steps": self.n_steps, "n_skipped": self.n_skipped,
                "n_overflows": self.n_overflows, "sensor": sensor,
                "representation_norm": representation_norm,
                "held_weights": None if held is None else list(held.weights),
                "held_norms": None if held is None else list(held.norms),
                "held_age": 0 if held is None else held.age}

    def load(self, state: Any, *, n_tasks: int, ema: float | None, sensor: str,
             representation_norm: str) -> None:
        """Check ``state`` (from :meth:`as_dict`) against the balancer's options, then take it.

        Every check runs before anything changes; the errors are those documented on
        :meth:`gabalab.gaba.GabaBalancer.load_state_dict`.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        unknown = sorted(str(k) for k in state if k not in _EXPECTED + _OPTIONAL)
        missing = [k for k in _EXPECTED if k not in state]
        if unknown or missing:
            raise ValueError(f"state must hold the keys {list(_EXPECTED)} and may hold "
                             f"{list(_OPTIONAL)} (from state_dict()); unknown: {unknown}, "
                             f"missing: {missing}")
        ema_norms = state["ema_norms"]
        if ema_norms is not None:
            if not ema:
                raise ValueError("state['ema_norms'] is set but this balancer has no EMA "
                                 "(ema=None or 0): build it with the ema of the saved one")
            ema_norms = _checked_norms("ema_norms", ema_norms, n_tasks).copy()
        n_steps, n_skipped, n_overflows = _checked_counters(state)
        held = _checked_held(state, n_tasks)
        saved = (state.get("sensor", "exact"), state.get("representation_norm", "batch_sum"))
        if not isinstance(saved[0], str) or not isinstance(saved[1], str):
            raise TypeError("state['sensor'] and state['representation_norm'] must be strings")
        mine = (sensor, representation_norm)
        if sensor == "exact" and saved[0] == "exact":
            saved = mine  # the exact sensor has no representation norm
        if saved != mine and (ema_norms is not None or held is not None):
            raise ValueError(f"state was saved by a balancer with (sensor, representation_norm)"
                             f" = {saved}; this one has {mine}, whose norms are on another "
                             "scale: drop the state's EMA and held entries (or call reset()) "
                             "to switch sensors")
        self.ema_norms = ema_norms
        self.held = held
        self.n_steps = n_steps
        self.n_skipped = n_skipped
        self.n_overflows = n_overflows


def _checked_norms(key: str, values: Any, n_tasks: int) -> np.ndarray:
    array = as_array(f"state[{key!r}]", values, finite=False)
    if array.shape != (n_tasks,) or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"state[{key!r}] must hold {n_tasks} finite norms >= 0, got {values}")
    return array


def _checked_counters(state: dict[str, Any]) -> tuple[int, int, int]:
    n_steps = check_int("state['n_steps']", state["n_steps"], minimum=0)
    n_skipped = check_int("state['n_skipped']", state["n_skipped"], minimum=0)
    n_overflows = check_int("state['n_overflows']", state["n_overflows"], minimum=0)
    if n_skipped + n_overflows > n_steps:
        raise ValueError(f"state['n_skipped'] + state['n_overflows'] = "
                         f"{n_skipped + n_overflows} exceeds state['n_steps'] = {n_steps}: "
                         "every skipped or overflowed step is also counted in n_steps")
    return n_steps, n_skipped, n_overflows


def _checked_held(state: dict[str, Any], n_tasks: int) -> HeldWeights | None:
    held_weights, held_norms = state.get("held_weights"), state.get("held_norms")
    if (held_weights is None) != (held_norms is None):
        raise ValueError("state['held_weights'] and state['held_norms'] must both be given "
                         "or both be None")
    if held_weights is None:
        return None
    weights = as_array("state['held_weights']", held_weights, finite=False)
    if weights.shape != (n_tasks,) or not np.all(np.isfinite(weights)) or np.any(
            weights < 0) or abs(math.fsum(weights) - 1.0) > 1e-9:
        raise ValueError(f"state['held_weights'] must hold {n_tasks} weights >= 0 "
                         f"that sum to one, got {held_weights}")
    norms = _checked_norms("held_norms", held_norms, n_tasks)
    age = check_int("state['held_age']", state.get("held_age", 0), minimum=0)
    return HeldWeights(tuple(float(w) for w in weights), tuple(float(g) for g in norms), age)
