"""Conditions: transitions keep their time unless the status changes; Approved/Denied stay True."""

from __future__ import annotations

import pytest

from gatepass.core.conditions import (FINAL_WHEN_TRUE, STAYS_TRUE, SUMMARY, get_condition, is_true, set_condition,
                                      summary)
from gatepass.core.lifecycle import TERMINAL, State

from .core_factories import at


def test_adds_a_new_condition_with_now_as_transition_time():
    result = set_condition([], "Granted", "True", "Granted", "bound", at(5.9), 3)
    assert result == [{
        "type": "Granted", "status": "True", "reason": "Granted", "message": "bound",
        "lastTransitionTime": "2026-03-01T10:00:05Z", "observedGeneration": 3,
    }]


def test_accepts_none_for_no_conditions_and_booleans_for_status():
    assert set_condition(None, "Granted", True, "r", "m", at(), 1)[0]["status"] == "True"
    assert set_condition(None, "Granted", False, "r", "m", at(), 1)[0]["status"] == "False"
    assert set_condition(None, "Granted", "Unknown", "r", "m", at(), 1)[0]["status"] == "Unknown"


def test_rejects_a_status_that_is_not_true_false_or_unknown():
    with pytest.raises(ValueError, match="True, False, Unknown"):
        set_condition([], "Granted", "yes", "r", "m", at(), 1)


def test_same_status_keeps_transition_time_but_updates_the_rest():
    first = set_condition([], "Granted", False, "WaitingForStart", "later", at(0), 1)
    second = set_condition(first, "Granted", False, "Other", "changed", at(60), 2)
    assert second == [{
        "type": "Granted", "status": "False", "reason": "Other", "message": "changed",
        "lastTransitionTime": "2026-03-01T10:00:00Z", "observedGeneration": 2,
    }]


def test_changed_status_moves_transition_time():
    first = set_condition([], "Granted", False, "WaitingForStart", "later", at(0), 1)
    second = set_condition(first, "Granted", True, "Granted", "now", at(60), 1)
    assert second[0]["lastTransitionTime"] == "2026-03-01T10:01:00Z"
    assert second[0]["status"] == "True"


def test_keeps_the_order_and_other_conditions_and_does_not_mutate_the_input():
    conditions = set_condition([], "Approved", False, "AwaitingReview", "0 of 1", at(0), 1)
    conditions = set_condition(conditions, "Denied", False, "AwaitingReview", "0 of 1", at(0), 1)
    snapshot = [dict(c) for c in conditions]
    result = set_condition(conditions, "Approved", True, "Approved", "by alice", at(9), 1)
    assert conditions == snapshot
    assert [c["type"] for c in result] == ["Approved", "Denied"]
    assert result[1] == snapshot[1]
    assert result[0]["status"] == "True"


def test_decided_stays_true_like_the_decisions():
    assert FINAL_WHEN_TRUE == {"Approved", "Denied"}
    assert STAYS_TRUE == FINAL_WHEN_TRUE | {"Decided"}


@pytest.mark.parametrize("type_", sorted(STAYS_TRUE))
@pytest.mark.parametrize("status", ["False", "Unknown", "True"])
def test_approved_and_denied_never_change_once_true(type_, status):
    decided = set_condition([], type_, True, "Decided", "by alice", at(0), 1)
    later = set_condition(decided, type_, status, "Other", "something else", at(60), 2)
    assert later == decided


@pytest.mark.parametrize("type_", ["Granted", "Expired", "Revoked"])
def test_other_conditions_may_go_back_to_false(type_):
    true = set_condition([], type_, True, "A", "a", at(0), 1)
    false = set_condition(true, type_, False, "B", "b", at(60), 1)
    assert false[0]["status"] == "False"
    assert false[0]["lastTransitionTime"] == "2026-03-01T10:01:00Z"


def test_approved_may_turn_true_from_false():
    pending = set_condition([], "Approved", False, "AwaitingReview", "0 of 1", at(0), 1)
    approved = set_condition(pending, "Approved", True, "Approved", "by alice", at(30), 1)
    assert approved[0]["status"] == "True"
    assert approved[0]["lastTransitionTime"] == "2026-03-01T10:00:30Z"


def test_a_condition_without_transition_time_gets_one():
    broken = [{"type": "Granted", "status": "False"}]
    assert set_condition(broken, "Granted", False, "r", "m", at(3), 1)[0]["lastTransitionTime"] == \
        "2026-03-01T10:00:03Z"


