"""Figure of section 12.2: the two output gradients against the residual."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gabalab._checks import as_array, as_list
from gabalab.losses import gradient_magnitudes
from gabalab.plots.style import TASK_COLOURS

__all__ = ["plot_derivative_bound"]


def plot_derivative_bound(
    residuals: Sequence[float] | np.ndarray | None = None,
    p_trues: Sequence[float] = (1 / 3, 0.6, 0.9),
    batch_size: int = 32,
    n_classes: int = 3,
) -> Figure:
    """The two output-gradient sizes and their ratio against the residual.

    Left: ``|dL_mse/dy_hat|`` grows linearly with the residual, while the cross-entropy
    true-class entry ``(1 - p_true)/B`` stays flat below ``1/B``. Right: their ratio for
    several ``p_true``.

    Parameters
    ----------
    residuals : array-like, optional
        Residuals in cycles, at least one; default 0 to 125.
    p_trues : sequence of float
        Probabilities of the true class to draw, at least one.
    batch_size, n_classes : int
        ``B`` and ``K``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        On invalid arguments (see :func:`gabalab.losses.gradient_magnitudes`), naming the
        argument.
    """
    if residuals is None:
        residuals = np.linspace(0.0, 125.0, 126)
    residuals = as_array("residuals", residuals, ndim=1, nonempty=True)
    p_trues = as_list("p_trues", p_trues)
    if not p_trues:
        raise ValueError("p_trues is empty: give at least one p_true to draw")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6), constrained_layout=True)
    mse = [gradient_magnitudes(r, 0.5, batch_size, n_classes)["mse"] for r in residuals]
    left.plot(residuals, mse, color=TASK_COLOURS["rul"], label=r"MSE: $2|r|/B$")
    for p in p_trues:
        ce = gradient_magnitudes(1.0, p, batch_size, n_classes)["ce_true"]
        left.plot(residuals, np.full_like(residuals, ce), color=TASK_COLOURS["health"],
                  alpha=0.4 + 0.6 * (1 - p), label=rf"CE, $p_{{true}}={p:.2f}$")
        ratio = [gradient_magnitudes(r, p, batch_size, n_classes)["ratio"] for r in residuals]
        right.plot(residuals, ratio, color="0.2", alpha=0.4 + 0.6 * (1 - p),
                   label=rf"$p_{{true}}={p:.2f}$")
    left.axhline(1.0 / batch_size, color="0.5", ls=":", label=r"bound $1/B$")
    left.set(xlabel="|residual| (cycles)", ylabel="gradient size", yscale="log",
             title=f"output gradients, B={batch_size}, K={n_classes}")
    right.set(xlabel="|residual| (cycles)", ylabel="MSE / CE", yscale="log",
              title="ratio (B cancels)")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    return fig
