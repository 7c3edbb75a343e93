"""Explorer of section 12.4: train the two-task toy with a chosen optimiser and step size.

The plain functions :func:`toy_bias_run`, :func:`toy_bias_summary` and
:func:`toy_bias_readout` do the work and are unit-tested; :func:`toy_bias_explorer` only wires
them to sliders. On the static site its place is taken by
:func:`gabalab.plots.toy_bias.plot_toy_trajectories`.
"""

from __future__ import annotations

import math
from typing import Any

from gabalab._checks import check_real
from gabalab.simulate import (
    Trajectory,
    fixed_point,
    losses_at,
    sgd_stability_bound,
    simulate_sgd,
    train_toy,
)

__all__ = [
    "TOY_OPTIMIZERS",
    "toy_bias_run",
    "toy_bias_summary",
    "toy_bias_readout",
    "toy_bias_explorer",
]

#: Optimisers the explorer offers.
TOY_OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")


def _check_optimizer(optimizer: Any) -> str:
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a string, got {type(optimizer).__name__}")
    key = optimizer.lower()
    if key not in TOY_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(TOY_OPTIMIZERS)}, got {optimizer!r}")
    return key


def toy_bias_run(
    rho: float,
    optimizer: str = "sgd",
    lr: float = 0.01,
    n_steps: int = 200,
    theta0: float = 0.0,
) -> Trajectory:
    """Train the two-task toy on the summed loss and return its trajectory.

    ``"sgd"`` runs the NumPy reference :func:`gabalab.simulate.simulate_sgd` (its PyTorch twin
    gives the same iterates); ``"adam"`` runs :func:`gabalab.simulate.train_toy` with
    ``torch.optim.Adam`` and its default betas.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.
    optimizer : {"sgd", "adam"}, default "sgd"
        Optimiser (case-insensitive).
    lr : float, default 0.01
        Learning rate, > 0.
    n_steps : int, default 200
        Number of steps, >= 1.
    theta0 : float, default 0.0
        Starting value of the shared parameter; must be finite.

    Returns
    -------
    Trajectory
        Iterates and both task losses at each of the ``n_steps + 1`` points.

    Raises
    ------
    TypeError
        If ``optimizer`` is not a string, or a number has the wrong type.
    ValueError
        If ``optimizer`` is not one of :data:`TOY_OPTIMIZERS`, or ``rho``, ``lr``,
        ``n_steps`` or ``theta0`` is out of range (see :func:`gabalab.simulate.simulate_sgd`).

    Examples
    --------
    >>> traj = toy_bias_run(3.0, "sgd", lr=0.25, n_steps=2)
    >>> traj.theta.tolist()
    [0.0, 0.5, 0.5]
    """
    key = _check_optimizer(optimizer)
    if key == "sgd":
        return simulate_sgd(rho, lr, n_steps, theta0=theta0)
    return train_toy(rho, "adam", lr=lr, n_steps=n_steps, theta0=theta0)


def toy_bias_summary(
    rho: float,
    optimizer: str = "sgd",
    lr: float = 0.01,
    n_steps: int = 200,
    tol: float = 1e-6,
) -> dict[str, Any]:
    """The numbers the explorer shows for one setting, starting from ``theta0 = 0``.

    Parameters
    ----------
    rho, optimizer, lr, n_steps
        As in :func:`toy_bias_run`.
    tol : float, default 1e-6
        Distance to the fixed point that counts as arrived, > 0.

    Returns
    -------
    dict
        ``theta_star``, ``loud_star``, ``quiet_star`` (closed form), ``bound`` (largest
        stable SGD step ``2/(rho + 1)``), ``lr_over_bound``, ``final``, ``loud_final``,
        ``quiet_final`` (last iterate; ``inf`` after overflow), ``diverged`` (bool),
        ``steps_to`` (first step after which the run stays within ``tol`` of the fixed
        point, or ``None``) and ``trajectory`` (the :class:`~gabalab.simulate.Trajectory`).

    Raises
    ------
    TypeError, ValueError
        As :func:`toy_bias_run`; also if ``tol`` is not a real number > 0.

    Examples
    --------
    >>> s = toy_bias_summary(10.0, "sgd", lr=0.1, n_steps=200)
    >>> round(s["theta_star"], 4), s["diverged"], s["steps_to"]
    (0.8182, False, 6)
    """
    tol = check_real("tol", tol, positive=True)
    traj = toy_bias_run(rho, optimizer, lr=lr, n_steps=n_steps)
    theta_star = fixed_point(traj.rho)
    loud_star, quiet_star = losses_at(theta_star, traj.rho)
    bound = sgd_stability_bound(traj.rho)
    return {
        "theta_star": theta_star,
        "loud_star": loud_star,
        "quiet_star": quiet_star,
        "bound": bound,
        "lr_over_bound": traj.lr / bound,
        "final": traj.final,
        "loud_final": float(traj.loss_loud[-1]),
        "quiet_final": float(traj.loss_quiet[-1]),
        "diverged": traj.diverged(),
        "steps_to": traj.steps_to(tol),
        "trajectory": traj,
    }


