"""lab_only: the explorer in a live JupyterLab session, a note in the stored notebook."""

from __future__ import annotations

import pytest

from gabalab.widgets.live import lab_only


def test_a_live_session_gets_the_explorer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GABALAB_CHARTS", "inline")
    assert lab_only(lambda: "the explorer", "a note") == "the explorer"


def test_the_stored_notebook_gets_the_note_and_builds_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GABALAB_CHARTS", "static")
    shown = lab_only(lambda: 1 / 0, "Retrains the **small** model.")
    assert shown._repr_markdown_() == "Retrains the **small** model."
