"""Small builders for the core's values, shared by the core's unit tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gatepass.core.types import (Identity, Policy, Request, RequestableRole, Review, Revocation,
                                 Subjects, Threshold)

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=timezone.utc)


def at(seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> datetime:
    """T0 plus an offset."""
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours)


def person(username: str, *groups: str) -> Identity:
    return Identity(username, frozenset(groups))


BOB = person("bob", "developers", "system:authenticated")


def dba_policy(**changes) -> Policy:
    fields = dict(
        name="demo-dba",
        requesters=Subjects.of(groups=["developers"]),
        roles=(
            RequestableRole("dba", "ClusterRole", "dba", ("payments", "billing")),
            RequestableRole("view", "ClusterRole", "view", ("payments",), cluster_wide=True),
            RequestableRole("deployer", "Role", "deployer", ("payments",)),
        ),
        reviewers=Subjects.of(users=["alice", "ivan"], groups=["dba-leads"]),
        thresholds=(),
        denials=1,
        max_duration=timedelta(hours=8),
        request_ttl=timedelta(hours=1),
        require_reason=True,
    )
    fields.update(changes)
    return Policy(**fields)


def two_leads_policy(**changes) -> Policy:
    return dba_policy(
        thresholds=(Threshold("leads", 2, Subjects.of(groups=["dba-leads"])),), **changes)


def dba_request(**changes) -> Request:
    fields = dict(
        name="bob-dba",
        uid="0b0d2a1e-0000-4000-8000-000000000001",
        requester=BOB,
        roles=("dba",),
        namespaces=("payments",),
        duration=timedelta(hours=1),
        reason="ticket #123",
        created=T0,
    )
    fields.update(changes)
    return Request(**fields)


def approve(who: Identity | str, when: datetime, reason: str = "ok", **changes) -> Review:
    reviewer = person(who) if isinstance(who, str) else who
    return Review(reviewer, "Approve", reason, when, **changes)


def deny(who: Identity | str, when: datetime, reason: str = "no", **changes) -> Review:
    reviewer = person(who) if isinstance(who, str) else who
    return Review(reviewer, "Deny", reason, when, **changes)


def revoke(by: str, when: datetime, reason: str = "done") -> Revocation:
    return Revocation(by, reason, when)
