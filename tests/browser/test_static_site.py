"""The built book, read in a real browser with no network.

``_build/html`` (made by ``bash scripts/build_book.sh``) is served on 127.0.0.1 and every
page is opened in headless Chromium. A page passes when it loads with no console error and
no failed request, asks nothing of any other host, shows every equation typeset by MathJax
and every image loaded, links only to pages and anchors that exist, shows every number its
notebook glues into the prose, draws every live explorer (gabalab.charts) it holds, carries
no widget controls that would need a kernel, and - where its notebook still has an ipywidgets
explorer - tells the reader how to run it live. (tests/browser/test_static_explorers.py moves
the explorers' controls.) The search page must find terms that are
in the book. A full-page screenshot of each page goes to ``browser-screenshots/``.

What the reader sees is checked too, at the desktop width of 1280 px: no code block, output,
table or figure wider than the text column (nothing to scroll sideways), no table left as
raw pipe text, no traceback (a pitfall shows its error as its message), and no file-system
path of the machine that executed a notebook or built the site.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import nbformat
import pytest
from bs4 import BeautifulSoup

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the tests are then skipped, with the reason, by conftest.py
    PlaywrightTimeout = TimeoutError

from browser_support import (
    ROOT,
    Traffic,
    expected_glue,
    guarded_context,
    open_page,
    serve,
)

SITE = ROOT / "_build" / "html"
#: Pages that are not book pages: the search page is tested by searching.
SPECIAL_PAGES = {"search.html"}
#: Terms the search must find. The first must be in the book; each later one is checked
#: once the book contains it (``retain_graph`` arrives with the per-step gradient section).
SEARCH_TERMS = ["cross-entropy", "retain_graph"]
#: Markup that only a live widget would produce.
WIDGET_MARKUP = [
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
    "jupyter-widgets",
    "widget-slider",
    "widget-interact",
    "@jupyter-widgets/html-manager",
    "require.min.js",
]
EXPLORER_CALL = re.compile(r"\b\w+_explorer\s*\(")
def alt_describes(alt: str | None) -> bool:
    """Whether an image's alt text describes it: a few words, not a file name or a hash."""
    if not alt or len(alt.split()) < 4:
        return False
    return not re.search(r"\.(png|jpe?g|svg|gif)$|[0-9a-f]{20,}", alt)


#: Absolute paths of a machine (a home, a checkout, a temporary or system folder); the
#: site's own links are relative.
MACHINE_PATH = re.compile(r"(?<![\w.:/])/(?:work|home|root|tmp|usr|opt|var|private|Users)/[\w.-]+")
#: The article's blocks that must fit its width, with what the reader sees of each: code,
#: outputs, tables, math displays and images wider than the text column scroll sideways.
LAYOUT_JS = """
() => {
  const art = document.querySelector('article') || document.body;
  const wide = [];
  const sel = 'pre, table, .cell_output, img, .math-wrapper, mjx-container[display=true], '
            + '.gabalab-chart svg, dl.py > dt';
  for (const el of art.querySelectorAll(sel)) {
    if (!el.getClientRects().length) continue;
    const box = el.getBoundingClientRect(), col = art.getBoundingClientRect();
    const scrolls = el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0;
    const sticks = box.right > col.right + 1;
    if (scrolls || sticks) {
      const what = el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
                   ? '.' + String(el.className).split(' ')[0] : '');
      wide.push(what + ': ' + (el.textContent || el.getAttribute('src') || '')
                .trim().split('\\n')[0].slice(0, 70));
    }
  }
  const pipes = [...art.querySelectorAll('p')]
    .filter(p => /\\|\\s*:?-{3,}:?\\s*\\|/.test(p.textContent))
    .map(p => p.textContent.trim().slice(0, 70));
  const tracebacks = [...art.querySelectorAll('.cell_output')]
    .filter(el => /Traceback \\(most recent call last\\)|^-{20,}\\s*$/m.test(el.textContent))
    .map(el => el.textContent.trim().split('\\n')[0].slice(0, 70));
  return {wide, pipes, tracebacks};
}
"""
#: LaTeX that MathJax should have replaced; looked for in visible text outside code.
RAW_MATH = [
    re.compile(r"\\\(|\\\)|\\\[|\\\]"),
    re.compile(r"\$\$"),
    re.compile(r"(?<![\w$])\$[^$\s][^$\n]*\$(?![\w$])"),
    re.compile(r"\\(frac|mathcal|mathrm|sum|partial|begin|end|left|right)\b"),
]


