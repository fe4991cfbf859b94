"""The Web UI's screens as plain values: what each page shows, for every state, without a server or a clock."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from gatepass.cli.commands import readable_policies
from gatepass.cli.errors import CliError
from gatepass.cli.ui import forms, screens
from gatepass.core import ledger
from gatepass.core.lifecycle import TERMINAL, State
from gatepass.core.types import Identity

from .cli_fakes import DEMO_POLICY, request_obj, review

NOW = datetime(2026, 11, 24, 9, 40, tzinfo=timezone.utc)
BOB = Identity("bob", frozenset({"developers"}))
ALICE = Identity("alice", frozenset({"dba-leads"}))
CAROL = Identity("carol", frozenset({"developers"}))
POLICIES = readable_policies([DEMO_POLICY])
LEADS_POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": "leads"},
    "spec": {"requesters": {"groups": ["developers"]},
             "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]},
                       {"name": "view", "clusterRole": "view", "clusterWide": True}],
             "reviewers": {"users": ["alice", "ivan", "olga"]},
             "thresholds": [{"name": "dba-leads", "approvals": 2, "from": {"users": ["alice", "ivan"]}},
                            {"name": "ops", "approvals": 1, "from": {"users": ["olga"]}}],
             "maxDuration": "4h", "requestTTL": "30m", "requireReason": False, "denials": 2},
}


def condition(type_: str, status: str = "True", message: str = "", time: str = "2026-11-24T09:35:00Z") -> dict:
    return {"type": type_, "status": status, "reason": type_, "message": message, "lastTransitionTime": time}


# -- countdowns ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [(3720, "in 1h 02m"), (125, "in 2m 05s"), (42, "in 42s"), (0, "passed"),
                                           (-5, "passed")])
def test_remaining_text(seconds, text):
    from datetime import timedelta
    assert screens.remaining_text(NOW + timedelta(seconds=seconds), NOW) == text


def test_a_countdown_is_none_without_a_time_and_not_ahead_once_passed():
    assert screens.countdown("x", None, NOW) is None
    assert screens.countdown("x", "garbage", NOW) is None
    passed = screens.countdown("Access expires", "2026-11-24T09:00:00Z", NOW)
    assert passed.ahead is False and passed.at == "2026-11-24 09:00:00 UTC" and passed.remaining == "passed"


# -- every state -----------------------------------------------------------------------------------

STATE_OBJECTS = {
    State.Pending: request_obj(requestExpiresAt="2026-11-24T10:30:00Z"),
    State.Approved: request_obj(state="Approved", granted=True, grantedAt="2026-11-24T09:35:00Z",
                                expiresAt="2026-11-24T10:35:00Z", reviews=[review("alice"), review("ivan")],
                                bindings=[{"kind": "RoleBinding", "namespace": "payments", "name": "gp-x-dba",
                                           "role": {"kind": "ClusterRole", "name": "dba"}}]),
    State.Denied: request_obj(state="Denied", reviews=[review("ivan", "Deny", "not now")],
                              conditions=[condition("Denied", message="denied by ivan: not now")]),
    State.Expired: request_obj(state="Expired", requestExpiresAt="2026-11-24T09:35:00Z",
                               conditions=[condition("Expired", message="not decided by 2026-11-24T09:35:00Z")]),
    State.Revoked: request_obj(state="Revoked", revokedBy="bob", revokeReason="done early",
                               grantedAt="2026-11-24T09:32:00Z", expiresAt="2026-11-24T10:32:00Z",
                               conditions=[condition("Revoked", message="revoked by bob: done early")]),
}


def test_every_state_has_an_example():
    assert set(STATE_OBJECTS) == set(State)


@pytest.mark.parametrize("state", list(State))
def test_the_request_screen_in_every_state(state):
    screen = screens.request_screen(STATE_OBJECTS[state], BOB, POLICIES, NOW)
    assert screen.state == state.value
    assert screen.final is (state in TERMINAL)
    assert screen.droppable is (state not in TERMINAL)  # bob's own, until it ends
    assert screen.review is None  # never on one's own request
    assert screen.timeline[0].what == "requested" and screen.timeline[0].reason == "ticket #123"
    labels = [c.label for c in screen.countdowns]
    expected = {State.Pending: ["Request expires"], State.Approved: ["Access expires"]}.get(state, [])
    assert labels == expected
    if state in (State.Denied, State.Expired, State.Revoked):
        assert screen.outcome == STATE_OBJECTS[state]["status"]["conditions"][0]["message"]
    else:
        assert screen.outcome == ""


def test_pending_counts_down_to_the_request_ttl():
    screen = screens.request_screen(STATE_OBJECTS[State.Pending], BOB, POLICIES, NOW)
    (ttl,) = screen.countdowns
    assert (ttl.deadline, ttl.remaining, ttl.ahead) == ("2026-11-24T10:30:00Z", "in 50m 00s", True)
    assert screen.summary == "bob requests dba in payments for 1h, starting once approved"


def test_approved_shows_granted_expires_the_bindings_and_counts_down_to_the_end():
    screen = screens.request_screen(STATE_OBJECTS[State.Approved], BOB, POLICIES, NOW)
    assert screen.granted_at == "2026-11-24 09:35:00 UTC" and screen.expires_at == "2026-11-24 10:35:00 UTC"
    assert screen.countdowns[0].deadline == "2026-11-24T10:35:00Z"
    assert screen.bindings == ("RoleBinding payments/gp-x-dba → ClusterRole dba",)
    assert screen.summary == "bob requests dba in payments for 1h, starting 2026-11-24 09:35:00 UTC"


def test_approved_but_not_started_counts_down_to_the_start_then_the_end():
    obj = request_obj(state="Approved", granted=False, grantedAt="2026-11-24T12:00:00Z",
                      expiresAt="2026-11-24T13:00:00Z")
    obj["spec"]["startTime"] = "2026-11-24T12:00:00Z"
    screen = screens.request_screen(obj, BOB, POLICIES, NOW)
    assert [c.label for c in screen.countdowns] == ["Access starts", "Access expires"]
    assert screen.summary.endswith("starting 2026-11-24 12:00:00 UTC")


def test_approved_without_its_bindings_says_why():
    obj = request_obj(state="Approved", expiresAt="2026-11-24T10:35:00Z")
    obj["status"]["conditions"] = [condition("Granted", "False", 'namespace "payments" not found')]
    assert screens.request_screen(obj, BOB, POLICIES, NOW).outcome == 'namespace "payments" not found'


def test_a_request_someone_else_filed_cannot_be_dropped_by_me():
    assert not screens.request_screen(STATE_OBJECTS[State.Pending], CAROL, POLICIES, NOW).droppable


# -- thresholds ------------------------------------------------------------------------------------


def test_progress_per_threshold_names_who_counted():
    obj = request_obj(policy="leads", reviews=[review("alice", time="2026-11-24T09:31:00Z"),
                                               review("olga", time="2026-11-24T09:32:00Z"),
                                               review("mallory", time="2026-11-24T09:33:00Z")])
    screen = screens.request_screen(obj, BOB, readable_policies([LEADS_POLICY]), NOW)
    assert [p.text for p in screen.progress] == ["dba-leads: 1 of 2 — alice", "ops: 1 of 1 — olga"]
    assert [p.met for p in screen.progress] == [False, True]
    assert screen.denials == "0 of 2 denials"


def test_progress_without_any_review_and_with_the_default_threshold():
    policy = {**DEMO_POLICY, "spec": {k: v for k, v in DEMO_POLICY["spec"].items() if k != "thresholds"}}
    screen = screens.request_screen(request_obj(), BOB, readable_policies([policy]), NOW)
    assert [p.text for p in screen.progress] == ["default: 0 of 1"]


def test_progress_counts_a_ledger_review_the_operator_has_not_recorded_yet():
    obj = request_obj()
    obj["metadata"]["annotations"] = {ledger.ledger_key("alice"): json.dumps(
        {"reviewer": "alice", "groups": [], "decision": "Approve", "reason": "ok", "time": "2026-11-24T09:33:00Z"})}
    screen = screens.request_screen(obj, BOB, POLICIES, NOW)
    assert screen.progress[0].text == "two-leads: 1 of 2 — alice"
    assert [e.who for e in screen.timeline] == ["bob", "alice"]


def test_no_progress_when_no_readable_policy_governs():
    screen = screens.request_screen(request_obj(), BOB, [], NOW)
    assert screen.progress == () and screen.denials == "" and screen.policy == "demo-dba"


# -- reviewing -------------------------------------------------------------------------------------


def test_review_is_offered_to_a_reviewer_with_the_terms_restated():
    offer = screens.request_screen(request_obj(), ALICE, POLICIES, NOW).review
    assert offer == screens.Offer(roles="dba", namespaces="payments", duration="1h")


@pytest.mark.parametrize("obj, me", [
    (request_obj(), BOB),  # the requester
    (request_obj(), CAROL),  # not a reviewer
    (request_obj(reviews=[review("alice")]), ALICE),  # already reviewed
    (request_obj(state="Approved"), ALICE),  # decided
], ids=["requester", "not-a-reviewer", "reviewed", "decided"])
def test_review_is_not_offered(obj, me):
    assert screens.request_screen(obj, me, POLICIES, NOW).review is None


# -- the timeline ----------------------------------------------------------------------------------


def test_the_timeline_is_the_request_then_reviews_in_time_order_then_the_revocation():
    obj = request_obj(state="Revoked", revokedBy="carol", revokeReason="incident over",
                      reviews=[review("ivan", reason="second", time="2026-11-24T09:34:00Z"),
                               review("alice", reason="first", time="2026-11-24T09:31:00Z")],
                      conditions=[condition("Revoked", time="2026-11-24T09:50:00Z")])
    events = screens.timeline(obj)
    assert [(e.who, e.what, e.reason) for e in events] == [
        ("bob", "requested", "ticket #123"), ("alice", "approved", "first"), ("ivan", "approved", "second"),
        ("carol", "revoked", "incident over")]
    assert [e.time for e in events] == ["2026-11-24 09:30:00 UTC", "2026-11-24 09:31:00 UTC",
                                        "2026-11-24 09:34:00 UTC", "2026-11-24 09:50:00 UTC"]


def test_the_timeline_names_how_a_review_came():
    obj = request_obj(reviews=[{**review("alice"), "via": "Slack"}, {**review("gatepass:rules"), "via": "Rule"}])
    assert [e.who for e in screens.timeline(obj)][1:] == ["alice (via Slack)", "gatepass:rules (via Rule)"]


# -- the list --------------------------------------------------------------------------------------

LISTED = [
    request_obj("bob-1", "Pending", requestExpiresAt="2026-11-24T10:30:00Z"),
    request_obj("bob-2", "Approved", granted=True, expiresAt="2026-11-24T10:00:00Z"),
    request_obj("carol-1", "Pending", requester="carol", namespaces=("billing",)),
    request_obj("carol-2", "Denied", requester="carol"),
]
for _index, _obj in enumerate(LISTED):
    _obj["metadata"]["creationTimestamp"] = f"2026-11-24T09:3{_index}:00Z"


@pytest.mark.parametrize("tab, me, names", [
    ("mine", BOB, ["bob-2", "bob-1"]),
    ("mine", CAROL, ["carol-2", "carol-1"]),
    ("review", ALICE, ["bob-1"]),  # carol-1 asks for billing, which demo-dba does not offer
    ("review", BOB, []),
    ("all", ALICE, ["carol-2", "carol-1", "bob-2", "bob-1"]),
])
def test_tabs(tab, me, names):
    screen = screens.list_screen(LISTED, me, POLICIES, tab, screens.Filters(), NOW)
    assert [r.name for r in screen.rows] == names  # newest first


def test_tab_counts_and_known_values():
    screen = screens.list_screen(LISTED, BOB, POLICIES, "all", screens.Filters(), NOW)
    assert screen.counts == {"mine": 2, "review": 0, "all": 4}
    assert screen.namespaces == ("billing", "payments") and screen.requesters == ("bob", "carol")


@pytest.mark.parametrize("query, names", [
    ({"state": "Pending"}, ["carol-1", "bob-1"]),
    ({"state": "Approved", "requester": "bob"}, ["bob-2"]),
    ({"namespace": "billing"}, ["carol-1"]),
    ({"role": "dba"}, ["carol-2", "carol-1", "bob-2", "bob-1"]),
    ({"role": "view"}, []),
    ({"state": "Bogus"}, ["carol-2", "carol-1", "bob-2", "bob-1"]),  # an unknown state filters nothing
])
def test_filters(query, names):
    screen = screens.list_screen(LISTED, ALICE, POLICIES, "all", screens.Filters.of(query), NOW)
    assert [r.name for r in screen.rows] == names


def test_filters_round_trip_through_the_query():
    filters = screens.Filters.of({"state": "Pending", "role": " dba ", "namespace": ""})
    assert filters.query() == {"state": "Pending", "role": "dba"}
    assert screens.tab_of("nope") == "mine" and screens.tab_of("review") == "review"


def test_rows_say_what_is_due_and_which_need_my_review():
    rows = {r.name: r for r in screens.list_screen(LISTED, ALICE, POLICIES, "all", screens.Filters(), NOW).rows}
    assert rows["bob-1"].expires.label == "Request expires" and rows["bob-1"].reviewable
    assert rows["bob-2"].expires.label == "Access expires" and not rows["bob-2"].reviewable
    assert rows["carol-2"].expires is None
    assert rows["carol-1"].namespaces == "billing"


def test_empty_texts():
    assert screens.list_screen([], ALICE, POLICIES, "review", screens.Filters(), NOW).empty_text == \
        "Nothing needs your review."
    assert screens.list_screen([], ALICE, POLICIES, "all", screens.Filters(role="x"), NOW).empty_text == \
        "No access requests match."


# -- active grants ---------------------------------------------------------------------------------


def test_grants_are_my_approved_requests_soonest_to_end_first():
    objs = [request_obj("late", "Approved", granted=True, expiresAt="2026-11-24T12:00:00Z"),
            request_obj("soon", "Approved", granted=True, expiresAt="2026-11-24T10:00:00Z"),
            request_obj("later-start", "Approved", granted=False, grantedAt="2026-11-24T11:00:00Z",
                        expiresAt="2026-11-24T13:00:00Z"),
            request_obj("theirs", "Approved", requester="carol", granted=True, expiresAt="2026-11-24T10:00:00Z"),
            *(request_obj(f"was-{s.value}", s.value) for s in State if s is not State.Approved)]
    found = screens.grants(objs, BOB, NOW)
    assert [g.name for g in found] == ["soon", "late", "later-start"]
    assert found[0].live and found[0].expires.remaining == "in 20m 00s"
    assert not found[2].live and found[2].starts.deadline == "2026-11-24T11:00:00Z"


# -- the new-request form --------------------------------------------------------------------------


def test_offers_are_the_roles_of_policies_naming_me_a_requester():
    policies = readable_policies([DEMO_POLICY, LEADS_POLICY])
    offered = forms.offers(policies, BOB)
    assert [(o.policy, o.role, o.where) for o in offered] == [
        ("demo-dba", "dba", "payments"), ("leads", "dba", "payments"), ("leads", "view", "(cluster-wide)")]
    assert forms.offers(policies, ALICE) == ()  # alice is in no requesters
    screen = forms.new_screen(policies, BOB)
    assert screen.roles == ("dba", "view") and screen.namespaces == ("payments",)
    assert screen.max_duration == "8h"
    assert screen.reason_required is False  # leads does not require one
    assert screen.draft.reviewers == "alice, ivan, olga"


def test_the_reason_is_required_when_every_offering_policy_requires_one():
    assert forms.new_screen(POLICIES, BOB).reason_required is True
    assert forms.new_screen(POLICIES, ALICE).reason_required is False  # nothing offered: nothing to require


def test_a_draft_becomes_the_request_body_the_plugin_builds():
    form = {"duration": "90m", "start": "2026-11-24T12:00", "reason": "ticket", "reviewers": "alice, ivan ,"}
    lists = {"roles": ["dba"], "namespaces": ["payments"]}
    draft = forms.Draft.of(form, lambda name: lists.get(name, []))
    body = draft.body(BOB)
    assert body["metadata"] == {"generateName": "bob-dba-"}
    assert body["spec"] == {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h30m", "reason": "ticket",
                            "reviewers": ["alice", "ivan"], "startTime": "2026-11-24T12:00:00Z"}


def test_a_draft_the_plugin_refuses():
    with pytest.raises(CliError, match="invalid start time"):
        forms.Draft(roles=("dba",), start="tomorrow").body(BOB)
    with pytest.raises(CliError, match="name at least one role"):
        forms.Draft().body(BOB)


def test_preview_reads_the_dry_run_answer_against_the_policies():
    answer = forms.Draft(roles=("dba",), namespaces=("payments",), reason="x").body(BOB)
    answer["metadata"]["creationTimestamp"] = "2026-11-24T09:40:00Z"
    answer["spec"]["requester"] = {"username": "bob", "groups": ["developers"]}
    shown = forms.preview(answer, readable_policies([LEADS_POLICY]), NOW)
    assert (shown.requester, shown.policy, shown.summary) == ("bob", "leads", "dba in payments for 1h")
    assert shown.thresholds == (forms.Step("dba-leads", 2, "alice, ivan"), forms.Step("ops", 1, "olga"))
    assert (shown.denials, shown.request_ttl, shown.waits_until) == (2, "30m", "2026-11-24 10:10:00 UTC")
    assert forms.preview(answer, [], NOW).policy == ""  # allowed by a policy the user cannot read



# -- paging ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("total, page, expected", [
    (0, 1, (1, 1, 0, 0, None, None)),
    (250, 1, (1, 3, 1, 100, None, 2)),
    (250, 2, (2, 3, 101, 200, 1, 3)),
    (250, 3, (3, 3, 201, 250, 2, None)),
    (250, 9, (3, 3, 201, 250, 2, None)),  # beyond the last: the last
    (100, 1, (1, 1, 1, 100, None, None)),
    (101, 2, (2, 2, 101, 101, 1, None)),
])
def test_paging(total, page, expected):
    shown = screens.paging(total, page)
    assert (shown.page, shown.pages, shown.first, shown.last, shown.newer, shown.older) == expected
    assert shown.total == total


@pytest.mark.parametrize("value, page", [(None, 1), ("", 1), ("2", 2), (" 3 ", 3), ("0", 1), ("-4", 1),
                                         ("x", 1), ("1e3", 1)])
def test_page_of_a_query(value, page):
    assert screens.page_of(value) == page


def test_the_list_is_paged_newest_first_with_counts_over_every_request():
    many = []
    for i in range(7):
        obj = request_obj(f"bob-{i}", "Pending" if i % 2 else "Denied")
        obj["metadata"]["creationTimestamp"] = f"2026-11-24T09:3{i}:00Z"
        many.append(obj)
    first = screens.list_screen(many, BOB, POLICIES, "all", screens.Filters(), NOW, size=3)
    assert [r.name for r in first.rows] == ["bob-6", "bob-5", "bob-4"]
    assert first.counts == {"mine": 7, "review": 0, "all": 7}
    last = screens.list_screen(many, BOB, POLICIES, "all", screens.Filters(), NOW, page=3, size=3)
    assert [r.name for r in last.rows] == ["bob-0"] and last.paging.older is None and last.paging.newer == 2
    pending = screens.list_screen(many, BOB, POLICIES, "all", screens.Filters(state="Pending"), NOW, page=2,
                                  size=2)
    assert [r.name for r in pending.rows] == ["bob-1"] and pending.paging.total == 3
    assert pending.counts["all"] == 7  # the filters narrow the rows, not the counts
    assert screens.PAGE_SIZE == 100
