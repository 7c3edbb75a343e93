"""Progress bars: with timing hidden, what they print does not depend on the clock."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest

from gabalab import progress


@pytest.fixture(autouse=True)
def _restore_timing() -> Iterator[None]:
    before = progress.timing_shown()
    yield
    progress.show_timing(before)


def _printed(delays: list[float]) -> str:
    out = io.StringIO()
    bar = progress.progress_bar(range(len(delays)), total=len(delays), desc="demo")
    bar.fp = out  # type: ignore[attr-defined]
    bar.sp = bar.status_printer(out)  # type: ignore[attr-defined]
    for i, delay in zip(bar, delays):
        time.sleep(delay)
        bar.set_postfix(step=i, refresh=False)
    bar.close()
    return out.getvalue()


def test_hidden_timing_prints_the_same_whatever_the_speed() -> None:
    progress.show_timing(False)
    fast = _printed([0.0] * 20)
    slow = _printed([0.0, 0.02, 0.0, 0.03] * 5)
    assert fast == slow
    assert "20/20" in fast and "step=19" in fast
    assert "it/s" not in fast and "batch/s" not in fast


def test_shown_timing_reports_a_rate() -> None:
    progress.show_timing(True)
    assert "batch/s" in _printed([0.0] * 5)


def test_disabled_bar_prints_nothing_and_still_iterates() -> None:
    assert list(progress.progress_bar(range(3), total=3, desc="x", enabled=False)) == [0, 1, 2]


def test_show_timing_wants_a_bool() -> None:
    with pytest.raises(TypeError, match="enabled must be a bool"):
        progress.show_timing(1)  # type: ignore[arg-type]
