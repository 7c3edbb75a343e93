"""Figure of section 12.1: gradient norms against the number of shared parameters."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gabalab._checks import as_array, as_list, check_real
from gabalab.norms import norm_scaling_sweep
from gabalab.plots.style import TASK_COLOURS

__all__ = ["plot_norm_scaling"]


def plot_norm_scaling(
    n_values: Sequence[int] | np.ndarray | None = None,
    scale_rul: float = 1.0,
    scale_hs_values: Sequence[float] = (0.002, 0.01, 1.0),
    *,
    seed: int = 0,
) -> Figure:
    """Both L2 norms grow like ``sqrt(N)``; their ratio does not move with ``N``.

    Left: ``||g_rul||`` and ``||g_hs||`` against ``N`` (log-log) for the first entry of
    ``scale_hs_values``, with ``scale * sqrt(N)`` as dotted guides. Right: the ratio
    ``||g_rul|| / ||g_hs||`` against ``N`` for every entry of ``scale_hs_values``, with the
    scale ratio as a dotted line.

    Parameters
    ----------
    n_values : array-like of int, optional
        Parameter counts; default 10 to about 3 million, log-spaced.
    scale_rul : float
        Per-element scale of the RUL gradient.
    scale_hs_values : sequence of float
        Per-element scales of the health gradient, one curve each on the right.
    seed : int
        Seed of the random gradient vectors.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, naming the argument.
    """
    if n_values is None:
        n_values = np.unique(np.round(np.logspace(1, 6.5, 12)).astype(int))
    n_values = [int(n) for n in as_array("n_values", n_values, kind="int", ndim=1)]
    scale_rul = check_real("scale_rul", scale_rul, positive=True)
    scale_hs_values = [check_real(f"scale_hs_values[{i}]", v, positive=True)
                       for i, v in enumerate(as_list("scale_hs_values", scale_hs_values))]
    if len(scale_hs_values) == 0:
        raise ValueError("scale_hs_values must hold at least one scale")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6), constrained_layout=True)
    n = np.asarray(n_values, dtype=float)
    first = norm_scaling_sweep(n_values, scale_rul, scale_hs_values[0], seed=seed)
    for colour, name, key, scale in (("rul", "rul", "norm_rul", scale_rul),
                                     ("health", "hs", "norm_hs", scale_hs_values[0])):
        left.plot(n, first[key], "o-", color=TASK_COLOURS[colour], ms=3,
                  label=rf"$\|g_{{\mathrm{{{name}}}}}\|_2$, scale {scale:g}")
        left.plot(n, scale * np.sqrt(n), ":", color=TASK_COLOURS[colour])
    left.set(xscale="log", yscale="log", xlabel="N (shared parameters)", ylabel="L2 norm",
             title=r"norms grow like $\sqrt{N}$ (dotted: scale $\cdot\sqrt{N}$)")
    left.legend(fontsize=8)
    for i, scale_hs in enumerate(scale_hs_values):
        sweep = first if i == 0 else norm_scaling_sweep(n_values, scale_rul, scale_hs, seed=seed)
        line, = right.plot(n, sweep["ratio"], "o-", ms=3,
                           label=f"HS scale {scale_hs:g}")
        right.axhline(scale_rul / scale_hs, color=line.get_color(), ls=":", lw=1)
    right.set(xscale="log", yscale="log", xlabel="N (shared parameters)",
              ylabel=r"$\|g_{rul}\| / \|g_{hs}\|$",
              title=f"ratio stays at the scale ratio (RUL scale {scale_rul:g})")
    right.legend(fontsize=8)
    return fig