def site_pages() -> list[str]:
    """Every HTML page of the built site, as a path relative to the site root."""
    if not SITE.is_dir():
        return []
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).as_posix().startswith(("_static/", "_sources/", "_images/"))
    )


BOOK_PAGES = [p for p in site_pages() if p not in SPECIAL_PAGES]


def test_site_is_built() -> None:
    """The site exists; without it every other test here would be silently empty."""
    assert (SITE / "index.html").is_file(), (
        f"{SITE}/index.html is missing: build the book first with `bash scripts/build_book.sh` "
        "(scripts/run_tests.sh does this when the site is missing or older than its sources)"
    )
    assert "search.html" in site_pages()


#: Summary over the module, written to browser-screenshots/static_site_report.json.
REPORT: dict[str, Any] = {"pages": {}, "off_site_requests": []}


@pytest.fixture(scope="module")
def context(browser: Any) -> Iterator[Any]:
    """The context every page of the book is opened in."""
    ctx = guarded_context(browser, REPORT["off_site_requests"])
    try:
        yield ctx
    finally:
        ctx.close()


def wait_for_mathjax(page: Any, timeout_ms: int = 20_000) -> int:
    """Wait until MathJax has typeset the page; return the number of math elements.

    A page whose MathJax never arrives is left as it is: its untypeset math then fails the
    checks that follow.
    """
    n_math = page.locator(".math").count()
    if n_math:
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=timeout_ms,
            )
        except PlaywrightTimeout:
            return n_math
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
    return n_math


VISIBLE_PROSE_JS = """
() => {
  const skip = 'pre, code, mjx-container, script, style, .highlight, .cell_output';
  const root = document.querySelector('article') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    if (!el.getClientRects().length) continue;
    parts.push(n.textContent);
  }
  return parts.join(' ');
}
"""

IMAGES_JS = """
async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) { img.loading = 'eager'; }
  await Promise.all(imgs.map(img => img.complete ? null :
    new Promise(done => {
      img.addEventListener('load', done);
      img.addEventListener('error', done);
    })));
  return imgs.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth,
                           alt: img.getAttribute('alt')}));
}
"""


def explorer_cells(page: str) -> list[Any]:
    """The code cells of the page's notebook that build an explorer."""
    notebook = ROOT / Path(page).with_suffix(".ipynb")
    if not notebook.is_file():
        return []
    nb = nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and EXPLORER_CALL.search(c.source)]


@functools.cache
def _fetch(url: str) -> tuple[int, frozenset[str]]:
    """HTTP status of a local URL and, for an HTML page, the ids and names it defines."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status = response.status
            body = response.read()
    except urllib.error.HTTPError as err:
        return err.code, frozenset()
    anchors: set[str] = set()
    if url.endswith(".html"):
        soup = BeautifulSoup(body, "html.parser")
        anchors = {tag["id"] for tag in soup.find_all(id=True)}
        anchors |= {tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
    return status, frozenset(anchors)


def broken_links(page: Any, site_url: str) -> list[str]:
    """Internal links of the open page that do not lead to a page (and anchor) that exists."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    broken = []
    for href in sorted(set(hrefs)):
        if not href.startswith(site_url):
            continue
        target, fragment = urldefrag(href)
        target = target.split("?", 1)[0]
        if target.endswith("/"):
            target += "index.html"
        status, anchors = _fetch(target)
        if status != 200:
            broken.append(f"{href}: HTTP {status}")
        elif fragment and fragment not in anchors:
            broken.append(f"{href}: no element with id {fragment!r}")
    return broken


