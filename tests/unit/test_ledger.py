"""The review ledger: intents become identity-stamped entries; nothing recorded can be forged or lost."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from gatepass.core import ledger
from gatepass.core.types import Identity

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)
ALICE = Identity("alice", frozenset({"dba-leads"}))
BOB = Identity("bob", frozenset({"developers"}))


def apply(annotations: dict, changes: dict) -> dict:
    result = dict(annotations)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


@pytest.mark.parametrize("key, decision", [(ledger.APPROVE, "Approve"), (ledger.DENY, "Deny")])
def test_an_intent_becomes_an_entry_for_the_authenticated_user(key, decision):
    new = {key: "looks fine", "unrelated": "x"}
    changes = ledger.rewrite({}, new, ALICE, NOW)
    result = apply(new, changes)
    assert key not in result
    assert result["unrelated"] == "x"
    entry = json.loads(result[ledger.ledger_key("alice")])
    assert entry == {"reviewer": "alice", "groups": ["dba-leads"], "decision": decision,
                     "reason": "looks fine", "time": "2026-11-24T12:00:00Z"}
    [review] = ledger.reviews(result)
    assert (review.reviewer.username, review.decision, review.reason, review.time) == ("alice", decision,
                                                                                      "looks fine", NOW)
    assert review.via == "annotation"


def test_entries_written_by_a_client_are_removed():
    forged = json.dumps({"reviewer": "alice", "decision": "Approve", "reason": "", "time": "2026-01-01T00:00:00Z"})
    key = ledger.ledger_key("alice")
    assert apply({key: forged}, ledger.rewrite({}, {key: forged}, BOB, NOW)) == {}


def test_recorded_entries_cannot_be_changed_or_removed():
    first = apply({ledger.APPROVE: "ok"}, ledger.rewrite({}, {ledger.APPROVE: "ok"}, ALICE, NOW))
    key = ledger.ledger_key("alice")
    tampered = {key: first[key].replace("Approve", "Deny")}
    assert apply(tampered, ledger.rewrite(first, tampered, BOB, NOW)) == first
    emptied: dict = {}
    assert apply(emptied, ledger.rewrite(first, emptied, BOB, NOW)) == first


def test_a_second_intent_from_the_same_user_is_left_for_validation():
    first = apply({ledger.APPROVE: "ok"}, ledger.rewrite({}, {ledger.APPROVE: "ok"}, ALICE, NOW))
    again = {**first, ledger.DENY: "changed my mind"}
    result = apply(again, ledger.rewrite(first, again, ALICE, NOW))
    assert result[ledger.DENY] == "changed my mind"  # still there: validation refuses the write
    assert result[ledger.ledger_key("alice")] == first[ledger.ledger_key("alice")]
    assert ledger.added_entries(first, result) == []
    assert [i.action for i in ledger.intents(result)] == ["Deny"]


def test_two_reviewers_add_two_entries_in_time_order():
    first = apply({ledger.APPROVE: "a"}, ledger.rewrite({}, {ledger.APPROVE: "a"}, ALICE, NOW))
    later = NOW.replace(minute=5)
    ivan = Identity("ivan", frozenset({"dba-leads"}))
    second_in = {**first, ledger.APPROVE: "b"}
    second = apply(second_in, ledger.rewrite(first, second_in, ivan, later))
    assert ledger.added_entries(first, second) == [ledger.ledger_key("ivan")]
    assert [r.reviewer.username for r in ledger.reviews(second)] == ["alice", "ivan"]


def test_revocation_is_recorded_once_with_who_and_why():
    result = apply({ledger.REVOKE: "done"}, ledger.rewrite({}, {ledger.REVOKE: "done"}, BOB, NOW))
    assert ledger.REVOKE not in result
    revocation = ledger.revocation(result)
    assert (revocation.by, revocation.reason, revocation.time) == ("bob", "done", NOW)
    again = {**result, ledger.REVOKE: "twice"}
    assert apply(again, ledger.rewrite(result, again, ALICE, NOW))[ledger.REVOKE] == "twice"
    assert ledger.revocation(apply(again, ledger.rewrite(result, again, ALICE, NOW))).by == "bob"


@pytest.mark.parametrize("value", ["not json", "{}", json.dumps({"reviewer": "ivan", "decision": "Approve",
                                                                  "time": "2026-11-24T12:00:00Z"}),
                                   json.dumps({"reviewer": "alice", "decision": "Maybe",
                                               "time": "2026-11-24T12:00:00Z"})])
def test_malformed_or_misplaced_entries_are_not_reviews(value):
    assert ledger.reviews({ledger.ledger_key("alice"): value}) == []


def test_malformed_revocation_is_none():
    assert ledger.revocation({ledger.REVOKED_BY: "garbage"}) is None
    assert ledger.revocation({}) is None


def test_an_intent_reason_longer_than_a_recorded_reason_is_refused():
    from gatepass.api.common import MAX_REASON_LENGTH as SCHEMA_LIMIT
    from gatepass.core.ledger import MAX_REASON_LENGTH, intent_refusal

    assert MAX_REASON_LENGTH == SCHEMA_LIMIT  # one limit: the status must be able to hold what is recorded
    longest = "ü" * MAX_REASON_LENGTH
    assert intent_refusal({"gatepass.dev/approve": longest, "example.com/x": "y" * 10_000}) is None
    assert intent_refusal(None) is None
    for key in ("gatepass.dev/approve", "gatepass.dev/deny", "gatepass.dev/revoke"):
        refusal = intent_refusal({key: longest + "!"})
        assert refusal == f"the reason in {key} has {MAX_REASON_LENGTH + 1} characters; " \
                          f"at most {MAX_REASON_LENGTH} can be recorded"
