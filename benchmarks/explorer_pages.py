"""Page weight and time to a drawn, responsive explorer on the built site, in Chromium.

For every page of ``_build/html`` that holds an explorer (``gabalab.charts``), served on
127.0.0.1 and opened in headless Debian Chromium with every other host blocked, each
repetition opens the page in a fresh browser context (empty cache) and records:

* ``drawn_ms``: from the start of the navigation until every chart on the page is drawn
  (its element marked ``data-chart="drawn"`` by the site script, with its SVG in place);
* ``responsive_ms``: until the first chart has answered a key press on its first control
  (ArrowRight on a slider or radio button, Space on a checkbox): some text of its SVG
  changed;
* ``load_ms``: until the page's ``load`` event.

The repetitions visit the pages in turn (the order rotates), so slow spells of the
machine hit every page alike; medians and quartiles over ``--repeats`` are reported after
``--warmup`` discarded rounds. The page weight: the Vega bundle (raw and gzip -9), the
site script, each chart's stored output (the ``text/html`` in the executed notebook) and
the bytes every page fetched (sum of the decoded bodies of its requests).

Run from the repository root after building the book::

    .venv/bin/python benchmarks/explorer_pages.py --out results/benchmarks/explorer_pages.json
"""

from __future__ import annotations

import datetime
import functools
import gzip
import http.server
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat

from gabalab.charts.sphinx import page_scripts
from gabalab.experiments.provenance import OneLineErrorParser, argument_check, require_int
from gabalab.files import atomic_write_text, check_writable

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

ALL_DRAWN = ("() => { const c = [...document.querySelectorAll('.gabalab-chart')];"
             " return c.length > 0 && c.every(el => el.dataset.chart === 'drawn'"
             " && el.querySelector('svg')); }")
FIRST_TEXTS = ("() => [...document.querySelector('.gabalab-chart').querySelectorAll('svg text')]"
               ".map(t => t.textContent).join('|')")
BYTES = ("() => performance.getEntriesByType('resource').reduce((s, e) => s + e.decodedBodySize,"
         " performance.getEntriesByType('navigation')[0].decodedBodySize)")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def explorer_pages() -> list[str]:
    """Pages of the built site that hold a chart."""
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if page_scripts(p.read_text("utf-8")))


def chart_output_bytes() -> dict[str, int]:
    """Bytes of each chart's stored ``text/html`` output, by chart id."""
    sizes = {}
    for path in sorted(ROOT.glob("chapter*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []):
                text = out.get("data", {}).get("text/html", "")
                if 'class="gabalab-chart"' in text:
                    sizes[text.split('id="', 1)[1].split('"', 1)[0]] = len(text.encode())
    return sizes


def one_load(browser: Any, url: str, base: str) -> dict[str, float]:
    """Open ``url`` in a fresh context; the times and the bytes fetched."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
              else r.abort("blockedbyclient"))
    try:
        page = ctx.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function(ALL_DRAWN, timeout=30_000, polling=10)
        drawn = time.perf_counter()
        before = page.evaluate(FIRST_TEXTS)
        control = page.locator(".gabalab-chart .vega-bindings input").first
        control.focus()
        page.keyboard.press("Space" if control.get_attribute("type") == "checkbox"
                            else "ArrowRight")
        page.wait_for_function(f"(b) => ({FIRST_TEXTS})() !== b", arg=before, timeout=10_000,
                               polling=10)
        responsive = time.perf_counter()
        page.wait_for_load_state("load")
        load_ms = page.evaluate("() => performance.getEntriesByType('navigation')[0]"
                                ".loadEventEnd")
        fetched = page.evaluate(BYTES)
    finally:
        ctx.close()
    return {"drawn_ms": (drawn - start) * 1000, "responsive_ms": (responsive - start) * 1000,
            "load_ms": float(load_ms), "bytes": float(fetched)}


def _stats(values: list[float]) -> dict[str, float]:
    q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": round(med, 1), "q25": round(q1, 1), "q75": round(q3, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    # Quartiles need two values per page.
    require_int(parser, "--repeats", args.repeats, 2)
    require_int(parser, "--warmup", args.warmup, 0)
    if args.out is not None:
        argument_check(parser, check_writable, args.out, "--out")
    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()
    pages = explorer_pages()
    if not pages:
        print("no explorer pages in _build/html: build the book first", file=sys.stderr)
        return 1
    handler = functools.partial(_Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in pages}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            for rep in range(args.warmup + args.repeats):
                order = pages[rep % len(pages):] + pages[:rep % len(pages)]
                for page in order:
                    result = one_load(browser, base + page, base)
                    if rep >= args.warmup:
                        runs[page].append(result)
            browser.close()
    finally:
        server.shutdown()
    bundle = (ROOT / "gabalab" / "charts" / "web" / "vega" / "vega-bundle.min.js").read_bytes()
    site_js = (ROOT / "gabalab" / "charts" / "web" / "gabalab-charts.js").read_bytes()
    versions = (ROOT / "gabalab" / "charts" / "web" / "vega" / ".version").read_text().split()
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    report = {
        "provenance": {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "chromium": chromium.strip(),
            "vega_packages": [v for v in versions if "@" in v],
            "cpu": cpu,
            "cpu_count": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
        "repeats": args.repeats,
        "warmup": args.warmup,
        "bundle_bytes": len(bundle),
        "bundle_gzip_bytes": len(gzip.compress(bundle, 9)),
        "site_js_bytes": len(site_js),
        "chart_output_bytes": chart_output_bytes(),
        "pages": {
            page: {
                "drawn_ms": _stats([r["drawn_ms"] for r in rs]),
                "responsive_ms": _stats([r["responsive_ms"] for r in rs]),
                "load_ms": _stats([r["load_ms"] for r in rs]),
                "fetched_bytes": int(statistics.median(r["bytes"] for r in rs)),
            }
            for page, rs in runs.items()
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
