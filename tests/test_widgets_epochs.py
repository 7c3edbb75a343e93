"""The functions behind the epoch explorer of section 12.3 (the slider needs a live kernel)."""

from __future__ import annotations

import numpy as np
import pytest

from gabalab.measure import summarise
from gabalab.widgets import epochs


def test_format_value_counts_and_ratios() -> None:
    assert epochs.format_value(555) == "555"
    assert epochs.format_value(np.int64(93)) == "93"
    assert epochs.format_value(512.3456) == "512.3"
    assert epochs.format_value(2104.5) == "2104"
    assert epochs.format_value(12345.6) == "12346"
    assert epochs.format_value(0.00123456) == "0.001235"


@pytest.mark.parametrize("bad, error", [("1", TypeError), (True, TypeError),
                                        (float("nan"), ValueError), (float("inf"), ValueError)])
def test_format_value_rejects(bad: object, error: type) -> None:
    with pytest.raises(error, match="value"):
        epochs.format_value(bad)  # type: ignore[arg-type]


def test_quantile_table_text_layout_and_values() -> None:
    table = epochs.quantile_table(
        {0: summarise([100.0, 200.0, 300.0, 400.0]), 8: summarise([10.0, 30.0])},
        corner="epoch",
    )
    lines = table.splitlines()
    assert lines[0].split() == ["epoch", "0", "8"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["batches"] == ["4", "2"]
    assert rows["median"] == ["250", "20"]
    assert rows["q25"] == ["175", "15"]
    assert rows["min"] == ["100", "10"]
    assert rows["max"] == ["400", "30"]
    assert all(line == line.rstrip() for line in lines)
    # right-aligned columns: every line has the same length up to the last column
    assert len({len(line) for line in lines}) == 1


def test_quantile_table_markdown() -> None:
    table = epochs.quantile_table({"epoch 0": summarise([1.0, 3.0])}, corner="FD001",
                                  markdown=True)
    lines = table.splitlines()
    assert lines[0] == "| FD001 | epoch 0 |"
    assert lines[1] == "| :-- | --: |"
    assert "| median | 2 |" in lines
    assert len(lines) == 2 + len(epochs.STATISTICS)


def test_quantile_table_errors() -> None:
    with pytest.raises(ValueError, match="summaries"):
        epochs.quantile_table({})
    with pytest.raises(TypeError, match="summaries"):
        epochs.quantile_table([summarise([1.0])])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no entry 'p90'"):
        epochs.quantile_table({"a": summarise([1.0])}, [("p90", "p90")])
    with pytest.raises(ValueError, match="statistics"):
        epochs.quantile_table({"a": summarise([1.0])}, [])


def test_epoch_readout_numbers() -> None:
    ratios = {0: [400.0, 500.0, 600.0], 8: [100.0, 150.0, 200.0, 250.0]}
    text = epochs.epoch_readout(ratios, 8)
    lines = text.splitlines()
    assert lines[0] == "epoch 8 (4 batches)"
    assert lines[1] == "median 175, quartiles 137.5 - 212.5, min 100, max 250"
    assert lines[2] == f"spread q75/q25 = {212.5 / 137.5:.4g}, max/min = 2.5"
    assert lines[3] == "median / median at epoch 0 = 0.35"
    assert epochs.epoch_readout(ratios, 0).splitlines()[3].endswith("= 1")


def test_epoch_readout_moves_with_the_epoch() -> None:
    rng = np.random.default_rng(0)
    ratios = {e: np.exp(rng.normal(np.log(500.0) - 0.3 * e, 0.4, size=200)) for e in range(4)}
    medians = [float(epochs.epoch_readout(ratios, e).splitlines()[1].split()[1].rstrip(",")) for e in range(4)]
    assert medians == sorted(medians, reverse=True)
    assert medians[0] > 1.8 * medians[-1]


def test_epoch_readout_errors() -> None:
    with pytest.raises(ValueError, match="epoch 3 was not measured"):
        epochs.epoch_readout({0: [1.0], 1: [2.0]}, 3)
    with pytest.raises(ValueError, match=r"ratios_by_epoch\[0\]"):
        epochs.epoch_readout({0: [1.0, -2.0]}, 0)
    with pytest.raises(ValueError, match="at least one epoch"):
        epochs.epoch_readout({}, 0)
    with pytest.raises(TypeError, match="epoch must be an integer"):
        epochs.epoch_readout({0: [1.0]}, 0.0)  # type: ignore[arg-type]


def test_epoch_explorer_builds_and_updates() -> None:
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    ratios = {0: [400.0, 500.0, 600.0], 2: [200.0, 260.0], 8: [100.0, 150.0]}
    explorer = epochs.epoch_explorer(ratios)
    slider = explorer.children[0]
    assert slider.description == "epoch"
    assert list(slider.options) == [0, 2, 8]
    slider.value = 8
    explorer.update()
    assert explorer.kwargs["epoch"] == 8
