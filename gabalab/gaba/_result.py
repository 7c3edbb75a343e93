"""What a step reports: :class:`GabaResult`, its one builder, and the non-finite outcome.

Every path ends a step the same way: it collects what it measured in a :class:`StepFacts`,
then either accepts the step (:meth:`StepFacts.result` with the weights applied) or hands
a non-finite value to :func:`nonfinite_outcome`, which flags an overflow for a
``GradScaler``, raises, or skips, as the balancer's policy says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gabalab.amp import flag_overflow
from gabalab.distributed import CommStats
from gabalab.gaba._settings import Settings
from gabalab.gaba._state import BalancerState


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


def ratio(norms: Sequence[float]) -> float:
    """``max(norms) / min(norms)``, as :attr:`GabaResult.ratio` documents it."""
    if not all(math.isfinite(g) for g in norms):
        return math.nan
    hi, lo = max(norms), min(norms)
    if hi == 0.0:
        return math.nan
    return math.inf if lo == 0.0 else hi / lo


def unscale(norms: tuple[float, ...], scale: float | None) -> tuple[float, ...]:
    """Norms of scaled gradients divided by the scale (unchanged without a scaler)."""
    return norms if scale is None else tuple(g / scale for g in norms)


@dataclass(frozen=True)
class StepFacts:
    """What a step measured and sent, whatever its outcome: all of a result but the weights.

    Attributes
    ----------
    norms, local : tuple of float
        The norms the weights come from, and this rank's own (see :class:`GabaResult`).
    world, micro_batches : int
        Ranks averaged over, and micro-batches gathered.
    scale : float or None
        The scaler's scale (``None`` without one).
    comm : gabalab.distributed.CommStats
        The collectives of the step on this rank.
    unreached : tuple of (int, str)
        The unreached pairs found on this step.
    sensor : str
        The sensor the weights were measured with.
    fresh : bool
        Whether they were measured on this step.
    age : int
        Applied steps since they were measured.
    """

    norms: tuple[float, ...]
    local: tuple[float, ...]
    world: int
    micro_batches: int
    scale: float | None
    comm: CommStats
    unreached: tuple[tuple[int, str], ...] = ()
    sensor: str = "exact"
    fresh: bool = True
    age: int = 0

    def result(self, smoothed: tuple[float, ...], weights: tuple[float, ...], *,
               skipped: bool = False, reason: str = "", overflow: bool = False) -> GabaResult:
        """The step's :class:`GabaResult`, with the weights it applied (or NaN) and its flags."""
        return GabaResult(self.norms, smoothed, weights, ratio(self.norms), skipped, reason,
                          self.unreached, local_norms=self.local, world_size=self.world,
                          micro_batches=self.micro_batches, scale=self.scale,
                          overflow=overflow, all_reduce_calls=self.comm.calls,
                          all_reduce_bytes=self.comm.bytes, sensor=self.sensor,
                          fresh=self.fresh, age=self.age)


def nonfinite_outcome(facts: StepFacts, reason: str, settings: Settings,
                      state: BalancerState, not_applied: str) -> GabaResult:
    """A step with a non-finite value: a GradScaler's overflow, an error, or a skip.

    ``not_applied`` says, in the error, what was left of the step (it differs between the
    exact step, which writes ``.grad`` last, and the one-backward steps, which restore it).
    """
    nan = settings.nan
    if facts.scale is not None:
        flag_overflow(settings.params)
        state.n_steps += 1
        state.n_overflows += 1
        return facts.result(nan, nan, overflow=True,
                            reason=f"{reason}; handed to the GradScaler as an overflow (.grad "
                                   "flagged: scaler.step skips, scaler.update lowers the scale)")
    if settings.on_nonfinite == "raise":
        raise ValueError(f"{reason}; {not_applied} (pass on_nonfinite='skip' to skip such "
                         "steps)")
    state.n_steps += 1
    state.n_skipped += 1
    return facts.result(nan, nan, skipped=True, reason=reason)
