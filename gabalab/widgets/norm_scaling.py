"""Explorer of section 12.1: how gradient norms scale with the number of shared parameters.

Each task's gradient is modelled as ``N`` independent entries with a given per-element scale
(standard deviation). The L2 norm of such a vector grows like ``scale * sqrt(N)``; the ratio
of two of them and the root-mean-square entry ``||g|| / sqrt(N)`` do not depend on ``N``.

On the static site its place is taken by :func:`gabalab.plots.norm_scaling.plot_norm_scaling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gabalab._checks import check_int, check_real

__all__ = [
    "MAX_PARAMS",
    "random_task_gradients",
    "norm_scaling",
    "norm_scaling_sweep",
    "norm_scaling_readout",
    "norm_scaling_explorer",
]

#: Largest ``N`` accepted (two float64 vectors of this size take 160 MB).
MAX_PARAMS: int = 10_000_000


def _check_n(n_params: Any, name: str = "n_params") -> int:
    n_params = check_int(name, n_params, minimum=1)
    if n_params > MAX_PARAMS:
        raise ValueError(f"{name} must be <= {MAX_PARAMS}, got {n_params}")
    return n_params


def random_task_gradients(
    n_params: int, scale_rul: float, scale_hs: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two random gradient vectors with the given per-element scales.

    ``g_rul = scale_rul * u`` and ``g_hs = scale_hs * v`` with ``u`` then ``v`` drawn as
    independent standard normal vectors of length ``n_params`` from
    ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    n_params : int
        ``N``, the number of shared parameters (1 to :data:`MAX_PARAMS`).
    scale_rul, scale_hs : float
        Per-element standard deviation of each task's gradient (> 0).
    seed : int
        Seed (>= 0).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(g_rul, g_hs)``, each of shape ``(n_params,)``.

    Raises
    ------
    TypeError, ValueError
        On an argument of the wrong type or out of range, naming it.

    Examples
    --------
    >>> g_rul, g_hs = random_task_gradients(5, 1.0, 0.01, seed=0)
    >>> g_rul.shape, g_hs.shape
    ((5,), (5,))
    """
    n_params = _check_n(n_params)
    scale_rul = check_real("scale_rul", scale_rul, positive=True)
    scale_hs = check_real("scale_hs", scale_hs, positive=True)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    g_rul = scale_rul * rng.standard_normal(n_params)
    g_hs = scale_hs * rng.standard_normal(n_params)
    return g_rul, g_hs


def norm_scaling(
    n_params: int, scale_rul: float, scale_hs: float, *, seed: int = 0
) -> dict[str, float]:
    """Both L2 norms, their ratio and the root-mean-square entries for one ``N``.

    Parameters
    ----------
    n_params, scale_rul, scale_hs, seed
        As in :func:`random_task_gradients`.

    Returns
    -------
    dict
        ``n_params``; ``norm_rul`` and ``norm_hs`` (L2 norms, about ``scale * sqrt(N)``);
        ``ratio`` (``norm_rul / norm_hs``, about ``scale_rul / scale_hs``); ``rms_rul``
        and ``rms_hs`` (``||g|| / sqrt(N)``, about the scales).

    Raises
    ------
    TypeError, ValueError
        As in :func:`random_task_gradients`.

    Examples
    --------
    >>> out = norm_scaling(1_000_000, 1.0, 0.002, seed=0)
    >>> abs(out["ratio"] / 500 - 1) < 0.01, round(out["rms_rul"], 2)
    (True, 1.0)
    """
    g_rul, g_hs = random_task_gradients(n_params, scale_rul, scale_hs, seed=seed)
    norm_rul = float(np.linalg.norm(g_rul))
    norm_hs = float(np.linalg.norm(g_hs))
    root_n = float(np.sqrt(g_rul.size))
    return {
        "n_params": int(g_rul.size),
        "norm_rul": norm_rul,
        "norm_hs": norm_hs,
        "ratio": norm_rul / norm_hs,
        "rms_rul": norm_rul / root_n,
        "rms_hs": norm_hs / root_n,
    }