def test_every_page_is_reachable_from_the_landing_page() -> None:
    """Following links from index.html reaches every page that was built, and only those."""
    assert BOOK_PAGES, "no pages in _build/html: run `bash scripts/build_book.sh`"
    base = "http://site/"
    seen, queue = set(), ["index.html"]
    missing = set()
    while queue:
        rel = queue.pop()
        if rel in seen:
            continue
        seen.add(rel)
        path = SITE / rel
        if not path.is_file():
            missing.add(rel)
            continue
        soup = BeautifulSoup(path.read_text("utf-8"), "html.parser")
        targets = [a["href"] for a in soup.find_all("a", href=True)]
        # The search box submits to search.html; the index is linked from the page head.
        targets += [form["action"] for form in soup.find_all("form", action=True)]
        targets += [link["href"] for link in soup.find_all("link", rel=True, href=True)
                    if {"index", "search"} & set(link["rel"])]
        # index.html only redirects to the first page, with a meta refresh.
        refresh = re.compile("^refresh$", re.IGNORECASE)
        for meta in soup.find_all("meta", attrs={"http-equiv": refresh}):
            targets.append(meta.get("content", "").partition("url=")[2])
        for target in targets:
            url = urldefrag(urljoin(base + rel, target))[0].split("?", 1)[0]
            if not url.startswith(base) or not url.endswith(".html"):
                continue
            href = url.removeprefix(base)
            if href.startswith(("_static/", "_sources/")):
                continue
            queue.append(href)
    assert not missing, f"links to pages that were not built: {sorted(missing)}"
    unreached = set(site_pages()) - seen
    assert not unreached, f"pages no link leads to: {sorted(unreached)}"


@dataclass
class Findings:
    """What one page showed the reader."""

    traffic: Traffic
    n_math: int = 0
    typeset: int = 0
    raw_math: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    text: str = ""
    html: str = ""
    controls: int = 0
    charts: int = 0
    undrawn: list[str] = field(default_factory=list)
    notes: list[tuple[str, list[str]]] = field(default_factory=list)
    wide: list[str] = field(default_factory=list)
    pipes: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)


def inspect(
    context: Any, site_url: str, page_path: str, screenshot: Path | None,
    mathjax_timeout_ms: int = 20_000, chart_timeout_ms: int = 20_000,
) -> Findings:
    """Open one page and collect everything the checks need."""
    page, traffic = open_page(context, site_url + page_path)
    try:
        found = Findings(traffic=traffic)
        found.n_math = wait_for_mathjax(page, mathjax_timeout_ms)
        found.images = page.evaluate(IMAGES_JS)
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        found.html = page.content()
        prose = page.evaluate(VISIBLE_PROSE_JS)
        for pattern in RAW_MATH:
            found.raw_math += [
                prose[max(0, m.start() - 40):m.end() + 40] for m in pattern.finditer(prose)
            ]
        root = "article" if page.locator("article").count() else "body"
        found.text = page.inner_text(root)
        found.typeset = page.locator(".math mjx-container").count()
        # Controls outside a live chart (gabalab.charts) would need a kernel.
        found.controls = page.locator(
            "input[type=range]:not(.gabalab-chart *), .widget-slider, .jupyter-widgets"
        ).count()
        found.charts = page.locator(".gabalab-chart").count()
        if found.charts:
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.gabalab-chart')]"
                    ".every(el => el.dataset.chart === 'drawn' && el.querySelector('svg'))",
                    timeout=chart_timeout_ms,
                )
            found.undrawn = page.locator(
                ".gabalab-chart:not([data-chart=drawn]), .gabalab-chart:not(:has(svg))"
            ).evaluate_all("els => els.map(el => el.id)")
        found.notes = [
            (n.inner_text(), n.locator("a[href]").evaluate_all("els => els.map(a => a.href)"))
            for n in page.locator(".admonition.note").all()
        ]
        found.broken_links = broken_links(page, site_url)
        layout = page.evaluate(LAYOUT_JS)
        found.wide, found.pipes, found.tracebacks = (
            layout["wide"], layout["pipes"], layout["tracebacks"])
    finally:
        page.close()
    return found


