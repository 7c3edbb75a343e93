"""gabalab: measure, explain and balance the per-task gradient imbalance in multi-task learning.

Modules
-------
constants
    The RUL cap, the health-class thresholds, window length and sensor list.
losses
    MSE and softmax cross-entropy gradients: analytic (NumPy) and autograd (PyTorch).
norms
    Shared-parameter selection by name and per-task gradient norms.
gaba, weighting
    GABA as a training step (``GabaBalancer``) and its closed-form weights.
distributed
    Exact GABA over several processes: per-task gradients averaged over the ranks, agreed
    decisions, guards against setups that cannot be exact.
amp
    Mixed precision: a ``GradScaler``'s scale kept out of the norms, overflows handed back.
plots, widgets
    The book's figures and its JupyterLab explorers.
"""

from gabalab import constants

__version__ = "0.1.0"

__all__ = ["constants", "__version__"]
