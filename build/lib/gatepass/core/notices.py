"""Which notifications about a request are due now, and to whom: pure, no I/O, no clock.

A request's history is read from its status (``timeline``): Created, then a
Reviewed per counted review, then the outcomes its conditions record
(Approved or Denied, then Expired or Revoked), with Expiring in between while
an approved grant is within ``expiring_before`` of its end. Each has a key
("Created", "Reviewed/alice", "Approved", ...); ``due`` returns those whose key
is not among the keys already sent, each with the receivers its policy's
routes send it to, and when to look again (the Expiring moment).

Rules:
  * A route takes a request when it names none of the request's roles' (empty
    roles) or at least one of them, and an event when its events are empty or
    list it.
  * A route that did not ask for an event but asked for an earlier one still
    gets it as an update (``Target.update_only``): the Slack message it posted
    is kept up to date and the PagerDuty incident it opened is resolved, but
    nothing new is announced.
  * Expiring is due from max(grantedAt, expiresAt - expiring_before) until
    expiresAt, and only while the request is Approved; once it has ended there
    is nothing left to warn about.
  * Events that happened longer than ``horizon`` before now are not sent at all
    (a receiver hears nothing about last month's requests when notifications
    are first configured, or after a long outage).
  * ``ends_pending`` marks the first outcome, the moment the request stopped
    waiting for reviews (PagerDuty resolves the incident then).
  * Deleted is no event a route names: when a request is deleted while
    Pending, its Slack messages still show Approve and Deny, so each receiver
    that keeps something about it gets ``deletion``'s update saying it is gone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .timestamps import parse_optional_time, require_aware

CREATED, REVIEWED, APPROVED, DENIED = "Created", "Reviewed", "Approved", "Denied"
EXPIRING, EXPIRED, REVOKED = "Expiring", "Expired", "Revoked"
#: Every event, in the order they can happen.
EVENTS = (CREATED, REVIEWED, APPROVED, DENIED, EXPIRING, EXPIRED, REVOKED)
#: Events recorded by a condition of the same name, in the order they can happen.
OUTCOMES = (APPROVED, DENIED, EXPIRED, REVOKED)
DEFAULT_HORIZON = timedelta(hours=1)
#: The update about a request deleted while Pending (see ``deletion``); routes cannot ask for it.
DELETED = "Deleted"
PENDING = "Pending"


@dataclass(frozen=True)
class Route:
    """One entry of an AccessPolicy's spec.notify."""

    receiver: str
    roles: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    channel: str | None = None
    notify_reviewers: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.events) - set(EVENTS)
        if unknown:
            raise ValueError(f"route to {self.receiver!r}: unknown events {sorted(unknown)} "
                             f"(expected some of {', '.join(EVENTS)})")

    def takes(self, roles: Iterable[str]) -> bool:
        """Whether the route is about a request for ``roles``."""
        return not self.roles or not self.roles.isdisjoint(roles)

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


@dataclass(frozen=True)
class Target:
    """One receiver a notice goes to, through the routes that send it there."""

    receiver: str
    routes: tuple[Route, ...]
    update_only: bool = False  # none of the routes asked for the event; they only keep what they sent current


@dataclass(frozen=True)
class ReviewNote:
    """A counted review, as status.reviews records it."""

    reviewer: str
    decision: str
    reason: str = ""
    time: datetime | None = None
    via: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What notices are decided from: the request as its status last recorded it."""

    name: str
    roles: tuple[str, ...]
    state: str | None
    created: datetime | None = None
    reviews: tuple[ReviewNote, ...] = ()
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    outcomes: tuple[tuple[str, datetime | None], ...] = ()  # (Approved|Denied|Expired|Revoked, when), in order


@dataclass(frozen=True)
class Happening:
    """One event in a request's history."""

    event: str
    key: str
    time: datetime | None
    review: ReviewNote | None = None
    ends_pending: bool = False


@dataclass(frozen=True)
class Notice:
    """A notification to send now."""

    event: str
    key: str
    time: datetime | None  # when it happened (None: not recorded)
    targets: tuple[Target, ...]
    review: ReviewNote | None = None  # for Reviewed
    ends_pending: bool = False


@dataclass(frozen=True)
class Outlook:
    notices: tuple[Notice, ...] = ()
    wake_at: datetime | None = None  # look again then (the Expiring moment), None: no need
    receivers: frozenset[str] = field(default_factory=frozenset)  # every receiver the routes name


def review_key(reviewer: str) -> str:
    return f"{REVIEWED}/{reviewer}"


def expiring_at(snapshot: Snapshot, expiring_before: timedelta) -> datetime | None:
    """When Expiring becomes due for an approved grant (None: it never does)."""
    if snapshot.expires_at is None:
        return None
    at = snapshot.expires_at - expiring_before
    if snapshot.granted_at is not None:
        at = max(at, snapshot.granted_at)
    return at


def timeline(snapshot: Snapshot, now: datetime, expiring_before: timedelta,
             sent: Collection[str] = ()) -> list[Happening]:
    """Everything that has happened to the request by ``now``, in order. Expiring is in it while it is
    due, or when it was sent."""
    happened = [Happening(CREATED, CREATED, snapshot.created)]
    reviews = sorted(snapshot.reviews, key=lambda r: (r.time is None, r.time or now, r.reviewer))
    happened += [Happening(REVIEWED, review_key(r.reviewer), r.time, review=r) for r in reviews]
    outcomes = [(event, at) for event, at in snapshot.outcomes if event in OUTCOMES]
    first = True
    for event, at in outcomes:
        if event in (EXPIRED, REVOKED):
            happened += _expiring(snapshot, now, expiring_before, sent, before=at)
        happened.append(Happening(event, event, at, ends_pending=first))
        first = False
    if snapshot.state == APPROVED and not any(event in (EXPIRED, REVOKED) for event, _ in outcomes):
        happened += _expiring(snapshot, now, expiring_before, sent, before=None)
    return happened