def problems(found: Findings, page_path: str) -> list[str]:
    """Everything a reader of this page would trip over, one line each (empty: none)."""
    out = []
    t = found.traffic
    out += [f"request to another host: {url}" for url in t.off_site]
    out += [f"failed request: {what}" for what in t.failed]
    out += [f"console error: {text}" for text in t.console_errors]
    if found.typeset < found.n_math:
        out.append(f"math not typeset: {found.n_math - found.typeset} of {found.n_math}")
    out += [f"raw LaTeX in visible text: ...{snippet}..." for snippet in found.raw_math]
    out += [f"image not loaded: {img['src']}" for img in found.images if img["width"] <= 0]
    out += [f"image without a description (alt {img.get('alt')!r}): {img['src']}"
            for img in found.images if not alt_describes(img.get("alt"))]
    out += [f"broken link: {link}" for link in found.broken_links]
    for key, text in expected_glue(page_path):
        if text not in found.text:
            out.append(f"glued value not shown: {{glue:text}}`{key}` = {text!r}")
    if not found.n_math:
        out += [f"MathJax loaded on a page without math: {url}" for url in t.requests
                if "/mathjax/" in url]
    out += [f"icon script loaded (the stylesheet draws the icons): {url}"
            for url in t.requests if "fontawesome.js" in url]
    if not found.charts:
        out += [f"chart scripts loaded on a page without a chart: {url}" for url in t.requests
                if "/vega/" in url or "gabalab-charts" in url]
    out += [f"wider than the text column at 1280 px: {what}" for what in found.wide]
    out += [f"table left as pipe text: {text}" for text in found.pipes]
    out += [f"traceback instead of the error message: {text}" for text in found.tracebacks]
    out += [f"path of the building machine: {m.group()}"
            for m in MACHINE_PATH.finditer(found.text)]
    if found.controls:
        out.append(f"widget controls that cannot work without a kernel: {found.controls}")
    out += [f"widget markup: {marker}" for marker in WIDGET_MARKUP if marker in found.html]
    out += [f"explorer not drawn: {chart}" for chart in found.undrawn]
    explorers = explorer_cells(page_path)
    for cell in explorers:
        if "remove-cell" not in cell.metadata.get("tags", []):
            out.append(f"explorer cell without the remove-cell tag: {cell.source!r}")
    pointing = [
        text for text, hrefs in found.notes
        if "kernel" in text.lower() and any(h.split("#")[0].endswith("book/how_to_use.html")
                                            for h in hrefs)
    ]
    if len(pointing) < len(explorers):
        out.append(
            f"{len(explorers)} explorer(s) in the notebook but {len(pointing)} note(s) saying "
            "that the sliders need a kernel and linking to book/how_to_use"
        )
    return out


@pytest.mark.parametrize("page_path", BOOK_PAGES)
def test_page_reads_well_offline(
    page_path: str, context: Any, site_url: str, screenshot_dir: Path
) -> None:
    """One page: loads cleanly, offline, with math, images, links, glued numbers, no widgets."""
    shot = screenshot_dir / (page_path.replace("/", "__") + ".png")
    found = inspect(context, site_url, page_path, shot)
    REPORT["pages"][page_path] = {
        "requests": len(found.traffic.requests),
        "off_site": found.traffic.off_site,
        "math": found.n_math,
        "images": len(found.images),
    }
    trouble = problems(found, page_path)
    assert not trouble, f"{page_path}:\n" + "\n".join(trouble)


BAD_PAGE = """<!DOCTYPE html>
<html><head><script src="https://cdn.invalid/mathjax.js"></script></head>
<body><article>
<p>Inline math left raw: $a + b$ and \\(x\\).</p>
<p><span class="math">\\(y\\)</span></p>
<img src="missing.png" alt="">
<img src="missing.png" alt="../_images/ab254da1be42c7e2736fc6d43ac0c951a10f1876ef.png">
<a href="nowhere.html">gone</a> <a href="bad.html#no-such-anchor">no anchor</a>
<div class="widget-slider"><input type="range"></div>
<div id="gabalab-chart-never" class="gabalab-chart"><p>placeholder</p></div>
<pre>a code line far wider than any text column a reader could have: WIDE</pre>
<p>| method | RMSE | | --- | --- | | sum | 14.1 |</p>
<div class="cell_output"><pre>Traceback (most recent call last)
RuntimeError: boom</pre></div>
<p>Results were written to /work/main/results/x.json.</p>
<script>console.error("boom")</script>
</article></body></html>
""".replace("WIDE", "x" * 200)


