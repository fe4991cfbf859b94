"""The Web UI for resource requests: the form's resource lines and offers, and a reviewer sees exactly which
verbs on which objects."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gatepass.cli.commands import readable_policies
from gatepass.cli.errors import CliError
from gatepass.cli.ui import forms, screens
from gatepass.core.rbac import RoleKey, Rule
from gatepass.core.types import Identity

from .cli_fakes import DEMO_POLICY, RESOURCE_POLICY, request_obj
from .test_ui_pages import FORM, UIKube, assert_clean, fetch

NOW = datetime(2026, 11, 24, 9, 40, tzinfo=timezone.utc)
BOB = Identity("bob", frozenset({"developers"}))
ALICE = Identity("alice", frozenset({"dba-leads"}))
READER = [Rule.of(["get", "list"], [""], ["pods", "pods/log"])]
ASKED = [{"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
          "verbs": ["get"]},
         {"apiGroup": "", "resource": "pods", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]}]


def resource_request(state: str = "Pending", **status) -> dict:
    obj = request_obj("bob-pods-db-1-x7k2q", state, policy="pod-logs", namespaces=(),
                      requestExpiresAt="2026-11-24T10:30:00Z", **status)
    obj["spec"].pop("roles")
    obj["spec"]["resources"] = ASKED
    return obj


def test_the_request_screen_says_each_rule_and_the_reviewer_decides_on_exactly_those():
    policies = readable_policies([RESOURCE_POLICY])
    screen = screens.request_screen(resource_request(), ALICE, policies, NOW)
    assert screen.summary == ("bob requests get pods/log db-1 in payments; get pods db-1 in payments for 1h, "
                              "starting once approved")
    assert screen.resources == ("get pods/log db-1 in payments", "get pods db-1 in payments")
    assert screen.review is not None and screen.review.resources == screen.resources
    assert screen.review.roles == ""


def test_the_list_and_the_grants_name_the_rules_and_their_namespaces():
    row = screens.row(resource_request(), False, NOW)
    assert (row.roles, row.namespaces) == ("get pods/log db-1; get pods db-1", "payments")
    mixed = resource_request()
    mixed["spec"]["roles"] = ["dba"]
    mixed["spec"]["namespaces"] = ["billing"]
    assert screens.row(mixed, False, NOW).namespaces == "billing, payments"
    assert screens.Filters(namespace="payments").matches(resource_request())
    assert not screens.Filters(namespace="billing").matches(resource_request())
    granted = resource_request("Approved", expiresAt="2026-11-24T10:31:00Z")
    [grant] = screens.grants([granted], BOB, NOW)
    assert grant.roles == "get pods/log db-1; get pods db-1"


def test_the_form_offers_the_bounds_and_reads_resource_lines():
    policies = readable_policies([DEMO_POLICY, RESOURCE_POLICY])
    screen = forms.new_screen(policies, BOB, bound_rules={"pod-reader": READER})
    assert [(o.resource, o.where, o.names, o.verbs, o.policy) for o in screen.resource_offers] == [
        ("pods", "payments", "(any name)", "get,list", "pod-logs"),
        ("pods/log", "payments", "(any name)", "get,list", "pod-logs")]
    assert len(screen.draft.lines) == forms.RESOURCE_LINES
    lists = {"resource": ["pods/db-1", "", "secrets"], "verbs": ["get, logs", "", "get"],
             "resource_namespace": ["payments", "", "payments"]}
    draft = forms.Draft.of({"reason": "x"}, lambda name: lists.get(name, []))
    assert draft.resources == (forms.ResourceLine("pods/db-1", "get, logs", "payments"),
                               forms.ResourceLine("secrets", "get", "payments"))
    body = draft.body(BOB)
    assert body["spec"]["resources"] == [
        {"apiGroup": "", "resource": "pods", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]},
        {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
         "verbs": ["get"]},
        {"apiGroup": "", "resource": "secrets", "namespace": "payments", "verbs": ["get"]}]
    assert "roles" not in body["spec"]


@pytest.mark.parametrize("line, message", [
    (forms.ResourceLine("", "get", "payments"), "a resource line needs its resource, e.g. pods/db-1"),
    (forms.ResourceLine("", "", "payments"), "a resource line needs its resource"),
    (forms.ResourceLine("pods/db-1", "", "payments"), "--resource needs --verbs"),
    (forms.ResourceLine("pods/a/b", "get", ""), 'invalid --resource "pods/a/b"'),
])
def test_a_resource_line_the_plugin_refuses_is_one_line(line, message):
    with pytest.raises(CliError, match=message):
        forms.Draft(resources=(line,), reason="x").body(BOB)


RESOURCE_FORM = {**FORM, "roles": "", "namespaces": "", "resource": "pods/db-1", "verbs": "logs",
                 "resource_namespace": "payments"}


def test_the_new_request_page_shows_the_bounds_and_creates_a_resource_request():
    kube = UIKube(me=BOB, policies=[DEMO_POLICY, RESOURCE_POLICY], rules={RoleKey("ClusterRole", "pod-reader"): READER})
    _, html, _ = fetch(kube, "GET", "/requests/new")
    page = assert_clean(html)
    assert "Resources your policies let you ask for" in page.text
    assert html.count('name="resource"') == forms.RESOURCE_LINES
    status, html, _ = fetch(kube, "POST", "/requests/new", {**RESOURCE_FORM, "action": "preview"})
    assert status == 200 and "get pods/log db-1 in payments for 1h" in assert_clean(html).text
    status, _, headers = fetch(kube, "POST", "/requests/new", {**RESOURCE_FORM, "action": "create"})
    assert status == 303 and headers["Location"] == "/requests/bob-pods-db-1-abcde"
    assert kube.created[-1]["spec"]["resources"] == [
        {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
         "verbs": ["get"]}]


def test_a_form_without_any_role_checked_still_works():
    kube = UIKube(me=BOB, policies=[RESOURCE_POLICY], rules={RoleKey("ClusterRole", "pod-reader"): READER})
    form = {k: v for k, v in RESOURCE_FORM.items() if k not in ("roles", "namespaces")}
    status, _, _ = fetch(kube, "POST", "/requests/new", {**form, "action": "create"})
    assert status == 303 and "roles" not in kube.created[-1]["spec"]


def test_the_reviewers_page_lists_each_rule_beside_the_buttons():
    kube = UIKube(me=ALICE, policies=[RESOURCE_POLICY], requests=[resource_request()])
    _, html, _ = fetch(kube, "GET", "/requests/bob-pods-db-1-x7k2q")
    page = assert_clean(html)
    review = html.split('class="card review"')[1].split("</section>")[0]
    assert "<li>get pods/log db-1 in payments</li>" in review and "<li>get pods db-1 in payments</li>" in review
    assert "exactly these verbs on these objects" in review
    assert 'value="Approve"' in review
    assert "get pods/log db-1 in payments" in page.disabled_text  # what users wrote is inert


def test_a_bad_resource_line_is_shown_with_the_form_kept_and_nothing_sent():
    kube = UIKube(me=BOB, policies=[RESOURCE_POLICY], rules={RoleKey("ClusterRole", "pod-reader"): READER})
    status, html, _ = fetch(kube, "POST", "/requests/new", {**RESOURCE_FORM, "verbs": "logs", "resource": "secrets/x",
                                                           "action": "preview"})
    assert status == 400 and kube.dry_runs == [] and kube.created == []
    assert "--verbs logs applies to pods only" in assert_clean(html).text
    assert 'value="secrets/x"' in html
