"""gabalab: measure, explain and balance the per-task gradient imbalance in multi-task learning.

Modules
-------
constants
    The RUL cap, the health-class thresholds, window length and sensor list.
losses
    MSE and softmax cross-entropy gradients: analytic (NumPy) and autograd (PyTorch).
norms
    Shared-parameter selection by name and per-task gradient norms.
plots, widgets
    The book's figures and its JupyterLab explorers.
"""

from gabalab import constants

__version__ = "0.1.0"

__all__ = ["constants", "__version__"]
