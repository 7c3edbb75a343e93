r"""A two-task toy problem in which one task's gradient drowns out the other's.

The model has one shared scalar parameter :math:`\theta` and two quadratic task losses with
opposite optima and curvature ratio :math:`\rho`:

.. math::

    L_\mathrm{loud}(\theta) = \frac{\rho}{2}(\theta - 1)^2, \qquad
    L_\mathrm{quiet}(\theta) = \frac{1}{2}(\theta + 1)^2 .

Why this choice
---------------
* The optima (:math:`+1` for the loud task, :math:`-1` for the quiet task) are opposite, so
  the two tasks genuinely conflict: no value of :math:`\theta` serves both.
* The curvatures are :math:`\rho` and :math:`1`. At equal distance from their optima the
  loud task's gradient is :math:`\rho` times larger than the quiet task's, so :math:`\rho`
  *is* the gradient imbalance. :math:`\rho = 1` is the balanced case.
* Everything has a closed form, so a simulation can be checked against exact numbers.

Training on the summed loss :math:`L = L_\mathrm{loud} + L_\mathrm{quiet}` uses the gradient

.. math::

    L'(\theta) = \rho(\theta - 1) + (\theta + 1) = (\rho + 1)\,\theta - (\rho - 1),

which vanishes at the fixed point (the minimiser of the sum)

.. math::

    \theta^\ast = \frac{\rho - 1}{\rho + 1}.

As :math:`\rho` grows, :math:`\theta^\ast \to 1`: the compromise is dictated by the loud task
and the quiet task's loss at the optimum, :math:`2\rho^2/(\rho+1)^2`, tends to its worst value
2 on the segment between the two optima.

Plain gradient descent with learning rate :math:`\eta`,

.. math::

    \theta_{k+1} = \theta_k - \eta\bigl((\rho + 1)\theta_k - (\rho - 1)\bigr),

satisfies :math:`\theta_{k+1} - \theta^\ast = (1 - \eta(\rho + 1))(\theta_k - \theta^\ast)`.
It converges iff :math:`|1 - \eta(\rho + 1)| < 1`, i.e. iff :math:`0 < \eta < 2/(\rho + 1)`.
At :math:`\eta = 2/(\rho + 1)` exactly, the factor is :math:`-1` and the iterate oscillates
between :math:`\theta_0` and :math:`2\theta^\ast - \theta_0` without converging; above it the
error grows geometrically with alternating sign. The stability bound is set by the *loud*
task's curvature, so a learning rate that would be comfortable for the quiet task alone
(bound 2) can blow up the shared model.

Two implementations are provided and agree step for step: :func:`simulate_sgd` (NumPy) and
:func:`train_toy` (PyTorch, with any ``torch.optim`` optimiser, e.g. Adam).
:func:`toy_bias_run`, :func:`toy_bias_summary` and :func:`toy_bias_readout` are what the
section's explorer shows for one setting of its controls.

:func:`fixed_point_cost` gives what each task pays at the fixed point (section 12.4 holds
it against the real model's linear probe, :func:`gabalab.probe.probe_outcome`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from gabalab._checks import as_array, check_choice, check_int, check_real

__all__ = [
    "Trajectory",
    "TwoTaskToy",
    "fixed_point",
    "losses_at",
    "sgd_stability_bound",
    "simulate_sgd",
    "train_toy",
    "TOY_OPTIMIZERS",
    "toy_bias_run",
    "toy_bias_summary",
    "toy_bias_readout",
    "format_toy_summary",
    "FixedPointCost",
    "fixed_point_cost",
]

#: Optimiser names accepted by :func:`train_toy`, mapped to their ``torch.optim`` classes.
_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
}


def fixed_point(rho: float) -> float:
    r"""Return the minimiser :math:`\theta^\ast = (\rho - 1)/(\rho + 1)` of the summed loss.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.

    Returns
    -------
    float
        The point where :math:`\rho(\theta - 1) + (\theta + 1) = 0`. It lies in
        :math:`(-1, 1)`; it is 0 for ``rho = 1`` and tends to 1 as ``rho`` grows.

    Raises
    ------
    TypeError
        If ``rho`` is not a real number.
    ValueError
        If ``rho`` is not finite or not > 0.

    Examples
    --------
    >>> fixed_point(1.0)
    0.0
    >>> fixed_point(3.0)
    0.5
    """
    rho = check_real("rho", rho, positive=True)
    return (rho - 1.0) / (rho + 1.0)


def sgd_stability_bound(rho: float) -> float:
    r"""Return the largest stable SGD learning rate on the summed loss, :math:`2/(\rho + 1)`.

    Gradient descent on the summed loss converges iff ``0 < lr < sgd_stability_bound(rho)``.
    At ``lr`` equal to the bound it oscillates with constant amplitude; above it, it diverges.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.

    Returns
    -------
    float
        :math:`2/(\rho + 1)`, i.e. 2 divided by the curvature of the summed loss.

    Raises
    ------
    TypeError
        If ``rho`` is not a real number.
    ValueError
        If ``rho`` is not finite or not > 0.

    Examples
    --------
    >>> sgd_stability_bound(1.0)
    1.0
    >>> sgd_stability_bound(99.0)
    0.02
    """
    rho = check_real("rho", rho, positive=True)
    return 2.0 / (rho + 1.0)


def _losses(theta: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Both task losses at ``theta`` (float64 array), with overflow giving ``inf`` silently."""
    with np.errstate(over="ignore", invalid="ignore"):
        d_loud = theta - 1.0
        d_quiet = theta + 1.0
        return 0.5 * rho * (d_loud * d_loud), 0.5 * (d_quiet * d_quiet)


