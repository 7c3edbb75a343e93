"""Sphinx extension: serve the explorers' scripts from the site, on the pages that need them.

Add ``gabalab.charts.sphinx`` to the Sphinx extensions (the book's ``_config.yml`` does).
The builds of :mod:`gabalab.charts.render` (``web/``) become a static folder of the site, so
``_static/vega/vega-bundle.min.js`` and ``_static/gabalab-charts.js`` are copied into the
build; a page whose body holds a chart gets the two files as deferred scripts, in that
order, and every other page gets neither (the bundle is about 830 KB). The build fails with
the reason if the Vega builds have not been fetched (``bash scripts/fetch_vega.sh``).

Jupyter Book 1.x adds every ``.js`` file under its static paths to every page when the book
has a top-level ``_static/`` folder; the book has none, so only this extension decides.
"""

from __future__ import annotations

import re
from typing import Any

from gabalab.charts.render import CHART_CLASS, SITE_JS, VEGA_BUNDLE, WEB_DIR

__all__ = ["page_scripts", "setup"]

#: The files a page with a chart loads, relative to the site's ``_static/``, in order.
PAGE_SCRIPTS: tuple[str, ...] = (
    VEGA_BUNDLE.relative_to(WEB_DIR).as_posix(),
    SITE_JS.relative_to(WEB_DIR).as_posix(),
)
#: A chart's element as :func:`gabalab.charts.render.chart_html` writes it (an example of it
#: in a docstring is escaped, ``&lt;div``, and does not count).
_MARKER = re.compile(rf'<div id="{CHART_CLASS}-[^"]+" class="{CHART_CLASS}"')


def page_scripts(body: str) -> tuple[str, ...]:
    """The scripts a page needs, given its HTML body: :data:`PAGE_SCRIPTS` or none.

    Raises
    ------
    TypeError
        If ``body`` is not a string.

    Examples
    --------
    >>> page_scripts('<div id="gabalab-chart-x" '
    ...              'class="gabalab-chart"></div>')
    ('vega/vega-bundle.min.js', 'gabalab-charts.js')
    >>> page_scripts("<p>no chart here</p>")
    ()
    >>> page_scripts('&lt;div id="gabalab-chart-x" '
    ...              'class="gabalab-chart"&gt;')
    ()
    """
    if not isinstance(body, str):
        raise TypeError(f"body must be the page's HTML as a str, got {type(body).__name__}")
    return PAGE_SCRIPTS if _MARKER.search(body) else ()


def _add_static_path(app: Any, config: Any) -> None:
    if not VEGA_BUNDLE.is_file():
        from sphinx.errors import ConfigError

        raise ConfigError(
            f"{VEGA_BUNDLE} is missing: fetch the pinned Vega builds with "
            "`bash scripts/fetch_vega.sh` (scripts/build_book.sh runs it)"
        )
    paths = list(config.html_static_path)
    if str(WEB_DIR) not in paths:
        paths.append(str(WEB_DIR))
    config.html_static_path = paths


def _add_page_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    for order, filename in enumerate(page_scripts(context.get("body", ""))):
        # Deferred scripts run in document order, after the page is parsed; the chart
        # outputs queue their specifications before that.
        app.add_js_file(filename, priority=800 + order, loading_method="defer")


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    app.connect("config-inited", _add_static_path)
    app.connect("html-page-context", _add_page_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
