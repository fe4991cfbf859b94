"""Programmable reviewers: the request view, the results, which requests are asked about, and the runner."""

from __future__ import annotations

import copy
import logging
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gatepass.core.ledger import ledger_key
from gatepass.reviewers import Abstain, Approve, Deny, ReviewRequest, run
from gatepass.reviewers.kube import Gone, Refused, Unavailable, api_message, classify
from gatepass.reviewers.loading import LoadError, load_reviewer
from gatepass.reviewers.runner import Runner
from gatepass.reviewers.selection import name_part, review_body, reviewed_requests, why_not

from .reviewer_fakes import FakeApi, request_obj, review_obj

ME = "review-bot"


# -- the view -------------------------------------------------------------------

def test_review_request_reads_the_object():
    body = request_obj(labels={"gatepass.dev/device": "laptop-1"}, duration="1h30m", startTime="2026-11-24T10:00:00Z",
                       submitter={"username": "system:serviceaccount:ci:deployer"})
    request = ReviewRequest.from_body(body)
    assert request.name == "carol-dba-x1"
    assert request.user == "carol"
    assert request.groups == ("contractors", "system:authenticated")
    assert request.roles == ("dba",) and request.namespaces == ("payments",)
    assert request.reason == "PAY-123"
    assert request.duration == timedelta(hours=1, minutes=30)
    assert request.labels == {"gatepass.dev/device": "laptop-1"}
    assert request.suggested_reviewers == ("alice",)
    assert request.created == datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
    assert request.start_time == datetime(2026, 11, 24, 10, tzinfo=timezone.utc)
    assert request.policy == "contractors-dba"
    assert request.submitter == "system:serviceaccount:ci:deployer"
    assert request.in_group("oncall", "contractors") and not request.in_group("oncall")
    assert not request.cluster_wide


def test_review_request_is_frozen_and_its_labels_read_only():
    request = ReviewRequest.from_body(request_obj(labels={"a": "b"}))
    with pytest.raises(AttributeError):
        request.user = "alice"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.labels["a"] = "c"  # type: ignore[index]
    assert hash(request) == hash(ReviewRequest.from_body(request_obj(labels={"a": "z"})))


def test_review_request_defaults_and_cluster_wide():
    body = request_obj(namespaces=(), reason="")
    del body["spec"]["duration"], body["spec"]["reviewers"], body["metadata"]["labels"]
    request = ReviewRequest.from_body(body)
    assert request.cluster_wide and request.namespaces == ()
    assert request.duration == timedelta(hours=1)  # the API's default
    assert request.labels == {} and request.suggested_reviewers == () and request.reason == ""


@pytest.mark.parametrize("change, message", [
    (lambda b: b["spec"].pop("requester"), "has no requester yet"),
    (lambda b: b["spec"].update(duration="1d"), 'invalid duration "1d"'),
    (lambda b: b["metadata"].pop("name"), "without a name"),
    (lambda b: b["metadata"].pop("uid"), "has no uid"),
])
def test_review_request_refuses_what_it_cannot_read(change, message):
    body = request_obj()
    change(body)
    with pytest.raises(ValueError, match=message):
        ReviewRequest.from_body(body)


# -- results --------------------------------------------------------------------

def test_results():
    assert Approve().decision == "Approve" and Approve().reason == ""
    assert Deny("no ticket").decision == "Deny"
    assert Abstain().decision is None
    with pytest.raises(ValueError, match="Deny needs a reason"):
        Deny("  ")
    with pytest.raises(TypeError):
        Approve("ok", "Deny")  # type: ignore[call-arg]  # the decision is the class's, not an argument


def test_review_body_leaves_the_reviewer_to_admission_and_names_the_request_judged():
    body = review_body("carol-dba-x1", "uid-1", Deny("no ticket"), "system:serviceaccount:bots:review-bot")
    assert body == {
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
        "metadata": {"generateName": "system-serviceaccount-bots-review-bot-carol-dba-x1-",
                     "labels": {"gatepass.dev/request": "carol-dba-x1", "gatepass.dev/request-uid": "uid-1"}},
        "spec": {"request": "carol-dba-x1", "decision": "Deny", "reason": "no ticket"},
    }
    assert "reason" not in review_body("r", "u", Approve(), ME)["spec"]
    assert len(review_body("r", "u", Approve("x" * 5000), ME)["spec"]["reason"]) == 4096
    with pytest.raises(ValueError, match="AccessRequest r has no uid"):
        review_body("r", "", Approve(), ME)


LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@pytest.mark.parametrize("name", [
    "carol-dba-x1", "a" * 63, "a" * 64, "carol.dba." + "x" * 243, "a" * 253,
    "x" * 15 + "." + "y" * 237,  # the generateName's cut falls on the dot
])
def test_a_review_of_a_long_named_request_is_a_valid_object(name):
    """Request names may be 253 characters; label values 63, and the API server keeps 58 of a generateName."""
    assert DNS_SUBDOMAIN.match(name) and len(name) <= 253
    body = review_body(name, "uid-1", Approve(), "system:serviceaccount:gatepass-reviewers:review-bot")
    label = body["metadata"]["labels"]["gatepass.dev/request"]
    assert len(label) <= 63 and LABEL_VALUE.match(label)
    assert (label == name) is (len(name) <= 63)
    prefix = body["metadata"]["generateName"]
    assert len(prefix) <= 58 and prefix.endswith("-") and DNS_SUBDOMAIN.match(prefix + "k6dxw")
    assert body["spec"]["request"] == name


@pytest.mark.parametrize("username, part", [
    ("review-bot", "review-bot"), ("Bot@Example.com", "bot-example-com"), (":::", "reviewer"),
    ("x" * 60, "x" * 40),
])
def test_name_part(username, part):
    assert name_part(username) == part


# -- which requests are asked about -------------------------------------------------

SELECTION = [
    ("pending, new", request_obj(), set(), set(), None),
    ("not yet seen by the operator", request_obj(state=None), set(), set(),
     "not yet seen by the operator, not Pending"),
    ("approved", request_obj(state="Approved"), set(), set(), "Approved, not Pending"),
    ("denied", request_obj(state="Denied"), set(), set(), "Denied, not Pending"),
    ("being deleted", request_obj(metadata={"deletionTimestamp": "2026-11-24T09:40:00Z"}), set(), set(),
     "being deleted"),
    ("its own", request_obj(user=ME), set(), set(), "its own request"),
    ("filed by it", request_obj(submitter={"username": ME}), set(), set(), "a request it filed"),
    ("in the status", request_obj(reviews=("alice", ME)), set(), set(), "already reviewed"),
    ("an AccessReview the status does not show yet", request_obj(), {"uid-carol-dba-x1"}, set(), "already reviewed"),
    ("an AccessReview without a uid label", request_obj(), {"carol-dba-x1"}, set(), "already reviewed"),
    ("an AccessReview of an earlier request of the same name", request_obj(uid="new"), {"uid-carol-dba-x1"}, set(),
     None),
    ("by annotation", request_obj(annotations={ledger_key(ME): "{}"}), set(), set(), "already reviewed (annotation)"),
    ("asked in this run", request_obj(), set(), {"uid-carol-dba-x1"}, "already asked in this run"),
    ("a re-created request of the same name", request_obj(uid="new"), set(), {"uid-carol-dba-x1"}, None),
    ("others reviewed", request_obj(reviews=("alice",), annotations={ledger_key("ivan"): "{}"}), set(), set(), None),
]


@pytest.mark.parametrize("body, reviewed, asked, reason", [case[1:] for case in SELECTION],
                         ids=[case[0] for case in SELECTION])
def test_which_requests_are_asked_about(body, reviewed, asked, reason):
    assert why_not(body, ME, reviewed, asked) == reason


def test_reviewed_requests_are_only_mine_and_named_by_uid():
    reviews = [review_obj("a"), review_obj("b", reviewer="alice"), review_obj("c", uid=""), {"spec": {}}]
    assert reviewed_requests(reviews, ME) == {"uid-a", "c"}


# -- API errors -------------------------------------------------------------------

def test_admission_refusals_read_as_one_line():
    body = ('{"kind":"Status","message":"admission webhook \\"validate-accessreviews.gatepass.dev\\" denied the '
            'request: review-bot is not a reviewer under policy p2","code":403}')
    assert api_message(body, "Forbidden") == "review-bot is not a reviewer under policy p2"
    assert api_message(b"not json", "Forbidden") == "Forbidden"
    assert isinstance(classify(403, "x"), Refused) and isinstance(classify(422, "x"), Refused)
    assert isinstance(classify(410, "x"), Gone)
    assert all(isinstance(classify(code, "x"), Unavailable) for code in (0, 429, 500, 503))


# -- loading the function --------------------------------------------------------------

def test_load_reviewer_from_a_module_or_a_file(tmp_path: Path):
    bot = tmp_path / "bot.py"
    bot.write_text("from gatepass.reviewers import Approve\n\ndef review(request):\n    return Approve('fine')\n")
    assert load_reviewer(f"{bot}:review")(None).reason == "fine"
    assert load_reviewer("gatepass.reviewers.results:is_result") is not None
    for spec, message in [("nocolon", "is not MODULE:FUNCTION"), (f"{bot}:missing", "has no missing"),
                          (f"{tmp_path}/absent.py:review", "no file"), ("no_such_module_x:review", "no module"),
                          ("gatepass.reviewers.results:MAX_REASON", "is not a function")]:
        with pytest.raises(LoadError, match=message):
            load_reviewer(spec)


