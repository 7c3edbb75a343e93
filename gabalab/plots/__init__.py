"""Figures of the book, made by functions so that notebooks stay short and alike.

One submodule per topic; :mod:`gabalab.plots.style` holds the shared colours and defaults.
Plots only draw: every number they show comes from a compute module.

* :mod:`gabalab.plots.style` - task colours and the matplotlib defaults.
* :mod:`gabalab.plots.derivative_bound` - section 12.2, output gradients against the residual.
* :mod:`gabalab.plots.norm_scaling` - section 12.1, norms against the parameter count.
* :mod:`gabalab.plots.epochs` - section 12.3, ratio histograms over epochs.
* :mod:`gabalab.plots.toy_bias` - section 12.4, the two-task toy.
* :mod:`gabalab.plots.selection` - section 18.1, norms and weights per choice of parameters.
"""

from gabalab.plots.derivative_bound import plot_derivative_bound
from gabalab.plots.style import TASK_COLOURS, use_book_style

__all__ = ["TASK_COLOURS", "use_book_style", "plot_derivative_bound"]
