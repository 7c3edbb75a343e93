"""gabalab.charts.render: deterministic chart HTML, the output modes, the Sphinx extension."""

from __future__ import annotations

import json
import re

import pytest

from gabalab.charts import render
from gabalab.charts.render import chart_html, chart_id, output_mode, show

SPEC = {"mark": "point", "data": {"values": [{"x": 1.5, "note": "</script><!-- x"}]},
        "encoding": {"x": {"field": "x", "type": "quantitative"}}}


def _payload(text: str) -> list:
    script = re.search(r"\.push\((.*)\);</script>", text).group(1)
    return json.loads(script)


def test_chart_html_is_the_same_on_every_call() -> None:
    assert chart_html(SPEC, "demo") == chart_html(dict(SPEC), "demo")


def test_chart_html_queues_the_spec_under_a_stable_id() -> None:
    text = chart_html(SPEC, "demo")
    assert text.startswith('<div id="gabalab-chart-demo" class="gabalab-chart" ')
    div_id, spec, options = _payload(text)
    assert div_id == "gabalab-chart-demo"
    assert spec == SPEC
    assert options == render.EMBED_OPTIONS
    assert options["renderer"] == "svg"


def test_chart_html_cannot_close_its_script_early() -> None:
    text = chart_html(SPEC, "demo")
    assert text.lower().count("</script") == 1
    assert "<!--" not in text


def test_chart_html_loads_nothing() -> None:
    text = chart_html(SPEC, "demo")
    assert "src=" not in text
    assert "http" not in text


def test_embed_options_merge_over_the_defaults() -> None:
    _, _, options = _payload(chart_html(SPEC, "demo", embed_options={"actions": True}))
    assert options == {**render.EMBED_OPTIONS, "actions": True}


@pytest.mark.parametrize("name", ["", "Has-Upper", "x" * 65, "-lead", "a b", "é"])
def test_chart_id_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="name must be"):
        chart_id(name)


def test_chart_id_rejects_a_non_string() -> None:
    with pytest.raises(TypeError, match="name must be a string"):
        chart_id(3)  # type: ignore[arg-type]


def test_chart_html_rejects_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        chart_html({"mark": "point", "width": float("nan")}, "demo")


def test_chart_html_rejects_what_is_not_a_chart() -> None:
    with pytest.raises(TypeError, match="Altair chart or a dict"):
        chart_html([1, 2], "demo")
    with pytest.raises(TypeError, match="embed_options must be a dict"):
        chart_html(SPEC, "demo", embed_options=[("actions", True)])  # type: ignore[arg-type]


def test_output_mode_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(render.MODE_VARIABLE, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert output_mode() == "static"
    monkeypatch.setenv("JPY_SESSION_NAME", "chapter12/derivative_bound.md")
    assert output_mode() == "inline"
    monkeypatch.setenv(render.MODE_VARIABLE, "static")
    assert output_mode() == "static"
    monkeypatch.setenv(render.MODE_VARIABLE, "sometimes")
    with pytest.raises(ValueError, match="GABALAB_CHARTS must be one of"):
        output_mode()


@pytest.fixture
def fake_bundle(tmp_path, monkeypatch):
    bundle = tmp_path / "vega-bundle.min.js"
    bundle.write_text("/* the vega builds */")
    monkeypatch.setattr(render, "VEGA_BUNDLE", bundle)
    monkeypatch.setattr(render, "_sent_inline", False)
    return bundle


def test_inline_mode_sends_the_builds_with_the_first_chart_only(fake_bundle) -> None:
    first = show(SPEC, "one", mode="inline")._repr_mimebundle_()["text/html"]
    second = show(SPEC, "two", mode="inline")._repr_mimebundle_()["text/html"]
    assert "/* the vega builds */" in first
    assert render.SITE_JS.read_text("utf-8")[:60] in first
    assert first.index("the vega builds") < first.index("gabalab-chart-one")
    assert second == chart_html(SPEC, "two")


def test_static_mode_never_sends_the_builds(fake_bundle) -> None:
    out = show(SPEC, "one", mode="static")._repr_mimebundle_()
    assert out["text/html"] == chart_html(SPEC, "one")
    assert out["text/plain"] == "<interactive chart 'one' (Vega-Lite)>"


def test_load_vega_sends_the_builds_again(fake_bundle) -> None:
    show(SPEC, "one", mode="inline")
    assert "/* the vega builds */" in render.load_vega()._repr_mimebundle_()["text/html"]


def test_inline_mode_without_the_builds_says_how_to_fetch_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(render, "VEGA_BUNDLE", tmp_path / "missing.js")
    monkeypatch.setattr(render, "_sent_inline", False)
    with pytest.raises(FileNotFoundError, match="scripts/fetch_vega.sh"):
        show(SPEC, "one", mode="inline")


def test_show_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        show(SPEC, "one", mode="live")


def test_the_site_script_makes_no_request() -> None:
    text = render.SITE_JS.read_text("utf-8")
    assert "fetch(" not in text and "XMLHttpRequest" not in text