@overload
def losses_at(theta: float, rho: float) -> tuple[float, float]: ...


@overload
def losses_at(theta: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]: ...


def losses_at(theta: Any, rho: float) -> tuple[Any, Any]:
    r"""Return the loud and quiet task losses at ``theta``.

    :math:`L_\mathrm{loud} = (\rho/2)(\theta - 1)^2` and
    :math:`L_\mathrm{quiet} = (1/2)(\theta + 1)^2`.

    Parameters
    ----------
    theta : float or array_like of float
        Value(s) of the shared parameter; must be finite.
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.

    Returns
    -------
    loss_loud, loss_quiet : float or numpy.ndarray
        Python floats if ``theta`` is a real scalar, otherwise float64 arrays of the shape of
        ``theta``. Values too large for float64 come out as ``inf`` without a warning.

    Raises
    ------
    TypeError
        If ``theta`` is neither a real number nor a numeric array, or ``rho`` is not a real
        number.
    ValueError
        If ``theta`` holds non-finite values, or ``rho`` is not finite or not > 0.

    Examples
    --------
    >>> losses_at(0.0, 4.0)
    (2.0, 0.5)
    >>> loud, quiet = losses_at(np.array([-1.0, 1.0]), 2.0)
    >>> loud.tolist(), quiet.tolist()
    ([4.0, 0.0], [0.0, 2.0])
    """
    rho = check_real("rho", rho, positive=True)
    if isinstance(theta, Real) and not isinstance(theta, bool):
        value = check_real("theta", theta)
        loud, quiet = _losses(np.asarray(value, dtype=np.float64), rho)
        return float(loud), float(quiet)
    if isinstance(theta, bool):
        raise TypeError("theta must be a real number or a numeric array, got bool")
    return _losses(as_array("theta", theta), rho)


