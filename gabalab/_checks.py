"""Argument checks shared by the public functions of :mod:`gabalab`.

Every check raises :class:`ValueError` or :class:`TypeError` whose message starts with the
argument's name, so a caller sees at once which argument is wrong and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking its type and lower bound."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    nonnegative: bool = False,
) -> float:
    """Return ``value`` as a finite ``float``; optionally require it to be > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_finite_array(name: str, array: np.ndarray) -> None:
    """Raise ``ValueError`` if ``array`` holds NaN or infinite entries."""
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")


def check_choice(
    name: str, value: Any, choices: Sequence[str], *, ignore_case: bool = False
) -> str:
    """Return ``value`` if it is one of ``choices`` (compared lower-cased with ``ignore_case``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(choices)}, got {type(value).__name__}")
    key = value.lower() if ignore_case else value
    if key not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return key


def check_scalar_losses(
    losses: Any, *, count: int | None = None, minimum: int = 1, name: str = "losses"
) -> list[torch.Tensor]:
    """Return ``losses`` as a list of scalar tensors that require grad.

    ``count`` asks for exactly that many losses, ``minimum`` for at least that many.
    """
    if isinstance(losses, torch.Tensor):
        raise TypeError(f"{name} must be a sequence of scalar tensors, one per task, not a "
                        "single tensor")
    if isinstance(losses, (str, bytes)) or not isinstance(losses, Iterable):
        raise TypeError(f"{name} must be a sequence of scalar tensors, got "
                        f"{type(losses).__name__}")
    out = list(losses)
    if count is not None and len(out) != count:
        raise ValueError(f"{name} must hold one loss per task: expected {count}, got {len(out)}")
    if len(out) < minimum:
        wanted = "one task loss" if minimum == 1 else f"{minimum} task losses"
        raise ValueError(f"{name} must hold at least {wanted}, got {len(out)}")
    for i, loss in enumerate(out):
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"{name}[{i}] must be a torch.Tensor, got {type(loss).__name__}")
        if loss.dim() != 0:
            raise ValueError(f"{name}[{i}] must be a scalar (0-d) tensor, got shape "
                             f"{tuple(loss.shape)}; reduce it with .mean() or .sum()")
        if not loss.requires_grad:
            raise ValueError(f"{name}[{i}] does not require grad: it is detached from the model")
    return out


def as_real_array(name: str, values: Any) -> np.ndarray:
    """Return ``values`` (array-like or tensor) as a finite float64 array; errors name ``name``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be array-like of real numbers") from None
    check_finite_array(name, array)
    return array
