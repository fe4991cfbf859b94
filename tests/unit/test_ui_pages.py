"""The pages as a browser gets them: aiohttp's test client against a signed-in user with an API in memory."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gatepass.cli.errors import CliError
from gatepass.cli.ui import pages
from gatepass.cli.ui.session import SESSION
from gatepass.core.types import Identity

from .cli_fakes import DEMO_POLICY, FakeKube, request_obj, review

NOW = datetime(2026, 11, 24, 9, 40, tzinfo=timezone.utc)
BOB = Identity("bob", frozenset({"developers", "system:authenticated"}))
ALICE = Identity("alice", frozenset({"dba-leads", "system:authenticated"}))
XSS = '<img src=x onerror=alert(1)> <b hx-get="/x" hx-trigger="load">boom</b>'


class UIKube(FakeKube):
    """The plugin's Kube as the pages use it: create_request also takes dry_run, and refusals can be staged."""

    def __init__(self, *, refuse: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.refuse = refuse
        self.dry_runs: list[dict] = []

    def create_request(self, body: dict, *, dry_run: bool = False) -> dict:
        if self.refuse:
            raise CliError(self.refuse)
        if dry_run:
            self.dry_runs.append(body)
            obj = copy.deepcopy(body)
            obj["metadata"]["name"] = obj["metadata"].get("generateName", "") + "abcde"
            obj["metadata"]["creationTimestamp"] = "2026-11-24T09:40:00Z"
            obj["spec"]["requester"] = {"username": self.me.username, "groups": sorted(self.me.groups)}
            return obj
        return super().create_request(body)

    def create_review(self, body: dict) -> dict:
        if self.refuse:
            raise CliError(self.refuse)
        return super().create_review(body)


class FakeSession:
    """A signed-in user: the Session protocol over an in-memory Kube."""

    def __init__(self, kube: UIKube, csrf: str = "tok-123") -> None:
        self.kube = kube
        self.me = kube.me
        self.csrf = csrf
        self.seen: list[dict] = []

    async def call(self, fn):
        return fn(self.kube)

    async def requests(self):
        return self.kube.list_requests()

    def saw(self, obj: dict) -> None:
        self.seen.append(obj)

    async def changes(self):  # pragma: no cover - the pages never read the stream themselves
        if False:
            yield ""


def app_for(session: FakeSession) -> web.Application:
    @web.middleware
    async def signed_in(request, handler):
        request[SESSION] = session
        return await handler(request)

    app = web.Application(middlewares=[signed_in])
    pages.add_routes(app, clock=lambda: NOW)
    return app


def fetch(kube: UIKube, method: str, path: str, data=None) -> tuple[int, str, dict]:
    async def go():
        async with TestClient(TestServer(app_for(FakeSession(kube)))) as client:
            response = await client.request(method, path, data=data, allow_redirects=False)
            return response.status, await response.text(), dict(response.headers)
    return asyncio.run(go())


class Page(HTMLParser):
    """What the tests look for in a page: forms and their fields, scripts, styles, hx-disable'd text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.inline_scripts = 0
        self.disabled_depth = 0
        self._stack: list[bool] = []
        self.disabled_text = ""
        self.text = ""
        self._in_script = False
        self.feed(html)

    VOID = {"input", "meta", "link", "br", "img", "hr", "option"}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "form":
            self.forms.append({"attrs": attrs, "fields": {}})
        if tag in ("input", "textarea", "button", "select") and self.forms and attrs.get("name"):
            self.forms[-1]["fields"].setdefault(attrs["name"], []).append(attrs.get("value"))
        if tag == "script":
            self._in_script = True
        if tag not in self.VOID:
            disabled = "hx-disable" in attrs
            self._stack.append(disabled)
            self.disabled_depth += disabled

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag not in self.VOID and self._stack:
            self.disabled_depth -= self._stack.pop()

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1
        self.text += data
        if self.disabled_depth:
            self.disabled_text += data


def assert_clean(html: str) -> Page:
    """No inline script or style, no hx-on, every POST form with the CSRF token, the htmx config set."""
    page = Page(html)
    assert page.inline_scripts == 0
    for tag, attrs in page.tags:
        assert tag != "style"
        assert "style" not in attrs
        assert not any(name.startswith(("hx-on", "on")) for name in attrs), (tag, attrs)
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/")
    for form in page.forms:
        if form["attrs"].get("method") == "post":
            assert form["fields"].get("csrf") == ["tok-123"], form
    if "<html" in html:
        configs = [a["content"] for t, a in page.tags if t == "meta" and a.get("name") == "htmx-config"]
        assert configs == ['{"allowEval":false,"includeIndicatorStyles":false,"selfRequestsOnly":true}']
        body = next(a for t, a in page.tags if t == "body")
        assert body["hx-headers"] == '{"X-CSRF-Token": "tok-123"}'
    return page


def pending(**changes):
    return request_obj(requestExpiresAt="2026-11-24T10:30:00Z", **changes)


# -- every page ------------------------------------------------------------------------------------

PAGES = ["/", "/?tab=review", "/?tab=all&state=Pending&role=dba", "/fragments/requests?tab=all",
         "/requests/new", "/requests/bob-dba-x7k2q", "/fragments/requests/bob-dba-x7k2q", "/grants",
         "/fragments/grants"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("me", [BOB, ALICE], ids=["requester", "reviewer"])
def test_every_page_is_clean_and_escapes_what_users_wrote(path, me):
    obj = pending(reviews=[review("ivan", reason=XSS)])
    obj["spec"]["reason"] = XSS
    granted = request_obj("bob-view-abcde", "Approved", granted=True, grantedAt="2026-11-24T09:35:00Z",
                          expiresAt="2026-11-24T10:35:00Z")
    status, html, headers = fetch(UIKube(me=me, requests=[obj, granted]), "GET", path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = assert_clean(html)
    assert "<img" not in html and 'hx-trigger="load"' not in html
    if XSS in page.text:
        assert XSS in page.disabled_text  # shown as text, where htmx ignores attributes


def test_the_reason_is_text_inside_hx_disable_on_the_request_page():
    obj = pending()
    obj["spec"]["reason"] = XSS
    _, html, _ = fetch(UIKube(me=ALICE, requests=[obj]), "GET", "/requests/bob-dba-x7k2q")
    page = Page(html)
    assert XSS in page.disabled_text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "hx-get=&#34;/x&#34;" in html or "hx-get=&quot;/x&quot;" in html


# -- the list --------------------------------------------------------------------------------------


def test_the_list_links_each_row_and_listens_for_request_events():
    kube = UIKube(me=BOB, requests=[pending(), pending(name="carol-dba-q", requester="carol")])
    _, html, _ = fetch(kube, "GET", "/?tab=mine")
    assert 'href="/requests/bob-dba-x7k2q"' in html
    assert "carol-dba-q" not in html
    page = Page(html)
    region = next(a for t, a in page.tags if a.get("id") == "requests")
    assert region["hx-trigger"].startswith("sse:request")
    assert region["hx-get"] == "/fragments/requests?tab=mine"
    assert any(a.get("sse-connect") == "/events" and a.get("hx-ext") == "sse" for _, a in page.tags)


def test_the_review_tab_shows_what_the_user_may_review():
    kube = UIKube(me=ALICE, requests=[pending(), pending(name="done", reviews=[review("alice")])])
    _, html, _ = fetch(kube, "GET", "/?tab=review")
    assert "bob-dba-x7k2q" in html and 'href="/requests/done"' not in html


def test_the_filters_keep_their_values_and_narrow_the_rows():
    kube = UIKube(me=BOB, requests=[pending(), request_obj("bob-old", "Expired")])
    _, html, _ = fetch(kube, "GET", "/?tab=all&state=Expired&requester=bob")
    assert 'href="/requests/bob-old"' in html and 'href="/requests/bob-dba-x7k2q"' not in html
    assert '<option value="Expired" selected>' in html
    assert 'hx-get="/fragments/requests?tab=all&amp;state=Expired&amp;requester=bob"' in html


def many(count: int) -> list[dict]:
    found = []
    for i in range(count):
        obj = pending(name=f"bob-{i:03d}")
        obj["metadata"]["creationTimestamp"] = f"2026-11-24T{8 + i // 60:02d}:{i % 60:02d}:00Z"
        found.append(obj)
    return found


def test_the_list_shows_a_page_of_the_newest_with_links_that_keep_tab_and_filters():
    kube = UIKube(me=BOB, requests=many(250))
    _, html, _ = fetch(kube, "GET", "/?tab=all&state=Pending")
    page = Page(html)
    rows = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith("/requests/bob-")]
    assert rows[0] == "/requests/bob-249" and rows[-1] == "/requests/bob-150" and len(rows) == 100
    links = {a.get("rel"): a["href"] for t, a in page.tags if t == "a" and a.get("rel") in ("prev", "next")}
    assert links == {"next": "/?tab=all&state=Pending&page=2"}
    assert '<span class="count">250</span>' in html  # every request, not the page
    assert "1–100 of 250" in page.text
    _, second, _ = fetch(kube, "GET", "/?tab=all&state=Pending&page=2")
    links = {a.get("rel"): a["href"] for t, a in Page(second).tags if t == "a" and a.get("rel") in ("prev", "next")}
    assert links == {"prev": "/?tab=all&state=Pending", "next": "/?tab=all&state=Pending&page=3"}
    region = next(a for t, a in Page(second).tags if a.get("id") == "requests")
    assert region["hx-get"] == "/fragments/requests?tab=all&state=Pending&page=2"  # the live region keeps it
    tab = next(a["href"] for t, a in Page(second).tags if t == "a" and a.get("href", "").startswith("/?tab=mine"))
    assert tab == "/?tab=mine&state=Pending"  # another tab starts at its newest
    _, fragment, _ = fetch(kube, "GET", "/fragments/requests?tab=all&page=3")
    assert "201–250 of 250" in Page(fragment).text and 'href="/requests/bob-000"' in fragment


def test_a_request_made_or_dropped_here_goes_into_the_users_view():
    kube = UIKube(me=BOB, requests=[pending()])
    session = FakeSession(kube)

    async def go():
        async with TestClient(TestServer(app_for(session))) as client:
            await client.post("/requests/new", data={**FORM, "action": "preview"}, allow_redirects=False)
            await client.post("/requests/new", data={**FORM, "action": "create"}, allow_redirects=False)
            await client.post("/requests/bob-dba-x7k2q/drop", data={"csrf": "tok-123"}, allow_redirects=False)
    asyncio.run(go())
    assert [obj["metadata"]["name"] for obj in session.seen] == ["bob-dba-abcde", "bob-dba-x7k2q"]  # no dry run


def test_the_fragment_is_only_the_region():
    _, html, _ = fetch(UIKube(me=BOB, requests=[pending()]), "GET", "/fragments/requests?tab=mine")
    assert "<html" not in html and "bob-dba-x7k2q" in html


def test_an_api_failure_shows_the_api_servers_line():
    class Failing(UIKube):
        def list_requests(self):
            raise CliError('accessrequests.gatepass.dev is forbidden: User "bob" cannot list resource')
    status, html, _ = fetch(Failing(me=BOB), "GET", "/")
    assert status == 502
    assert "accessrequests.gatepass.dev is forbidden: User &#34;bob&#34; cannot list resource" in html
    assert "Traceback" not in html


# -- one request -----------------------------------------------------------------------------------


def test_an_unknown_request_is_a_404_with_one_line():
    status, html, _ = fetch(UIKube(me=BOB), "GET", "/requests/nope")
    assert status == 404
    assert "AccessRequest &#34;nope&#34; not found" in html
    assert fetch(UIKube(me=BOB), "GET", "/fragments/requests/nope")[0] == 404


def test_the_request_page_shows_state_progress_countdown_and_timeline():
    obj = pending(reviews=[review("alice", reason="looks fine")])
    _, html, _ = fetch(UIKube(me=BOB, requests=[obj]), "GET", "/requests/bob-dba-x7k2q")
    text = Page(html).text
    assert "bob requests dba in payments for 1h, starting once approved" in text
    assert "two-leads: 1 of 2 — alice" in text
    assert 'data-deadline="2026-11-24T10:30:00Z"' in html
    assert "in 50m 00s" in text
    assert text.index("requested") < text.index("looks fine")
    region = next(a for t, a in Page(html).tags if a.get("id") == "request")
    assert region["hx-get"] == "/fragments/requests/bob-dba-x7k2q"
    assert region["hx-trigger"].startswith("sse:request")


def test_review_buttons_only_for_a_reviewer_who_has_not_reviewed():
    obj = pending()
    _, mine, _ = fetch(UIKube(me=BOB, requests=[obj]), "GET", "/requests/bob-dba-x7k2q")
    _, theirs, _ = fetch(UIKube(me=ALICE, requests=[obj]), "GET", "/requests/bob-dba-x7k2q")
    reviewed = pending(reviews=[review("alice")])
    _, again, _ = fetch(UIKube(me=ALICE, requests=[reviewed]), "GET", "/requests/bob-dba-x7k2q")
    assert ">Approve</button>" not in mine and ">Approve</button>" not in again
    assert ">Approve</button>" in theirs and ">Deny</button>" in theirs
    assert "dba in payments for 1h" in Page(theirs).text
    assert '<label for="review-reason">Reason</label>' in theirs


def test_approving_creates_a_review_and_goes_back_to_the_request():
    kube = UIKube(me=ALICE, requests=[pending()])
    status, _, headers = fetch(kube, "POST", "/requests/bob-dba-x7k2q/review",
                               {"csrf": "tok-123", "decision": "Approve", "reason": "go ahead"})
    assert status == 303 and headers["Location"] == "/requests/bob-dba-x7k2q"
    assert kube.reviews[0]["spec"] == {"request": "bob-dba-x7k2q", "decision": "Approve", "reason": "go ahead"}
    assert "reviewer" not in kube.reviews[0]["spec"]  # admission says who reviewed


def test_a_refused_review_shows_the_message_verbatim():
    refusal = 'admission webhook "requests.gatepass.dev" denied the request: alice has already reviewed it'
    kube = UIKube(me=ALICE, requests=[pending()], refuse=refusal)
    status, html, _ = fetch(kube, "POST", "/requests/bob-dba-x7k2q/review",
                            {"csrf": "tok-123", "decision": "Deny", "reason": "no"})
    assert status == 400
    assert refusal.replace('"', "&#34;") in html


def test_a_decision_that_is_none_is_refused_without_calling_the_api():
    kube = UIKube(me=ALICE, requests=[pending()])
    status, html, _ = fetch(kube, "POST", "/requests/bob-dba-x7k2q/review", {"csrf": "tok-123", "decision": "Maybe"})
    assert status == 400 and "choose Approve or Deny" in html and kube.reviews == []


@pytest.mark.parametrize("back, location", [("", "/requests/bob-dba-x7k2q"), ("grants", "/grants")])
def test_drop_sets_the_revoke_annotation(back, location):
    kube = UIKube(me=BOB, requests=[pending()])
    status, _, headers = fetch(kube, "POST", "/requests/bob-dba-x7k2q/drop", {"csrf": "tok-123", "back": back})
    assert status == 303 and headers["Location"] == location
    assert kube.annotated == [("bob-dba-x7k2q", {"gatepass.dev/revoke": pages.DROP_REASON})]


def test_dropping_a_finished_request_says_so():
    kube = UIKube(me=BOB, requests=[request_obj(state="Expired")])
    status, html, _ = fetch(kube, "POST", "/requests/bob-dba-x7k2q/drop", {"csrf": "tok-123"})
    assert status == 400 and "AccessRequest bob-dba-x7k2q is already Expired" in html and kube.annotated == []


# -- a new request ---------------------------------------------------------------------------------

FORM = {"csrf": "tok-123", "roles": "dba", "namespaces": "payments", "duration": "1h", "start": "",
        "reason": "ticket #123", "reviewers": "alice, ivan"}


def test_the_form_offers_the_policies_roles_and_namespaces():
    _, html, _ = fetch(UIKube(me=BOB), "GET", "/requests/new")
    assert_clean(html)
    assert '<input type="checkbox" name="roles" value="dba"> dba' in html
    assert '<input type="checkbox" name="namespaces" value="payments"> payments' in html
    assert "up to 8h" in html
    assert 'value="alice, ivan"' in html  # suggested reviewers from the policy, editable
    assert "required" in html.split('id="reason"')[1].split(">")[0]
    for label in ("Duration", "Start time (UTC)", "Reason", "Suggested reviewers"):
        assert f">{label}</label>" in html


def test_preview_is_a_dry_run_that_shows_policy_thresholds_and_ttl():
    kube = UIKube(me=BOB)
    status, html, _ = fetch(kube, "POST", "/requests/new", {**FORM, "action": "preview"})
    assert status == 200 and kube.created == [] and len(kube.dry_runs) == 1
    text = assert_clean(html).text
    assert "admission allows this request" in text
    assert "demo-dba" in text and "two-leads: 2 approvals" in text
    assert "Request TTL" in text and "1h" in text and "2026-11-24 10:40:00 UTC" in text
    assert 'value="ticket #123"' in html or ">ticket #123</textarea>" in html  # the form keeps its values


def test_create_creates_and_goes_to_the_request():
    kube = UIKube(me=BOB)
    status, _, headers = fetch(kube, "POST", "/requests/new", {**FORM, "action": "create"})
    assert status == 303 and headers["Location"] == "/requests/bob-dba-abcde"
    assert kube.created[0]["spec"]["roles"] == ["dba"] and "requester" not in kube.created[0]["spec"]


def test_a_refusal_shows_the_api_servers_message_as_it_is():
    refusal = ('admission webhook "requests.gatepass.dev" denied the request: duration 9h is longer than the '
               '8h AccessPolicy demo-dba allows')
    kube = UIKube(me=BOB, refuse=refusal)
    status, html, _ = fetch(kube, "POST", "/requests/new", {**FORM, "duration": "9h", "action": "preview"})
    assert status == 400
    assert refusal.replace('"', "&#34;") in html
    assert 'value="9h"' in html


def test_a_form_the_plugin_refuses_says_why_without_calling_the_api():
    kube = UIKube(me=BOB)
    status, html, _ = fetch(kube, "POST", "/requests/new", {**FORM, "roles": "", "action": "create"})
    assert status == 400 and "name at least one role" in html and kube.dry_runs == [] and kube.created == []


# -- active grants ---------------------------------------------------------------------------------


def test_grants_list_the_users_approved_requests_with_a_drop_button():
    granted = request_obj("bob-view-abcde", "Approved", granted=True, grantedAt="2026-11-24T09:35:00Z",
                          expiresAt="2026-11-24T10:35:00Z")
    other = request_obj("carol-x", "Approved", requester="carol", granted=True, expiresAt="2026-11-24T10:35:00Z")
    _, html, _ = fetch(UIKube(me=BOB, requests=[granted, other, pending()]), "GET", "/grants")
    page = assert_clean(html)
    assert "bob-view-abcde" in html and "carol-x" not in html and "bob-dba-x7k2q" not in html
    assert 'data-deadline="2026-11-24T10:35:00Z"' in html and "in 55m 00s" in page.text
    assert [f["attrs"]["action"] for f in page.forms] == ["/requests/bob-view-abcde/drop"]
    assert 'hx-get="/fragments/grants"' in html