# -- the runner, against a fake API ------------------------------------------------------

def always(result):
    calls = []

    def review(request):
        calls.append(request.name)
        return result

    review.calls = calls
    return review


def test_runner_reviews_each_pending_request_once(caplog):
    caplog.set_level(logging.INFO, "gatepass.reviewer")
    api = FakeApi(requests=[request_obj("new"), request_obj("approved", state="Approved"),
                            request_obj("done"), request_obj("mine", user=ME)],
                  reviews=[review_obj("done")])
    review = always(Approve("ticket PAY-123 is open"))
    runner = Runner(api, review)
    runner.sync()
    assert review.calls == ["new"]
    assert [c["spec"] for c in api.created] == [
        {"request": "new", "decision": "Approve", "reason": "ticket PAY-123 is open"}]
    assert api.created[0]["metadata"]["labels"] == {"gatepass.dev/request": "new",
                                                    "gatepass.dev/request-uid": "uid-new"}
    assert "Approved AccessRequest new as review-bot (AccessReview review-bot-new-zz9k1): ticket PAY-123 is open" \
        in caplog.messages
    # The watch delivers the operator's status update, and later a relabel: nothing is asked again.
    runner.on_event("MODIFIED", request_obj("new"))
    runner.on_event("MODIFIED", request_obj("new", labels={"x": "y"}))
    runner.sync()  # after a 410, listing again
    assert review.calls == ["new"] and len(api.created) == 1


def test_runner_abstains_and_logs_failures_as_abstentions(caplog):
    caplog.set_level(logging.INFO, "gatepass.reviewer")

    def review(request):
        if request.name == "boom":
            raise RuntimeError("tracker down")
        if request.name == "odd":
            return "yes"
        return Abstain("not a contractor")

    api = FakeApi(requests=[request_obj("quiet"), request_obj("boom"), request_obj("odd"),
                            request_obj("unreadable", duration="1d")])
    Runner(api, review).sync()
    assert api.created == []
    assert "Abstained on AccessRequest quiet: not a contractor" in caplog.messages
    assert "Reviewer function failed on AccessRequest boom: RuntimeError: tracker down; abstained" in caplog.messages
    assert any(m.startswith("Reviewer function returned 'yes' for AccessRequest odd") for m in caplog.messages)
    assert any(m.startswith('Abstained on AccessRequest unreadable: cannot read it: AccessRequest "unreadable" is invalid: '
                            'spec.duration: invalid duration "1d"')
               for m in caplog.messages)


def test_a_refusal_is_logged_once_and_not_tried_again(caplog):
    caplog.set_level(logging.INFO, "gatepass.reviewer")
    api = FakeApi(requests=[request_obj("p2")])
    api.refuse["p2"] = "review-bot is not a reviewer under policy p2"
    review = always(Deny("no ticket"))
    runner = Runner(api, review)
    runner.sync()
    runner.on_event("MODIFIED", request_obj("p2", labels={"touched": "1"}))
    assert review.calls == ["p2"] and api.created == []
    refusals = [m for m in caplog.messages if m.startswith("Could not review")]
    assert refusals == ["Could not review AccessRequest p2 as review-bot (Deny): "
                        "review-bot is not a reviewer under policy p2"]


def test_a_review_is_of_the_request_judged_not_a_namesake_filed_meanwhile(caplog):
    """The function takes its time; meanwhile the request is deleted and another filed under its name."""
    caplog.set_level(logging.INFO, "gatepass.reviewer")
    old, new = request_obj("carol-dba", uid="uid-old"), request_obj("carol-dba", uid="uid-new", reason="PAY-9")
    api = FakeApi(requests=[old])
    judged = []

    def review(request):
        judged.append((request.uid, request.reason))
        if request.uid == "uid-old":
            api.requests = [copy.deepcopy(new)]  # deleted and filed again while the tracker was asked
        return Approve(f"ticket {request.reason} is open")

    runner = Runner(api, review)
    runner.sync()
    assert api.created == []
    refusals = [m for m in caplog.messages if m.startswith("Could not review")]
    assert refusals == ["Could not review AccessRequest carol-dba as review-bot (Approve): AccessRequest carol-dba "
                        "is not the request this review was made for (it was deleted and filed again since); "
                        "nothing was recorded"]
    # The watch then delivers the deletion and the new request, which is a request of its own.
    runner.on_event("DELETED", old)
    runner.on_event("ADDED", new)
    runner.on_event("MODIFIED", new)
    assert judged == [("uid-old", "PAY-123"), ("uid-new", "PAY-9")]
    (created,) = api.created
    assert created["metadata"]["labels"]["gatepass.dev/request-uid"] == "uid-new"
    assert created["spec"]["reason"] == "ticket PAY-9 is open"
    assert sum(m.startswith("Could not review") for m in caplog.messages) == 1