@dataclass(frozen=True, eq=False)
class Trajectory:
    r"""Iterates and task losses recorded while training the two-task toy.

    Entry ``k`` of each array belongs to :math:`\theta_k`, the parameter after ``k`` optimiser
    steps (entry 0 is the starting point), so every array has length ``n_steps + 1``.

    If a run diverges far enough to overflow float64, the first overflowing iterate is
    ``+inf`` or ``-inf`` and every later iterate repeats it (continuing would only produce
    ``inf - inf = nan``); the corresponding losses are ``inf``.

    Parameters
    ----------
    theta : numpy.ndarray
        Shape ``(n_steps + 1,)``, the iterates :math:`\theta_0, \dots, \theta_n`.
    loss_loud : numpy.ndarray
        Shape ``(n_steps + 1,)``, :math:`L_\mathrm{loud}(\theta_k)`.
    loss_quiet : numpy.ndarray
        Shape ``(n_steps + 1,)``, :math:`L_\mathrm{quiet}(\theta_k)`.
    rho : float
        Curvature ratio the run used.
    lr : float
        Learning rate the run used.
    optimizer : str
        Name of the optimiser (``"sgd"``, ``"adam"``, or a class/function name).

    Examples
    --------
    >>> traj = simulate_sgd(rho=3.0, lr=0.25, n_steps=2)
    >>> traj.theta.tolist()
    [0.0, 0.5, 0.5]
    >>> traj.final, traj.fixed_point
    (0.5, 0.5)
    >>> traj.converged(1e-12), traj.steps_to(1e-12)
    (True, 1)
    """

    theta: np.ndarray
    loss_loud: np.ndarray
    loss_quiet: np.ndarray
    rho: float
    lr: float
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("theta", "loss_loud", "loss_quiet"):
            # Overflowed runs hold inf (documented); NaN or strings are refused.
            array = as_array(name, getattr(self, name), finite=False)
            if np.any(np.isnan(array)):
                raise ValueError(f"{name} holds NaN")
            if array.ndim != 1 or array.size < 1:
                raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
            arrays[name] = array
        if not arrays["theta"].shape == arrays["loss_loud"].shape == arrays["loss_quiet"].shape:
            raise ValueError(
                "theta, loss_loud and loss_quiet must have the same shape, got "
                f"{arrays['theta'].shape}, {arrays['loss_loud'].shape}, "
                f"{arrays['loss_quiet'].shape}"
            )
        for name, array in arrays.items():
            object.__setattr__(self, name, array)
        object.__setattr__(self, "rho", check_real("rho", self.rho, positive=True))
        object.__setattr__(self, "lr", check_real("lr", self.lr, positive=True))
        if not isinstance(self.optimizer, str):
            raise TypeError(f"optimizer must be a str, got {type(self.optimizer).__name__}")

    @property
    def n_steps(self) -> int:
        """Number of optimiser steps recorded (``len(theta) - 1``)."""
        return int(self.theta.size - 1)

    @property
    def fixed_point(self) -> float:
        r"""The minimiser :math:`\theta^\ast = (\rho - 1)/(\rho + 1)` of the summed loss."""
        return fixed_point(self.rho)

    @property
    def final(self) -> float:
        """The last iterate, :math:`\\theta_n`."""
        return float(self.theta[-1])

    @property
    def loss_total(self) -> np.ndarray:
        """The summed loss ``loss_loud + loss_quiet`` at every recorded iterate."""
        return self.loss_loud + self.loss_quiet

    @property
    def error(self) -> np.ndarray:
        r"""Distance to the fixed point, :math:`|\theta_k - \theta^\ast|` (inf after overflow)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.abs(self.theta - self.fixed_point)

    def converged(self, tol: float = 1e-8) -> bool:
        """Return whether the last iterate lies within ``tol`` of the fixed point.

        Parameters
        ----------
        tol : float, default 1e-8
            Absolute tolerance, > 0.

        Returns
        -------
        bool
            ``abs(final - fixed_point) <= tol``; ``False`` for a non-finite last iterate.

        Raises
        ------
        TypeError
            If ``tol`` is not a real number.
        ValueError
            If ``tol`` is not finite or not > 0.

        Examples
        --------
        >>> simulate_sgd(rho=10.0, lr=0.1, n_steps=200).converged(1e-9)
        True
        """
        tol = check_real("tol", tol, positive=True)
        return bool(self.error[-1] <= tol)

    def steps_to(self, tol: float = 1e-8) -> int | None:
        """Return the first step after which the iterate stays within ``tol`` of the fixed point.

        Parameters
        ----------
        tol : float, default 1e-8
            Absolute tolerance, > 0.

        Returns
        -------
        int or None
            The smallest ``k`` with ``abs(theta[j] - fixed_point) <= tol`` for every
            ``j >= k`` among the recorded iterates, or ``None`` if the last iterate is outside
            the tolerance (the run has not settled, as far as it was recorded).

        Raises
        ------
        TypeError
            If ``tol`` is not a real number.
        ValueError
            If ``tol`` is not finite or not > 0.

        Examples
        --------
        >>> traj = simulate_sgd(rho=1.0, lr=0.25, n_steps=40, theta0=1.0)
        >>> traj.steps_to(1e-3)   # error 0.5**k
        10
        >>> traj = simulate_sgd(rho=1.0, lr=2.5, n_steps=40, theta0=1.0)
        >>> traj.steps_to(1e-3) is None
        True
        """
        tol = check_real("tol", tol, positive=True)
        outside = np.flatnonzero(~(self.error <= tol))  # NaN counts as outside
        if outside.size == 0:
            return 0
        last_outside = int(outside[-1])
        return None if last_outside == self.n_steps else last_outside + 1

    def diverged(self, threshold: float = 1e6) -> bool:
        """Return whether the last iterate is non-finite or larger than ``threshold`` in size.

        Parameters
        ----------
        threshold : float, default 1e6
            Magnitude above which :math:`|\\theta_n|` counts as divergence, > 0. Every
            converging or oscillating run stays within ``max(|theta0|, 1) + 2``, so any
            threshold well above that separates the cases.

        Returns
        -------
        bool
            ``True`` if ``final`` is ``inf``/``nan`` or ``abs(final) > threshold``.

        Raises
        ------
        TypeError
            If ``threshold`` is not a real number.
        ValueError
            If ``threshold`` is not finite or not > 0.

        Examples
        --------
        >>> simulate_sgd(rho=100.0, lr=0.05, n_steps=100).diverged()
        True
        """
        threshold = check_real("threshold", threshold, positive=True)
        final = self.final
        return not math.isfinite(final) or abs(final) > threshold


def simulate_sgd(rho: float, lr: float, n_steps: int, theta0: float = 0.0) -> Trajectory:
    r"""Run plain gradient descent on the summed loss of the two-task toy, in NumPy float64.

    Each step is :math:`\theta \leftarrow \theta - \eta\,g` with
    :math:`g = \rho(\theta - 1) + (\theta + 1)`, the exact gradient of
    :math:`L_\mathrm{loud} + L_\mathrm{quiet}`.

    Divergence is not an error: for ``lr > sgd_stability_bound(rho)`` the iterate grows
    geometrically with alternating sign. Float64 overflow is allowed to happen silently
    (NumPy's overflow warnings are suppressed locally with :func:`numpy.errstate`); the first
    overflowing iterate is ``+inf`` or ``-inf`` and is repeated for the remaining steps, and
    the losses there are ``inf``.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.
    lr : float
        Learning rate :math:`\eta`, > 0. Stable iff ``lr < sgd_stability_bound(rho)``.
    n_steps : int
        Number of gradient steps, >= 1.
    theta0 : float, default 0.0
        Starting value of :math:`\theta`; must be finite. Note that starting exactly at the
        fixed point (e.g. ``theta0 = 0`` with ``rho = 1``) stays there for any ``lr``.

    Returns
    -------
    Trajectory
        Iterates and both task losses at each of the ``n_steps + 1`` points.

    Raises
    ------
    TypeError
        If ``rho``, ``lr`` or ``theta0`` is not a real number, or ``n_steps`` not an integer.
    ValueError
        If ``rho`` or ``lr`` is not finite or not > 0, ``n_steps`` < 1, or ``theta0`` is not
        finite.

    Examples
    --------
    >>> traj = simulate_sgd(rho=10.0, lr=0.1, n_steps=300)
    >>> abs(traj.final - fixed_point(10.0)) < 1e-12
    True
    >>> traj = simulate_sgd(rho=10.0, lr=0.2, n_steps=300)
    >>> traj.diverged()   # bound is 2/11 = 0.18
    True
    """
    rho = check_real("rho", rho, positive=True)
    lr = check_real("lr", lr, positive=True)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    theta0 = check_real("theta0", theta0)

    theta = np.empty(n_steps + 1, dtype=np.float64)
    theta[0] = theta0
    # Python floats follow IEEE double arithmetic like float64 but overflow to inf silently.
    current = theta0
    for k in range(n_steps):
        grad = rho * (current - 1.0) + (current + 1.0)
        current = current - lr * grad
        if not math.isfinite(current):
            theta[k + 1 :] = current
            break
        theta[k + 1] = current
    loss_loud, loss_quiet = _losses(theta, rho)
    return Trajectory(theta, loss_loud, loss_quiet, rho=rho, lr=lr, optimizer="sgd")


class TwoTaskToy(nn.Module):
    r"""PyTorch version of the two-task toy: one shared scalar parameter, two task losses.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.
    theta0 : float, default 0.0
        Initial value of the parameter; must be finite.
    dtype : torch.dtype, default torch.float64
        Floating dtype of the parameter and the losses.

    Attributes
    ----------
    rho : float
        The curvature ratio.
    theta : torch.nn.Parameter
        0-dimensional parameter :math:`\theta`.

    Raises
    ------
    TypeError
        If ``rho`` or ``theta0`` is not a real number, or ``dtype`` not a floating torch dtype.
    ValueError
        If ``rho`` is not finite or not > 0, or ``theta0`` is not finite.

    Examples
    --------
    >>> model = TwoTaskToy(rho=4.0)
    >>> loud, quiet = model.losses()
    >>> loud.item(), quiet.item()
    (2.0, 0.5)
    >>> model().item()
    2.5
    """

    def __init__(self, rho: float, theta0: float = 0.0, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.rho = check_real("rho", rho, positive=True)
        theta0 = check_real("theta0", theta0)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.theta = nn.Parameter(torch.tensor(theta0, dtype=dtype))

    def losses(self) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Return the loud and quiet task losses at the current parameter.

        Returns
        -------
        loss_loud, loss_quiet : torch.Tensor
            0-dimensional tensors :math:`(\rho/2)(\theta - 1)^2` and
            :math:`(1/2)(\theta + 1)^2`, attached to the autograd graph.

        Examples
        --------
        >>> [t.item() for t in TwoTaskToy(rho=2.0, theta0=1.0).losses()]
        [0.0, 2.0]
        """
        loud = 0.5 * self.rho * (self.theta - 1.0) ** 2
        quiet = 0.5 * (self.theta + 1.0) ** 2
        return loud, quiet

    def forward(self) -> torch.Tensor:
        """Return the summed loss ``loss_loud + loss_quiet``."""
        loud, quiet = self.losses()
        return loud + quiet


def _make_optimizer(
    optimizer: str | Callable[..., torch.optim.Optimizer],
    params: list[nn.Parameter],
    lr: float,
    optimizer_kwargs: dict[str, Any],
) -> tuple[torch.optim.Optimizer, str]:
    """Build the optimiser requested by :func:`train_toy` and return it with its name."""
    if isinstance(optimizer, str):
        key = check_choice("optimizer", optimizer, sorted(_OPTIMIZERS), ignore_case=True)
        optimizer_class: Any = _OPTIMIZERS[key]
        return optimizer_class(params, lr=lr, **optimizer_kwargs), key
    if isinstance(optimizer, torch.optim.Optimizer) or not callable(optimizer):
        raise TypeError(
            "optimizer must be a name, an optimiser class or a factory "
            f"called as optimizer(params, lr=lr, **kwargs), got {type(optimizer).__name__}"
        )
    factory: Any = optimizer
    if isinstance(factory, type) and not issubclass(factory, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a name, an optimiser class or a factory, got the "
                        f"class {factory.__name__}, which is not a torch.optim.Optimizer")
    built = factory(params, lr=lr, **optimizer_kwargs)
    if not isinstance(built, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must build a torch.optim.Optimizer, got {type(built).__name__}"
        )
    name = getattr(optimizer, "__name__", type(optimizer).__name__)
    return built, str(name)


def train_toy(
    rho: float,
    optimizer: str | Callable[..., torch.optim.Optimizer] = "sgd",
    *,
    lr: float,
    n_steps: int,
    theta0: float = 0.0,
    **optimizer_kwargs: Any,
) -> Trajectory:
    r"""Train :class:`TwoTaskToy` on the summed loss with a ``torch.optim`` optimiser, in float64.

    Each step evaluates both task losses, back-propagates their sum and calls
    ``optimizer.step()``. With ``optimizer="sgd"`` (no momentum) this reproduces
    :func:`simulate_sgd` step for step up to float64 rounding.

    With ``optimizer="adam"`` the fixed point is the same minimiser :math:`\theta^\ast`
    (Adam's update vanishes only where the gradient of the summed loss does), but Adam's steps
    are normalised: far from :math:`\theta^\ast` each step moves :math:`\theta` by about
    ``lr`` whatever ``rho`` is, so Adam does not diverge at learning rates above
    :func:`sgd_stability_bound`. With a constant ``lr`` two phases follow. First the
    second-moment estimate still remembers the large early gradients, the effective step is
    small and :math:`\theta` converges to :math:`\theta^\ast`, down to float64 rounding
    (for ``rho=100``, ``lr=0.05`` and default betas: within ``1e-9`` after about 400 steps).
    Once that memory has decayed (time scale ``1/(1 - beta2)`` steps) the effective step
    grows beyond what the curvature ``rho + 1`` tolerates and :math:`\theta` settles into a
    bounded oscillation around :math:`\theta^\ast`, of amplitude a fraction of ``lr``
    (about ``0.1 * lr`` for ``rho=100`` and ``betas=(0.9, 0.99)``) and with a mean within
    about ``1e-6`` of :math:`\theta^\ast`.

    If the iterate overflows float64 (possible with SGD above the stability bound), the first
    non-finite iterate is repeated for the remaining steps, as in :func:`simulate_sgd`.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.
    optimizer : {"sgd", "adam"} or callable, default "sgd"
        Optimiser name (case-insensitive), or an optimiser class / factory called as
        ``optimizer(params, lr=lr, **optimizer_kwargs)`` that returns a
        :class:`torch.optim.Optimizer`.
    lr : float
        Learning rate, > 0 (keyword-only).
    n_steps : int
        Number of optimiser steps, >= 1 (keyword-only).
    theta0 : float, default 0.0
        Starting value of :math:`\theta`; must be finite.
    **optimizer_kwargs
        Further keyword arguments for the optimiser, e.g. ``momentum=0.9`` for SGD or
        ``betas=(0.9, 0.99)`` for Adam.

    Returns
    -------
    Trajectory
        Iterates and both task losses at each of the ``n_steps + 1`` points.

    Raises
    ------
    TypeError
        If ``rho``, ``lr`` or ``theta0`` is not a real number, ``n_steps`` is not an integer,
        or ``optimizer`` is neither a string nor a callable returning an optimiser.
    ValueError
        If ``rho`` or ``lr`` is not finite or not > 0, ``n_steps`` < 1, ``theta0`` is not
        finite, or ``optimizer`` is an unknown name.

    Examples
    --------
    >>> traj = train_toy(10.0, "sgd", lr=0.1, n_steps=300)
    >>> abs(traj.final - fixed_point(10.0)) < 1e-12
    True
    >>> traj = train_toy(100.0, "adam", lr=0.05, n_steps=2000)
    >>> bool(abs(traj.theta[-200:].mean() - fixed_point(100.0)) < 1e-2)
    True
    """
    rho = check_real("rho", rho, positive=True)
    lr = check_real("lr", lr, positive=True)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    theta0 = check_real("theta0", theta0)

    model = TwoTaskToy(rho, theta0=theta0, dtype=torch.float64)
    opt, name = _make_optimizer(optimizer, [model.theta], lr, optimizer_kwargs)

    theta = np.empty(n_steps + 1, dtype=np.float64)
    loss_loud = np.empty(n_steps + 1, dtype=np.float64)
    loss_quiet = np.empty(n_steps + 1, dtype=np.float64)
    theta[0] = theta0
    for k in range(n_steps):
        opt.zero_grad(set_to_none=True)
        loud, quiet = model.losses()
        loss_loud[k] = loud.item()
        loss_quiet[k] = quiet.item()
        (loud + quiet).backward()
        opt.step()
        current = model.theta.item()
        if not math.isfinite(current):
            theta[k + 1 :] = current
            loss_loud[k + 1 :] = math.inf
            loss_quiet[k + 1 :] = math.inf
            break
        theta[k + 1] = current
    else:
        with torch.no_grad():
            loud, quiet = model.losses()
        loss_loud[n_steps] = loud.item()
        loss_quiet[n_steps] = quiet.item()
    return Trajectory(theta, loss_loud, loss_quiet, rho=rho, lr=lr, optimizer=name)


#: Optimisers of :func:`toy_bias_run`.
TOY_OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")


def toy_bias_run(
    rho: float,
    optimizer: str = "sgd",
    lr: float = 0.01,
    n_steps: int = 200,
    theta0: float = 0.0,
) -> Trajectory:
    """Train the two-task toy on the summed loss and return its trajectory.

    ``"sgd"`` runs the NumPy reference :func:`simulate_sgd` (its PyTorch twin
    gives the same iterates); ``"adam"`` runs :func:`train_toy` with
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
        ``n_steps`` or ``theta0`` is out of range (see :func:`simulate_sgd`).

    Examples
    --------
    >>> traj = toy_bias_run(3.0, "sgd", lr=0.25, n_steps=2)
    >>> traj.theta.tolist()
    [0.0, 0.5, 0.5]
    """
    key = check_choice("optimizer", optimizer, TOY_OPTIMIZERS, ignore_case=True)
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
        point, or ``None``) and ``trajectory`` (the :class:`Trajectory`).

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
    >>> print(toy_bias_readout(100.0, "sgd", lr=0.05, n_steps=300))
    closed form : theta* = +0.9802   L_loud = 0.0196   L_quiet = 1.961
    SGD bound   : lr < 2/(rho+1) = 0.0198   (this lr is 2.52x the bound)
    after 300   : theta = -1.69e+182   L_loud = inf   L_quiet = inf
    status      : diverged
    """
    summary = toy_bias_summary(rho, optimizer, lr=lr, n_steps=n_steps, tol=tol)
    return format_toy_summary(summary, tol)


_SUMMARY_KEYS = ("theta_star", "loud_star", "quiet_star", "bound", "lr_over_bound", "final",
                 "loud_final", "quiet_final", "diverged", "steps_to", "trajectory")


def format_toy_summary(s: dict[str, Any], tol: float) -> str:
    """The four lines of :func:`toy_bias_readout` for a :func:`toy_bias_summary` result.

    Parameters
    ----------
    s : dict
        From :func:`toy_bias_summary`.
    tol : float
        The tolerance the summary was computed with.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        If ``s`` is not a summary from :func:`toy_bias_summary` or ``tol`` is not > 0.
    """
    if not isinstance(s, dict):
        raise TypeError(f"s must be a dict from toy_bias_summary, got {type(s).__name__}")
    missing = [k for k in _SUMMARY_KEYS if k not in s]
    if missing:
        raise ValueError(f"s lacks {missing}: pass what toy_bias_summary returns")
    if not isinstance(s["trajectory"], Trajectory):
        raise TypeError("s['trajectory'] must be a Trajectory")
    tol = check_real("tol", tol, positive=True)
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
            f"{_fmt(s['loud_final'], signed=False)}   "
            f"L_quiet = {_fmt(s['quiet_final'], signed=False)}",
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


# --------------------------------------------------------------------------- section 12.4's checks


@dataclass(frozen=True)
class FixedPointCost:
    r"""Where training on the summed loss settles for one :math:`\rho`, and what each task pays.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task.
    theta_star : float
        The fixed point :math:`(\rho - 1)/(\rho + 1)`.
    loss_loud, loss_quiet : float
        Both task losses at ``theta_star``: :math:`2\rho/(\rho + 1)^2` and
        :math:`2\rho^2/(\rho + 1)^2`.
    quiet_growth : float
        ``loss_quiet`` divided by the quiet task's loss at the start :math:`\theta = 0`
        (which is 1/2): how much worse training on the sum leaves the quiet task.

    Examples
    --------
    >>> cost = fixed_point_cost(3.0)
    >>> cost.theta_star, cost.loss_loud, cost.loss_quiet, cost.quiet_growth
    (0.5, 0.375, 1.125, 2.25)
    >>> cost.quotes(suffix="_3")  # doctest: +NORMALIZE_WHITESPACE
    {'theta_3': '0.5000', 'rul_3': '0.3750', 'hs_3': '1.125',
     'growth_3': '2.25'}
    """

    rho: float
    theta_star: float
    loss_loud: float
    loss_quiet: float
    quiet_growth: float

    def quotes(self, suffix: str = "") -> dict[str, str]:
        """The four numbers as the prose quotes them, keyed ``theta``, ``rul``, ``hs``, ``growth``.

        Parameters
        ----------
        suffix : str, default ""
            Appended to every key, e.g. ``"_500"`` for the row of :math:`\\rho = 500`.

        Returns
        -------
        dict of str to str
            ``theta_star`` and ``loss_loud`` to 4 decimals, ``loss_quiet`` to 3,
            ``quiet_growth`` to 2.

        Raises
        ------
        TypeError
            If ``suffix`` is not a string.

        Examples
        --------
        >>> fixed_point_cost(1.0).quotes()["growth"]
        '1.00'
        """
        if not isinstance(suffix, str):
            raise TypeError(f"suffix must be a str, got {type(suffix).__name__}")
        return {
            f"theta{suffix}": f"{self.theta_star:.4f}",
            f"rul{suffix}": f"{self.loss_loud:.4f}",
            f"hs{suffix}": f"{self.loss_quiet:.3f}",
            f"growth{suffix}": f"{self.quiet_growth:.2f}",
        }


def fixed_point_cost(rho: float) -> FixedPointCost:
    r"""Return the fixed point of the summed loss and both task losses there.

    Parameters
    ----------
    rho : float
        Curvature ratio of the loud task to the quiet task, > 0.

    Returns
    -------
    FixedPointCost
        :math:`\theta^\ast`, the two losses at it and the quiet task's loss relative to its
        value at :math:`\theta = 0`.

    Raises
    ------
    TypeError
        If ``rho`` is not a real number.
    ValueError
        If ``rho`` is not finite or not > 0.

    Examples
    --------
    >>> round(fixed_point_cost(500.0).quiet_growth, 3)
    3.984
    """
    rho = check_real("rho", rho, positive=True)
    theta_star = fixed_point(rho)
    loud, quiet = losses_at(theta_star, rho)
    quiet_start = losses_at(0.0, rho)[1]
    return FixedPointCost(rho, theta_star, loud, quiet, quiet / quiet_start)
