"""Constants and helpers of the browser tests (imported by conftest.py and the tests).

The tests use Debian's Chromium (``apt-get install chromium``, see
``scripts/install_system_deps.sh``) driven by Playwright for Python; Playwright's own
browser download is never used.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
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


def guarded_context(browser: Any, off_site: list[str]) -> Any:
    """A browser context that lets only 127.0.0.1 through: other requests are recorded in
    off_site and aborted."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")

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
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, traffic
