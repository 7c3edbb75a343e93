"""Shared set-up of the browser tests: Debian's Chromium driven by Playwright for Python.

The tests look at the book the way a reader does: the built static site (``_build/html``)
served on 127.0.0.1, and the live notebooks in JupyterLab. They use the Chromium that
Debian ships (``apt-get install chromium``, see ``scripts/install_system_deps.sh``);
Playwright's own browser download is never used.

Outside CI the tests are skipped, with the reason, when Chromium or Playwright is missing.
In CI (``CI=true``) a missing browser is an error: the browser tests must run there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SCREENSHOTS,
    in_ci,
    missing_browser,
    serve,
)

#: The built book that the static-site tests read.
SITE = ROOT / "_build" / "html"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests, with the reason, when there is no browser and this is not CI."""
    reason = missing_browser()
    if reason is None or in_ci():
        return
    marker = pytest.mark.skip(reason=f"browser test: {reason}")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the whole session."""
    reason = missing_browser()
    if reason is not None:
        # Only reached in CI (elsewhere the tests were skipped at collection).
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """browser-screenshots/ at the top of the checkout (ignored by git)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    """The built site (``_build/html``), served on 127.0.0.1."""
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE} is missing: run `bash scripts/build_book.sh` first")
    with serve(SITE) as url:
        yield url
