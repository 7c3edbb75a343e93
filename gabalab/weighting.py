"""Closed-form loss weights from per-task gradient norms (GABA), and IMTL-G for comparison.

GABA gives each task a weight that shrinks with the size of its own gradient on the shared
parameters. With ``S = sum_j g_j`` the sum of the K per-task norms,

    lambda_i = (S - g_i) / ((K - 1) S),

so the weights are positive, sum to one, and for two tasks reduce to
``lambda_1 = g_2 / (g_1 + g_2)``: the weighted gradients ``lambda_i * g_i`` then have equal
norms. IMTL-G (Liu et al., ICLR 2021) reaches the same two-task weights from the Gram
matrix of the gradients; :func:`imtl_g_weights` implements its formula independently so
the two can be compared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["gaba_weights", "imtl_g_weights"]


def gaba_weights(norms: Sequence[float] | np.ndarray) -> np.ndarray:
    """GABA loss weights from the per-task gradient norms on the shared parameters.

    Parameters
    ----------
    norms : sequence of float
        ``g_1, ..., g_K``: one non-negative, finite gradient norm per task, ``K >= 2``.

    Returns
    -------
    numpy.ndarray, shape (K,)
        ``lambda_i = (S - g_i) / ((K - 1) S)`` with ``S = sum(norms)``; they sum to one.
        When every norm is zero (no task pulls), the weights are uniform, ``1/K``.

    Raises
    ------
    TypeError
        If ``norms`` is not a sequence of real numbers.
    ValueError
        If there are fewer than two norms, or a norm is negative, NaN or infinite.

    Examples
    --------
    >>> gaba_weights([300.0, 1.0])
    array([0.00332226, 0.99667774])
    >>> gaba_weights([2.0, 1.0, 1.0])
    array([0.25 , 0.375, 0.375])
    """
    if isinstance(norms, (str, bytes)):
        raise TypeError("norms must be a sequence of real numbers, got a string")
    values = np.asarray(norms)
    if values.dtype.kind not in "fiu":
        raise TypeError(f"norms must be real numbers, got dtype {values.dtype}")
    values = values.astype(np.float64).ravel()
    k = values.size
    if k < 2:
        raise ValueError(f"norms must hold one norm per task for at least 2 tasks, got {k}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"norms must be finite, got {values.tolist()}")
    if np.any(values < 0):
        raise ValueError(f"norms must be >= 0, got {values.tolist()}")
    total = math.fsum(values)
    if total == 0.0:
        return np.full(k, 1.0 / k)
    # S - g_i summed over the other tasks directly: subtracting a loud norm from S would
    # cancel the digits of the quiet ones.
    others = np.array([math.fsum(np.delete(values, i)) for i in range(k)])
    return others / ((k - 1) * total)


def imtl_g_weights(grads: Sequence[np.ndarray]) -> np.ndarray:
    """IMTL-G loss weights, from the task gradients themselves.

    IMTL-G asks for the combined gradient ``g = sum_i alpha_i g_i`` (with
    ``sum alpha = 1``) to have equal projections on every task's unit gradient
    ``u_i = g_i / ||g_i||``. Its closed form is
    ``alpha_{2:K} = g_1 U^T (D U^T)^{-1}`` with rows ``U_i = u_1 - u_i`` and
    ``D_i = g_1 - g_i`` (``i = 2..K``), and ``alpha_1 = 1 - sum alpha_{2:K}``.

    Parameters
    ----------
    grads : sequence of numpy.ndarray
        One gradient per task (any shape; each is flattened), ``K >= 2``, all the same
        size, none zero, not all parallel.

    Returns
    -------
    numpy.ndarray, shape (K,)

    Raises
    ------
    ValueError
        If fewer than two gradients are given, sizes differ, a gradient is zero or not
        finite, or the system is singular (parallel gradients).

    Examples
    --------
    >>> import numpy as np
    >>> imtl_g_weights([np.array([3.0, 0.0]), np.array([0.0, 1.0])])
    array([0.25, 0.75])
    """
    flat = [np.asarray(g, dtype=np.float64).ravel() for g in grads]
    if len(flat) < 2:
        raise ValueError(f"grads must hold at least 2 task gradients, got {len(flat)}")
    sizes = {g.size for g in flat}
    if len(sizes) != 1:
        raise ValueError(f"grads must all have the same number of entries, got {sorted(sizes)}")
    stacked = np.stack(flat)
    if not np.all(np.isfinite(stacked)):
        raise ValueError("grads contain non-finite values (NaN or inf)")
    lengths = np.linalg.norm(stacked, axis=1)
    if np.any(lengths == 0):
        raise ValueError(f"grads[{int(np.argmin(lengths))}] is zero: its direction is undefined")
    units = stacked / lengths[:, None]
    u_diff = units[0] - units[1:]
    d_diff = stacked[0] - stacked[1:]
    system = d_diff @ u_diff.T
    if np.linalg.cond(system) > 1e12:
        raise ValueError("grads are parallel: IMTL-G's system is singular")
    # alpha_{2:K} D U^T = g_1 U^T, solved as (D U^T)^T alpha^T = (g_1 U^T)^T.
    rest = np.linalg.solve(system.T, stacked[0] @ u_diff.T)
    return np.concatenate([[1.0 - rest.sum()], rest])
