"""Waiting on a request: what the status line says, when the wait ends, and how the watch is followed."""

from __future__ import annotations

import io

import pytest

from gatepass.cli.errors import CliError
from gatepass.cli.kube import Expired
from gatepass.cli.waiting import Progress, StatusLine, approvals_text, elapsed_text, progress, wait
from gatepass.api import values

from .cli_fakes import DEMO_POLICY, FakeKube, request_obj

POLICY = values.policy(DEMO_POLICY)
NAME = "AccessRequest bob-dba-x7k2q"


def test_pending_with_the_policy_counts_toward_its_thresholds():
    obj = request_obj(reviews=[("alice",)])
    assert approvals_text(obj, POLICY) == "two-leads: 1 of 2 approvals (alice)"
    assert progress(obj, policy=POLICY) == Progress(f"{NAME} is Pending: two-leads: 1 of 2 approvals (alice)")


def test_pending_without_the_policy_counts_approvals():
    assert approvals_text(request_obj(), None) == "0 approvals"
    assert approvals_text(request_obj(reviews=[("alice",)]), None) == "1 approval (alice)"
    assert approvals_text(request_obj(reviews=[("alice",), ("ivan",)]), None) == "2 approvals (alice, ivan)"


def test_a_request_the_operator_has_not_seen_yet_is_pending():
    result = progress(request_obj(state=None, policy=None))
    assert not result.done
    assert result.line == f"{NAME} is Pending: 0 approvals"


def test_approved_and_bound_ends_every_wait_with_access():
    obj = request_obj(state="Approved", granted=True, expiresAt="2026-11-24T10:31:00Z")
    for until in ("approved", "granted"):
        result = progress(obj, until)
        assert result.done and result.granted
        assert result.line == f"{NAME} is Approved: access granted until 2026-11-24 10:31:00 UTC"


def test_approved_but_not_yet_bound_ends_only_a_wait_for_approval():
    obj = request_obj(state="Approved", granted=False, grantedAt="2026-11-24T12:00:00Z",
                      expiresAt="2026-11-24T13:00:00Z")
    approved = progress(obj, "approved")
    assert approved.done and approved.granted
    bound = progress(obj, "granted")
    assert not bound.done
    assert bound.line == f"{NAME} is Approved: access starts 2026-11-24 12:00:00 UTC"


@pytest.mark.parametrize("reason", ["NamespaceNotFound", "RoleNotFound", "BindForbidden"])
def test_approved_but_blocked_never_says_access_is_coming(reason):
    obj = request_obj(state="Approved", granted=False, grantedAt="2026-11-24T09:31:00Z",
                      expiresAt="2026-11-24T10:31:00Z")
    obj["status"]["conditions"][0].update(reason=reason, message="Not bound: the operator may not bind dba")
    line = f"{NAME} is Approved but not granted ({reason}): Not bound: the operator may not bind dba"
    approved = progress(obj, "approved")
    assert approved == Progress(line, done=True, granted=False)  # the command says so and fails
    waiting = progress(obj, "granted")
    assert waiting == Progress(line)  # a wait for access goes on: it is granted once the cause is fixed


def test_denied_names_the_reviewer_and_their_reason():
    obj = request_obj(state="Denied", reviews=[("alice",), ("ivan", "Deny", "not during the freeze")])
    result = progress(obj)
    assert result.done and not result.granted
    assert result.line == f"{NAME} was denied by ivan: not during the freeze"
    silent = request_obj(state="Denied", reviews=[("ivan", "Deny", "")])
    assert progress(silent).line == f"{NAME} was denied by ivan: no reason given"


def test_denied_without_reviews_gives_the_operators_reason():
    obj = request_obj(state="Denied", conditions=[{"type": "Denied", "status": "True", "reason": "NoPolicy",
                                                   "message": "No AccessPolicy allows this request any more"}])
    assert progress(obj).line == f"{NAME} was denied: No AccessPolicy allows this request any more"


def test_expired_and_revoked_end_the_wait_without_access():
    expired = request_obj(state="Expired", conditions=[{"type": "Expired", "status": "True", "reason": "TimedOut",
                                                        "message": "Nobody decided before 10:30"}])
    assert progress(expired) == Progress(f"{NAME} expired: Nobody decided before 10:30", done=True)
    revoked = request_obj(state="Revoked", revokedBy="bob", revokeReason="done")
    assert progress(revoked).line == f"{NAME} was revoked by bob: done"
    assert progress(revoked).done and not progress(revoked).granted


