"""End-to-end fixtures: the CKAN app served over real HTTP on loopback.

The server runs in a daemon thread of the test process (``tests/serving.py``: werkzeug's
threaded server): each request gets its own thread, hence its own ``model.Session`` (a
``scoped_session`` is thread-local) which CKAN removes after every request. The test's own
session sees what the server committed once it is removed or expired: use :func:`fresh`.
"""
from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import ckan.model as model

from ckanext.dgaaccounts.tests.serving import serve


@dataclass
class LiveServer:
    url: str

    def __call__(self, path: str = "/") -> str:
        return self.url + path


def fresh() -> None:
    """Drop the test thread's session, so the next query sees what the server committed."""
    model.Session.remove()


@pytest.fixture
def live_server(ckan_config, monkeypatch, clean_db, smtp, app) -> Iterator[LiveServer]:
    """CKAN with the plugin, clean database and SMTP sink, served at ``live_server.url``.

    ``ckan.site_url`` is the live URL, so links in emails point to this server. When the test
    ends, its requests have finished before the next test empties the database
    (:func:`~ckanext.dgaaccounts.tests.serving.serve`).
    """
    # One INFO line per request (every page asset of a browser test) is noise; errors stay.
    monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
    with serve(app.app) as served:  # the test client's WSGI app
        monkeypatch.setitem(ckan_config, "ckan.site_url", served.url)
        fresh()
        try:
            yield LiveServer(served.url)
        finally:
            fresh()


def padded_pdf(size: int, seed: int = 20240601) -> bytes:
    """A structurally plain PDF of exactly ``size`` bytes: the padding is a stream's data.

    The bytes are pseudo-random (a fixed seed, so every run uploads the same file), like a
    compressed scan; a stream is where the storage scanner expects such bytes.
    """
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    pages = (b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
             b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n")
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    stream_head = b"4 0 obj\n<< /Length %010d >>\nstream\n"  # fixed width: 10 digits
    length = size - len(head) - len(pages) - len(tail) - len(stream_head % 0)
    assert length > 0, "size too small for a padded PDF"
    stream_head %= length
    body = random.Random(seed).randbytes(length)
    data = head + pages + stream_head + body + tail
    assert len(data) == size
    return data


@pytest.fixture
def pdf_file(tmp_path):
    """Write ``content`` (default: a small valid PDF) to a file; return its path."""
    from ckanext.dgaaccounts.tests.conftest import PDF

    def make(name: str = "signed-form.pdf", content: bytes = PDF) -> str:
        path = tmp_path / name
        path.write_bytes(content)
        return str(path)

    return make


@pytest.fixture
def screenshot_dir(tmp_path) -> str:
    """Where the browser test saves its screenshots.

    A temporary folder by default, so an ordinary test run leaves the repository untouched;
    set ``DGAACCOUNTS_SCREENSHOTS`` (e.g. to ``docs/screenshots``) to refresh the README's.
    """
    target = os.environ.get("DGAACCOUNTS_SCREENSHOTS") or str(tmp_path / "screenshots")
    os.makedirs(target, exist_ok=True)
    return target


# -- headless Chromium (Debian's, driven by Playwright; never `playwright install`) -------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1200, "height": 800}
# The widths the native-interface tests check every page at: a laptop and a phone.
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium, launched once per test process: every test gets fresh contexts
    (:func:`new_page`), so no cookie, storage or cache crosses tests."""
    # dev/services.sh installs Chromium and dev/venv.sh Playwright: a missing one is a failure.
    from playwright import sync_api

    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed (apt-get install chromium)"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server):
    """Pages, each in a fresh browser context (its own cookies), that can reach the live site
    and the origins in ``also``, nothing else; every browser test's pages come from here."""
    contexts = []

    def make(viewport: dict[str, int] | None = None, locale: str = "en-US",
             also: tuple[str, ...] = ()):
        allowed = re.compile(
            "^(" + "|".join(re.escape(url) for url in (live_server.url, *also)) + ")(/|$)")
        context = browser.new_context(viewport=viewport or VIEWPORT, locale=locale,
                                      accept_downloads=True,
                                      reduced_motion="reduce")  # no smooth scrolling
        context.set_default_timeout(TIMEOUT_MS)
        # A whole page (its styles and scripts too) on a loaded 2-core machine can take longer
        # than an action's wait: a sign-in page once took more than 10 s under a load of 12.
        context.set_default_navigation_timeout(3 * TIMEOUT_MS)
        # Hermetic and fast: nothing leaves the allowed sites.
        context.route(lambda url: url.startswith(("http:", "https:")) and not allowed.match(url),
                      lambda route: route.abort())
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_page(open_page):
    """A desktop page in English in a fresh context that can reach only the live site."""
    return lambda: open_page()


def login(page, live_server, name: str, password: str) -> None:
    """Sign in through CKAN's login form."""
    page.goto(live_server("/user/login"))
    page.fill("#field-login", name)
    page.fill("#field-password", password)
    submit(page, page.locator("form[method=post] button[type=submit]").filter(has_text="Login"))
    assert "/user/login" not in page.url, f"{name} could not log in"


def in_view(page, target):
    """The target (a selector or a locator), scrolled into view with two frames drawn since.

    A review page frames the signed PDF, which Chromium shows in an out-of-process frame. When
    a click first has to scroll the page (Playwright scrolls, then sends the mouse event at
    once), Chromium can route the event by where that frame was before the scroll: into the PDF
    viewer, and the button never sees it (an approval was never sent in 1 run of 3). Clicks and
    ticks on such pages go through here.
    """
    locator = page.locator(target) if isinstance(target, str) else target
    locator.scroll_into_view_if_needed()
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return locator


def tick(page, target) -> None:
    """Tick a checkbox, scrolled into view first (see ``in_view``)."""
    in_view(page, target).check()


def submit(page, target) -> None:
    """Click a submit button (a selector or a locator) and wait for the page it leads to."""
    # "domcontentloaded": a page framing a PDF may never fire "load" in headless Chromium.
    # A form's POST does real work (a decision, its emails to a live SMTP server): on a loaded
    # 2-core CI machine it can pass the default 10 s, so the navigation gets three times that.
    button = in_view(page, target)
    with page.expect_navigation(wait_until="domcontentloaded", timeout=3 * TIMEOUT_MS):
        button.click()


def state(page) -> str:
    return page.get_attribute("#dgaaccounts-state", "data-state")