def norm_scaling_sweep(
    n_values: Sequence[int], scale_rul: float, scale_hs: float, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """:func:`norm_scaling` over several ``N``, each drawn from the same ``seed``.

    Parameters
    ----------
    n_values : sequence of int
        The parameter counts (at least one).
    scale_rul, scale_hs, seed
        As in :func:`random_task_gradients`.

    Returns
    -------
    dict of numpy.ndarray
        The keys of :func:`norm_scaling`, each an array over ``n_values``.

    Raises
    ------
    TypeError, ValueError
        If ``n_values`` is empty or holds an invalid count, or another argument is invalid.

    Examples
    --------
    >>> sweep = norm_scaling_sweep([100, 10_000], 1.0, 0.01, seed=0)
    >>> sweep["norm_rul"].shape
    (2,)
    """
    if isinstance(n_values, (str, bytes)) or not isinstance(n_values, (Sequence, np.ndarray)):
        raise TypeError("n_values must be a sequence of positive integers")
    if len(n_values) == 0:
        raise ValueError("n_values must hold at least one parameter count")
    rows = [
        norm_scaling(_check_n(n, f"n_values[{i}]"), scale_rul, scale_hs, seed=seed)
        for i, n in enumerate(n_values)
    ]
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def norm_scaling_readout(
    n_params: int, scale_rul: float, scale_hs: float, *, seed: int = 0
) -> str:
    """Text shown by :func:`norm_scaling_explorer` for one setting of its sliders.

    Examples
    --------
    >>> print(norm_scaling_readout(1_000_000, 1.0, 0.002))
    N                 = 1,000,000   (sqrt(N) = 1000.0)
    ||g_rul||_2       = 1001
    ||g_hs||_2        = 1.998
    ratio             = 500.8x   (scale ratio 500.0x)
    ||g_rul||/sqrt(N) = 1.001
    ||g_hs||/sqrt(N)  = 0.001998
    """
    out = norm_scaling(n_params, scale_rul, scale_hs, seed=seed)
    scale_ratio = check_real("scale_rul", scale_rul) / check_real("scale_hs", scale_hs)
    return "\n".join(
        [
            f"N                 = {out['n_params']:,}   (sqrt(N) = {np.sqrt(out['n_params']):.1f})",
            f"||g_rul||_2       = {out['norm_rul']:.4g}",
            f"||g_hs||_2        = {out['norm_hs']:.4g}",
            f"ratio             = {out['ratio']:.1f}x   (scale ratio {scale_ratio:.1f}x)",
            f"||g_rul||/sqrt(N) = {out['rms_rul']:.4g}",
            f"||g_hs||/sqrt(N)  = {out['rms_hs']:.4g}",
        ]
    )


def norm_scaling_explorer() -> Any:
    """Sliders for ``N``, both per-element scales and the seed, with the readout.

    Returns
    -------
    ipywidgets.interactive
        Display it in a notebook (it is the value of the cell).
    """
    import ipywidgets as w

    def show(n_params: float, scale_rul: float, scale_hs: float, seed: int) -> None:
        print(norm_scaling_readout(int(round(n_params)), scale_rul, scale_hs, seed=seed))

    return w.interactive(
        show,
        n_params=w.FloatLogSlider(value=1e4, base=10, min=1, max=6.5, step=0.25,
                                  description="N"),
        scale_rul=w.FloatLogSlider(value=1.0, base=10, min=-4, max=1, step=0.1,
                                   description="RUL scale"),
        scale_hs=w.FloatLogSlider(value=0.002, base=10, min=-4, max=1, step=0.1,
                                  description="HS scale"),
        seed=w.IntSlider(value=0, min=0, max=20, description="seed"),
    )