@pytest.mark.parametrize("seconds, text", [(0, "0m00s"), (59.9, "0m59s"), (61, "1m01s"), (3725, "1h02m05s")])
def test_elapsed_text(seconds, text):
    assert elapsed_text(seconds) == text


def test_a_status_line_off_a_terminal_prints_each_change_once():
    stream = io.StringIO()
    with StatusLine(stream, live=False) as line:
        line.update("a")
        line.update("a")
        line.update("b")
    assert stream.getvalue() == "a\nb\n"


def test_a_live_status_line_redraws_in_place_with_the_time_waited_and_clears_itself():
    stream = io.StringIO()
    now = [100.0]
    line = StatusLine(stream, live=True, clock=lambda: now[0], tick=3600)
    with line:
        line.update("Pending")
        now[0] += 65
        line.update("Pending: 1 of 2")
    assert stream.getvalue() == "\r\x1b[KPending [0m00s]\r\x1b[KPending: 1 of 2 [1m05s]\r\x1b[K"


def test_a_status_line_is_live_only_on_a_terminal():
    assert StatusLine(io.StringIO()).live is False


def test_wait_follows_the_watch_until_the_request_is_decided():
    pending = request_obj(version="1")
    one = request_obj(reviews=[("alice",)], version="2")
    two = request_obj(state="Approved", granted=True, reviews=[("alice",), ("ivan",)], version="3",
                      expiresAt="2026-11-24T10:31:00Z")
    kube = FakeKube(requests=[pending], watches=[[("MODIFIED", one), ("MODIFIED", two)]])
    stream = io.StringIO()
    with StatusLine(stream, live=False) as line:
        result, obj = wait(kube, pending["metadata"]["name"], line)
    assert result.granted and obj["metadata"]["resourceVersion"] == "3"
    assert kube.watched_from == ["1"]
    assert stream.getvalue().splitlines() == [
        f"{NAME} is Pending: two-leads: 0 of 2 approvals",
        f"{NAME} is Pending: two-leads: 1 of 2 approvals (alice)",
    ]


def test_wait_renews_a_closed_watch_from_the_last_version_seen():
    one = request_obj(reviews=[("alice",)], version="5")
    done = request_obj(state="Denied", reviews=[("alice",), ("ivan", "Deny", "no")], version="6")
    kube = FakeKube(requests=[request_obj(version="4")], watches=[[("MODIFIED", one)], [], [("MODIFIED", done)]])
    with StatusLine(io.StringIO(), live=False) as line:
        result, _ = wait(kube, "bob-dba-x7k2q", line)
    assert kube.watched_from == ["4", "5", "5"]
    assert result.done and not result.granted


def test_wait_starts_over_from_a_fresh_read_when_the_version_is_too_old():
    kube = FakeKube(requests=[request_obj(version="7")], watches=[Expired])
    decided = request_obj(state="Revoked", revokedBy="bob", version="9")

    original = kube.get_request
    calls = []

    def get_request(name):
        calls.append(name)
        return original(name) if len(calls) == 1 else decided

    kube.get_request = get_request
    with StatusLine(io.StringIO(), live=False) as line:
        result, obj = wait(kube, "bob-dba-x7k2q", line)
    assert len(calls) == 2 and obj is decided and result.done


def test_a_request_deleted_while_waiting_is_an_error():
    kube = FakeKube(requests=[request_obj()], watches=[[("DELETED", request_obj())]])
    with pytest.raises(CliError, match="AccessRequest bob-dba-x7k2q was deleted"):
        with StatusLine(io.StringIO(), live=False) as line:
            wait(kube, "bob-dba-x7k2q", line)


def test_a_request_already_decided_needs_no_watch():
    kube = FakeKube(requests=[request_obj(state="Approved", granted=True, expiresAt="2026-11-24T10:31:00Z")])
    stream = io.StringIO()
    with StatusLine(stream, live=False) as line:
        result, _ = wait(kube, "bob-dba-x7k2q", line, "granted")
    assert result.granted and kube.watched_from == [] and stream.getvalue() == ""
