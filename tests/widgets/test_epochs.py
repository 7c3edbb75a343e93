"""The 12.3 explorer: a slider over the measured epochs."""

from __future__ import annotations

import pytest

from gabalab.widgets import epochs


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
