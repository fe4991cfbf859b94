"""A resource request in the Web UI, in a real browser: bob asks for one pod's log, alice and ivan see exactly
which verbs on which objects they approve, and bob gets that and nothing more.

`kubectl access ui --context USER` per person, each signed in from its own browser context, against the real
API server and operator; every page is watched for CSP violations, console and page errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from .browser import watch
from .helpers import get, state, wait_for, wait_state
from .test_resource_requests_cli import bounded, can, drop_all  # noqa: F401  (the fixture, by import)
from .test_ui_browser import VIEWPORT, shoot  # noqa: F401  (the fixture, by import)
from .ui import LocalUI, drop_as, live_region

pytestmark = pytest.mark.e2e

LIVE = 20_000  # ms


@pytest.fixture(scope="module")
def uis(gatepass) -> Iterator[dict[str, LocalUI]]:
    started: dict[str, LocalUI] = {}
    try:
        for user in ("bob", "alice", "ivan"):
            started[user] = LocalUI(gatepass.cluster.kubeconfig, user)
        yield started
    finally:
        for ui in started.values():
            ui.close()


def signed_in_page(new_context, ui: LocalUI):
    context = new_context(viewport=VIEWPORT)
    ui.sign_in(context)
    page = context.new_page()
    return page, watch(page)


def test_bob_asks_for_one_pods_log_and_the_reviewers_see_exactly_that(gatepass, bounded, uis,  # noqa: F811
                                                                        new_context, shoot):  # noqa: F811
    from playwright.sync_api import expect

    drop_all(gatepass)
    wait_for(lambda: not can(gatepass, "bob", "get", "pods/log/db-1"), timeout=60, what="bob without the log")
    bob, bob_watch = signed_in_page(new_context, uis["bob"])
    name = None
    try:
        bob.goto(uis["bob"].url("/requests/new"))
        expect(bob.get_by_role("heading", name="Resources your policies let you ask for")).to_be_visible()
        offers = bob.locator("table.resource-offers")
        expect(offers).to_contain_text("pods/log")
        expect(offers).to_contain_text("cli-pod-debug")
        bob.get_by_label("Resource 1").fill("pods/db-1")
        bob.get_by_label("Verbs 1").fill("logs")
        bob.get_by_label("Namespace 1").fill("payments")
        bob.get_by_label("Reason").fill("INC-4711: read the db-1 log")
        bob.get_by_label("Duration").fill("30m")
        bob.get_by_role("button", name="Preview").click()
        preview = bob.locator("section.preview")
        expect(preview).to_contain_text("get pods/log db-1 in payments for 30m")
        expect(bob.get_by_label("Resource 1")).to_have_value("pods/db-1")  # the form keeps its lines
        shoot(bob, "new-resource-request")
        with bob.expect_response(live_region):
            bob.get_by_role("button", name="Create request").click()
        bob.wait_for_url(re.compile(r"/requests/[^/]+$"))
        name = unquote(bob.url.rsplit("/", 1)[1])
        expect(bob.locator("#request ul.resources")).to_have_text("get pods/log db-1 in payments")
        assert get(gatepass, "accessrequest", name)["spec"]["resources"] == [
            {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
             "verbs": ["get"]}]

        # Each reviewer sees, beside the buttons, exactly which verbs on which objects they decide on.
        for reviewer in ("alice", "ivan"):
            page, watched = signed_in_page(new_context, uis[reviewer])
            page.goto(uis[reviewer].url(f"/requests/{name}"))
            expect(page.get_by_role("heading", name="Your review")).to_be_visible()
            restated = page.locator(".review .restated-resources li")
            expect(restated).to_have_count(1)
            expect(restated).to_have_text("get pods/log db-1 in payments")
            expect(page.locator(".review .restated")).to_have_count(0)  # no roles asked for
            if reviewer == "alice":
                shoot(page, "review-resources")
            page.get_by_role("button", name="Approve").click()
            page.wait_for_url(uis[reviewer].url(f"/requests/{name}"))
            expect(page.get_by_role("alert")).to_have_count(0)
            watched.assert_clean()

        expect(bob.get_by_role("heading", name="State: Approved")).to_be_visible(timeout=LIVE)
        wait_state(gatepass, name, "Approved")
        wait_for(lambda: can(gatepass, "bob", "get", "pods/log/db-1"), timeout=60, what="bob's log access")
        assert not can(gatepass, "bob", "get", "pods/log/db-2")
        assert not can(gatepass, "bob", "get", "pods/db-1")  # only the log was asked for
        bob.goto(uis["bob"].url("/grants"))
        expect(bob.locator("#grants")).to_contain_text("get pods/log db-1")
        bob_watch.assert_clean()
    finally:
        if name is not None and state(gatepass, name) not in ("Revoked", "Expired", "Denied"):
            drop_as(gatepass.cluster.kubeconfig, "bob", name)
