"""The numbers the two READMEs state are the numbers in the committed FD001 result files.

A README cannot glue values as the notebooks do, so each number it quotes from
``results/fd001`` is read back from the JSON here and compared, at the precision the README
writes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"


def _json(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / "fd001" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sweep() -> dict[str, Any]:
    return _json("training_sweep.json")


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_quotes_the_fd001_medians_as_they_are(sweep: dict[str, Any]) -> None:
    text = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
    medians = {int(e): m["summary"]["median"] for e, m in sweep["measurements"].items()}
    last = max(medians)
    assert "about 500 times larger than the classification gradient before training" in text
    assert abs(medians[0] / 500 - 1) < 0.05
    assert "over 2,000 times larger after eight epochs" in text
    assert last == sweep["settings"]["epochs"] == 8 and medians[last] > 2000


def test_results_readme_states_the_recorded_times(sweep: dict[str, Any]) -> None:
    text = _flat((RESULTS / "README.md").read_text(encoding="utf-8"))
    assert "about 25 minutes on 2 CPU cores" in sweep["settings"]["budget_note"]
    assert "chosen to fit about 25 minutes on 2 CPU cores" in text
    total = sweep["provenance"]["wall_time_s"]
    train = [e["train"]["wall_s"] for e in sweep["epochs"] if e["train"]]
    measure = [m["wall_s"] for m in sweep["measurements"].values()]
    assert (f"took longer: {total:.0f} s ({total / 60:.0f} minutes) in all" in text
            and total > 25 * 60)
    assert f"{min(train):.0f} to {max(train):.0f} s for each of the {len(train)} training" in text
    assert (f"{min(measure):.0f} to {max(measure):.0f} s for each of the {len(measure)} "
            "full-epoch measurements") in text
    walls = {name: _json(f"{name}.json")["provenance"]["wall_time_s"]
             for name in ("epoch_at_init", "training_sweep", "linear_probe")}
    assert ("Wall times on the shared machine: " + ", ".join(
        f"{name} {wall:.0f} s" for name, wall in walls.items()) + ".") in text


def test_results_readme_ratio_table_is_the_json(sweep: dict[str, Any]) -> None:
    text = (RESULTS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", text,
                      re.MULTILINE)
    assert [int(r[0]) for r in rows] == sorted(int(e) for e in sweep["measurements"])
    for epoch, *values in rows:
        summary = sweep["measurements"][epoch]["summary"]
        expected = [round(summary[k]) for k in ("median", "q25", "q75", "min", "max")]
        assert [int(v) for v in values] == expected, f"epoch {epoch}"


def test_results_readme_states_the_sensor_cost_times() -> None:
    text = _flat((RESULTS / "README.md").read_text(encoding="utf-8"))
    run = _json("sensor_cost.json")
    total = run["provenance"]["wall_time_s"]
    assert f"took {total:.0f} s ({total / 60:.0f} minutes) with one torch thread" in text
    assert run["provenance"]["torch_num_threads"] == 1
    walls = [run["shadow"]["wall_s"]] + [run["outcomes"][k]["wall_s"]
                                         for k in ("periodic_4", "periodic_16", "representation")]
    assert ("{:.0f} s for the exact run, {:.0f} s for N = 4, {:.0f} s for N = 16 and {:.0f} s "
            "for the representation sensor").format(*walls) in text
    steps = {run["outcomes"][k]["steps"] for k in run["outcomes"]}
    steps.add(run["shadow"]["comparisons"]["exact"]["n_steps"])
    assert steps == {2220} and "(2,220 steps each)" in text