def test_get_condition_and_is_true():
    conditions = set_condition([], "Approved", True, "Approved", "ok", at(), 1)
    conditions = set_condition(conditions, "Granted", False, "WaitingForStart", "later", at(), 1)
    assert get_condition(conditions, "Approved")["reason"] == "Approved"
    assert get_condition(conditions, "Revoked") is None
    assert get_condition(None, "Approved") is None
    assert is_true(conditions, "Approved")
    assert not is_true(conditions, "Granted")
    assert not is_true(conditions, "Revoked")
    assert not is_true(None, "Approved")


# -- summary: Decided, Ready, Reconciling, Stalled from the state ---------------------------

def lifecycle(*entries):
    conditions = []
    for type_, status, reason, message in entries:
        conditions = set_condition(conditions, type_, status, reason, message, at(0), 1)
    return conditions


PENDING = lifecycle(("Approved", False, "AwaitingReview", "default: 0 of 1 approvals"))
APPROVED = lifecycle(("Approved", True, "Approved", "Approved by alice"))
CASES = {
    "pending": (State.Pending, PENDING, ("False", "AwaitingReview"), None),
    "waiting for its start": (State.Approved, APPROVED + lifecycle(
        ("Granted", False, "WaitingForStart", "Access starts at ...")), ("True", "Approved"), "Reconciling"),
    "blocked": (State.Approved, APPROVED + lifecycle(
        ("Granted", False, "RoleNotFound", "Not bound: ...")), ("True", "Approved"), "Reconciling"),
    "granted": (State.Approved, APPROVED + lifecycle(("Granted", True, "Granted", "Bound ...")),
                ("True", "Approved"), "Ready"),
    "denied": (State.Denied, lifecycle(("Denied", True, "Denied", "Denied by alice")), ("True", "Denied"),
               "Stalled"),
    "timed out": (State.Expired, PENDING + lifecycle(("Expired", True, "RequestTimedOut", "No decision ...")),
                  ("True", "RequestTimedOut"), "Stalled"),
    "ended": (State.Expired, APPROVED + lifecycle(("Expired", True, "AccessEnded", "Access ended ...")),
              ("True", "Approved"), "Stalled"),
    "revoked": (State.Revoked, PENDING + lifecycle(("Revoked", True, "Revoked", "Revoked by bob")),
                ("True", "Revoked"), "Stalled"),
    "withdrawn": (State.Revoked, APPROVED + lifecycle(("Revoked", True, "PolicyWithdrawn", "Withdrawn: ...")),
                  ("True", "Approved"), "Stalled"),
}


@pytest.mark.parametrize(("state", "conditions", "decided", "true"), CASES.values(), ids=CASES.keys())
def test_summary_says_one_of_ready_reconciling_stalled(state, conditions, decided, true):
    result = summary(state, conditions, at(10), 1)
    assert [c["type"] for c in result] == [c["type"] for c in conditions] + list(SUMMARY)
    assert result[:len(conditions)] == conditions  # the lifecycle's own are left alone
    got = {c["type"]: c for c in result}
    assert (got["Decided"]["status"], got["Decided"]["reason"]) == decided
    true = true or "Reconciling"
    assert {t for t in ("Ready", "Reconciling", "Stalled") if got[t]["status"] == "True"} == {true}
    assert (got["Stalled"]["status"] == "True") is (state in TERMINAL)
    # each says why, in the words of the condition that explains it
    explaining = {"Ready": "Granted", "Stalled": {State.Denied: "Denied", State.Expired: "Expired",
                                                  State.Revoked: "Revoked"}.get(state)}.get(true)
    if state is not State.Pending and explaining:
        assert got[true]["message"] == get_condition(conditions, explaining)["message"]


def test_summary_keeps_transition_times_and_decided_once_true():
    first = summary(State.Approved, APPROVED + lifecycle(("Granted", True, "Granted", "Bound")), at(10), 1)
    ended = summary(State.Expired, first + lifecycle(("Expired", True, "AccessEnded", "Ended")), at(99), 1)
    decided = get_condition(ended, "Decided")
    assert decided == get_condition(first, "Decided")
    assert decided["lastTransitionTime"] == "2026-03-01T10:00:10Z"
    assert get_condition(ended, "Stalled")["lastTransitionTime"] == "2026-03-01T10:01:39Z"
