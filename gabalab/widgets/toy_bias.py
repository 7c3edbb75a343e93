"""Explorer of section 12.4: train the two-task toy with a chosen optimiser and step size.

The controls only wire :func:`gabalab.toy.toy_bias_summary` (the numbers) and
:func:`gabalab.plots.toy_bias.plot_toy_trajectories` (the figure) together.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from gabalab.plots.toy_bias import plot_toy_trajectories
from gabalab.toy import TOY_OPTIMIZERS, format_toy_summary, toy_bias_summary

__all__ = ["toy_bias_explorer"]


def toy_bias_explorer() -> Any:
    """Controls for rho, optimiser, step size and steps; shows the readout and the trajectory.

    Returns
    -------
    ipywidgets.interactive
        Display it in a notebook (it is the value of the cell). Moving a control reruns the toy
        from ``theta0 = 0`` and redraws :func:`gabalab.plots.toy_bias.plot_toy_trajectories`.

    Examples
    --------
    >>> explorer = toy_bias_explorer()  # doctest: +SKIP
    """
    import ipywidgets as w  # optional dependency (the "widgets" extra)

    def show(rho: float, optimizer: str, lr: float, n_steps: int) -> None:
        summary = toy_bias_summary(rho, optimizer, lr=lr, n_steps=n_steps, tol=1e-6)
        print(format_toy_summary(summary, 1e-6))
        plot_toy_trajectories([summary["trajectory"]])
        plt.show()

    return w.interactive(
        show,
        rho=w.FloatLogSlider(value=100.0, base=10, min=0.0, max=3.0, step=0.05, description="rho"),
        optimizer=w.Dropdown(options=list(TOY_OPTIMIZERS), value="sgd", description="optimiser"),
        lr=w.FloatLogSlider(value=0.01, base=10, min=-4.0, max=0.0, step=0.05, description="lr"),
        n_steps=w.IntSlider(value=200, min=10, max=3000, step=10, description="steps"),
    )
