"""Figures of section 12.4: where the two-task toy settles, and how it gets there.

Both figures draw the toy of :mod:`gabalab.toy` (one shared scalar :math:`\\theta`, a
loud task with curvature :math:`\\rho` and optimum :math:`+1`, a quiet task with curvature 1
and optimum :math:`-1`). The loud task is drawn in the RUL colour and the quiet task in the
health colour of :data:`gabalab.plots.style.TASK_COLOURS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gabalab._checks import as_array, as_list, check_real
from gabalab.plots.style import TASK_COLOURS
from gabalab.toy import Trajectory, fixed_point, losses_at

__all__ = ["plot_fixed_point_costs", "plot_toy_trajectories"]


def plot_fixed_point_costs(rhos: Sequence[float] | np.ndarray | None = None) -> Figure:
    r"""Draw :math:`\theta^\ast` and both task losses at :math:`\theta^\ast` against :math:`\rho`.

    Left: the fixed point :math:`(\rho - 1)/(\rho + 1)` moving from 0 towards the loud task's
    optimum 1. Right: the loud task's loss :math:`2\rho/(\rho+1)^2` falling and the quiet
    task's loss :math:`2\rho^2/(\rho+1)^2` rising towards 2, with the quiet task's loss at
    the start :math:`\theta = 0` (0.5) for reference.

    Parameters
    ----------
    rhos : array_like of float, optional
        Curvature ratios to draw, each > 0; default 200 values from 1 to 1000 on a log grid.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with two axes.

    Raises
    ------
    ValueError
        If ``rhos`` is empty or holds a value that is not finite and > 0.
    TypeError
        If ``rhos`` is not numeric.

    Examples
    --------
    >>> fig = plot_fixed_point_costs([1.0, 10.0, 100.0])
    >>> len(fig.axes)
    2
    """
    if rhos is None:
        rhos = np.logspace(0.0, 3.0, 200)
    grid = as_array("rhos", rhos, ndim=1, finite=False)
    if grid.size == 0:
        raise ValueError("rhos must hold at least one value")
    if not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError("rhos must hold finite values > 0")

    theta_star = np.array([fixed_point(float(r)) for r in grid])
    loud = np.array([losses_at(float(t), float(r))[0] for t, r in zip(theta_star, grid)])
    quiet = np.array([losses_at(float(t), float(r))[1] for t, r in zip(theta_star, grid)])

    fig, (left, right) = plt.subplots(1, 2, figsize=(6.8, 3.2), constrained_layout=True)
    left.plot(grid, theta_star, color="0.2")
    left.axhline(1.0, color=TASK_COLOURS["rul"], ls=":", label="loud (RUL-like) optimum +1")
    left.axhline(-1.0, color=TASK_COLOURS["health"], ls=":", label="quiet (health-like) optimum -1")
    left.set(xscale="log", xlabel=r"curvature ratio $\rho$", ylabel=r"$\theta^\ast$",
             ylim=(-1.1, 1.1), title=r"where the summed loss settles")
    left.legend(fontsize=8, loc="center right")

    right.plot(grid, loud, color=TASK_COLOURS["rul"], label=r"loud task at $\theta^\ast$")
    right.plot(grid, quiet, color=TASK_COLOURS["health"], label=r"quiet task at $\theta^\ast$")
    right.axhline(0.5, color=TASK_COLOURS["health"], ls="--", alpha=0.6,
                  label=r"quiet task at $\theta = 0$")
    right.set(xscale="log", xlabel=r"curvature ratio $\rho$", ylabel="loss",
              title="what each task is left with")
    right.legend(fontsize=8)
    return fig


def _finite_range(arrays: list[np.ndarray]) -> tuple[float, float] | None:
    """Smallest and largest finite positive entry over ``arrays`` (``None`` if there is none)."""
    if not arrays:
        return None
    values = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays])
    if values.size == 0:
        return None
    return float(values.min()), float(values.max())


def plot_toy_trajectories(
    trajectories: Sequence[Trajectory],
    labels: Sequence[str] | None = None,
    theta_limits: tuple[float, float] = (-1.5, 1.5),
    divergence_threshold: float = 1e6,
) -> Figure:
    r"""Draw the iterates and both task losses of a few toy runs, step by step.

    Three panels share a step axis that is linear up to 1 and logarithmic beyond:
    :math:`\theta_k` with the fixed point of each run dashed, the loud task's loss (log scale)
    and the quiet task's loss. A run that diverges is drawn until :math:`|\theta_k|` exceeds
    ten times the panel's limits; its label says so, and the loss axes are scaled to the runs
    that stay bounded. The legend sits below the panels.

    Parameters
    ----------
    trajectories : sequence of Trajectory
        Runs to draw, e.g. from :func:`gabalab.toy.simulate_sgd` or
        :func:`gabalab.toy.train_toy`; at least one.
    labels : sequence of str, optional
        One label per run; default ``"<optimiser>, rho=<rho>, lr=<lr>"``.
    theta_limits : tuple of float, default (-1.5, 1.5)
        Vertical limits of the :math:`\theta` panel, lower < upper.
    divergence_threshold : float, default 1e6
        Passed to :meth:`Trajectory.diverged` to decide which runs are labelled as diverging.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with three axes.

    Raises
    ------
    TypeError
        If an entry of ``trajectories`` is not a :class:`~gabalab.toy.Trajectory`.
    ValueError
        If ``trajectories`` is empty, ``labels`` has the wrong length, or ``theta_limits``
        is not an increasing pair of finite numbers.

    Examples
    --------
    >>> from gabalab.toy import simulate_sgd
    >>> fig = plot_toy_trajectories([simulate_sgd(10.0, 0.1, 50),
    ...                              simulate_sgd(10.0, 0.2, 50)])
    >>> [ax.get_title() for ax in fig.axes]
    ['shared parameter', 'loud task loss', 'quiet task loss']
    """
    runs = as_list("trajectories", trajectories)
    if not runs:
        raise ValueError("trajectories must hold at least one Trajectory")
    for i, run in enumerate(runs):
        if not isinstance(run, Trajectory):
            raise TypeError(f"trajectories[{i}] must be a Trajectory, got {type(run).__name__}")
    if labels is None:
        labels = [f"{r.optimizer}, rho={r.rho:g}, lr={r.lr:g}" for r in runs]
    labels = as_list("labels", labels)
    if not all(isinstance(label, str) for label in labels):
        raise TypeError("labels must be strings")
    if len(labels) != len(runs):
        raise ValueError(
            f"labels must have one entry per trajectory ({len(runs)}), got {len(labels)}"
        )
    check_real("divergence_threshold", divergence_threshold, positive=True)
    limits = as_array("theta_limits", theta_limits, ndim=1, finite=False)
    if limits.size != 2:
        raise ValueError(f"theta_limits must be (low, high), got {theta_limits!r}")
    low, high = float(limits[0]), float(limits[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"theta_limits must be increasing finite numbers, got {theta_limits!r}")

    fig, (ax_theta, ax_loud, ax_quiet) = plt.subplots(
        1, 3, figsize=(11.0, 3.9), layout="constrained"
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    bounded = [r for r in runs if not r.diverged(divergence_threshold)]
    reach = 10.0 * max(abs(low), abs(high))
    for i, (run, label) in enumerate(zip(runs, labels)):
        colour = colours[i % len(colours)]
        diverges = run.diverged(divergence_threshold)
        # A diverging run is drawn until it has clearly left the panel, so that its later
        # swings (each larger than the last) do not paint the whole axes.
        end = run.n_steps + 1
        if diverges:
            outside = np.flatnonzero(~(np.abs(run.theta) <= reach))
            if outside.size:
                end = int(outside[0]) + 1
        steps = np.arange(end)
        shown = label + ("  (diverges)" if diverges else "")
        ax_theta.plot(steps, run.theta[:end], color=colour, label=shown)
        ax_loud.plot(steps, run.loss_loud[:end], color=colour)
        ax_quiet.plot(steps, run.loss_quiet[:end], color=colour)
        ax_theta.axhline(run.fixed_point, color=colour, ls="--", lw=0.8, alpha=0.7)

    ax_theta.set(ylim=(low, high), ylabel=r"$\theta_k$", title="shared parameter")
    ax_loud.set(yscale="log", ylabel="loss", title="loud task loss")
    ax_quiet.set(ylabel="loss", title="quiet task loss")
    ax_loud.title.set_color(TASK_COLOURS["rul"])
    ax_quiet.title.set_color(TASK_COLOURS["health"])
    loud_range = _finite_range([r.loss_loud for r in bounded])
    if loud_range is not None:
        ax_loud.set_ylim(loud_range[0] / 2.0, loud_range[1] * 2.0)
    quiet_range = _finite_range([r.loss_quiet for r in bounded])
    if quiet_range is not None:
        ax_quiet.set_ylim(0.0, quiet_range[1] * 1.15)
    longest = max(r.n_steps for r in runs)
    for ax in (ax_theta, ax_loud, ax_quiet):
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(0.0, longest)
        ax.set_xlabel("step k (linear to 1, then log)")
    fig.legend(loc="outside lower center", ncol=min(len(runs), 4), fontsize=8)
    return fig
