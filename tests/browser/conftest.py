"""Playwright driving Debian's Chromium against a real uvicorn and a real worker.

Nothing here downloads a browser: the `chromium` apt package provides /usr/bin/chromium.
"""

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, session_cookie, start_server, start_worker, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "test-artifacts"
# Slow the demo account down so there is a run in progress to watch, drop and reload.
STEP_MS = "200"


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    # Playwright's sync API keeps an event loop alive in this thread; the ORM calls the tests make
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            pytest.skip(
                "Chromium is not installed at /usr/bin/chromium and installing it needs root "
                "(run: apt-get install -y chromium)"
            )
        subprocess.run(
            "apt-get update && apt-get install -y chromium", shell=True, check=True, stdout=subprocess.DEVNULL
        )
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def browser(chromium_path):
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, and tests outside tests/browser must run without one (Django refuses ORM calls then).
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """open_page(base_url, user) -> a Page signed in as `user`, collecting console errors on page.errors."""
    contexts = []

    def open_for(base_url: str, user, *, width: int = 1280, height: int = 900):
        context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
        context.add_cookies([{"name": "sessionid", "value": session_cookie(user)["sessionid"], "url": base_url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.errors = []
        page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield open_for
    for context in contexts:
        context.close()


@pytest.fixture
def slow_worker(transactional_db):
    proc = start_worker({"AEGIS_DEMO_STEP_MS": STEP_MS})
    yield proc
    stop(proc)


class RestartableServer:
    """A uvicorn of our own, so a test can kill it mid-stream and start it again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = start_server(self.port)

    def restart(self) -> None:
        self.proc.kill()  # no graceful close: the browser sees the stream cut
        self.proc.wait(10)
        self.proc = start_server(self.port)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def own_server(transactional_db):
    server = RestartableServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
