"""Live explorers that work on the static site and in JupyterLab, with no kernel needed.

Each explorer is an Altair (Vega-Lite) chart whose parameters are bound to sliders,
checkboxes and radio buttons; the numbers it shows are Vega expressions evaluated in the
browser, each with a Python twin in a compute module (the tests check one against the
other). :func:`show` writes a chart as deterministic HTML that draws from the book's own
copy of Vega (:mod:`gabalab.charts.render`), never from a CDN.

One submodule per explorer; this package imports compute modules only, never
:mod:`gabalab.widgets`.
"""

from gabalab.charts.balancing import balancing_chart
from gabalab.charts.derivative_bound import derivative_bound_chart
from gabalab.charts.epochs import epoch_chart
from gabalab.charts.norm_scaling import norm_grid, norm_scaling_chart
from gabalab.charts.render import ChartOutput, chart_html, load_vega, output_mode, show
from gabalab.charts.selection import selection_chart
from gabalab.charts.toy_bias import toy_bias_chart

__all__ = [
    "ChartOutput",
    "balancing_chart",
    "chart_html",
    "derivative_bound_chart",
    "epoch_chart",
    "load_vega",
    "norm_grid",
    "norm_scaling_chart",
    "output_mode",
    "selection_chart",
    "show",
    "toy_bias_chart",
]
