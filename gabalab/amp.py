"""GABA with mixed precision: a ``GradScaler``'s scale in and out of the norms.

With ``torch.autocast`` alone nothing changes for the balancer: the parameters, and so their
gradients, keep their own dtype, and :func:`gabalab.gaba_stages.tensor_norms` takes the norms of
low-precision gradients in float32. A :class:`torch.amp.GradScaler` multiplies the losses by
a scale ``S`` before differentiating, so that small float16 gradients do not underflow, and
lowers ``S`` whenever a step overflows. Three consequences for the balancer, handled here:

* it differentiates the scaled losses (:func:`loss_scale` reads ``S``) and divides the norms
  by ``S``, so that the reported norms and the EMA are those of the true gradient, whatever
  the scale is at that step (the weights do not depend on ``S`` anyway);
* it writes the *scaled* weighted gradient into ``.grad``, as ``scaler.scale(loss).backward()``
  would, for ``scaler.unscale_`` to divide;
* on an overflow (NaN or inf anywhere) it updates nothing, and :func:`flag_overflow` makes
  sure ``scaler.unscale_`` finds a non-finite gradient, so that ``scaler.step`` skips the
  optimiser step and ``scaler.update`` lowers the scale, as for any other overflow.

The order in a training step is: balancer step, ``scaler.unscale_(optimizer)``, clipping,
``scaler.step(optimizer)``, ``scaler.update()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from gabalab._checks import as_list, check_not_class

__all__ = ["check_scaler", "loss_scale", "flag_overflow"]

_SCALER_METHODS = ("scale", "get_scale", "is_enabled", "unscale_", "step", "update")


def check_scaler(scaler: Any) -> Any:
    """Validate a ``scaler`` argument: ``None`` or an object with ``GradScaler``'s methods.

    Raises
    ------
    TypeError
        If ``scaler`` is a class (``torch.amp.GradScaler`` itself, whose methods all exist
        unbound) or lacks one of ``scale``, ``get_scale``, ``is_enabled``, ``unscale_``,
        ``step``, ``update``.

    Examples
    --------
    >>> check_scaler(None) is None
    True
    """
    if scaler is None:
        return None
    check_not_class("scaler", scaler, 'a GradScaler instance, e.g. torch.amp.GradScaler("cuda")')
    missing = [m for m in _SCALER_METHODS if not callable(getattr(scaler, m, None))]
    if missing:
        raise TypeError(f"scaler must be a torch.amp.GradScaler (or None); "
                        f"{type(scaler).__name__} has no {', '.join(missing)}")
    return scaler


def loss_scale(scaler: Any) -> float | None:
    """The scale an enabled scaler applies now; ``None`` without a scaler or when disabled.

    A disabled ``GradScaler`` passes losses and steps through unchanged and checks nothing,
    so the balancer treats it as no scaler (its ``on_nonfinite`` policy then applies).

    Parameters
    ----------
    scaler : torch.amp.GradScaler or None

    Returns
    -------
    float or None

    Raises
    ------
    TypeError
        As :func:`check_scaler`.
    ValueError
        If the scale is not a positive finite number.

    Examples
    --------
    >>> import torch
    >>> loss_scale(torch.amp.GradScaler("cpu", init_scale=1024.0))
    1024.0
    >>> loss_scale(torch.amp.GradScaler("cpu", enabled=False)) is None
    True
    """
    scaler = check_scaler(scaler)
    if scaler is None or not scaler.is_enabled():
        return None
    scale = float(scaler.get_scale())
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"the scaler's scale must be a positive finite number, got {scale}")
    return scale


def flag_overflow(params: Sequence[torch.Tensor]) -> None:
    """Make ``scaler.unscale_`` see an overflow: fill the first parameter's ``.grad`` with NaN.

    The optimiser step that follows is skipped by ``scaler.step``, and the scale is lowered
    by ``scaler.update``; the NaN gradient is then cleared by the next ``zero_grad``.

    Parameters
    ----------
    params : sequence of torch.Tensor
        The parameters (at least one; the first that has an entry is used, since an empty
        gradient cannot hold a NaN).

    Raises
    ------
    TypeError
        If ``params`` is not a list whose first entry is a floating tensor.
    ValueError
        If ``params`` is empty, every tensor in it is empty, or the tensor to flag is not a
        trainable parameter (a leaf that requires grad: only those reach the optimiser, and
        so ``scaler.unscale_``).

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> flag_overflow([w])
    >>> w.grad
    tensor([nan, nan])
    """
    params = as_list("params", params)
    if not params:
        raise ValueError("params is empty: there is no .grad to flag")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor) or not p.dtype.is_floating_point:
            raise TypeError(f"params[{i}] must be a floating torch.Tensor, got "
                            f"{type(p).__name__}")
        if p.numel():
            break
    else:
        raise ValueError("params holds only empty tensors: no .grad can hold the NaN")
    if not (p.requires_grad and p.is_leaf):
        raise ValueError(f"params[{i}] is not a trainable parameter (a leaf that requires "
                         "grad): the optimiser, and so scaler.unscale_, would not see its .grad")
    with torch.no_grad():
        if p.grad is None:
            p.grad = torch.full_like(p, math.nan)
        else:
            p.grad.fill_(math.nan)
