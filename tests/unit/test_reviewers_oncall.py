"""On-call approval: PagerDuty's /oncalls read through a stand-in fetch, and the reviewer built on it."""

from __future__ import annotations

import json
import urllib.parse
from datetime import timedelta

import pytest

from gatepass.reviewers import Abstain, Approve, ReviewRequest
from gatepass.reviewers.oncall import (
    OnCallError,
    PagerDutyOnCall,
    PagerDutyService,
    on_call_emails,
    oncall_reviewer,
)

from .reviewer_fakes import request_obj


def entry(email: str, level: int = 1, policy: str = "PEP1") -> dict:
    return {"escalation_level": level, "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
            "user": {"id": f"U{abs(hash(email)) % 1000}", "type": "user", "email": email, "summary": email}}


class FakePagerDuty:
    """Answers GET /oncalls from pages of entries (two entries a page); records each URL and its headers."""

    def __init__(self, *pages: list[dict]) -> None:
        self.pages = pages
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, url: str, headers) -> bytes:
        self.calls.append((url, dict(headers)))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        offset = int(query["offset"][0])
        index = offset // 2 if len(self.pages) > 1 else 0
        page = self.pages[index] if index < len(self.pages) else []
        return json.dumps({"oncalls": page, "limit": 100, "offset": offset,
                           "more": index + 1 < len(self.pages)}).encode()


def lookup(fetch, **kwargs) -> PagerDutyOnCall:
    services = kwargs.pop("services", {"payments": PagerDutyService(escalation_policy_ids=("PEP1",))})
    return PagerDutyOnCall("s3cret", services, api_url="http://127.0.0.1:1/", fetch=fetch, **kwargs)


def test_asks_pagerduty_for_the_escalation_policy_with_the_token():
    fetch = FakePagerDuty([entry("dave@example.com")])
    assert lookup(fetch, users={"Dave@Example.com": "dave"}).is_on_call("dave", "payments")
    (url, headers), = fetch.calls
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:1/oncalls"
    assert urllib.parse.parse_qs(parts.query) == {"escalation_policy_ids[]": ["PEP1"], "include[]": ["users"],
                                                  "limit": ["100"], "offset": ["0"]}
    assert headers["Authorization"] == "Token token=s3cret"
    assert headers["Accept"] == "application/vnd.pagerduty+json;version=2"


def test_with_a_users_mapping_an_unmapped_email_stands_for_nobody():
    fetch = FakePagerDuty([entry("dave@example.com"), entry("erin@example.com")])
    pd = lookup(fetch, users={"Dave@Example.com": "dave"})
    assert pd.on_call("payments") == {"dave"}
    assert not pd.is_on_call("erin@example.com", "payments")  # not in the mapping: not a Kubernetes user
    assert not pd.is_on_call("dave@example.com", "payments")  # mapped: only the mapped username counts
    assert pd.username("DAVE@example.com") == "dave" and pd.username("erin@example.com") is None
    # An empty mapping is a mapping: nobody is on call as far as Kubernetes is concerned.
    assert lookup(fetch, users={}).on_call("payments") == set()


def test_without_a_mapping_emails_are_usernames():
    fetch = FakePagerDuty([entry("dave@example.com"), entry("erin@example.com")])
    pd = lookup(fetch)
    assert pd.on_call("payments") == {"dave@example.com", "erin@example.com"}
    assert pd.is_on_call("erin@example.com", "payments") and not pd.is_on_call("erin", "payments")


@pytest.mark.parametrize("users, emails_are_usernames, on_call", [
    (None, None, {"dave@example.com", "erin@example.com"}),
    (None, False, set()),
    ({"dave@example.com": "dave"}, None, {"dave"}),
    ({"dave@example.com": "dave"}, False, {"dave"}),
    ({"dave@example.com": "dave"}, True, {"dave", "erin@example.com"}),  # both, when asked for explicitly
])
def test_emails_stand_for_usernames_only_when_said(users, emails_are_usernames, on_call):
    fetch = FakePagerDuty([entry("dave@example.com"), entry("erin@example.com")])
    pd = lookup(fetch, users=users, emails_are_usernames=emails_are_usernames)
    assert pd.on_call("payments") == on_call


