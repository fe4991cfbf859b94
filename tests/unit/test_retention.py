from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core.retention import ended_at, removal_time

T = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)


def condition(type_: str, status: str, when: datetime) -> dict:
    return {"type": type_, "status": status, "lastTransitionTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


@pytest.mark.parametrize("final", ["Denied", "Expired", "Revoked"])
def test_an_ended_request_is_removed_after_the_retention(final):
    status = {"conditions": [condition("Approved", "True", T), condition(final, "True", T + timedelta(hours=1))]}
    assert ended_at(status) == T + timedelta(hours=1)
    assert removal_time(status, timedelta(days=30)) == T + timedelta(hours=1, days=30)


def test_a_live_request_is_never_removed():
    status = {"conditions": [condition("Approved", "True", T), condition("Expired", "False", T)]}
    assert ended_at(status) is None
    assert removal_time(status, timedelta(days=1)) is None


def test_no_retention_keeps_requests_forever():
    status = {"conditions": [condition("Denied", "True", T)]}
    assert removal_time(status, None) is None
