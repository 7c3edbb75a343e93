"""Figure of the cheaper-sensors page: the RUL weight each sensor applies, step by step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gabalab._checks import as_array

__all__ = ["plot_sensor_weights"]


def plot_sensor_weights(series: Mapping[str, Sequence[float]], *,
                        reference: str = "exact_w") -> Figure:
    """The RUL weight of every sensor over a run (top), and each one over the reference (below).

    Parameters
    ----------
    series : mapping of str to sequence of float
        Per-step RUL weights by name, as :attr:`gabalab.sensor_comparison.ShadowSensors.series`
        holds them (``exact_w``, ``rep_w``, ``held_<N>_w``; other entries are ignored), all
        positive and of one length.
    reference : str
        The entry the others are divided by on the right.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``series`` is not a mapping, ``reference`` not a string, or a series not an array
        of real numbers.
    ValueError
        If ``reference`` is missing, no other weight series is given, the lengths differ,
        or a weight is not positive.
    """
    if not isinstance(series, Mapping):
        raise TypeError(f"series must be a mapping of names to weight series, got "
                        f"{type(series).__name__}")
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a string, got {type(reference).__name__}")
    names = [k for k in series if isinstance(k, str) and k.endswith("_w")]
    if reference not in names:
        raise ValueError(f"series must hold the reference {reference!r}")
    others = [k for k in names if k != reference]
    if not others:
        raise ValueError("series must hold at least one weight series besides the reference")
    values = {k: as_array(f"series[{k!r}]", series[k], ndim=1) for k in names}
    n = values[reference].size
    if any(v.shape != (n,) for v in values.values()) or n == 0:
        raise ValueError("every weight series must hold one value per step, all of one length")
    for k, v in values.items():
        if np.any(~(v > 0)):
            raise ValueError(f"series[{k!r}] must hold positive weights (they are drawn on a "
                             "log scale)")
    labels = {"exact_w": "exact", "rep_w": "representation"}
    steps = np.arange(n)
    # One above the other, at the width of the book's text column.
    fig, (left, right) = plt.subplots(2, 1, figsize=(6.8, 5.6), constrained_layout=True,
                                      sharex=True)
    left.plot(steps, values[reference], color="black", lw=1.2,
              label=labels.get(reference, reference))
    for j, key in enumerate(others):
        label = labels.get(key, key.removesuffix("_w").replace("held_", "held, N = "))
        left.plot(steps, values[key], color=f"C{j}", lw=0.9, alpha=0.85, label=label)
        right.plot(steps, values[key] / values[reference], color=f"C{j}", lw=0.9, alpha=0.85,
                   label=label)
    right.axhline(1.0, color="black", lw=0.8)
    left.set(yscale="log", ylabel=r"RUL weight $\lambda_\mathrm{rul}$")
    right.set(yscale="log", xlabel="training step",
              ylabel=r"$\lambda_\mathrm{rul}$ over the exact sensor's")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    return fig