def toy_bias_readout(
    rho: float,
    optimizer: str = "sgd",
    lr: float = 0.01,
    n_steps: int = 200,
    tol: float = 1e-6,
) -> str:
    """Text shown by :func:`toy_bias_explorer` for one setting of its controls.

    Parameters
    ----------
    rho, optimizer, lr, n_steps, tol
        As in :func:`toy_bias_summary`.

    Returns
    -------
    str
        Four lines: the closed-form fixed point and its losses, the SGD stability bound, the
        last iterate and its losses, and whether and when the run arrived.

    Raises
    ------
    TypeError, ValueError
        As :func:`toy_bias_summary`.

    Examples
    --------
    >>> print(toy_bias_readout(100.0, "sgd", lr=0.05, n_steps=60))
    closed form : theta* = +0.9802   L_loud = 0.0196   L_quiet = 1.961
    SGD bound   : lr < 2/(rho+1) = 0.0198   (this lr is 2.52x the bound)
    after 60    : theta = -2.745e+36   L_loud = 3.769e+74   L_quiet = 3.769e+72
    status      : diverged
    """
    return _format_summary(toy_bias_summary(rho, optimizer, lr=lr, n_steps=n_steps, tol=tol), tol)


def _format_summary(s: dict[str, Any], tol: float) -> str:
    """The four lines of :func:`toy_bias_readout` for a :func:`toy_bias_summary` result."""
    traj: Trajectory = s["trajectory"]
    if s["diverged"]:
        status = "diverged"
    elif s["steps_to"] is None:
        status = f"not within {tol:g} of theta* after {traj.n_steps} steps"
    else:
        status = f"within {tol:g} of theta* from step {s['steps_to']} on"
    return "\n".join(
        [
            f"closed form : theta* = {s['theta_star']:+.4f}   L_loud = {s['loud_star']:.3g}"
            f"   L_quiet = {s['quiet_star']:.4g}",
            f"SGD bound   : lr < 2/(rho+1) = {s['bound']:.3g}"
            f"   (this lr is {s['lr_over_bound']:.3g}x the bound)",
            f"after {traj.n_steps:<6d}: theta = {_fmt(s['final'])}   L_loud = "
            f"{_fmt(s['loud_final'], signed=False)}   L_quiet = {_fmt(s['quiet_final'], signed=False)}",
            f"status      : {status}",
        ]
    )


def _fmt(value: float, signed: bool = True) -> str:
    """Four significant digits, fixed notation for moderate values and scientific otherwise."""
    if not math.isfinite(value):
        return f"{value:+}" if signed else f"{value}"
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


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
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from gabalab.plots.toy_bias import plot_toy_trajectories

    def show(rho: float, optimizer: str, lr: float, n_steps: int) -> None:
        summary = toy_bias_summary(rho, optimizer, lr=lr, n_steps=n_steps, tol=1e-6)
        print(_format_summary(summary, 1e-6))
        plot_toy_trajectories([summary["trajectory"]])
        plt.show()

    return w.interactive(
        show,
        rho=w.FloatLogSlider(value=100.0, base=10, min=0.0, max=3.0, step=0.05, description="rho"),
        optimizer=w.Dropdown(options=list(TOY_OPTIMIZERS), value="sgd", description="optimiser"),
        lr=w.FloatLogSlider(value=0.01, base=10, min=-4.0, max=0.0, step=0.05, description="lr"),
        n_steps=w.IntSlider(value=200, min=10, max=3000, step=10, description="steps"),
    )
