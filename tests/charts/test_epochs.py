"""gabalab.charts.epochs: the 12.3 explorer embeds the summaries of gabalab.measure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gabalab.charts import epochs as chart
from gabalab.measure import summarise

ROOT = Path(__file__).resolve().parents[2]
SWEEP = json.loads((ROOT / "results" / "fd001" / "training_sweep.json").read_text("utf-8"))
RATIOS = {int(e): np.array(m["ratios"]) for e, m in SWEEP["measurements"].items()}


def test_rows_hold_the_summaries_of_the_stored_sweep() -> None:
    rows = chart.epoch_rows(RATIOS)
    assert [r["epoch"] for r in rows] == sorted(RATIOS)
    first = summarise(RATIOS[min(RATIOS)])["median"]
    for row in rows:
        s = summarise(RATIOS[row["epoch"]])
        assert row["n_batches"] == s["n_batches"] == len(RATIOS[row["epoch"]])
        for key in ("median", "q25", "q75", "min", "max"):
            assert row[key] == pytest.approx(s[key], rel=1e-9)
        assert row["spread"] == pytest.approx(s["q75"] / s["q25"], rel=1e-9)
        assert row["vs_first"] == pytest.approx(s["median"] / first, rel=1e-9)
        back = 10.0 ** np.array(row["log10"])
        np.testing.assert_allclose(back, RATIOS[row["epoch"]], rtol=10 ** -chart.LOG_DIGITS * 2.4)


def test_the_median_uses_numpys_linear_rule() -> None:
    rows = chart.epoch_rows({0: [1.0, 2.0, 3.0, 10.0]})
    assert (rows[0]["q25"], rows[0]["median"], rows[0]["q75"]) == (1.75, 2.5, 4.75)


def test_the_readout_shows_every_row_key() -> None:
    row = chart.epoch_rows(RATIOS)[0]
    assert {key for _, key, _ in chart.READOUT} <= set(row)


def test_the_chart_offers_every_epoch_and_is_stable() -> None:
    reference = RATIOS[0][:50]
    spec = chart.epoch_chart(RATIOS, reference).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["epoch"]["bind"]["options"] == sorted(RATIOS)
    assert params["epoch"]["value"] == 0
    assert spec == chart.epoch_chart(RATIOS, reference).to_dict()


@pytest.mark.parametrize(("ratios", "error", "match"), [
    ({}, ValueError, "at least one epoch"),
    ([1.0], TypeError, "mapping"),
    ({0: [1.0, -2.0]}, ValueError, "finite ratios > 0"),
    ({0: [np.nan]}, ValueError, "finite ratios > 0"),
    ({"0": [1.0]}, TypeError, "integers"),
])
def test_bad_ratios_are_refused(ratios: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        chart.epoch_rows(ratios)  # type: ignore[arg-type]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        chart.epoch_chart(RATIOS, [])
    with pytest.raises(ValueError, match="n_bins"):
        chart.epoch_chart(RATIOS, [1.0], n_bins=500)
    with pytest.raises(ValueError, match="label"):
        chart.epoch_chart(RATIOS, [1.0], label="it's")
