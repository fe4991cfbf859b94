"""The browser fixtures work: a page served with the UI's strict CSP runs its script from 'self', has its
inline script blocked, and the watcher reports that violation (and reports nothing on a clean page)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from . import browser
from .browser import watch

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

PAGES = {
    "/clean": ("text/html", '<!doctype html><title>t</title><p id="out">waiting</p><script src="/self.js"></script>'),
    "/inline": ("text/html", '<!doctype html><title>t</title><p id="out">waiting</p><script src="/self.js"></script>'
                             '<script>document.body.dataset.inline = "ran"</script>'),
    "/throws": ("text/html", '<!doctype html><title>t</title><script src="/throws.js"></script>'),
    "/self.js": ("text/javascript", 'document.getElementById("out").textContent = "script from self ran";'),
    "/throws.js": ("text/javascript", 'throw new Error("deliberate failure");'),
    "/favicon.ico": ("image/x-icon", ""),  # chromium asks for it; a 404 would be a console error
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        content_type, body = PAGES.get(self.path, ("text/plain", "not found"))
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_script_from_self_runs_and_a_clean_page_reports_nothing(new_context, site):
    from playwright.sync_api import expect

    page = new_context().new_page()
    watched = watch(page)
    page.goto(f"{site}/clean")
    expect(page.locator("#out")).to_have_text("script from self ran")
    watched.assert_clean()


def test_an_inline_script_is_blocked_and_reported_as_a_csp_violation(new_context, site):
    from playwright.sync_api import expect

    page = new_context().new_page()
    watched = watch(page)
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.goto(f"{site}/inline")
    expect(page.locator("#out")).to_have_text("script from self ran")
    expect(page.locator("body[data-inline]")).to_have_count(0)
    [violation] = watched.csp_violations
    assert "inline script" in violation and "script-src 'self'" in violation
    assert watched.page_errors == []
    with pytest.raises(AssertionError, match="Content Security Policy"):
        watched.assert_clean()


def test_an_uncaught_exception_is_reported_as_a_page_error(new_context, site):
    page = new_context().new_page()
    watched = watch(page)
    with page.expect_event("pageerror"):
        page.goto(f"{site}/throws")
    assert watched.page_errors == ["deliberate failure"]
    assert watched.csp_violations == []


def test_each_context_has_cookies_of_its_own(new_context, site):
    bob, alice = new_context(), new_context()
    bob.add_cookies([{"name": "gatepass_session", "value": "bob", "url": site}])
    assert [c["value"] for c in bob.cookies(site)] == ["bob"]
    assert alice.cookies(site) == []


def test_in_ci_an_unavailable_browser_stops_the_run_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(browser, "IN_CI", True)
    with pytest.raises(pytest.exit.Exception, match="^browser unavailable: chromium crashed$") as stopped:
        browser._unavailable("chromium crashed\nstack line 1\nstack line 2")
    assert stopped.value.returncode == 1
    monkeypatch.setattr(browser, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="^browser unavailable: chromium crashed$"):
        browser._unavailable("chromium crashed\nstack line 1")
