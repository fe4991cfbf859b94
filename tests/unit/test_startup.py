"""What a starting operator does with the listed requests: the deadlines it arms, the order it catches up in."""

from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core.startup import catch_up_order, deadlines, status_deadline

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
T = "2026-01-01T{:02d}:00:00Z".format
ENDED = {"state": "Expired", "expiresAt": T(0), "conditions": [
    {"type": "Expired", "status": "True", "lastTransitionTime": "2025-12-31T00:00:00Z"}]}


def at(hour: int) -> datetime:
    return NOW + timedelta(hours=hour)


def test_past_due_grants_come_first_then_by_deadline_and_ended_last():
    statuses = [
        ("ended", {"state": "Expired", "expiresAt": "2026-01-01T00:00:00Z"}),
        ("later", {"state": "Approved", "grantedAt": "2026-01-01T00:00:00Z", "expiresAt": "2026-01-01T05:00:00Z"}),
        ("fresh", {}),
        ("pending", {"state": "Pending", "requestExpiresAt": "2026-01-01T02:00:00Z"}),
        ("overdue", {"state": "Approved", "grantedAt": "2025-12-31T00:00:00Z", "expiresAt": "2026-01-01T01:00:00Z"}),
        ("scheduled", {"state": "Approved", "grantedAt": "2026-01-01T03:00:00Z", "expiresAt": "2026-01-01T09:00:00Z"}),
    ]
    # "scheduled" waits for its start at 03:00, before "later" ends at 05:00
    assert catch_up_order(statuses, NOW) == ["overdue", "pending", "scheduled", "later", "ended", "fresh"]


@pytest.mark.parametrize("status, deadline", [
    ({"state": "Pending", "requestExpiresAt": T(2)}, at(2)),
    ({"state": "Pending"}, None),
    ({"state": "Approved", "grantedAt": T(3), "expiresAt": T(9)}, at(3)),  # waits for its start
    ({"state": "Approved", "grantedAt": T(0), "expiresAt": T(9)}, at(9)),  # live: its end
    ({"state": "Approved", "grantedAt": "2025-12-31T00:00:00Z", "expiresAt": "2025-12-31T01:00:00Z"},
     at(-23)),  # ended while nobody was leading: past
    ({"state": "Approved"}, NOW),  # its times were lost: decide() counts them from now
    (ENDED, None), ({"state": "Denied"}, None), ({}, None), ({"state": "Bogus"}, None),
])
def test_a_status_implies_the_deadline_decide_wakes_it_by(status, deadline):
    assert status_deadline(status, NOW) == deadline


def test_the_deadlines_armed_at_start_are_soonest_first_with_an_ended_requests_removal():
    listed = [
        ("live", {"state": "Approved", "grantedAt": T(0), "expiresAt": T(9)}),
        ("ended", ENDED),
        ("fresh", {}),
        ("overdue", {"state": "Approved", "grantedAt": "2025-12-31T00:00:00Z", "expiresAt": T(0)}),
        ("pending", {"state": "Pending", "requestExpiresAt": T(2)}),
        ("also-overdue", {"state": "Approved", "grantedAt": "2025-12-31T00:00:00Z", "expiresAt": T(0)}),
    ]
    assert deadlines(listed, NOW, timedelta(days=30)) == [
        ("overdue", at(0)), ("also-overdue", at(0)), ("pending", at(2)), ("live", at(9)),
        ("ended", datetime(2026, 1, 30, tzinfo=timezone.utc)),
    ]
    assert ("ended", datetime(2026, 1, 30, tzinfo=timezone.utc)) not in deadlines(listed, NOW, None)


def test_ten_thousand_deadlines_are_computed_from_their_statuses_in_one_pass():
    listed = [(f"r{i}", {"state": "Approved", "grantedAt": T(0), "expiresAt": f"2026-01-01T05:{i % 60:02d}:00Z"})
              for i in range(10000)]
    armed = deadlines(listed, NOW, None)
    assert len(armed) == 10000
    assert [when for _, when in armed] == sorted(when for _, when in armed)
