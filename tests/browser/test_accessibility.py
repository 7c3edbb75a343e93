"""Every page of the built book passes axe-core's serious and critical rules.

axe-core (fetched at a pinned version by ``scripts/fetch_axe.sh`` into
``tests/browser/vendor/axe``; never part of the site) is injected into each page of
``_build/html`` after it has loaded, its explorers drawn and its equations typeset, and runs
the WCAG 2.x A and AA rules and axe's best practices. A violation of impact "serious" or
"critical" fails the page, listed with its rule, its help text and the first elements it
names. Minor and moderate findings are written to
``browser-screenshots/accessibility_report.json`` for the record.

Outside CI the tests are skipped, with the reason, when axe-core has not been fetched.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the tests are then skipped, with the reason, by conftest.py
    PlaywrightTimeout = TimeoutError

from browser_support import ROOT, SCREENSHOTS, guarded_context, in_ci, open_page, serve

SITE = ROOT / "_build" / "html"
AXE = Path(__file__).parent / "vendor" / "axe" / "axe.min.js"
BLOCKING = ("serious", "critical")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _pages() -> list[str]:
    if not SITE.is_dir():
        return []
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).as_posix().startswith(("_static/", "_sources/")))


PAGES = _pages()
REPORT: dict[str, Any] = {}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        message = f"{AXE} is missing: run `bash scripts/fetch_axe.sh`"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text("utf-8")


def axe_violations(context: Any, url: str, axe_source: str) -> list[dict[str, Any]]:
    """Open ``url``, let it settle (math typeset, charts drawn), run axe; its violations."""
    page, _ = open_page(context, url)
    try:
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                "() => !window.MathJax || !MathJax.startup || MathJax.startup.promise",
                timeout=20_000)
            page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                          " ? MathJax.startup.promise.then(() => true) : true")
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                "() => [...document.querySelectorAll('.gabalab-chart')]"
                ".every(el => el.dataset.chart === 'drawn')", timeout=20_000)
        page.add_script_tag(content=axe_source)
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
            " resultTypes: ['violations']})", TAGS)
    finally:
        page.close()
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [", ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                   for n in v["nodes"]]}
        for v in result["violations"]
    ]


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    """One line per serious or critical violation: rule, help, how many elements, the first."""
    return [f"{v['rule']} ({v['impact']}): {v['help']}; {len(v['nodes'])} element(s), "
            f"first {v['nodes'][0] if v['nodes'] else '?'}"
            for v in violations if v["impact"] in BLOCKING]


@pytest.fixture(scope="module")
def context(browser: Any) -> Any:
    ctx = guarded_context(browser, [])
    try:
        yield ctx
    finally:
        ctx.close()
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / "accessibility_report.json").write_text(json.dumps(REPORT, indent=1))


@pytest.mark.parametrize("page_path", PAGES)
def test_page_has_no_serious_accessibility_violation(
        page_path: str, context: Any, site_url: str, axe_source: str) -> None:
    violations = axe_violations(context, site_url + page_path, axe_source)
    REPORT[page_path] = violations
    trouble = blocking(violations)
    assert not trouble, f"{page_path}:\n" + "\n".join(trouble)


BAD_PAGE = """<!DOCTYPE html>
<html><head><title>bad</title></head><body><main>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<button></button>
<a href="#"></a>
</main></body></html>
"""


def test_the_check_catches_an_inaccessible_page(browser: Any, axe_source: str,
                                                tmp_path: Path) -> None:
    (tmp_path / "bad.html").write_text(BAD_PAGE)
    ctx = guarded_context(browser, [])
    try:
        with serve(tmp_path) as url:
            trouble = blocking(axe_violations(ctx, url + "bad.html", axe_source))
    finally:
        ctx.close()
    rules = {line.split(" ", 1)[0] for line in trouble}
    assert {"image-alt", "button-name", "link-name"} <= rules, trouble
