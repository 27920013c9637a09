"""Real-browser fixtures: Debian's Chromium driven by Playwright (sync API).

The browser is never downloaded (``playwright install`` cannot reach its host here); Playwright
drives the system Chromium through ``executable_path``: ``$LEADSIFT_CHROMIUM`` or
/usr/bin/chromium. Without it the browser tests skip, unless ``LEADSIFT_REQUIRE_BROWSER=1`` (CI),
where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.web.servers import serve_asgi, serve_pages, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

__all__ = ["CHROMIUM_ARGS", "serve_asgi", "serve_pages", "wait_until"]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# This machine's network is closed: without the background-networking flags Chromium keeps
# opening connections to Google's hosts that the network refuses. Root needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("LEADSIFT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (LEADSIFT_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run; each test should open its own context."""
    executable = Path(os.environ.get("LEADSIFT_CHROMIUM") or DEFAULT_CHROMIUM)
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        _unavailable(
            f"Chromium not installed at {executable}: apt-get install chromium (CI installs it)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(chromium_browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (own cookies and storage), closed afterwards."""
    context = chromium_browser.new_context()
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()
