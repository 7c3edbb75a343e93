"""The explorers on the built site: live in the page, offline, equal to their Python twins.

For each explorer in ``explorer_cases.CASES`` the section's page of ``_build/html`` is served
on 127.0.0.1 and opened in headless Chromium with every other host blocked. The test waits
until the chart is drawn, checks the readout against the chart's Python twin, then moves
the controls as a reader does (keys on a focused slider, a mouse drag along a slider's
track, clicks on checkboxes and radio buttons). After each move the readout must change and
equal the twin for the values the controls now show. No request may leave 127.0.0.1 and no
console error may appear.

Every section page of the book must have at least one explorer here, and the negative
control shows that the test fails on the same page when the Vega bundle is not served.
The time from navigation to the drawn chart of each page's one load is written to
``browser-screenshots/explorers_report.json`` (medians over repeated loads, and the page
weight: ``benchmarks/explorer_pages.py``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the tests are then skipped, with the reason, by conftest.py
    PlaywrightTimeout = TimeoutError

from browser_support import ROOT, guarded_context, open_page
from explorer_cases import CASES, Case, drive, wait_drawn

SITE = ROOT / "_build" / "html"
BUNDLE_URL_PART = "_static/vega/vega-bundle.min.js"
REPORT: dict[str, Any] = {"pages": {}}


def section_pages() -> list[str]:
    """The built page of every section notebook (chapter*/NAME.md in MyST format)."""
    return sorted(
        p.relative_to(ROOT).with_suffix(".html").as_posix()
        for p in ROOT.glob("chapter*/*.md")
        if "format_name: myst" in p.read_text("utf-8")
    )


def test_every_section_page_has_an_explorer() -> None:
    """Each section notebook's page is in CASES and its built page holds that chart."""
    pages = section_pages()
    assert pages, "no section notebooks found"
    covered = {c.page for c in CASES}
    assert set(pages) <= covered, f"section pages without an explorer case: {set(pages) - covered}"
    for case in CASES:
        html = (SITE / case.page).read_text("utf-8")
        assert f'id="{case.chart_id}"' in html, f"{case.page} has no chart {case.chart_id}"


@pytest.mark.parametrize("case", CASES, ids=[c.chart for c in CASES])
def test_explorer_is_live_offline(
    case: Case, browser: Any, site_url: str, screenshot_dir: Path
) -> None:
    off_site: list[str] = []
    ctx = guarded_context(browser, off_site)
    try:
        start = time.perf_counter()
        page, traffic = open_page(ctx, site_url + case.page)
        try:
            wait_drawn(page, case)
            REPORT["pages"][case.chart] = {"drawn_s_after_navigation_one_load":
                                           round(time.perf_counter() - start, 3)}
            trouble = drive(page, case)
            chart = page.locator(f"#{case.chart_id}")
            chart.screenshot(path=str(screenshot_dir / f"explorer__{case.chart}.png"))
        finally:
            page.close()
    finally:
        ctx.close()
    trouble += [f"request to another host: {url}" for url in off_site]
    trouble += [f"failed request: {what}" for what in traffic.failed]
    trouble += [f"console error: {text}" for text in traffic.console_errors]
    (screenshot_dir / "explorers_report.json").write_text(json.dumps(REPORT, indent=2))
    assert not trouble, f"{case.page}:\n" + "\n".join(trouble)


def test_without_the_bundle_the_explorer_test_fails(browser: Any, site_url: str) -> None:
    """Negative control: the same page, its Vega bundle not served, fails the check above."""
    case = CASES[0]
    ctx = guarded_context(browser, [])
    ctx.route(f"**/{BUNDLE_URL_PART}*", lambda route: route.fulfill(status=404, body="gone"))
    try:
        page, traffic = open_page(ctx, site_url + case.page)
        try:
            with pytest.raises(PlaywrightTimeout):
                drive(page, case, timeout_ms=3_000)
            # The reader sees the placeholder sentence, not a chart.
            assert "Interactive explorer" in page.locator(f"#{case.chart_id}").inner_text()
        finally:
            page.close()
    finally:
        ctx.close()
    assert any(BUNDLE_URL_PART in f for f in traffic.failed), traffic.failed
