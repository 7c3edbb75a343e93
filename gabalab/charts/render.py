"""Altair charts as deterministic HTML that draws with no network.

A chart becomes a ``text/html`` output of two parts: a ``<div>`` with a stable id (a
placeholder sentence until the chart is drawn) and a ``<script>`` that queues the Vega-Lite
specification under that id (``window.gabalabCharts.push([id, spec, options])``). The page
script :data:`SITE_JS` draws every queued chart with Vega-Embed, whenever it and the Vega
builds arrive, so the order in which a page loads its scripts does not matter.

Where the Vega builds come from:

* on the book's site, from the site itself: the Sphinx extension :mod:`gabalab.charts.sphinx`
  adds :data:`VEGA_BUNDLE` and :data:`SITE_JS` to every page that holds a chart;
* in a live JupyterLab kernel, from the output: the first chart a kernel shows carries both
  files inline (:func:`output_mode` tells the two cases apart).

Nothing is loaded from a CDN, the output names no other host, and the same chart with the
same name gives byte-identical output on every run, so re-executing a notebook does not
rewrite it. (Altair's own HTML output loads its scripts from a CDN and draws a random id.)
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = [
    "CHART_CLASS",
    "EMBED_OPTIONS",
    "MODE_VARIABLE",
    "QUEUE",
    "SITE_JS",
    "VEGA_BUNDLE",
    "WEB_DIR",
    "ChartOutput",
    "chart_html",
    "chart_id",
    "chart_spec",
    "load_vega",
    "output_mode",
    "show",
    "vega_scripts",
]

#: Class of the ``<div>`` of every chart; the Sphinx extension looks for it.
CHART_CLASS = "gabalab-chart"
#: Global JavaScript array (then queue object) that the chart outputs push onto.
QUEUE = "gabalabCharts"
#: Folder of the browser files: :data:`SITE_JS` (in the repository) and, fetched by
#: ``scripts/fetch_vega.sh``, the Vega builds in ``vega/``.
#:
#: :meta hide-value:
WEB_DIR = Path(__file__).resolve().parent / "web"
#: The Vega, Vega-Lite and Vega-Embed builds in one file (see ``scripts/fetch_vega.sh``).
#:
#: :meta hide-value:
VEGA_BUNDLE = WEB_DIR / "vega" / "vega-bundle.min.js"
#: The page script that draws queued charts and registers the custom expression functions.
#:
#: :meta hide-value:
SITE_JS = WEB_DIR / "gabalab-charts.js"
#: Vega-Embed options of every chart: SVG (values are text in the page), no action menu.
EMBED_OPTIONS: dict[str, Any] = {"actions": False, "mode": "vega-lite", "renderer": "svg"}
#: Environment variable that forces :func:`output_mode` (``static`` or ``inline``).
MODE_VARIABLE = "GABALAB_CHARTS"

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MODES = ("static", "inline")
#: Whether this process has already sent the Vega builds inline (see :func:`show`).
_sent_inline = False

FALLBACK_TEXT = (
    "Interactive explorer. It draws here when the page has the book's own Vega scripts: "
    "on the book's website, or in JupyterLab after running this notebook's cells."
)


def chart_id(name: str) -> str:
    """The HTML id of the chart called ``name``.

    Parameters
    ----------
    name : str
        1 to 64 characters from ``a-z``, ``0-9``, ``_`` and ``-``, starting with a letter
        or digit; unique on its page.

    Returns
    -------
    str
        ``"gabalab-chart-" + name``.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` has other characters or the wrong length.

    Examples
    --------
    >>> chart_id("s12_2_derivative_bound")
    'gabalab-chart-s12_2_derivative_bound'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if not _NAME.match(name):
        raise ValueError(
            f"name must be 1-64 characters of a-z, 0-9, '_' and '-', got {name!r}"
        )
    return f"{CHART_CLASS}-{name}"


def chart_spec(chart: Any) -> dict[str, Any]:
    """The validated Vega-Lite specification of an Altair chart (or of a spec dict).

    Parameters
    ----------
    chart : altair.TopLevelMixin or dict
        An Altair chart, or a Vega-Lite specification as a dict (returned unchanged).

    Returns
    -------
    dict

    Raises
    ------
    TypeError
        If ``chart`` is neither (an Altair chart class, not an instance, included).
    ValueError
        If the Altair chart is not a valid Vega-Lite specification.

    Examples
    --------
    >>> import altair as alt
    >>> chart = alt.Chart(alt.Data(values=[{"x": 1}]))
    >>> spec = chart_spec(chart.mark_point().encode(x="x:Q"))
    >>> spec["mark"]
    {'type': 'point'}
    """
    if isinstance(chart, dict):
        return chart
    if isinstance(chart, type):  # an unbound to_dict would fail asking for ``self``
        raise TypeError(f"chart must be an Altair chart or a dict, not the class "
                        f"{chart.__name__} itself")
    to_dict = getattr(chart, "to_dict", None)
    if to_dict is None or not hasattr(chart, "to_json"):
        raise TypeError(f"chart must be an Altair chart or a dict, got {type(chart).__name__}")
    from jsonschema import ValidationError  # Altair's validation errors are of this kind

    try:
        spec = to_dict(validate=True)
    except ValidationError as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if len(first) > 200:
            first = first[:200] + " ..."
        raise ValueError(f"chart is not a valid Vega-Lite chart: {first}") from None
    if not isinstance(spec, dict):  # pragma: no cover - Altair always returns a dict
        raise TypeError("the chart did not give a specification dict")
    return spec


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: ASCII, and ``<``, ``>`` and ``&``
    (which can only occur inside strings) written as ``\\u`` escapes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_html(chart: Any, name: str, *, embed_options: dict[str, Any] | None = None) -> str:
    """The ``text/html`` of one chart: its placeholder ``<div>`` and the queueing script.

    Parameters
    ----------
    chart : altair chart or dict
        As in :func:`chart_spec`.
    name : str
        As in :func:`chart_id`.
    embed_options : dict, optional
        Vega-Embed options merged over :data:`EMBED_OPTIONS`.

    Returns
    -------
    str
        The same text for the same chart and name on every run.

    Raises
    ------
    TypeError, ValueError
        On a bad ``chart``, ``name`` or ``embed_options``, or a specification that holds a
        non-finite number.

    Examples
    --------
    >>> text = chart_html({"mark": "point"}, "demo")
    >>> print(text.splitlines()[0].replace(" ", "\\n    "))
    <div
        id="gabalab-chart-demo"
        class="gabalab-chart"
        data-lm-suppress-shortcuts="true">
    """
    div_id = chart_id(name)
    spec = chart_spec(chart)
    if embed_options is not None and not isinstance(embed_options, dict):
        raise TypeError("embed_options must be a dict")
    options = {**EMBED_OPTIONS, **(embed_options or {})}
    for what, value in ((f"chart: the specification of chart {name!r}", spec),
                        (f"embed_options of chart {name!r}", options)):
        try:
            _script_json(value)
        except ValueError as exc:
            raise ValueError(f"{what} holds a non-finite number or a circular reference "
                             f"({exc})") from None
        except TypeError as exc:
            raise TypeError(f"{what} holds a value that JSON cannot write ({exc})") from None
    payload = _script_json([div_id, spec, options])
    # data-lm-suppress-shortcuts: in JupyterLab, keys pressed on the chart's controls
    # (arrows, Home, End) move the control instead of running notebook shortcuts.
    return (
        f'<div id="{div_id}" class="{CHART_CLASS}" data-lm-suppress-shortcuts="true">\n'
        f'<p class="{CHART_CLASS}-fallback">{html.escape(FALLBACK_TEXT)}</p>\n'
        "</div>\n"
        f"<script>(window.{QUEUE} = window.{QUEUE} || []).push({payload});</script>\n"
    )


def output_mode() -> str:
    """``"inline"`` in a kernel that a Jupyter server (JupyterLab) started, else ``"static"``.

    A Jupyter server names the notebook of each kernel it starts in the kernel's
    environment (``JPY_SESSION_NAME``); the executions that write the stored notebooks
    (``scripts/execute_notebooks.py``, ``pytest --nbval``) start their kernels directly.
    The environment variable :data:`MODE_VARIABLE` (``static`` or ``inline``) overrides the
    guess.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If :data:`MODE_VARIABLE` is set to anything else.

    Examples
    --------
    >>> import os
    >>> os.environ["GABALAB_CHARTS"] = "static"
    >>> output_mode()
    'static'
    >>> del os.environ["GABALAB_CHARTS"]
    """
    forced = os.environ.get(MODE_VARIABLE, "").strip().lower()
    if forced:
        if forced not in _MODES:
            raise ValueError(f"{MODE_VARIABLE} must be one of {list(_MODES)}, got {forced!r}")
        return forced
    return "inline" if os.environ.get("JPY_SESSION_NAME") else "static"


def vega_scripts() -> str:
    """The Vega builds and :data:`SITE_JS` as inline ``<script>`` elements.

    Returns
    -------
    str

    Raises
    ------
    FileNotFoundError
        If the Vega builds have not been fetched (``bash scripts/fetch_vega.sh``).
    """
    if not VEGA_BUNDLE.is_file():
        raise FileNotFoundError(
            f"{VEGA_BUNDLE} is missing: fetch the pinned Vega builds with "
            "`bash scripts/fetch_vega.sh` (scripts/build_book.sh runs it)"
        )
    parts = []
    for path in (VEGA_BUNDLE, SITE_JS):
        text = path.read_text("utf-8")
        if "</script" in text.lower():  # pragma: no cover - fetch_vega.sh refuses such a build
            raise ValueError(f"{path.name} cannot be inlined: it contains '</script'")
        parts.append(f"<script>\n{text}\n</script>\n")
    return "".join(parts)


class ChartOutput:
    """What a notebook cell shows for a chart: its HTML, and a line of plain text.

    Made by :func:`show`; Jupyter displays it through :meth:`_repr_mimebundle_`.

    Parameters
    ----------
    html_text : str
        The ``text/html`` output.
    title : str
        The chart's name, for the ``text/plain`` output.

    Raises
    ------
    TypeError
        If either is not a string.
    """

    def __init__(self, html_text: str, title: str) -> None:
        for name, value in (("html_text", html_text), ("title", title)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        self.html = html_text
        self.title = title

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {
            "text/html": self.html,
            "text/plain": f"<interactive chart {self.title!r} (Vega-Lite)>",
        }

    def __repr__(self) -> str:
        return f"ChartOutput({self.title!r})"


def show(chart: Any, name: str, *, mode: str | None = None) -> ChartOutput:
    """Display an Altair chart as a live explorer that needs no network.

    Parameters
    ----------
    chart : altair chart or dict
        As in :func:`chart_spec`.
    name : str
        As in :func:`chart_id`: the chart's stable id on its page.
    mode : {"static", "inline"}, optional
        ``"static"``: only the chart (the page provides the Vega builds, as the book's site
        does). ``"inline"``: the first chart of this process also carries the Vega builds
        and :data:`SITE_JS`, as a live JupyterLab session needs. Default:
        :func:`output_mode`.

    Returns
    -------
    ChartOutput
        Make it the value of a notebook cell.

    Raises
    ------
    TypeError, ValueError
        As :func:`chart_html`, or on an unknown ``mode``.
    FileNotFoundError
        In inline mode, if the Vega builds have not been fetched.

    Examples
    --------
    >>> out = show({"mark": "point"}, "demo", mode="static")
    >>> out._repr_mimebundle_()["text/plain"]
    "<interactive chart 'demo' (Vega-Lite)>"
    """
    global _sent_inline
    mode = output_mode() if mode is None else mode
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {list(_MODES)}, got {mode!r}")
    text = chart_html(chart, name)
    if mode == "inline" and not _sent_inline:
        text = vega_scripts() + text
        _sent_inline = True
    return ChartOutput(text, name)


def load_vega() -> ChartOutput:
    """Send the Vega builds to the notebook again (after a reload of the JupyterLab tab).

    The first chart of a kernel carries the builds; a browser tab opened later on the same
    kernel does not have them. Make this the value of a cell, then re-run the chart cells.

    Returns
    -------
    ChartOutput

    Raises
    ------
    FileNotFoundError
        If the Vega builds have not been fetched.
    """
    global _sent_inline
    text = vega_scripts()
    _sent_inline = True
    return ChartOutput(text, "Vega builds")

