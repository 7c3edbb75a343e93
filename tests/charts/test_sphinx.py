"""gabalab.charts.sphinx: the Vega builds on the pages that hold a chart, and only there."""

from __future__ import annotations

import pytest

from gabalab.charts import sphinx
from gabalab.charts.render import chart_html
from gabalab.charts.sphinx import PAGE_SCRIPTS, page_scripts


def test_pages_with_a_chart_get_the_bundle_then_the_site_script() -> None:
    assert page_scripts(chart_html({"mark": "point"}, "demo")) == PAGE_SCRIPTS
    assert PAGE_SCRIPTS == ("vega/vega-bundle.min.js", "gabalab-charts.js")
    assert page_scripts("<p>text about class=gabalab-chart</p>") == ()
    # the API page shows a chart's markup in an example, escaped: no bundle there
    assert page_scripts('&lt;div id="gabalab-chart-demo" class="gabalab-chart"&gt;') == ()


class _Config:
    html_static_path = ["book/_static"]


def test_the_build_stops_when_the_builds_were_not_fetched(tmp_path, monkeypatch) -> None:
    from sphinx.errors import ConfigError

    monkeypatch.setattr(sphinx, "VEGA_BUNDLE", tmp_path / "missing.js")
    with pytest.raises(ConfigError, match="scripts/fetch_vega.sh"):
        sphinx._add_static_path(None, _Config())


def test_the_web_folder_becomes_a_static_path(tmp_path, monkeypatch) -> None:
    bundle = tmp_path / "vega-bundle.min.js"
    bundle.write_text("//")
    monkeypatch.setattr(sphinx, "VEGA_BUNDLE", bundle)
    config = _Config()
    sphinx._add_static_path(None, config)
    sphinx._add_static_path(None, config)
    assert config.html_static_path == ["book/_static", str(sphinx.WEB_DIR)]
