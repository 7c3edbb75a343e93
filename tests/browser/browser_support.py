"""Constants and helpers of the browser tests (imported by conftest.py and the tests).

The tests use Debian's Chromium (``apt-get install chromium``, see
``scripts/install_system_deps.sh``) driven by Playwright for Python; Playwright's own
browser download is never used.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import http.server
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
#: Flags for a headless Chromium that runs as root in a container and talks to nobody but
#: the pages it is sent to.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "browser-screenshots"
LOCAL_HOSTS = {"127.0.0.1"}
#: The roles that quote a glued value in the prose ({eval} is gabalab.prose's).
GLUE_TEXT_ROLE = re.compile(r"\{(?:glue:text|eval)\}`([^`]+)`")



#: How long a page may take to load, and to go quiet after that (milliseconds).
PAGE_TIMEOUT_MS = 120_000
IDLE_TIMEOUT_MS = 15_000

def in_ci() -> bool:
    """True when the CI environment variable says so (CI=true, as CI sets it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (run: bash scripts/install_system_deps.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a folder with a Python http.server thread on a free 127.0.0.1 port."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Traffic:
    """Everything one page asked for, and what went wrong."""

    requests: list[str] = field(default_factory=list)
    off_site: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


def guarded_context(browser: Any, off_site: list[str],
                    viewport: tuple[int, int] = (1280, 900)) -> Any:
    """A browser context that lets only 127.0.0.1 through: other requests are recorded in
    off_site and aborted. ``viewport`` is (width, height) in CSS pixels."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                              service_workers="block")

    def guard(route: Any) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            off_site.append(route.request.url)
            route.abort("blockedbyclient")

    ctx.route("**/*", guard)
    return ctx


def open_page(context: Any, url: str) -> tuple[Any, Traffic]:
    """Open url in a new tab, recording its requests, failures and console errors."""
    traffic = Traffic()
    page = context.new_page()
    page.on("request", lambda r: traffic.requests.append(r.url))
    page.on("request", lambda r: None if _is_local(r.url) else traffic.off_site.append(r.url))
    page.on(
        "requestfailed",
        lambda r: traffic.failed.append(f"{r.url} ({r.failure})"),
    )
    page.on(
        "response",
        lambda r: traffic.failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None,
    )
    page.on(
        "console",
        lambda m: traffic.console_errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: traffic.console_errors.append(f"uncaught: {e}"))
    # A page that never loads fails. "Network idle" (no request for 500 ms) is only a
    # heuristic for "the scripts have fetched what they need": Chromium now and then keeps a
    # connection open and never reports it, so the wait is bounded and the checks that
    # follow wait for what they test (drawn charts, rendered math) themselves. Requests made
    # later are still recorded by the handlers above.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # optional dependency

    page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=IDLE_TIMEOUT_MS)
    return page, traffic


def glued_values(notebook: Path) -> dict[str, str]:
    """The text of every value a notebook glues, by key (as {glue:text} shows it)."""
    nb = nbformat.read(notebook, as_version=4)
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            data = output.get("data", {})
            text = data.get("application/papermill.record/text/plain")
            markdown = data.get("application/papermill.record/text/markdown")
            if name is not None and markdown is not None:
                # Inline Markdown (a command in backticks) shows as its text.
                values[name] = repr(markdown.replace("`", ""))
            elif name is not None and text is not None:
                values[name] = text
    return values


def glue_text(raw: str, fmt: str | None) -> str:
    """What {glue:text}`key` or {glue:text}`key:fmt` prints for a stored text/plain value."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if fmt:
        return format(float(value), fmt)
    return str(value)


def expected_glue(page: str) -> list[tuple[str, str]]:
    """(key, text) for every {glue:text} reference in the page's notebook."""
    notebook = ROOT / Path(page).with_suffix(".ipynb")
    if not notebook.is_file():
        return []
    values = glued_values(notebook)
    nb = nbformat.read(notebook, as_version=4)
    expected = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for ref in GLUE_TEXT_ROLE.findall(cell.source):
            key, _, fmt = ref.partition(":")
            assert key in values, f"{notebook.name}: {{glue:text}}`{ref}` has no glued value"
            expected.append((ref, glue_text(values[key], fmt or None)))
    return expected
