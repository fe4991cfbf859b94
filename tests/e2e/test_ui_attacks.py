"""Attacks on the Web UI that must fail, made from a real browser where the attack is a browser's.

alice runs `kubectl access ui --context alice` and is signed in (her session cookie is in the browser
context); the attacker is a page on another port of 127.0.0.1, which a browser counts as the same site, so
alice's SameSite=Strict cookie goes along with its requests. Each attack aims at bob's pending request: an
Approve that lands would be an AccessReview by alice, so "refused" also means no AccessReview exists.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .browser import watch
from .helpers import create_request, state, unique
from .ui import LocalUI, call, csrf_of, drop_as, goto_live, reviewers_of

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1280, "height": 800}


class Attacker:
    """A site on another port of 127.0.0.1 serving whatever page a test puts in ``pages`` (no CSP)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 204)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "").encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def alice(gatepass) -> Iterator[LocalUI]:
    ui = LocalUI(gatepass.cluster.kubeconfig, "alice")
    try:
        yield ui
    finally:
        ui.close()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    site = Attacker()
    try:
        yield site
    finally:
        site.close()


@contextlib.contextmanager
def bobs_request(gatepass, name: str, **kwargs) -> Iterator[str]:
    """bob's pending request for dba in payments, which alice may review; dropped afterwards."""
    create_request(gatepass, name, user="bob", **kwargs)
    try:
        yield name
    finally:
        drop_as(gatepass.cluster.kubeconfig, "bob", name)


@pytest.fixture
def target(gatepass) -> Iterator[str]:
    with bobs_request(gatepass, unique("ui-target")) as name:
        yield name


@pytest.fixture
def signed_in(new_context, alice):
    """A browser context holding alice's session."""
    context = new_context(viewport=VIEWPORT)
    alice.sign_in(context)
    return context


def alices_csrf(signed_in, alice, name: str) -> str:
    """alice's CSRF token, read from her own page of request ``name`` (which must be clean)."""
    page = signed_in.new_page()
    watched = watch(page)
    page.goto(alice.url(f"/requests/{name}"))
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    watched.assert_clean()
    page.close()
    return token


def unreviewed(gatepass, name: str) -> None:
    assert reviewers_of(gatepass, name) == []
    assert state(gatepass, name) == "Pending"


def test_a_form_posted_from_another_localhost_port_is_refused_even_with_the_csrf_token(
        gatepass, alice, attacker, target, signed_in):
    review = alice.url(f"/requests/{target}/review")
    token = alices_csrf(signed_in, alice, target)
    for name, fields in (("/with-token", {"csrf": token}), ("/without-token", {})):
        inputs = "".join(f'<input name="{k}" value="{html.escape(v)}">'
                         for k, v in {**fields, "decision": "Approve", "reason": "forged"}.items())
        attacker.pages[name] = (f'<!doctype html><form id="f" method="post" action="{review}">{inputs}</form>'
                                '<script>document.getElementById("f").submit()</script>')
        page = signed_in.new_page()
        with page.expect_response(review) as answered:
            page.goto(attacker.url(name))
        response = answered.value
        headers = response.request.all_headers()
        assert headers["origin"] == attacker.origin  # sent from the other port...
        assert "gatepass_session=" in headers.get("cookie", "")  # ...with alice's cookie: same site
        assert response.status == 403
        assert "Origin" in response.text()
        page.close()
    unreviewed(gatepass, target)


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(gatepass, alice, target, signed_in):
    from playwright.sync_api import expect

    page_url = alice.url(f"/requests/{target}")
    review = f"{page_url}/review"
    approve = {"decision": "Approve", "reason": "no token"}
    assert signed_in.request.get(page_url).status == 200  # the cookie is good
    for extra, headers in (({}, {}), ({"csrf": "wrong"}, {}), ({}, {"X-CSRF-Token": "wrong"})):
        answer = signed_in.request.post(review, form={**approve, **extra}, headers={"Origin": alice.origin, **headers},
                                        max_redirects=0)
        assert answer.status == 403, (extra, headers, answer.status)

    # alice's own page, in her browser, but its form carries a wrong token.
    token = alices_csrf(signed_in, alice, target)

    def wrong_token(route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace(f'value="{token}"', 'value="wrong"'))

    page = signed_in.new_page()
    watched = watch(page)
    page.route(page_url, wrong_token)
    page.route(alice.url(f"/fragments/requests/{target}"), wrong_token)  # the live region, fetched again
    goto_live(page, page_url)
    expect(page.locator('input[name="csrf"]').first).to_have_value("wrong")
    watched.assert_clean()
    page.get_by_label("Reason").fill("with a wrong token")
    with page.expect_response(review) as answered:
        page.get_by_role("button", name="Approve").click()
    assert answered.value.status == 403
    assert answered.value.request.all_headers()["origin"] == alice.origin  # only the token is wrong
    unreviewed(gatepass, target)


