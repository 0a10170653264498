"""A real uvicorn server on loopback over a copy of the synthetic city, and a real headless Chromium.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright with ``executable_path``; the browser
is never downloaded. Under CI=true a missing Chromium fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import uvicorn

from crimelens.api import create_app
from crimelens.config import Settings
from tests.api.city import City, copy_city
from tests.api.conftest import city_template  # noqa: F401  (the session city)

CHROMIUM = os.environ.get("CRIMELENS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Screenshots go to docs/screenshots only when asked (CRIMELENS_SCREENSHOTS=docs/screenshots), so a
#: test run does not rewrite tracked files; otherwise to a temporary folder.
SCREENSHOTS = Path(os.environ.get("CRIMELENS_SCREENSHOTS") or tempfile.mkdtemp(prefix="crimelens-shots-"))


def _need_chromium() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        msg = f"headless Chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(db: Path) -> Iterator[str]:
    """The service over the store ``db`` on a free loopback port, in a thread: its base URL."""
    web = create_app(Settings(db=db))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start in 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(city_template: City, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, City]]:  # noqa: F811
    city = copy_city(city_template, tmp_path_factory.mktemp("served"))
    with running(city.db) as url:
        yield url, city


class Watch:
    """Every console error and every request that is not to 127.0.0.1 (such requests are aborted)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.failed: list[str] = []

    def route(self, route: Any) -> None:
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


@contextmanager
def watched_page(browser: Any, *, width: int = 1360, height: int = 1000,
                 tolerate: tuple[str, ...] = ()) -> Iterator[tuple[Any, Watch]]:
    """A fresh browser page and what it does: on a normal exit, no request may have left 127.0.0.1 and
    no console error may have been logged (but those containing a ``tolerate`` text)."""
    # bypass_csp only lets the test harness evaluate its own probes; the pages keep their policy
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    watch = Watch()
    context.route("**/*", watch.route)
    page = context.new_page()
    page.set_default_timeout(90_000)  # the machine is shared; a slow page is not a broken one
    page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    # which request a "Failed to load resource" console error was about (the console does not say)
    page.on("response", lambda r: watch.failed.append(f"HTTP {r.status} {r.request.method} {r.url}")
            if r.status >= 400 else None)
    try:
        yield page, watch
    finally:
        context.close()
    assert watch.outside == [], f"requests left 127.0.0.1: {watch.outside}"
    errors = [e for e in watch.errors if not any(t in e for t in tolerate)]
    assert errors == [], f"console errors: {watch.errors}; failed requests: {watch.failed}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()
