"""The agreement between ranks that opens each collective part of a step, as plain pieces.

Every rank sends the same fixed-length header (:data:`HEADER_FIELDS`) in one all-reduce
and gets back each field's smallest and largest value. From those, every rank reaches the
same verdict: the ranks differ on a setting (:func:`refuse_disagreement`, every rank raises
the same error), a rank failed (:func:`raise_if_any_failed`), a rank saw a non-finite value
(:func:`agreed_reason`), or the step goes on. :func:`stop_unless_agreed` runs the first two
in the order every path needs. The exact and the one-backward paths call these pieces;
each owns its own sequence of agreeing and concluding.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch.distributed as dist

from gabalab import distributed, sensors
from gabalab.distributed import CommStats, RemoteRankError
from gabalab.gaba._params import checksum
from gabalab.gaba._settings import POLICIES, Settings
from gabalab.gaba._state import BalancerState
from gabalab.weighting import WEIGHT_RULES

#: What a step does, in the order sent between ranks: measure exactly, measure on the
#: features, or hold the last weights.
_MODES = ("exact", "representation", "held")
_PHASES = ("accumulate()", "apply()")

#: The fixed-length header of every agreement all-reduce, documented (and exported) as
#: gabalab.gaba.HEADER_FIELDS: fifteen fields that describe the balancer, five this step,
#: three its outcome.
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

#: Agreed values: each header field's smallest and largest value over the ranks.
Agreed = dict[str, tuple[float, float]]


def fingerprint(values: Sequence[float] | None) -> float:
    """A number that two ranks share exactly when ``values`` are equal bit for bit (-1: none).

    48 bits of a BLAKE2b digest of the float64 bytes, exact as a float64.
    """
    if values is None:
        return -1.0
    raw = np.asarray(values, dtype=np.float64).tobytes()
    return float(int.from_bytes(hashlib.blake2b(raw, digest_size=6).digest(), "little"))


def rank_header(settings: Settings, state: BalancerState, group: Any, *, phase: int,
                mode: str, micro_batch: int, scale: float | None, error: bool, bad: bool,
                grad_norm: float = 0.0) -> dict[str, float]:
    """This rank's numbers for :data:`HEADER_FIELDS`, in that order."""
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    held, params = state.held, settings.params
    values: dict[str, float] = {
        "n_tasks": float(settings.n_tasks),
        "sensor": float(sensors.SENSORS.index(settings.sensor)),
        "measure_every": float(settings.measure_every),
        "ema": -1.0 if settings.ema is None else float(settings.ema),
        "floor": float(settings.floor),
        "weight_rule": float(WEIGHT_RULES.index(settings.weight_rule)),
        "on_nonfinite": float(POLICIES.index(settings.on_nonfinite)),
        "representation_norm": float(
            sensors.REPRESENTATION_NORMS.index(settings.representation_norm)),
        "bucket_cap_mb": float(settings.bucket_cap_mb),
        "n_tensors": float(len(params)),
        "numel": float(sum(p.numel() for p in params)),
        "layout": float(sum((j + 1) * p.numel() for j, p in enumerate(params))),
        "n_steps": float(state.n_steps),
        "ema_state": fingerprint(None if state.ema_norms is None
                                 else state.ema_norms.tolist()),
        "held_state": fingerprint(None if held is None else
                                  [*held.weights, *held.norms, float(held.age)]),
        "phase": float(phase),
        "mode": float(_MODES.index(mode)),
        "micro_batch": float(micro_batch),
        "scale": 0.0 if scale is None else float(scale),
        "replicas": checksum(params),
        "error_rank": float(rank if error else world),
        "bad_rank": float(rank if bad else world),
        "grad_norm": grad_norm if math.isfinite(grad_norm) else 0.0,
    }
    return {name: values[name] for name in HEADER_FIELDS}


def readable(header: dict[str, float], settings: Settings,
             state: BalancerState) -> dict[str, str]:
    """This rank's header as the words of a disagreement message."""
    held = state.held
    codes = {"sensor": sensors.SENSORS, "weight_rule": WEIGHT_RULES,
             "on_nonfinite": POLICIES, "representation_norm": sensors.REPRESENTATION_NORMS,
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
    out["ema"] = repr(settings.ema)
    out["scale"] = "no scaler" if header["scale"] == 0.0 else repr(header["scale"])
    out["ema_state"] = ("none" if state.ema_norms is None else
                        str(tuple(float(g) for g in state.ema_norms)))
    out["held_state"] = ("none" if held is None else
                         f"weights {held.weights} held for {held.age} step(s)")
    out["replicas"] = f"checksum {header['replicas']:.17g}"
    return out


def agree(header: dict[str, float], settings: Settings, group: Any,
          what: str) -> tuple[Agreed, CommStats]:
    """The agreement all-reduce of ``header``, bounded by the balancer's ``timeout_s``."""
    return distributed.agree(header, group, settings.device, timeout_s=settings.timeout_s,
                             what=what)


def refuse_disagreement(agreed: Agreed, fields: Sequence[str], header: dict[str, float],
                        settings: Settings, state: BalancerState, group: Any,
                        not_written: str) -> None:
    """Raise the same ValueError on every rank if the ranks differ on one of ``fields``.

    The message names the first such field and every rank's value (gathered from the
    ranks, which all take this path together: they see the same min and max).
    """
    differing = [f for f in fields if agreed[f][0] != agreed[f][1]]
    if not differing:
        return
    mine = json.dumps(readable(header, settings, state))
    gathered = distributed.gather_messages(mine, group, timeout_s=settings.timeout_s,
                                           device=settings.device)
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


def raise_if_any_failed(agreed: Agreed, error: Exception | None, settings: Settings,
                        group: Any) -> None:
    """Raise on every rank when one rank failed: its own error there, RemoteRankError elsewhere."""
    world = dist.get_world_size(group)
    first_error = int(agreed["error_rank"][0])
    if first_error < world:
        message = "" if error is None else f"{type(error).__name__}: {error}"
        messages = distributed.gather_messages(message, group, timeout_s=settings.timeout_s,
                                               device=settings.device)
        if error is not None:
            raise error
        raise RemoteRankError(f"rank {first_error} failed in its part of the GabaBalancer "
                              f"step ({messages[first_error]}); every rank stops here")


def stop_unless_agreed(agreed: Agreed, header: dict[str, float], error: Exception | None,
                       settings: Settings, state: BalancerState, group: Any,
                       not_written: str) -> None:
    """Raise on every rank, alike, unless the ranks agree and none failed.

    The checks run in this order: the ranks differ on their setup, a rank failed, the ranks
    differ on this step; a failure is so not hidden by the step fields it left unset.
    """
    refuse_disagreement(agreed, _SETUP_FIELDS, header, settings, state, group, not_written)
    raise_if_any_failed(agreed, error, settings, group)
    refuse_disagreement(agreed, _STEP_FIELDS, header, settings, state, group, not_written)


def agreed_reason(agreed: Agreed, local_reason: str, settings: Settings, group: Any) -> str:
    """The first rank's non-finite reason, the same on every rank ("" when none has one)."""
    world = dist.get_world_size(group)
    first_bad = int(agreed["bad_rank"][0])
    if first_bad >= world:
        return ""
    messages = distributed.gather_messages(local_reason, group, timeout_s=settings.timeout_s,
                                           device=settings.device)
    bad = [r for r, m in enumerate(messages) if m]
    more = f" (and on {len(bad) - 1} more rank(s))" if len(bad) > 1 else ""
    return f"rank {first_bad}: {messages[first_bad]}{more}"
