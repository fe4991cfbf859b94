from gatepass.core.startup import catch_up_order


def test_past_due_grants_come_first_then_by_deadline_and_ended_last():
    statuses = [
        ("ended", {"state": "Expired", "expiresAt": "2026-01-01T00:00:00Z"}),
        ("later", {"state": "Approved", "grantedAt": "2026-01-01T00:00:00Z", "expiresAt": "2026-01-01T05:00:00Z"}),
        ("fresh", {}),
        ("pending", {"state": "Pending", "requestExpiresAt": "2026-01-01T02:00:00Z"}),
        ("overdue", {"state": "Approved", "grantedAt": "2025-12-31T00:00:00Z", "expiresAt": "2026-01-01T01:00:00Z"}),
        ("scheduled", {"state": "Approved", "grantedAt": "2026-01-01T03:00:00Z", "expiresAt": "2026-01-01T09:00:00Z"}),
    ]
    assert catch_up_order(statuses) == ["overdue", "pending", "later", "scheduled", "ended", "fresh"]