def _expiring(snapshot: Snapshot, now: datetime, expiring_before: timedelta, sent: Collection[str],
              before: datetime | None) -> list[Happening]:
    at = expiring_at(snapshot, expiring_before)
    if at is None or not any(event == APPROVED for event, _ in snapshot.outcomes):
        return []
    if EXPIRING in sent:
        return [Happening(EXPIRING, EXPIRING, at)]
    live = snapshot.state == APPROVED and before is None and snapshot.expires_at is not None
    if live and at <= now < snapshot.expires_at:
        return [Happening(EXPIRING, EXPIRING, at)]
    return []


def route(routes: Iterable[Route], roles: Iterable[str], event: str,
          earlier: Collection[str] = ()) -> tuple[Target, ...]:
    """The receivers ``event`` goes to, in the order the routes first name them. ``earlier``: the events
    that happened before it, which make a route that asked for one of them follow up."""
    roles = tuple(roles)
    wanting: dict[str, list[Route]] = {}
    following: dict[str, list[Route]] = {}
    order: list[str] = []
    for candidate in routes:
        if not candidate.takes(roles):
            continue
        if candidate.wants(event):
            wanting.setdefault(candidate.receiver, []).append(candidate)
        elif candidate.events and not candidate.events.isdisjoint(earlier):
            following.setdefault(candidate.receiver, []).append(candidate)
        else:
            continue
        if candidate.receiver not in order:
            order.append(candidate.receiver)
    return tuple(
        Target(name, tuple(wanting[name]), False) if name in wanting else Target(name, tuple(following[name]), True)
        for name in order
    )


def due(snapshot: Snapshot, routes: Iterable[Route], sent: Collection[str], now: datetime,
        expiring_before: timedelta, horizon: timedelta = DEFAULT_HORIZON) -> Outlook:
    """The notices to send now about the request, and when to look again."""
    now = require_aware(now, "now")
    routes = tuple(routes)
    if not routes or snapshot.state is None:
        return Outlook(receivers=frozenset(r.receiver for r in routes))
    sent = frozenset(sent)
    history = timeline(snapshot, now, expiring_before, sent)
    notices: list[Notice] = []
    for index, happening in enumerate(history):
        if happening.key in sent:
            continue
        if happening.time is not None and happening.time < now - horizon:
            continue
        earlier = {h.event for h in history[:index]}
        targets = route(routes, snapshot.roles, happening.event, earlier)
        if targets:
            notices.append(Notice(happening.event, happening.key, happening.time, targets, happening.review,
                                  happening.ends_pending))
    wake_at = None
    at = expiring_at(snapshot, expiring_before)
    if (snapshot.state == APPROVED and at is not None and now < at < snapshot.expires_at
            and EXPIRING not in sent and route(routes, snapshot.roles, EXPIRING, {h.event for h in history})):
        wake_at = at
    return Outlook(tuple(notices), wake_at, frozenset(r.receiver for r in routes))


def deletion(snapshot: Snapshot, receivers: Iterable[str]) -> Notice | None:
    """The update about a request that was deleted, as ``snapshot`` last saw it, to ``receivers`` (those that
    keep something about it): None unless it was still Pending, since a decided request's messages show no
    buttons and already tell how it ended."""
    if snapshot.state != PENDING:
        return None
    targets = tuple(Target(receiver, (), update_only=True) for receiver in dict.fromkeys(receivers))
    return Notice(DELETED, DELETED, None, targets) if targets else None


# -- reading the objects -------------------------------------------------------------------------


def routes_of(policy: Mapping[str, Any] | None) -> tuple[Route, ...]:
    """The routes of an AccessPolicy object (its spec.notify); entries that make no sense are left out."""
    result = []
    for entry in ((policy or {}).get("spec") or {}).get("notify") or ():
        if not isinstance(entry, Mapping) or not entry.get("receiver"):
            continue
        try:
            result.append(Route(
                receiver=str(entry["receiver"]),
                roles=frozenset(entry.get("roles") or ()),
                events=frozenset(entry.get("events") or ()),
                channel=entry.get("channel") or None,
                notify_reviewers=entry.get("notifyReviewers", True) is not False,
            ))
        except ValueError:
            continue
    return tuple(result)


def snapshot(body: Mapping[str, Any]) -> Snapshot:
    """The Snapshot of an AccessRequest object."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    reviews = tuple(
        ReviewNote(reviewer=str(r.get("reviewer", "")), decision=str(r.get("decision", "")),
                   reason=str(r.get("reason") or ""), time=parse_optional_time(r.get("time")),
                   via=str(r.get("via") or ""))
        for r in status.get("reviews") or () if isinstance(r, Mapping) and r.get("reviewer")
    )
    true = {c.get("type"): parse_optional_time(c.get("lastTransitionTime"))
            for c in status.get("conditions") or () if isinstance(c, Mapping) and c.get("status") == "True"}
    return Snapshot(
        name=str(meta.get("name", "")),
        roles=tuple(spec.get("roles") or ()),
        state=status.get("state"),
        created=parse_optional_time(meta.get("creationTimestamp")),
        reviews=reviews,
        granted_at=parse_optional_time(status.get("grantedAt")),
        expires_at=parse_optional_time(status.get("expiresAt")),
        outcomes=tuple((event, true[event]) for event in OUTCOMES if event in true),
    )


def sent_keys(body: Mapping[str, Any]) -> list[str]:
    """status.notifications.sent of an AccessRequest object."""
    notifications = (body.get("status") or {}).get("notifications") or {}
    return [str(k) for k in notifications.get("sent") or ()]