def test_the_checks_catch_a_broken_page(browser: Any, tmp_path: Path) -> None:
    """The checks above can fail: a page with each fault is reported for each of them."""
    (tmp_path / "bad.html").write_text(BAD_PAGE)
    blocked: list[str] = []
    ctx = guarded_context(browser, blocked)
    try:
        with serve(tmp_path) as url:
            found = inspect(ctx, url, "bad.html", None, mathjax_timeout_ms=2_000,
                            chart_timeout_ms=2_000)
    finally:
        ctx.close()
    trouble = "\n".join(problems(found, "bad.html"))
    assert blocked == ["https://cdn.invalid/mathjax.js"]
    for expected in [
        "request to another host: https://cdn.invalid/mathjax.js",
        "failed request: https://cdn.invalid/mathjax.js",
        "failed request: " + url + "missing.png (HTTP 404)",
        "console error: boom",
        "math not typeset: 1 of 1",
        "raw LaTeX in visible text",
        "image not loaded",
        "image without a description (alt ''): ",
        "image without a description (alt '../_images/ab254da1be42c7e2736fc6d43ac0c951a1",
        "broken link: " + url + "nowhere.html: HTTP 404",
        "no element with id 'no-such-anchor'",
        "widget controls that cannot work without a kernel: 2",
        "widget markup: widget-slider",
        "explorer not drawn: gabalab-chart-never",
        "wider than the text column at 1280 px: pre: a code line far wider",
        "table left as pipe text: | method | RMSE |",
        "traceback instead of the error message: Traceback (most recent call last)",
        "path of the building machine: /work/main",
    ]:
        assert expected in trouble, f"missing {expected!r} in:\n{trouble}"


HEAVY_PAGE = """<!DOCTYPE html>
<html><head><script src="_static/mathjax/tex-mml-chtml.js"></script>
<script src="_static/vega/vega-bundle.min.js"></script>
<script src="_static/scripts/fontawesome.js"></script></head>
<body><article><p>Plain prose: no equation, no chart.</p></article></body></html>
"""


def test_the_checks_catch_scripts_a_page_does_not_use(browser: Any, tmp_path: Path) -> None:
    """MathJax (about 1.2 MB) and the Vega bundle (about 0.8 MB) load only where used, and
    the theme's icon script (1.5 MB) nowhere."""
    (tmp_path / "heavy.html").write_text(HEAVY_PAGE)
    for name in ("mathjax/tex-mml-chtml.js", "vega/vega-bundle.min.js",
                 "scripts/fontawesome.js"):
        (tmp_path / "_static" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "_static" / name).write_text("// stand-in\n")
    ctx = guarded_context(browser, [])
    try:
        with serve(tmp_path) as url:
            found = inspect(ctx, url, "heavy.html", None, mathjax_timeout_ms=2_000,
                            chart_timeout_ms=2_000)
    finally:
        ctx.close()
    trouble = problems(found, "heavy.html")
    assert trouble == [
        f"MathJax loaded on a page without math: {url}_static/mathjax/tex-mml-chtml.js",
        f"icon script loaded (the stylesheet draws the icons): {url}_static/scripts/fontawesome.js",
        f"chart scripts loaded on a page without a chart: {url}_static/vega/vega-bundle.min.js",
    ]


def _pages_containing(term: str) -> list[str]:
    found = []
    for rel in BOOK_PAGES:
        text = BeautifulSoup((SITE / rel).read_text("utf-8"), "html.parser").get_text(" ")
        if term.lower() in text.lower():
            found.append(rel)
    return found


def search_cases() -> list[Any]:
    cases = []
    for i, term in enumerate(SEARCH_TERMS):
        cases.append(pytest.param(term, i == 0, id=term))
    return cases


