"""Interactive explorers for JupyterLab (ipywidgets), and the plain functions behind them.

Each explorer is a thin ipywidgets layer over a function that returns text or numbers; the
functions are unit-tested, the widgets are what a reader moves in a running kernel. The
book's pages use the explorers of :mod:`gabalab.charts`, which need no kernel. One submodule
per topic; ipywidgets is imported only when an explorer is built.
"""

from gabalab.widgets.derivative_bound import derivative_bound_explorer, derivative_bound_readout

__all__ = ["derivative_bound_explorer", "derivative_bound_readout"]
