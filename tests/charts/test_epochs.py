"""gabalab.charts.epochs: the 12.3 explorer embeds the trained runs' quantiles, and its
expressions pick the row that the Python readout describes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gabalab.charts import epochs as chart
from gabalab.charts.render import VEGA_BUNDLE
from gabalab.experiments.records import load_runs
from gabalab.experiments.verdicts import ratio_through_training
from gabalab.measure import RatioPath, TrainedRatioTrend, trained_ratio_trend
from tests.charts.spec_nodes import walk
from tests.charts.vega_expressions import evaluate

ROOT = Path(__file__).resolve().parents[2]
RUNS = load_runs(ROOT / "results" / "fd001" / "trained")
THROUGH = ratio_through_training(RUNS, "sum")
TREND = trained_ratio_trend(THROUGH, {s: RUNS[("sum", s)].selected_epoch for s in THROUGH})

#: Two seeds that stop at different epochs (3 and 2), so the clamp shows.
_Q = ((10.0, 20.0, 30.0, 40.0, 50.0), (30.0, 45.0, 60.0, 80.0, 99.0),
      (50.0, 70.0, 90.0, 120.0, 150.0))
SMALL = TrainedRatioTrend((RatioPath(0, _Q, (22, 22, 21)), RatioPath(4, _Q[1:], (20, 19))))


def test_rows_hold_the_recorded_quantiles_of_every_seed_and_epoch() -> None:
    rows = chart.epoch_rows(TREND)
    assert [(r["seed"], r["epoch"]) for r in rows] == [
        (s, e["epoch"]) for s in sorted(THROUGH) for e in THROUGH[s]]
    for row in rows:
        recorded = THROUGH[row["seed"]]
        at = recorded[row["epoch"] - 1]
        for key in ("q10", "q25", "q50", "q75", "q90", "n_steps"):
            assert row[key] == pytest.approx(at[key], rel=1e-9)
        assert row["selected"] == RUNS[("sum", row["seed"])].selected_epoch
        assert row["spread"] == pytest.approx(at["q75"] / at["q25"], rel=1e-9)
        assert row["vs_first"] == pytest.approx(at["q50"] / recorded[0]["q50"], rel=1e-9)


def test_the_readout_shows_every_row_key() -> None:
    assert {key for _, key, _ in chart.READOUT} <= set(chart.epoch_rows(SMALL)[0])


@pytest.mark.parametrize(("seed", "epoch", "shown"), [
    (0, 1, 1), (0, 3, 3), (0, 5, 3), (4, 1, 1), (4, 2, 2), (4, 3, 2), (4, 5, 2)])
def test_the_filters_pick_the_epoch_shown_and_epoch_one(seed: int, epoch: int,
                                                        shown: int) -> None:
    rows = chart.epoch_rows(SMALL)
    env = {"seed": float(seed), "epoch": float(epoch)}
    picked = [r for r in rows if evaluate(chart.SHOWN, {**env, "datum": r})]
    first = [r for r in rows if evaluate(chart.FIRST, {**env, "datum": r})]
    assert [(r["seed"], r["epoch"]) for r in picked] == [(seed, shown)]
    assert [(r["seed"], r["epoch"]) for r in first] == [(seed, 1)]
    # the row shown is the one the Python readout describes
    text = SMALL.readout(seed, epoch)
    assert text.startswith(f"seed {seed}, epoch {shown} ")
    assert f"median {picked[0]['q50']:.4g}," in text


def test_the_chart_offers_every_seed_and_epoch_and_is_stable() -> None:
    spec = chart.epoch_chart(SMALL).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["seed"]["bind"]["options"] == [0, 4] and params["seed"]["value"] == 0
    assert (params["epoch"]["bind"]["min"], params["epoch"]["bind"]["max"]) == (1, 3)
    assert params["epoch"]["value"] == 3  # the first seed's selected epoch
    text = json.dumps(spec)
    assert json.dumps(chart.SHOWN) in text and json.dumps(chart.FIRST) in text
    assert spec == chart.epoch_chart(SMALL).to_dict()


def test_the_log_axis_holds_every_band() -> None:
    spec = chart.epoch_chart(TREND).to_dict()
    scales = [node["scale"] for node in walk(spec)
              if isinstance(node.get("scale"), dict) and "domain" in node["scale"]]
    assert scales and all(s["type"] == "log" for s in scales)
    (low, high), = {tuple(s["domain"]) for s in scales}
    rows = chart.epoch_rows(TREND)
    assert low < min(r["q10"] for r in rows) and high > max(r["q90"] for r in rows)



@pytest.mark.parametrize("bad", [None, {0: []}, [RatioPath(0, _Q, (1, 1, 1))]])
def test_anything_but_a_trend_is_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="trend must be a TrainedRatioTrend"):
        chart.epoch_rows(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trend must be a TrainedRatioTrend"):
        chart.epoch_chart(bad)  # type: ignore[arg-type]


def test_bad_widths_are_refused() -> None:
    with pytest.raises(ValueError, match="width must be <= 2000"):
        chart.epoch_chart(SMALL, width=2500)
    with pytest.raises(ValueError, match="width must be >= 100"):
        chart.epoch_chart(SMALL, width=50)


#: Draws a spec with the book's Vega builds for each setting of its parameters and writes
#: the texts of the SVG.
_DRAW_JS = r"""
const fs = require("fs"), vm = require("vm");
const [bundle, settings] = process.argv.slice(1);
globalThis.window = globalThis;
vm.runInThisContext(fs.readFileSync(bundle, "utf8"));
const spec = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), {renderer: "none"});
  const out = [];
  for (const s of JSON.parse(settings)) {
    for (const [k, v] of Object.entries(s)) view.signal(k, v);
    await view.runAsync();
    const svg = await view.toSVG();
    out.push([...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(m => m[1]));
  }
  view.finalize();
  process.stdout.write(JSON.stringify(out));
})().catch(err => { console.error(err); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None or not VEGA_BUNDLE.is_file(),
                    reason="needs Node.js and the Vega builds (bash scripts/fetch_vega.sh)")
def test_drawn_with_vega_the_readout_is_the_python_readout() -> None:
    settings = [{}, {"epoch": 1}, {"seed": 4, "epoch": 3}, {"epoch": 2}]
    result = subprocess.run(["node", "-e", _DRAW_JS, str(VEGA_BUNDLE), json.dumps(settings)],
                            input=json.dumps(chart.epoch_chart(SMALL).to_dict()),
                            capture_output=True, text=True, check=True, timeout=120)
    drawn = json.loads(result.stdout)
    for setting, texts in zip([{"seed": 0, "epoch": 3}, {"seed": 0, "epoch": 1},
                               {"seed": 4, "epoch": 3}, {"seed": 4, "epoch": 2}], drawn):
        lines = dict(t.split(" = ", 1) for t in texts if " = " in t)
        path = SMALL.run(setting["seed"])
        shown = min(setting["epoch"], path.selected_epoch)
        row = path.row(shown)
        assert lines["epoch shown"] == str(shown)
        assert lines["validation-selected epoch"] == str(path.selected_epoch)
        assert lines["measured steps"] == str(row["n_steps"])
        for label, key in (("q10", "q10"), ("q25", "q25"), ("median", "q50"),
                           ("q75", "q75"), ("q90", "q90")):
            assert float(lines[label]) == pytest.approx(row[key], rel=5e-4), label
        assert float(lines["median / median at epoch 1"]) == pytest.approx(
            row["q50"] / path.medians[0], rel=5e-3)
        assert re.fullmatch(r"[\d.]+", lines["spread q75/q25"])
