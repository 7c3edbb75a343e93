"""JupyterLab explorers that need Python itself (ipywidgets), and the functions behind them.

The book's charts (:mod:`gabalab.charts`) recompute their formulas in the page, with no
kernel. An exploration that has to run Python, such as retraining a model, is an ipywidgets
explorer here instead: :mod:`gabalab.widgets.retraining` retrains section 18.2's small model
with a chosen EMA and floor. Each explorer is a thin layer over a tested function that
returns a record. :func:`lab_only` shows the explorer in a live JupyterLab session and, in
the stored notebook that the site renders, a note that says what it shows. ipywidgets is
imported only when an explorer is built.
"""

from __future__ import annotations

from gabalab.widgets.live import lab_only
from gabalab.widgets.retraining import RetrainRun, retrain, retrain_explorer

__all__ = ["RetrainRun", "lab_only", "retrain", "retrain_explorer"]
