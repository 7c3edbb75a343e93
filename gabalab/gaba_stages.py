"""The stages of one GABA step, as plain functions: each testable, and shown, alone.

:class:`gabalab.gaba.GabaBalancer` chains them; so can a hand-written loop:

1. :func:`task_gradients`: one :func:`torch.autograd.grad` call per task on every parameter
   (:func:`add_task_gradients` sums them over micro-batches);
2. :func:`tensor_norms`, then :func:`shared_norms`: each task's norm on the shared
   parameters; :func:`nonfinite_reason` says why a step must not be applied;
3. the weights, from :func:`gabalab.weighting.stabilised_weights` (EMA, closed form, floor);
4. :func:`write_weighted_grad`: ``sum_i w_i * grad_i`` into each parameter's ``.grad``.

None of them validates its arguments beyond what the operation itself checks: they are the
inner parts of the balancer, which validates first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from gabalab import sensors

__all__ = [
    "TaskGrads",
    "task_gradients",
    "add_task_gradients",
    "tensor_norms",
    "shared_norms",
    "nonfinite_reason",
    "write_weighted_grad",
]


#: One task's gradients, one entry per parameter (``None`` where the task does not reach it).
TaskGrads = tuple[torch.Tensor | None, ...]


def task_gradients(
    losses: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    retain_graph: bool = False,
) -> list[TaskGrads]:
    """Stage 1: each task's gradient on every parameter, one :func:`torch.autograd.grad` call each.

    The graph of the forward pass is kept between the calls and, unless ``retain_graph``,
    freed after the last one; ``create_graph`` is off and no ``.grad`` is touched. Such
    calls do not run the gradient hooks that ``backward()`` runs on ``.grad`` accumulation
    (``DistributedDataParallel``'s reducer among them); see :mod:`gabalab.distributed`.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        Scalar task losses from one forward pass (validated by the caller).
    params : sequence of torch.Tensor
        Every parameter to differentiate: the shared ones first, then the heads.
    retain_graph : bool
        Keep the graph after the last call as well.

    Returns
    -------
    list of tuple
        ``grads[i][j]``: task ``i``'s gradient on ``params[j]``, ``None`` where unreached.

    Raises
    ------
    RuntimeError
        As :func:`torch.autograd.grad`; for a compiled model whose saved tensors were freed
        after the first call (donated buffers), with the setting that avoids it.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> task_gradients([(3 * w).sum(), w.sum()], [w])
    [(tensor([3., 3.]),), (tensor([1., 1.]),)]
    """
    k = len(losses)
    try:
        return [
            torch.autograd.grad(loss, params, retain_graph=retain_graph or i < k - 1,
                                allow_unused=True)
            for i, loss in enumerate(losses)
        ]
    except RuntimeError as err:
        hint = sensors.compile_hint(err)
        if hint is None:
            raise
        raise hint from err


def add_task_gradients(total: Sequence[TaskGrads], grads: Sequence[TaskGrads]) -> list[TaskGrads]:
    """Stage 1b: add one micro-batch's task gradients to the sum of the previous ones.

    Task by task and parameter by parameter, as ``backward()`` accumulates ``.grad``: an
    entry that is ``None`` on one side takes the other side's tensor. The sums are new
    tensors (foreach kernels); the inputs are not modified.

    Parameters
    ----------
    total, grads : sequence of tuple
        Per-task gradients (as from :func:`task_gradients`), the same number of tasks and of
        parameters on both sides.

    Returns
    -------
    list of tuple
        ``total[i][j] + grads[i][j]``.

    Raises
    ------
    ValueError
        If the two sides differ in tasks or parameters.

    Examples
    --------
    >>> import torch
    >>> add_task_gradients([(torch.tensor([1.0]), None)],
    ...                    [(torch.tensor([2.0]), torch.tensor([5.0]))])
    [(tensor([3.]), tensor([5.]))]
    """
    if len(total) != len(grads) or any(len(a) != len(b) for a, b in zip(total, grads)):
        raise ValueError("total and grads must hold the same tasks and parameters")
    out: list[TaskGrads] = []
    with torch.no_grad():
        for acc, new in zip(total, grads):
            row = list(acc)
            pairs = [(j, a, b) for j, (a, b) in enumerate(zip(acc, new))
                     if a is not None and b is not None]
            if pairs:
                sums = torch._foreach_add([a for _, a, _ in pairs], [b for _, _, b in pairs])
                for (j, _, _), t in zip(pairs, sums):
                    row[j] = t
            for j, (a, b) in enumerate(zip(acc, new)):
                if a is None and b is not None:
                    row[j] = b
            out.append(tuple(row))
    return out


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def tensor_norms(grads: Sequence[TaskGrads]) -> list[list[float | None]]:
    """Stage 2a: the L2 norm of every gradient tensor of every task.

    All norms are taken in one ``torch._foreach_norm`` call and copied to the host once; a
    step costs no more than one extra kernel launch per tensor and one synchronisation.
    Gradients in float16 or bfloat16 are summed in float32 (without a copy), so their norms
    neither overflow nor lose the small entries.

    Parameters
    ----------
    grads : sequence of tuple
        From :func:`task_gradients`.

    Returns
    -------
    list of list
        ``norms[i][j] = ||grads[i][j]||_2`` as a float (NaN or inf where the gradient is not
        finite), ``None`` where ``grads[i][j]`` is ``None``.

    Examples
    --------
    >>> import torch
    >>> tensor_norms([(torch.tensor([3.0, 4.0]), None),
    ...               (torch.tensor([0.0, 1.0]), None)])
    [[5.0, None], [1.0, None]]
    """
    flat = [g for task in grads for g in task if g is not None]
    low = [k for k, g in enumerate(flat) if g.dtype in _LOW_PRECISION]
    if not low:
        values = torch.stack(torch._foreach_norm(flat)).tolist() if flat else []
    else:
        high = [k for k, g in enumerate(flat) if g.dtype not in _LOW_PRECISION]
        values = [0.0] * len(flat)
        low_norms = torch._foreach_norm([flat[k] for k in low], 2, dtype=torch.float32)
        for k, v in zip(low, torch.stack(low_norms).tolist()):
            values[k] = v
        if high:
            for k, v in zip(high, torch.stack(torch._foreach_norm([flat[k] for k in high]))
                            .tolist()):
                values[k] = v
    out: list[list[float | None]] = []
    it = iter(values)
    for task in grads:
        out.append([None if g is None else float(next(it)) for g in task])
    return out


def shared_norms(norms: Sequence[Sequence[float | None]], n_shared: int) -> tuple[float, ...]:
    """Stage 2b: each task's norm on the shared parameters, from the per-tensor norms.

    ``||g_i|| = sqrt(sum_j ||g_ij||^2)`` over the first ``n_shared`` tensors (the shared
    ones), summed with :func:`math.fsum`; an unreached tensor counts as zero.

    Parameters
    ----------
    norms : sequence of sequence of float or None
        From :func:`tensor_norms`.
    n_shared : int
        How many of the leading parameters are shared.

    Returns
    -------
    tuple of float
        One norm per task.

    Examples
    --------
    >>> shared_norms([[3.0, 4.0, 12.0], [1.0, None, 0.0]], n_shared=2)
    (5.0, 1.0)
    """
    return tuple(
        math.sqrt(math.fsum(n * n for n in task[:n_shared] if n is not None)) for task in norms
    )


def nonfinite_reason(
    losses: Sequence[torch.Tensor],
    norms: Sequence[Sequence[float | None]],
    names: Sequence[str],
) -> str:
    """Stage 2c: why a step must not be applied, or ``""`` when every value is finite.

    Looks at the losses first, then at each task's per-tensor gradient norms (a NaN or inf
    entry makes its tensor's norm NaN or inf), and names the first offender.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        The task losses.
    norms : sequence of sequence of float or None
        From :func:`tensor_norms`.
    names : sequence of str
        Parameter names, in the order of ``norms[i]``.

    Returns
    -------
    str

    Examples
    --------
    >>> import torch
    >>> losses = [torch.tensor(1.0), torch.tensor(2.0)]
    >>> nonfinite_reason(losses, [[1.0], [float("nan")]], ["w"])
    'losses[1]: the gradient on w is not finite (NaN or inf)'
    """
    return nonfinite_values_reason([[float(loss.detach()) for loss in losses]], norms, names)


def nonfinite_values_reason(
    loss_values: Sequence[Sequence[float]],
    norms: Sequence[Sequence[float | None]],
    names: Sequence[str],
) -> str:
    """:func:`nonfinite_reason` from loss values, one row per micro-batch (maybe none).

    The form the balancer uses: it keeps the losses of every accumulated micro-batch as
    numbers, and checks the gradients averaged over the ranks with no loss row at all.

    Parameters
    ----------
    loss_values : sequence of sequence of float
        ``loss_values[m][i]``: the value of ``losses[i]`` in micro-batch ``m``; with more
        than one row, the message names the micro-batch.
    norms : sequence of sequence of float or None
        From :func:`tensor_norms`.
    names : sequence of str
        Parameter names, in the order of ``norms[i]``.

    Returns
    -------
    str
        The first offender, or ``""`` when every value is finite.

    Examples
    --------
    >>> nonfinite_values_reason([[1.0, 2.0], [1.0, float("inf")]],
    ...                         [[1.0], [1.0]], ["w"])
    'losses[1] is not finite (inf) in micro-batch 1'
    >>> nonfinite_values_reason([], [[1.0], [float("nan")]], ["w"])
    'losses[1]: the gradient on w is not finite (NaN or inf)'
    """
    several = len(loss_values) > 1
    for i in range(len(norms)):
        for m, values in enumerate(loss_values):
            if not math.isfinite(values[i]):
                where = f" in micro-batch {m}" if several else ""
                return f"losses[{i}] is not finite ({values[i]}){where}"
        for j, n in enumerate(norms[i]):
            if n is not None and not math.isfinite(n):
                return f"losses[{i}]: the gradient on {names[j]} is not finite (NaN or inf)"
    return ""


def write_weighted_grad(
    params: Sequence[torch.Tensor],
    grads: Sequence[TaskGrads],
    weights: Sequence[float],
) -> None:
    """Stage 4: accumulate ``sum_i weights[i] * grads[i]`` into each parameter's ``.grad``.

    A parameter whose ``.grad`` is ``None`` receives the combination; one that has a
    gradient gets it added, as ``backward()`` would. Parameters no task reaches are left
    alone. Uses foreach kernels, without building a third autograd graph.

    Parameters
    ----------
    params : sequence of torch.Tensor
        The parameters, in the order of ``grads[i]``.
    grads : sequence of tuple
        From :func:`task_gradients`.
    weights : sequence of float
        One weight per task.

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> write_weighted_grad([w], [(torch.tensor([3.0, 3.0]),),
    ...                           (torch.tensor([1.0, 1.0]),)],
    ...                     [0.25, 0.75])
    >>> w.grad
    tensor([1.5000, 1.5000])
    """
    combined: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for task, w in zip(grads, weights):
            present = {j: g for j, g in enumerate(task) if g is not None}
            fresh = [j for j in present if j not in combined]
            seen = [j for j in present if j in combined]
            if fresh:
                scaled = torch._foreach_mul([present[j] for j in fresh], w)
                combined.update(zip(fresh, scaled))
            if seen:
                torch._foreach_add_([combined[j] for j in seen], [present[j] for j in seen],
                                    alpha=w)
        filled: list[tuple[torch.Tensor, torch.Tensor]] = []
        for j, tensor in combined.items():
            grad = params[j].grad
            if grad is None:
                params[j].grad = tensor
            else:
                filled.append((grad, tensor))
        if filled:
            torch._foreach_add_([g for g, _ in filled], [t for _, t in filled])
