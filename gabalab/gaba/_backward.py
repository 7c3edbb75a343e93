"""The one-call form of a GABA step: :func:`gaba_backward`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from gabalab._checks import check_scalar_losses
from gabalab.gaba._balancer import GabaBalancer
from gabalab.gaba._params import ParamList
from gabalab.gaba._result import GabaResult
from gabalab.weighting import DEFAULT_FLOOR, DEFAULT_RULE


def gaba_backward(
    losses: Sequence[torch.Tensor],
    shared: ParamList,
    heads: ParamList = (),
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
    weight_rule : {"inverse", "complement"}
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
