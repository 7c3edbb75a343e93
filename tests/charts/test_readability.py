"""Every explorer of gabalab.charts is readable: text sizes, notation, labelled controls,
legends beside the panels they describe, and charts that narrow for a phone.

The checks on the specifications run everywhere; those that compile and draw a chart with
the book's own Vega builds need Node.js and ``gabalab/charts/web/vega`` (fetched by
``scripts/fetch_vega.sh``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gabalab.charts import (
    balancing,
    balancing_chart,
    derivative_bound,
    derivative_bound_chart,
    epoch_chart,
    norm_grid,
    norm_scaling,
    norm_scaling_chart,
    selection,
    selection_chart,
    toy_bias,
    toy_bias_chart,
)
from gabalab.charts._common import FONT_SIZES, MIN_FONT_SIZE, finish
from gabalab.charts.render import SITE_JS, VEGA_BUNDLE
from gabalab.measure import RatioPath, TrainedRatioTrend
from tests.charts.spec_nodes import walk

_RNG = np.random.default_rng(0)
_TABLE = {
    "conv": {"n_params": 1000, "rul": 4.0e4, "health": 0.02},
    "lstm": {"n_params": 20000, "rul": 9.0e4, "health": 0.03},
    "rul_head": {"n_params": 17, "rul": 5.0e5, "health": 0.0},
    "health_head": {"n_params": 51, "rul": 0.0, "health": 0.5},
}
_SPREAD = {"mean": 20.0, "std": 1.5, "values": [18.5, 21.5]}
_PER_EPOCH = {m: {k: [_SPREAD, _SPREAD] for k in balancing.RESULT_METRICS}
              for m in ("sum", "fixed", "gaba")}

#: Every explorer, built with its default arguments (and small data where it needs some).
CHARTS: dict[str, Callable[[], Any]] = {
    "12.1 norm scaling": lambda: norm_scaling_chart(norm_grid(0)),
    "12.2 derivative bound": derivative_bound_chart,
    "12.3 epochs": lambda: epoch_chart(TrainedRatioTrend(tuple(
        RatioPath(seed, tuple(tuple(np.sort(_RNG.lognormal(6 + 0.2 * e, 0.5, 5)))
                              for e in range(n)), (22,) * n)
        for seed, n in ((0, 8), (1, 6))))),
    "12.4 toy bias": toy_bias_chart,
    "18.1 selection": lambda: selection_chart(_TABLE),
    "18.2 balancing": lambda: balancing_chart(_PER_EPOCH, floor=0.001),
}


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return {name: make().to_dict() for name, make in CHARTS.items()}



def _title_texts(title: Any) -> list[str]:
    if isinstance(title, str):
        return [title]
    if isinstance(title, list):
        return [t for t in title if isinstance(t, str)]
    if isinstance(title, dict):
        return _title_texts(title.get("text")) + _title_texts(title.get("subtitle"))
    return []


_LITERAL = re.compile(r"'([^']*)'")
#: A string literal of an expression that is a key or a format, not text for the reader.
_CODE = re.compile(r"^[a-z0-9_.~-]*$")


def visible_texts(spec: dict[str, Any]) -> list[str]:
    """The texts of a specification that a reader sees: titles, control names and labels,
    embedded labels, and the text that expressions write."""
    texts: list[str] = []
    for node in walk(spec):
        texts += _title_texts(node.get("title"))
        if isinstance(node.get("bind"), dict):
            bind = node["bind"]
            texts += [bind.get("name", "")] + list(bind.get("labels", []))
        if isinstance(node.get("data"), dict):
            for row in node["data"].get("values") or []:
                if isinstance(row, dict):
                    texts += [v for v in row.values() if isinstance(v, str)]
        for key in ("calculate", "labelExpr"):
            if isinstance(node.get(key), str):
                texts += [t for t in _LITERAL.findall(node[key]) if not _CODE.match(t)]
    return [t for t in texts if t]


#: ASCII stand-ins for the page's notation: ||g||, _2, sqrt, Greek letters by name, log10,
#: an ASCII minus between spaces, 1e-6 written in a sentence.
ASCII_NOTATION = re.compile(
    r"\|\||_2\b|\bsqrt\b|\b(lambda|rho|theta|eta|lr)\b|log10|\s-\s|\(1 - |\b1e-\d"
)


# ----------------------------------------------------------------------------- text sizes


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_has_the_shared_text_sizes(specs: dict, name: str) -> None:
    config = specs[name]["config"]
    assert config["axis"]["labelFontSize"] >= MIN_FONT_SIZE
    assert config["axis"]["titleFontSize"] >= MIN_FONT_SIZE
    assert config["legend"]["labelFontSize"] >= MIN_FONT_SIZE
    assert config["legend"]["titleFontSize"] >= MIN_FONT_SIZE
    assert config["text"]["fontSize"] >= MIN_FONT_SIZE
    assert config["title"]["subtitleFontSize"] >= MIN_FONT_SIZE
    # titles larger than the labels they stand over
    assert config["title"]["fontSize"] > config["axis"]["titleFontSize"] > MIN_FONT_SIZE - 1
    assert config["title"]["fontSize"] > config["axis"]["labelFontSize"]


@pytest.mark.parametrize("name", CHARTS)
def test_no_chart_sets_a_smaller_text_of_its_own(specs: dict, name: str) -> None:
    for node in walk(specs[name]):
        for key, value in node.items():
            if key.endswith(("FontSize", "fontSize")) and isinstance(value, (int, float)):
                assert value >= MIN_FONT_SIZE, f"{name}: {key} = {value}"


def test_the_shared_sizes() -> None:
    assert MIN_FONT_SIZE >= 12
    assert min(FONT_SIZES.values()) == MIN_FONT_SIZE
    assert FONT_SIZES["title"] > max(v for k, v in FONT_SIZES.items() if k != "title")


# ------------------------------------------------------------------------------- notation


@pytest.mark.parametrize("name", CHARTS)
def test_the_chart_writes_the_page_notation(specs: dict, name: str) -> None:
    texts = visible_texts(specs[name])
    assert texts
    ascii_left = [t for t in texts if ASCII_NOTATION.search(t)]
    assert not ascii_left, f"{name}: ASCII notation in {ascii_left}"


@pytest.mark.parametrize(("lines", "wanted"), [
    (norm_scaling.READOUT, ["‖g_rul‖₂", "‖g_hs‖₂", "‖g_rul‖ / ‖g_hs‖", "√N"]),
    (derivative_bound.READOUT, ["∂ŷ", "(1 − p_true)", "‖∂L_ce/∂z‖₂"]),
    (toy_bias.READOUT + toy_bias.RUN_READOUT, ["ρ", "η", "θ* = (ρ − 1)/(ρ + 1)", "2/(ρ + 1)"]),
    (selection.READOUT, ["‖g_rul‖₂", "‖g_health‖₂", "λ_rul", "λ_health"]),
    (balancing.WEIGHT_READOUT, ["λ_rul", "λ_health", "λ_rul·R / λ_health"]),
])
def test_readout_labels_use_unicode(lines: tuple, wanted: list[str]) -> None:
    labels = " | ".join(label for label, _, _ in lines)
    for text in wanted:
        assert text in labels
    assert not ASCII_NOTATION.search(labels)


def test_the_readout_formats_are_unchanged() -> None:
    # Only the labels changed to Unicode; the numbers are written as before.
    assert [f for _, _, f in norm_scaling.READOUT] == [",d"] + [".4~g"] * 7
    assert [f for _, _, f in derivative_bound.READOUT] == [".4f", ".6f", ".6f", ".6f", ".1f"]
    assert [f for _, _, f in toy_bias.READOUT] == [".4~g", ".4~g", ".4f", ".4~g", ".4~g",
                                                   ".4~g", ".3~g", ""]
    assert [f for _, _, f in selection.READOUT] == ["", ",d"] + [".4~g"] * 5


# ------------------------------------------------------------------------------- controls


@pytest.mark.parametrize("name", CHARTS)
def test_every_control_says_what_it_sets(specs: dict, name: str) -> None:
    bound = [p for p in specs[name]["params"] if "bind" in p]
    assert bound
    for param in bound:
        bind = param["bind"]
        label = bind.get("name", "").strip()
        assert label and label != param["name"], f"{name}: control {param['name']} unlabelled"
        if bind.get("input") == "radio" and all(isinstance(o, str) for o in bind["options"]):
            # words for the reader, not the parameter's codes
            assert len(bind.get("labels", [])) == len(bind["options"]), param["name"]


@pytest.mark.parametrize(("controls", "symbol"), [
    (norm_scaling.CONTROLS, "log₁₀"),
    (toy_bias.CONTROLS[:2], "log₁₀"),
    (balancing.WEIGHT_CONTROLS[:1], "log₁₀"),
])
def test_log_sliders_say_they_are_log10(controls: tuple, symbol: str) -> None:
    for control in controls:
        assert control[1].startswith(symbol), control


# -------------------------------------------------------------------------------- legends


@pytest.mark.parametrize("name", CHARTS)
def test_a_composition_resolves_its_legends_per_panel(specs: dict, name: str) -> None:
    spec = specs[name]
    assert "vconcat" in spec
    assert spec["resolve"]["scale"]["color"] == "independent"
    assert spec["config"]["legend"]["orient"] == "top"


def test_finish_leaves_a_single_chart_unresolved() -> None:
    import altair as alt

    chart = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q")
    assert "resolve" not in finish(chart).to_dict()


needs_vega = pytest.mark.skipif(
    shutil.which("node") is None or not VEGA_BUNDLE.is_file(),
    reason="needs Node.js and the Vega builds (bash scripts/fetch_vega.sh)",
)

#: Compiles each Vega-Lite spec (stdin: a JSON object name -> spec) with the book's Vega
#: builds and draws it as SVG; writes per chart the top-level legends, each group's legend
#: scales and the scales its marks use, and every font size of the SVG.
_DRAW_JS = r"""
const fs = require("fs"), vm = require("vm");
const [bundle, site] = process.argv.slice(1);
globalThis.window = globalThis;
vm.runInThisContext(fs.readFileSync(bundle, "utf8"));
const page = require(site);
vega.expressionFunction("gabalabToyTrajectory", page.gabalabToyTrajectory);
const specs = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const out = {};
  for (const [name, spec] of Object.entries(specs)) {
    const vg = vegaLite.compile(spec).spec;
    const view = new vega.View(vega.parse(vg), {renderer: "none"});
    const svg = await view.toSVG();
    view.finalize();
    const groups = [];
    (function walk(marks) {
      for (const m of marks || []) {
        if (m.type !== "group") continue;
        const used = new Set();
        JSON.stringify(m.marks || [], (k, v) => {
          if (k === "scale" && typeof v === "string") used.add(v);
          return v;
        });
        groups.push({name: m.name, used: [...used], legends: (m.legends || []).map(
          l => l.fill || l.stroke || l.strokeDash || l.shape || l.size || l.opacity)});
        walk(m.marks);
      }
    })(vg.marks);
    const sizes = [...svg.matchAll(/font-size[=:]\s*"?([\d.]+)px/g)].map(m => Number(m[1]));
    const texts = (svg.match(/<text[\s>]/g) || []).length;
    out[name] = {topLegends: (vg.legends || []).length, groups, sizes, texts};
  }
  process.stdout.write(JSON.stringify(out));
})().catch(err => { console.error(err); process.exit(1); });
"""


@pytest.fixture(scope="module")
def drawn(specs: dict) -> dict[str, Any]:
    result = subprocess.run(["node", "-e", _DRAW_JS, str(VEGA_BUNDLE), str(SITE_JS)],
                            input=json.dumps(specs), capture_output=True, text=True,
                            check=True, timeout=300)
    return json.loads(result.stdout)


@needs_vega
@pytest.mark.parametrize("name", CHARTS)
def test_every_drawn_text_is_at_least_the_minimum(drawn: dict, name: str) -> None:
    chart = drawn[name]
    assert chart["texts"] > 10 and len(chart["sizes"]) >= chart["texts"]
    assert min(chart["sizes"]) >= MIN_FONT_SIZE, name


@needs_vega
@pytest.mark.parametrize("name", CHARTS)
def test_each_legend_is_drawn_with_the_panel_it_describes(drawn: dict, name: str) -> None:
    chart = drawn[name]
    # none placed by the whole composition (beside whichever panel comes first) ...
    assert chart["topLegends"] == 0, name
    # ... and each in the panel whose marks use its scale
    for group in chart["groups"]:
        for scale in group["legends"]:
            assert scale in group["used"], (name, group["name"], scale)
    with_legend = [g["name"] for g in chart["groups"] if g["legends"]]
    expected = {"12.1 norm scaling": 1, "12.4 toy bias": 1, "18.1 selection": 1,
                "18.2 balancing": 1}
    assert len(with_legend) == expected.get(name, 0), (name, with_legend)


# -------------------------------------------------------------------- narrowing for phones

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


def _narrowed(spec: dict, excess: float) -> Any:
    script = (f"const f = require({json.dumps(str(SITE_JS))});"
              "const spec = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              f"process.stdout.write(JSON.stringify([f.narrowed(spec, {excess!r}), "
              "f.NARROWEST]));")
    out = subprocess.run(["node", "-e", script], input=json.dumps(spec), capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


@needs_node
def test_the_page_script_narrows_every_panel_and_nothing_else() -> None:
    spec = toy_bias_chart(width=460).to_dict()
    smaller, narrowest = _narrowed(spec, 120)
    widths = [c["width"] for c in spec["vconcat"]]
    assert [c["width"] for c in smaller["vconcat"]] == [max(narrowest, w - 120) for w in widths]
    for key in ("config", "params", "resolve"):
        assert smaller[key] == spec[key]
    # a panel is never made narrower than NARROWEST; one already that narrow is left
    smaller, narrowest = _narrowed(spec, 10_000)
    assert {c["width"] for c in smaller["vconcat"]} == {narrowest}
    assert _narrowed(smaller, 50)[0] is None
    # data is never touched, even a field called width
    data = {"data": {"values": [{"width": 999}]}, "mark": "point", "width": 400}
    assert _narrowed(data, 100)[0] == {**data, "width": 300}