def test_only_the_first_level_counts_unless_told_otherwise():
    entries = [entry("dave@example.com", level=1), entry("lead@example.com", level=2)]
    assert on_call_emails(entries, frozenset({1})) == {"dave@example.com"}
    assert on_call_emails(entries, None) == {"dave@example.com", "lead@example.com"}
    assert on_call_emails([{"escalation_level": 1, "user": {"id": "U1"}}], None) == set()  # no email: nobody


def test_schedules_and_policies_are_asked_separately_and_pages_followed():
    fetch = FakePagerDuty([entry("a@x"), entry("b@x")], [entry("c@x")])
    services = {"payments": PagerDutyService(escalation_policy_ids=("PEP1",), schedule_ids=("S1", "S2"))}
    assert lookup(fetch, services=services).on_call("payments") == {"a@x", "b@x", "c@x"}
    queries = [urllib.parse.parse_qs(urllib.parse.urlsplit(url).query) for url, _ in fetch.calls]
    assert [q.get("escalation_policy_ids[]") for q in queries] == [["PEP1"], ["PEP1"], None, None]
    assert [q.get("schedule_ids[]") for q in queries] == [None, None, ["S1", "S2"], ["S1", "S2"]]
    assert [q["offset"] for q in queries] == [["0"], ["2"], ["0"], ["2"]]


def test_failures_raise_so_the_reviewer_abstains():
    with pytest.raises(OnCallError, match="no PagerDuty escalation policy or schedule configured for service 'x'"):
        lookup(FakePagerDuty([])).on_call("x")
    with pytest.raises(OnCallError, match="not JSON"):
        lookup(lambda url, headers: b"<html>").on_call("payments")
    with pytest.raises(OnCallError, match="no oncalls list"):
        lookup(lambda url, headers: b'{"error": {"message": "Unauthorized"}}').on_call("payments")
    with pytest.raises(OnCallError, match="cannot reach PagerDuty at http://127.0.0.1:1/oncalls"):
        PagerDutyOnCall("t", {"p": PagerDutyService(schedule_ids=("S",))}, api_url="http://127.0.0.1:1",
                        timeout=2).on_call("p")
    with pytest.raises(ValueError, match="escalation_policy_ids or schedule_ids"):
        PagerDutyService()
    with pytest.raises(ValueError, match="token"):
        PagerDutyOnCall("", {})


class OnCall:
    def __init__(self, *users: str) -> None:
        self.users = set(users)
        self.asked: list[tuple[str, str]] = []

    def is_on_call(self, user: str, service: str) -> bool:
        self.asked.append((user, service))
        return user in self.users


def dave(**spec) -> ReviewRequest:
    return ReviewRequest.from_body(request_obj("dave-dba", user="dave", groups=("developers", "oncall"), **spec))


def test_oncall_reviewer_approves_only_the_on_call_requester():
    on_call = OnCall("dave")
    review = oncall_reviewer(on_call, service="payments", roles=["dba"], max_duration="1h")
    assert review(dave()) == Approve("dave is on call for payments")
    assert on_call.asked == [("dave", "payments")]
    assert review(ReviewRequest.from_body(request_obj(user="carol"))) == Abstain("carol is not on call for payments")


def test_oncall_reviewer_abstains_outside_its_roles_and_duration():
    on_call = OnCall("dave")
    review = oncall_reviewer(on_call, service="payments", roles=["dba"], max_duration=timedelta(hours=1))
    assert review(dave(roles=["dba", "admin"])) == Abstain("on-call approval does not cover admin")
    assert review(dave(duration="90m")) == Abstain("1h30m is longer than on-call approval allows (1h)")
    assert on_call.asked == []  # PagerDuty is not asked when the answer could not be Approve
    assert oncall_reviewer(on_call, service="payments", roles=["dba"])(dave(duration="8h")).decision == "Approve"
    with pytest.raises(ValueError, match="roles"):
        oncall_reviewer(on_call, service="payments", roles=[])
