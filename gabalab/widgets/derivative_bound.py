"""Explorer of section 12.2: the two output-gradient sizes for one sample.

The book's page shows the same numbers live without a kernel:
:func:`gabalab.charts.derivative_bound.derivative_bound_chart`.
"""

from __future__ import annotations

from typing import Any

from gabalab.losses import gradient_magnitudes

__all__ = ["derivative_bound_readout", "derivative_bound_explorer"]


def derivative_bound_readout(
    residual: float, p_true: float, batch_size: int, n_classes: int
) -> str:
    """Text shown by :func:`derivative_bound_explorer` for one setting of its sliders.

    Examples
    --------
    >>> print(derivative_bound_readout(-60.0, 1 / 3, 32, 3))
    |dL_mse/dy_hat|   = 3.7500
    |dL_ce/dz_true|   = 0.020833  (bound 1/B = 0.031250)
    ||dL_ce/dz_row||  = 0.025516
    ratio MSE / CE    = 180.0x
    """
    g = gradient_magnitudes(residual, p_true, batch_size, n_classes)
    return "\n".join(
        [
            f"|dL_mse/dy_hat|   = {g['mse']:.4f}",
            f"|dL_ce/dz_true|   = {g['ce_true']:.6f}  (bound 1/B = {1 / batch_size:.6f})",
            f"||dL_ce/dz_row||  = {g['ce_row']:.6f}",
            f"ratio MSE / CE    = {g['ratio']:.1f}x",
        ]
    )


def derivative_bound_explorer() -> Any:
    """Sliders for residual, p_true, B and K, showing both gradient sizes and their ratio.

    Returns
    -------
    ipywidgets.interactive
        Display it in a notebook (it is the value of the cell).
    """
    import ipywidgets as w

    def show(residual: float, p_true: float, batch_size: int, n_classes: int) -> None:
        print(derivative_bound_readout(residual, p_true, batch_size, n_classes))

    return w.interactive(
        show,
        residual=w.FloatSlider(value=-60.0, min=-125.0, max=125.0, step=1.0,
                               description="residual"),
        # Start near the uniform softmax of K = 3 (1/3), on the slider's 0.01 grid, so the
        # value the slider shows is exactly the value the readout uses.
        p_true=w.FloatSlider(value=0.33, min=0.0, max=0.99, step=0.01, description="p_true"),
        batch_size=w.IntSlider(value=32, min=1, max=256, description="B"),
        n_classes=w.IntSlider(value=3, min=2, max=10, description="K"),
    )
