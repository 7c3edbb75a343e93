"""The 12.4 explorer: controls over the two-task toy."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from gabalab.widgets import toy_bias


def test_explorer_builds_and_updates() -> None:
    pytest.importorskip("ipywidgets")
    explorer = toy_bias.toy_bias_explorer()
    names = [c.description for c in explorer.children[:-1]]
    assert names == ["rho", "optimiser", "lr", "steps"]
    explorer.children[1].value = "adam"
    explorer.children[3].value = 50
    explorer.update()
    assert explorer.kwargs == {"rho": 100.0, "optimizer": "adam", "lr": pytest.approx(0.01),
                               "n_steps": 50}
    plt.close("all")
