"""The 12.1 explorer: readout text and sliders."""

from __future__ import annotations

import pytest

from gabalab.widgets import norm_scaling as ns


def test_readout_text() -> None:
    text = ns.norm_scaling_readout(1_000_000, 1.0, 0.002, seed=0)
    assert "N                 = 1,000,000" in text
    assert "(scale ratio 500.0x)" in text
    assert "ratio             = 500.8x" in text


def test_explorer_builds_and_updates() -> None:
    explorer = ns.norm_scaling_explorer()
    names = [c.description for c in explorer.children[:-1]]
    assert names == ["N", "RUL scale", "HS scale", "seed"]
    explorer.children[0].value = 1e5
    explorer.update()
    assert explorer.kwargs["n_params"] == pytest.approx(1e5)
