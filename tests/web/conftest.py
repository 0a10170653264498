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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()
