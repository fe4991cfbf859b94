"""The Web UI in a real browser: bob asks, alice and ivan approve, each in `kubectl access ui --context USER`.

Three processes of the plugin's UI, one per person, each signed in from its own browser context, against
the real API server and operator: bob files the seed request (dba in payments for 1h, reviewers alice and
ivan) in the New request screen, after a preview that the API server's dry run answered; alice finds it
under "Needs my review" and approves; bob's page, never reloaded, shows 1 of 2, then Approved with a
countdown; kubectl says bob may read the secrets; bob drops it from Active grants and access ends.
Every page is watched: no Content-Security-Policy violation, no console error, no page error.

Each screen is saved as a PNG in $GATEPASS_SCREENSHOTS (`make screenshots` sets docs/images/ui), or in the
test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from .browser import watch
from .helpers import can_i, state, wait_for, wait_state
from .ui import LocalUI, drop_as, goto_live, live_region, reviewers_of

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1280, "height": 800}
LIVE = 20_000  # ms: how long a page may take to show a change made elsewhere (the operator acts in between)


@pytest.fixture(scope="module")
def uis(gatepass) -> Iterator[dict[str, LocalUI]]:
    """`kubectl access ui --context bob|alice|ivan`, each its own process."""
    started: dict[str, LocalUI] = {}
    try:
        for user in ("bob", "alice", "ivan"):
            started[user] = LocalUI(gatepass.cluster.kubeconfig, user)
        yield started
    finally:
        for ui in started.values():
            ui.close()


@pytest.fixture
def shoot(tmp_path):
    """``shoot(page, name)`` saves the page as NAME.png in $GATEPASS_SCREENSHOTS (or a temporary folder)."""
    folder = Path(os.environ.get("GATEPASS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return take


def signed_in_page(new_context, ui: LocalUI):
    """A page in a browser context of its own holding ``ui``'s user's session, and its watch."""
    context = new_context(viewport=VIEWPORT)
    ui.sign_in(context)
    page = context.new_page()
    return page, watch(page)


def request_names(gatepass) -> set[str]:
    listed = json.loads(gatepass.kubectl("get", "accessrequests", "-o", "json").stdout)
    return {item["metadata"]["name"] for item in listed["items"]}


def test_bob_asks_alice_and_ivan_approve_live_and_bob_drops_it(gatepass, uis, new_context, shoot):
    from playwright.sync_api import expect

    kubeconfig = gatepass.cluster.kubeconfig
    bob, bob_watch = signed_in_page(new_context, uis["bob"])
    name = None
    try:
        # bob: the New request screen, a preview from the server-side dry run, then the request itself.
        bob.goto(uis["bob"].url("/requests/new"))
        expect(bob.get_by_text("Signed in as bob")).to_be_visible()
        expect(bob.get_by_role("heading", name="What your policies offer")).to_be_visible()
        bob.get_by_role("group", name="Roles").get_by_label("dba", exact=True).check()
        bob.get_by_role("group", name="Namespaces").get_by_label("payments", exact=True).check()
        bob.get_by_label("Duration").fill("1h")
        bob.get_by_label("Reason").fill("INC-4711: reconcile the failed payouts")
        bob.get_by_label("Suggested reviewers").fill("alice,ivan")
        before = request_names(gatepass)
        bob.get_by_role("button", name="Preview").click()
        preview = bob.locator("section.preview")
        expect(bob.get_by_role("heading", name="Preview: admission allows this request")).to_be_visible()
        expect(preview).to_contain_text("bob")
        expect(preview).to_contain_text("demo-dba")
        expect(preview).to_contain_text("two-leads: 2 approvals")
        expect(preview).to_contain_text("Request TTL")
        assert request_names(gatepass) == before  # the preview was a dry run
        expect(bob.get_by_label("Reason")).to_have_value("INC-4711: reconcile the failed payouts")  # kept
        shoot(bob, "new-request")
        with bob.expect_response(live_region):  # its stream is open, and its live region fetched again
            bob.get_by_role("button", name="Create request").click()
        bob.wait_for_url(re.compile(r"/requests/[^/]+$"))
        name = unquote(bob.url.rsplit("/", 1)[1])
        assert name not in before and name in request_names(gatepass)
        expect(bob.get_by_role("heading", name=f"Request {name}")).to_be_visible()
        expect(bob.get_by_role("heading", name="State: Pending")).to_be_visible(timeout=LIVE)

        # From here on bob's page is never loaded again: what changes comes over /events.
        loads: list[str] = []
        bob.on("load", lambda: loads.append(bob.url))
        bob.on("framenavigated", lambda frame: frame == bob.main_frame and loads.append(frame.url))

        # ivan opens it and starts writing his reason before alice has approved.
        ivan, ivan_watch = signed_in_page(new_context, uis["ivan"])
        goto_live(ivan, uis["ivan"].url(f"/requests/{name}"))
        expect(ivan.get_by_text("Signed in as ivan")).to_be_visible()
        ivan.get_by_label("Reason").fill("fine by me")

        # alice: her list, the "Needs my review" tab, the request, Approve with a reason.
        alice, alice_watch = signed_in_page(new_context, uis["alice"])
        alice.goto(uis["alice"].url("/"))
        expect(alice.get_by_text("Signed in as alice")).to_be_visible()
        alice.get_by_role("link", name=re.compile(r"^Needs my review")).click()
        expect(alice.get_by_role("link", name=re.compile(r"^Needs my review"))).to_have_attribute(
            "aria-current", "page")
        listed = alice.locator("#requests").get_by_role("link", name=name, exact=True)
        expect(listed).to_be_visible()
        shoot(alice, "request-list")
        with alice.expect_response(live_region):
            listed.click()
        expect(alice.get_by_role("heading", name="Your review")).to_be_visible()
        expect(alice.locator(".review .restated")).to_have_text("dba in payments for 1h")
        expect(alice.locator(".timeline")).to_contain_text("INC-4711: reconcile the failed payouts")
        alice.get_by_label("Reason").fill("checked INC-4711, go ahead")
        shoot(alice, "review")
        alice.get_by_role("button", name="Approve").click()
        alice.wait_for_url(uis["alice"].url(f"/requests/{name}"))
        expect(alice.get_by_role("alert")).to_have_count(0)
        expect(alice.get_by_role("heading", name="Your review")).to_have_count(0, timeout=LIVE)  # not offered again
        expect(alice.locator(".timeline")).to_contain_text("checked INC-4711, go ahead")

        # bob's page shows alice's approval without a reload.
        expect(bob.locator("#request .progress")).to_contain_text("two-leads: 1 of 2 — alice", timeout=LIVE)
        expect(bob.get_by_role("heading", name="State: Pending")).to_be_visible()
        expect(bob.locator("#request .countdown").first).to_have_text(re.compile(r"^in \d+m"))  # request TTL
        shoot(bob, "request-pending")

        # ivan's page has followed too, keeping what he typed; he approves. bob's page shows Approved with
        # its countdown, and kubectl agrees.
        expect(ivan.locator("#request .progress")).to_contain_text("two-leads: 1 of 2 — alice", timeout=LIVE)
        expect(ivan.get_by_label("Reason")).to_have_value("fine by me")
        ivan.get_by_role("button", name="Approve").click()
        ivan.wait_for_url(uis["ivan"].url(f"/requests/{name}"))
        expect(ivan.get_by_role("alert")).to_have_count(0)
        expect(ivan.get_by_role("heading", name="Your review")).to_have_count(0, timeout=LIVE)

        expect(bob.get_by_role("heading", name="State: Approved")).to_be_visible(timeout=LIVE)
        expect(bob.locator("#request .deadline")).to_contain_text("Access expires", timeout=LIVE)
        expect(bob.locator("#request .countdown").first).to_have_text(re.compile(r"^in (59m|1h 00m)"))
        expect(bob.get_by_role("heading", name="Bindings")).to_be_visible(timeout=LIVE)
        wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")
        shoot(bob, "request-approved")
        assert loads == [], f"bob's page was loaded again: {loads}"

        # bob drops it in Active grants: access ends.
        bob.goto(uis["bob"].url("/grants"))
        drop = bob.get_by_role("button", name=f"Drop {name}")
        expect(drop).to_be_visible()
        expect(bob.locator("#grants .countdown").first).to_have_text(re.compile(r"^in \d+"))
        shoot(bob, "grants")
        drop.click()
        bob.wait_for_url(uis["bob"].url("/grants"))
        expect(drop).to_have_count(0, timeout=LIVE)
        wait_state(gatepass, name, "Revoked")
        wait_for(lambda: can_i(gatepass, "bob") == "no", what="bob's access to end")

        assert reviewers_of(gatepass, name) == ["alice", "ivan"]
        for watched in (bob_watch, alice_watch, ivan_watch):
            watched.assert_clean()
    finally:
        if name is not None and state(gatepass, name) not in ("Revoked", "Expired", "Denied"):
            drop_as(kubeconfig, "bob", name)
            wait_for(lambda: can_i(gatepass, "bob") == "no", what="bob's access to end")
