"""Browser tests: the app served in-process, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import logging
import time
import urllib.request

import pytest

from .browser import ARGS, CHROMIUM, HANG_MS, VIEWPORT, AppPage, free_port


@pytest.fixture(scope="session", autouse=True)
def _debug_log():
    """The app's own debug lines (its jobs, its model requests) in a failed test's report."""
    logging.getLogger("components").setLevel(logging.DEBUG)


@pytest.fixture(scope="session")
def app_url():
    """The app, served in-process on a free loopback port for the whole session."""
    import app

    port = free_port()
    server = app.serve(port, threaded=True, start=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "assets/logo.svg", timeout=5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield url
    server.stop()


@pytest.fixture(scope="session")
def browser_context():
    """One browser for the session; an incognito-like context (a persistent profile opens
    new tabs on chromium's new-tab page, whose requests for web content fail offline and
    are logged on the tab before it reaches the app)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                             headless=True)
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        # every wait (locators, expect) is a hang guard, not a speed requirement
        context.set_default_timeout(HANG_MS)
        context.set_default_navigation_timeout(HANG_MS)
        playwright_api.expect.set_options(timeout=HANG_MS)
        yield context
        context.close()
        browser.close()


@pytest.fixture
def open_page(browser_context, app_url):
    """Open a new tab on the app (waits for the websocket and the first map)."""
    pages = []

    def opener() -> AppPage:
        page = AppPage(browser_context.new_page())
        pages.append(page)
        return page.open(app_url)

    yield opener
    for page in pages:
        page.page.close()