PHONE = (390, 844)
PHONE_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('.gabalab-chart, .gabalab-chart svg, '
                                             + '.gabalab-chart .vega-bindings')) {
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      out.push((el.id || el.closest('.gabalab-chart').id) + ' ' + el.tagName.toLowerCase()
               + ': ' + Math.round(box.left) + ' to ' + Math.round(box.right) + ' px');
    }
  }
  // a control whose options run past its own box (radio options that do not wrap)
  for (const el of document.querySelectorAll('.gabalab-chart .vega-bind')) {
    if (el.clientWidth && el.scrollWidth > el.clientWidth + 1) {
      const name = el.querySelector('.vega-bind-name');
      out.push(el.closest('.gabalab-chart').id + ' control "'
               + (name ? name.textContent : '?') + '": its content is ' + el.scrollWidth
               + ' px wide in a box of ' + el.clientWidth + ' px');
    }
  }
  if (document.documentElement.scrollWidth > width + 1) {
    out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px');
  }
  return out;
}
"""
DESKTOP = (1280, 900)


CHART_DIV = re.compile(r'<div id="gabalab-chart-[^"]+" class="gabalab-chart"')


def chart_pages() -> list[str]:
    """The pages that hold an explorer (a chart's element, not an example of one in a docstring)."""
    return [p for p in BOOK_PAGES if CHART_DIV.search((SITE / p).read_text("utf-8"))]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
@pytest.mark.parametrize("page_path", chart_pages())
def test_every_explorer_fits_the_screen(page_path: str, viewport: tuple[int, int],
                                        browser: Any, site_url: str) -> None:
    """At 1280 and 390 px, each chart and its controls stay in the column, drawn narrower
    and wrapped if need be."""
    ctx = guarded_context(browser, [], viewport=viewport)
    try:
        page, _ = open_page(ctx, site_url + page_path)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.gabalab-chart')]"
            ".every(el => el.dataset.chart === 'drawn' && el.querySelector('svg'))",
            timeout=30_000)
        page.wait_for_timeout(500)  # a chart wider than its column is drawn again, narrower
        outside = page.evaluate(PHONE_JS)
        page.close()
    finally:
        ctx.close()
    assert not outside, f"{page_path} at {viewport[0]} px:\n" + "\n".join(outside)


@pytest.mark.parametrize(("term", "required"), search_cases())
def test_search_finds(term: str, required: bool, context: Any, site_url: str) -> None:
    """The search page (run in the browser, offline) finds the book's terms."""
    pages = _pages_containing(term)
    if not pages:
        assert not required, f"{term!r} should be in the book but no page contains it"
        pytest.skip(f"no page of the book contains {term!r} yet")
    page, traffic = open_page(context, f"{site_url}search.html?q={term}")
    try:
        page.wait_for_function(
            "() => { const s = document.querySelector('#search-results .search-summary');"
            " return s && /found|did not match/i.test(s.textContent); }",
            timeout=20_000,
        )
        results = page.eval_on_selector_all(
            "#search-results ul.search li a", "els => els.map(a => a.href)"
        )
        summary = page.inner_text("#search-results .search-summary")
    finally:
        page.close()
    assert not traffic.off_site, f"requests to other hosts: {traffic.off_site}"
    assert not traffic.failed, f"failed requests: {traffic.failed}"
    assert not traffic.console_errors, f"console errors: {traffic.console_errors}"
    found = {urldefrag(r)[0].removeprefix(site_url) for r in results}
    assert found, f"search for {term!r} found nothing ({summary!r}); pages containing it: {pages}"
    assert found & set(pages), f"search for {term!r} found {sorted(found)}, not {pages}"


def test_no_request_left_the_machine(screenshot_dir: Path) -> None:
    """Over all pages visited above, zero requests went to a host other than 127.0.0.1."""
    REPORT["pages_visited"] = len(REPORT["pages"])
    REPORT["requests"] = sum(p["requests"] for p in REPORT["pages"].values())
    (screenshot_dir / "static_site_report.json").write_text(json.dumps(REPORT, indent=2))
    if not REPORT["pages"]:
        pytest.skip("no page was visited in this run")
    assert REPORT["off_site_requests"] == []