def test_a_review_of_an_earlier_namesake_does_not_stop_a_review_of_the_new_one():
    api = FakeApi(requests=[request_obj("carol-dba", uid="uid-new")],
                  reviews=[review_obj("carol-dba", uid="uid-old")])
    review = always(Approve())
    Runner(api, review).sync()
    assert review.calls == ["carol-dba"]
    assert api.created[0]["metadata"]["labels"]["gatepass.dev/request-uid"] == "uid-new"
    # Once reviewed, a relist finds its own review and asks nothing again.
    api.reviews.append(review_obj("carol-dba", uid="uid-new"))
    runner = Runner(api, review)
    runner.sync()
    assert review.calls == ["carol-dba"]


def test_transient_failures_are_retried_then_left_for_the_next_change(caplog):
    caplog.set_level(logging.INFO, "gatepass.reviewer")
    pauses = []
    api = FakeApi(requests=[request_obj("r")])
    api.unavailable = 2
    runner = Runner(api, always(Approve()), wait=lambda s: pauses.append(s) or False)
    runner.sync()
    assert pauses == [1.0, 2.0] and len(api.created) == 1

    api = FakeApi(requests=[request_obj("r")])
    api.unavailable = 10
    review = always(Approve())
    runner = Runner(api, review, wait=lambda s: False)
    runner.sync()
    assert api.created == [] and any(m.startswith("Gave up reviewing AccessRequest r after 4 attempts")
                                     for m in caplog.messages)
    api.unavailable = 0
    runner.on_event("MODIFIED", request_obj("r"))
    assert review.calls == ["r", "r"] and len(api.created) == 1


def test_deleted_requests_are_forgotten():
    api = FakeApi()
    review = always(Abstain())
    runner = Runner(api, review)
    runner.sync()
    runner.on_event("ADDED", request_obj("r"))
    runner.on_event("DELETED", request_obj("r"))
    assert runner.asked == set()


def test_run_lists_watches_and_stops_when_told(caplog):
    caplog.set_level(logging.INFO, "gatepass.reviewer")
    api = FakeApi(requests=[request_obj("listed")])
    stop = threading.Event()
    review = always(Approve())
    api.events = [("ADDED", request_obj("watched")), ("BOOKMARK", {"metadata": {"resourceVersion": "7"}})]

    def watch(resource_version, timeout=300):
        yield from api.events
        api.events = []
        stop.set()

    api.watch_requests = watch
    run(review, api=api, stop=stop)
    assert review.calls == ["listed", "watched"]
    assert "Watching AccessRequests as review-bot" in caplog.messages
    assert caplog.messages[-1] == "Stopped"


def test_run_gives_up_when_it_may_not_list():
    api = FakeApi()

    def forbidden():
        raise Refused('list AccessRequests: accessrequests.gatepass.dev is forbidden: User "bot" cannot list', 403)

    api.list_requests = forbidden
    with pytest.raises(Refused, match="cannot list"):
        run(always(Abstain()), api=api)


def test_a_recheck_asks_again_only_about_what_it_abstained_on():
    answers = {"early": Abstain("not on call yet"), "other": Approve("on call")}
    calls = []

    def review(request):
        calls.append(request.name)
        return answers[request.name]

    api = FakeApi(requests=[request_obj("early"), request_obj("other")])
    runner = Runner(api, review)
    runner.sync()
    assert sorted(calls) == ["early", "other"] and len(api.created) == 1
    runner.sync()  # listing again (after a 410) is not a recheck
    assert len(calls) == 2
    answers["early"] = Approve("on call now")
    runner.recheck()
    assert sorted(calls) == ["early", "early", "other"]
    assert sorted(c["spec"]["request"] for c in api.created) == ["early", "other"]
    runner.recheck()  # nothing left it abstained on
    assert len(calls) == 3


def test_the_command_line_takes_a_recheck_duration():
    from gatepass.reviewers.__main__ import parse

    assert parse(["bots.py:review", "--recheck", "5m"]).recheck == 300
    assert parse(["bots.py:review"]).recheck is None
    with pytest.raises(SystemExit):
        parse(["bots.py:review", "--recheck", "soon"])
