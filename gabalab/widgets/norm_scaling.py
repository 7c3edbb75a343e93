"""Explorer of section 12.1: how gradient norms scale with the number of shared parameters.

The sliders wire :func:`gabalab.norms.norm_scaling` to a text readout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gabalab._checks import check_real
from gabalab.norms import norm_scaling

__all__ = ["norm_scaling_readout", "norm_scaling_explorer"]


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
