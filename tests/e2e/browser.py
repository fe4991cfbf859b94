"""A real browser for the Web UI's tests: Debian's chromium driven by playwright's sync API.

The browser is /usr/bin/chromium (`make browser` installs it); playwright never downloads one
(`playwright install` is not used). Fixtures, registered in tests/e2e/conftest.py:

- ``browser`` (per test module): a headless chromium, ``--no-sandbox`` when running as root. With CI=true a
  browser that cannot start stops the run (``browser unavailable: <why>``); elsewhere the tests that
  need it are skipped with that reason.
- ``new_context`` (per test): ``new_context(**options) -> BrowserContext``, a fresh context each call,
  so each user (bob, alice, ivan) has cookies of their own; all are closed after the test.

``watch(page) -> PageWatch`` collects what a page reports as wrong: console messages of type error
(Chromium reports each Content-Security-Policy violation as one, and each failed load, the
``/favicon.ico`` it asks for included) and uncaught page errors.
``PageWatch.assert_clean()`` fails the test with the messages if there are any.

Under the UI's CSP, ``page.wait_for_function("...")`` with a string needs eval and fails; wait with
locators (``expect(page.locator(...)).to_have_text(...)``) instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def launch_options() -> dict[str, Any]:
    """How chromium is started: the Debian binary, headless, without the sandbox only as root."""
    return {
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": ["--no-sandbox"] if os.geteuid() == 0 else [],
    }


def _unavailable(why: object) -> None:
    lines = str(why).strip().splitlines()
    line = lines[0] if lines else type(why).__name__
    if IN_CI:
        pytest.exit(f"browser unavailable: {line}", returncode=1)
    pytest.skip(f"browser unavailable: {line}")


# One browser per test module, not per run: playwright's sync API keeps an asyncio loop running in the main
# thread while it is started, and every later test that runs its own loop (asyncio.run) would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (make browser)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        _unavailable(f"the playwright package is missing ({error}); make venv installs it")
    driver = sync_playwright().start()
    try:
        launched = driver.chromium.launch(**launch_options())
    except Error as error:
        driver.stop()
        _unavailable(error.message)
    try:
        yield launched
    finally:
        launched.close()
        driver.stop()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    opened: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@dataclass
class PageWatch:
    """What a page reported as wrong since ``watch(page)``: console errors (CSP violations among them)
    and uncaught exceptions."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def csp_violations(self) -> list[str]:
        return [message for message in self.console_errors if "Content Security Policy" in message]

    @property
    def problems(self) -> list[str]:
        return [f"console error: {m}" for m in self.console_errors] + [f"page error: {m}" for m in self.page_errors]

    def assert_clean(self) -> None:
        assert not self.problems, "the page reported:\n" + "\n".join(self.problems)


def watch(page: Page) -> PageWatch:
    """Start collecting the page's console errors and page errors; call before ``page.goto``."""
    watched = PageWatch()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            url = (message.location or {}).get("url")
            watched.console_errors.append(f"{message.text} ({url})" if url else message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    return watched