def test_a_bad_host_header_is_refused(gatepass, alice, target, signed_in):
    alices_csrf(signed_in, alice, target)  # signs alice in
    cookie = alice.cookie_header
    status, _, body = call(alice.port, "GET", f"/requests/{target}", host=alice.host, headers=cookie)
    assert status == 200
    token = csrf_of(body)
    for host in ("evil.example", f"attacker.example:{alice.port}", f"127.0.0.1.:{alice.port}"):
        status, headers, body = call(alice.port, "GET", f"/requests/{target}", host=host, headers=cookie)
        assert status == 421 and target not in body, host
        assert "access-control-allow-origin" not in {k.lower() for k in headers}
        form = f"csrf={token}&decision=Approve&reason=rebound"
        status, _, _ = call(alice.port, "POST", f"/requests/{target}/review", host=host, body=form,
                            headers={**cookie, "Origin": f"http://{host}",
                                     "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 421, host
    unreviewed(gatepass, target)


def test_a_reason_with_html_and_htmx_attributes_is_shown_to_the_reviewer_as_text(gatepass, alice, signed_in):
    from playwright.sync_api import expect

    name = unique("ui-reason")
    reason = ('<img src=x onerror="document.title=\'pwned\'">'
              '<div hx-get="/grants?attack=get" hx-trigger="load">get</div>'
              f'<form hx-post="/requests/{name}/drop?attack=post" hx-trigger="load"><button>post</button></form>')
    with bobs_request(gatepass, name, reason=reason):
        page = signed_in.new_page()
        watched = watch(page)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        # The page, then its live region fetched again by htmx (on the stream's opening) and swapped in.
        goto_live(page, alice.url(f"/requests/{name}"))
        timeline = page.locator("#request .timeline")
        expect(timeline.locator("q.reason")).to_have_text(reason)
        expect(timeline.locator("img, div, form, button, [hx-get], [hx-post], [hx-trigger]")).to_have_count(0)
        expect(page.locator("img")).to_have_count(0)

        page.get_by_label("Reason").fill("looked at it")  # a real action: the page is rendered again
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#request .progress")).to_contain_text("two-leads: 1 of 2 — alice", timeout=20_000)
        expect(timeline.locator("q.reason").first).to_have_text(reason)
        assert page.title() != "pwned"
        assert not [url for url in requested if "attack" in url or url.endswith("/x")], requested
        assert state(gatepass, name) == "Pending"  # the hx-post drop never ran
        watched.assert_clean()


def test_the_ui_framed_by_another_origin_never_loads(alice, attacker, target, signed_in):
    framed = alice.url(f"/requests/{target}")
    attacker.pages["/frame"] = f'<!doctype html><title>frame</title><iframe src="{framed}"></iframe>'
    page = signed_in.new_page()
    watched = watch(page)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    with page.expect_response(framed) as answered:
        page.goto(attacker.url("/frame"))
    headers = answered.value.headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    [child] = page.main_frame.child_frames
    child.wait_for_load_state()
    assert not child.url.startswith(alice.origin), child.url  # an error page stands in for the UI
    assert "Signed in as" not in child.content() and target not in child.content()
    assert [url for url in requested if url.startswith(alice.origin)] == [framed]  # no script, no style
    assert any("frame-ancestors" in message or "X-Frame-Options" in message for message in watched.console_errors), \
        watched.console_errors  # the refusal, provoked here, is the only thing reported
    assert all("frame-ancestors" in m or "X-Frame-Options" in m for m in watched.console_errors), watched.console_errors


def test_without_the_cookie_nothing_is_shown(alice, target, new_context):
    context = new_context(viewport=VIEWPORT)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("/", f"/requests/{target}", "/grants", "/requests/new", f"/fragments/requests/{target}"):
        response = page.goto(alice.url(path))
        assert response.status == 401, path
        text = page.locator("body").inner_text()
        assert text.strip().count("\n") == 0 and "alice" not in text and target not in text, (path, text)
        assert "Signed in as" not in page.content()
    assert all(url.startswith(alice.url("/")) and "/static/" not in url for url in requested)  # no page loaded
    answer = context.request.post(alice.url(f"/requests/{target}/review"), headers={"Origin": alice.origin},
                                  form={"decision": "Approve", "reason": "no cookie", "csrf": "x"}, max_redirects=0)
    assert answer.status == 401, answer.status
    assert context.cookies() == []
