"""gatepass.core.notices: which notifications are due, to whom, and when to look again."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core.notices import (APPROVED, CREATED, DELETED, DENIED, EVENTS, EXPIRED, EXPIRING, REVIEWED,
                                   REVOKED, Notice, ReviewNote, Route, Snapshot, Target, deletion, due,
                                   expiring_at, review_key, route, routes_of, sent_keys, snapshot, timeline)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
BEFORE = timedelta(minutes=10)
ALL = (Route("hook"),)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def review(reviewer: str, minutes: float, decision: str = "Approve") -> ReviewNote:
    return ReviewNote(reviewer, decision, "ok", at(minutes), "annotation")


# One request per way through the lifecycle: created at 0, reviewed at 1 and 2, decided at 2,
# an hour's grant from 2 to 62, revoked at 30.
PENDING = Snapshot("r", ("dba",), "Pending", T0)
REVIEWED_ONCE = Snapshot("r", ("dba",), "Pending", T0, (review("alice", 1),))
GRANTED = Snapshot("r", ("dba",), "Approved", T0, (review("alice", 1), review("ivan", 2)),
                   granted_at=at(2), expires_at=at(62), outcomes=((APPROVED, at(2)),))
ENDED = Snapshot("r", ("dba",), "Expired", T0, GRANTED.reviews, granted_at=at(2), expires_at=at(62),
                 outcomes=((APPROVED, at(2)), (EXPIRED, at(62))))
REVOKED_GRANT = Snapshot("r", ("dba",), "Revoked", T0, GRANTED.reviews, granted_at=at(2), expires_at=at(62),
                         outcomes=((APPROVED, at(2)), (REVOKED, at(30))))
DENIED_REQUEST = Snapshot("r", ("dba",), "Denied", T0, (review("alice", 1, "Deny"),),
                          outcomes=((DENIED, at(1)),))
TIMED_OUT = Snapshot("r", ("dba",), "Expired", T0, outcomes=((EXPIRED, at(60)),))
WITHDRAWN = Snapshot("r", ("dba",), "Revoked", T0, outcomes=((REVOKED, at(5)),))


def keys(outlook) -> list[str]:
    return [notice.key for notice in outlook.notices]


# -- routes ----------------------------------------------------------------------------------------------


def test_a_route_takes_requests_by_role():
    assert Route("r").takes(["dba"])
    assert Route("r", roles=frozenset({"dba", "view"})).takes(["view"])
    assert not Route("r", roles=frozenset({"dba"})).takes(["view", "edit"])


def test_a_route_wants_events_it_lists_or_all():
    assert all(Route("r").wants(event) for event in EVENTS)
    only = Route("r", events=frozenset({CREATED, APPROVED}))
    assert [e for e in EVENTS if only.wants(e)] == [CREATED, APPROVED]


def test_a_route_with_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown events \\['Granted'\\]"):
        Route("r", events=frozenset({"Granted"}))


def test_routing_groups_by_receiver_in_order():
    routes = (Route("slack", channel="#a"), Route("hook"), Route("slack", channel="#b"))
    assert route(routes, ["dba"], CREATED) == (
        Target("slack", (routes[0], routes[2])), Target("hook", (routes[1],)))


def test_routing_leaves_out_other_roles_and_events():
    routes = (Route("a", roles=frozenset({"view"})), Route("b", events=frozenset({DENIED})), Route("c"))
    assert route(routes, ["dba"], APPROVED) == (Target("c", (routes[2],)),)


def test_a_route_that_asked_for_an_earlier_event_follows_up():
    routes = (Route("slack", events=frozenset({CREATED})), Route("pd", events=frozenset({APPROVED})))
    assert route(routes, ["dba"], EXPIRED, earlier={CREATED, APPROVED}) == (
        Target("slack", (routes[0],), update_only=True), Target("pd", (routes[1],), update_only=True))
    assert route(routes, ["dba"], REVIEWED, earlier={CREATED}) == (Target("slack", (routes[0],), True),)
    # One route that wants it is enough for the receiver to be told, not just updated.
    both = (Route("slack", events=frozenset({CREATED})), Route("slack", events=frozenset({EXPIRED}), channel="#x"))
    assert route(both, ["dba"], EXPIRED, earlier={CREATED}) == (Target("slack", (both[1],), False),)


def test_a_route_for_other_roles_does_not_follow_up():
    routes = (Route("slack", roles=frozenset({"view"}), events=frozenset({CREATED})),)
    assert route(routes, ["dba"], EXPIRED, earlier={CREATED}) == ()


# -- the history -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("snap, now, sent, events", [
    (PENDING, 0.5, (), [CREATED]),
    (REVIEWED_ONCE, 1.5, (), [CREATED, REVIEWED]),
    (GRANTED, 10, (), [CREATED, REVIEWED, REVIEWED, APPROVED]),
    (GRANTED, 52, (), [CREATED, REVIEWED, REVIEWED, APPROVED, EXPIRING]),
    (ENDED, 63, (), [CREATED, REVIEWED, REVIEWED, APPROVED, EXPIRED]),
    (ENDED, 63, (EXPIRING,), [CREATED, REVIEWED, REVIEWED, APPROVED, EXPIRING, EXPIRED]),
    (REVOKED_GRANT, 31, (), [CREATED, REVIEWED, REVIEWED, APPROVED, REVOKED]),
    (DENIED_REQUEST, 2, (), [CREATED, REVIEWED, DENIED]),
    (TIMED_OUT, 61, (), [CREATED, EXPIRED]),
    (WITHDRAWN, 6, (), [CREATED, REVOKED]),
])
def test_the_timeline_of_each_way_through_the_lifecycle(snap, now, sent, events):
    assert [h.event for h in timeline(snap, at(now), BEFORE, sent)] == events


def test_reviews_come_in_the_order_they_were_made():
    snap = Snapshot("r", ("dba",), "Pending", T0, (review("zed", 1), review("amy", 3), review("bob", 1)))
    assert [h.key for h in timeline(snap, at(5), BEFORE)][1:] == ["Reviewed/bob", "Reviewed/zed", "Reviewed/amy"]


def test_only_the_first_outcome_ends_pending():
    assert [h.event for h in timeline(ENDED, at(63), BEFORE) if h.ends_pending] == [APPROVED]
    assert [h.event for h in timeline(TIMED_OUT, at(61), BEFORE) if h.ends_pending] == [EXPIRED]
    assert [h.event for h in timeline(WITHDRAWN, at(6), BEFORE) if h.ends_pending] == [REVOKED]
    assert [h.event for h in timeline(DENIED_REQUEST, at(2), BEFORE) if h.ends_pending] == [DENIED]


# -- what is due -----------------------------------------------------------------------------------------


def test_nothing_without_routes_or_before_the_first_status():
    assert due(GRANTED, (), (), at(10), BEFORE).notices == ()
    assert due(Snapshot("r", ("dba",), None, T0), ALL, (), at(0), BEFORE).notices == ()


def test_a_new_request_is_announced_once():
    outlook = due(PENDING, ALL, (), at(0.1), BEFORE)
    assert keys(outlook) == [CREATED]
    [notice] = outlook.notices
    assert (notice.event, notice.time, notice.targets) == (CREATED, T0, (Target("hook", ALL),))
    assert due(PENDING, ALL, [CREATED], at(0.2), BEFORE).notices == ()


def test_each_review_is_its_own_notice_with_the_review():
    outlook = due(GRANTED, ALL, [CREATED], at(3), BEFORE)
    assert keys(outlook) == ["Reviewed/alice", "Reviewed/ivan", APPROVED]
    assert outlook.notices[0].review == review("alice", 1)
    assert review_key("system:serviceaccount:ci:bot") == "Reviewed/system:serviceaccount:ci:bot"


def test_catching_up_sends_everything_missed_in_order():
    outlook = due(ENDED, ALL, (), at(63), BEFORE, horizon=timedelta(hours=2))
    assert keys(outlook) == [CREATED, "Reviewed/alice", "Reviewed/ivan", APPROVED, EXPIRED]


def test_events_older_than_the_horizon_are_not_sent():
    assert keys(due(ENDED, ALL, (), at(63), BEFORE)) == [EXPIRED]  # the rest happened over an hour ago
    assert keys(due(ENDED, ALL, (), at(63 + 61), BEFORE)) == []
    assert keys(due(ENDED, ALL, (), at(63 + 61), BEFORE, horizon=timedelta(days=1))) == [
        CREATED, "Reviewed/alice", "Reviewed/ivan", APPROVED, EXPIRED]


def test_an_event_with_no_recorded_time_is_sent():
    snap = Snapshot("r", ("dba",), "Pending", None)
    assert keys(due(snap, ALL, (), at(600), BEFORE)) == [CREATED]


def test_expiring_is_armed_then_due_then_gone():
    outlook = due(GRANTED, ALL, [CREATED, "Reviewed/alice", "Reviewed/ivan", APPROVED], at(10), BEFORE)
    assert outlook.notices == () and outlook.wake_at == at(52)
    sent = [CREATED, "Reviewed/alice", "Reviewed/ivan", APPROVED]
    assert keys(due(GRANTED, ALL, sent, at(52), BEFORE)) == [EXPIRING]
    assert due(GRANTED, ALL, sent, at(52), BEFORE).wake_at is None
    assert due(GRANTED, ALL, sent + [EXPIRING], at(55), BEFORE) == due(GRANTED, ALL, sent + [EXPIRING], at(55),
                                                                       BEFORE)
    assert due(GRANTED, ALL, sent + [EXPIRING], at(55), BEFORE).notices == ()
    # Missed (the operator was down until after expiresAt): the grant has ended, nothing to warn about.
    assert keys(due(ENDED, ALL, sent, at(63), BEFORE)) == [EXPIRED]


def test_expiring_at_once_when_the_grant_is_shorter_than_the_warning():
    short = Snapshot("r", ("dba",), "Approved", T0, granted_at=at(2), expires_at=at(7),
                     outcomes=((APPROVED, at(2)),))
    assert expiring_at(short, BEFORE) == at(2)
    assert keys(due(short, ALL, [CREATED, APPROVED], at(2), BEFORE)) == [EXPIRING]


def test_expiring_waits_for_a_later_start():
    later = Snapshot("r", ("dba",), "Approved", T0, granted_at=at(120), expires_at=at(125),
                     outcomes=((APPROVED, at(2)),))
    assert due(later, ALL, [CREATED, APPROVED], at(3), BEFORE).wake_at == at(120)


def test_no_warning_when_expiring_before_is_zero():
    sent = [CREATED, "Reviewed/alice", "Reviewed/ivan", APPROVED]
    outlook = due(GRANTED, ALL, sent, at(61.9), timedelta(0))
    assert outlook.notices == () and outlook.wake_at is None


def test_no_wake_up_when_no_route_would_take_expiring():
    routes = (Route("hook", events=frozenset({DENIED})), Route("other", roles=frozenset({"view"})))
    sent = [CREATED, "Reviewed/alice", "Reviewed/ivan", APPROVED]
    assert due(GRANTED, routes, sent, at(10), BEFORE).wake_at is None
    follows = (Route("slack", events=frozenset({CREATED})),)
    assert due(GRANTED, follows, sent, at(10), BEFORE).wake_at == at(52)


def test_no_wake_up_once_ended():
    assert due(ENDED, ALL, [], at(63), BEFORE).wake_at is None
    assert due(DENIED_REQUEST, ALL, [], at(2), BEFORE).wake_at is None


def test_sent_keys_are_never_sent_again_whatever_the_time():
    every = [h.key for h in timeline(ENDED, at(63), BEFORE, [EXPIRING])]
    for minutes in (0, 30, 52, 63, 120):
        assert due(ENDED, ALL, every, at(minutes), BEFORE).notices == ()


def test_routes_filter_each_notice_and_follow_up():
    slack = Route("slack", events=frozenset({CREATED}))
    pd = Route("pd", events=frozenset({CREATED}), roles=frozenset({"dba"}))
    hook = Route("hook", events=frozenset({APPROVED, EXPIRED}))
    outlook = due(ENDED, (slack, pd, hook), (), at(63), BEFORE, horizon=timedelta(days=1))
    by_key = {n.key: n.targets for n in outlook.notices}
    assert by_key[CREATED] == (Target("slack", (slack,)), Target("pd", (pd,)))
    assert by_key["Reviewed/alice"] == (Target("slack", (slack,), True), Target("pd", (pd,), True))
    assert by_key[APPROVED] == (Target("slack", (slack,), True), Target("pd", (pd,), True), Target("hook", (hook,)))
    assert by_key[EXPIRED][-1] == Target("hook", (hook,))


PATHS = {"pending": PENDING, "reviewed": REVIEWED_ONCE, "granted": GRANTED, "ended": ENDED,
         "revoked-grant": REVOKED_GRANT, "denied": DENIED_REQUEST, "timed-out": TIMED_OUT, "withdrawn": WITHDRAWN}


def _possible(path: str, now: float) -> bool:
    """Whether the request could look like PATHS[path] at minute ``now`` (nothing in it is in the future)."""
    return all(h.time is None or h.time <= at(now) for h in timeline(PATHS[path], at(now), BEFORE))


@pytest.mark.parametrize("event, path, now", [
    (event, path, now) for event, path, now in itertools.product(EVENTS, PATHS, [0.5, 3, 53, 63])
    if _possible(path, now)])
def test_every_event_filter_on_every_lifecycle_path(event, path, now):
    """A route for one event gets that event's notices, and after it follow-ups of every later one."""
    snap = PATHS[path]
    history = timeline(snap, at(now), BEFORE)
    single = Route("r", events=frozenset({event}))
    outlook = due(snap, (single,), (), at(now), BEFORE, horizon=timedelta(days=1))
    told = [n.event for n in outlook.notices if not n.targets[0].update_only]
    assert told == [h.event for h in history if h.event == event]
    first = next((i for i, h in enumerate(history) if h.event == event), None)
    updates = [n.key for n in outlook.notices if n.targets[0].update_only]
    assert updates == ([] if first is None else [h.key for h in history[first + 1:] if h.event != event])


# -- reading the objects ---------------------------------------------------------------------------------


def test_routes_of_a_policy():
    policy = {"spec": {"notify": [
        {"receiver": "slack", "roles": ["dba"], "events": ["Created", "Approved"], "channel": "#dba",
         "notifyReviewers": False},
        {"receiver": "hook"},
        {"receiver": "bad", "events": ["Granted"]},  # the CRD refuses it; the operator leaves it out
        {"roles": ["x"]},
    ]}}
    assert routes_of(policy) == (
        Route("slack", frozenset({"dba"}), frozenset({CREATED, APPROVED}), "#dba", False), Route("hook"))
    assert routes_of(None) == () and routes_of({"spec": {}}) == ()


def test_snapshot_of_a_request():
    body = {
        "metadata": {"name": "bob-dba", "creationTimestamp": "2026-11-24T09:00:00Z"},
        "spec": {"roles": ["dba"]},
        "status": {
            "state": "Revoked",
            "reviews": [{"reviewer": "alice", "decision": "Approve", "reason": "ok", "time": "2026-11-24T09:01:00Z",
                         "via": "AccessReview"}],
            "grantedAt": "2026-11-24T09:02:00Z", "expiresAt": "2026-11-24T10:02:00Z",
            "conditions": [
                {"type": "Revoked", "status": "True", "lastTransitionTime": "2026-11-24T09:30:00Z"},
                {"type": "Approved", "status": "True", "lastTransitionTime": "2026-11-24T09:02:00Z"},
                {"type": "Denied", "status": "False", "lastTransitionTime": "2026-11-24T09:02:00Z"},
                {"type": "Granted", "status": "False", "lastTransitionTime": "2026-11-24T09:30:00Z"},
            ],
            "notifications": {"sent": ["Created", "Reviewed/alice"]},
        },
    }
    assert snapshot(body) == Snapshot(
        "bob-dba", ("dba",), "Revoked", T0, (ReviewNote("alice", "Approve", "ok", at(1), "AccessReview"),),
        granted_at=at(2), expires_at=at(62), outcomes=((APPROVED, at(2)), (REVOKED, at(30))))
    assert sent_keys(body) == ["Created", "Reviewed/alice"]
    assert snapshot({}) == Snapshot("", (), None)
    assert sent_keys({}) == []


def test_a_request_deleted_while_pending_gets_the_deleted_update_and_nothing_else_does():
    notice = deletion(REVIEWED_ONCE, ["slack", "hook", "slack"])
    assert notice == Notice(DELETED, DELETED, None, (Target("slack", (), True), Target("hook", (), True)))
    assert not notice.ends_pending  # PagerDuty is not told: it is no outcome
    assert deletion(PENDING, []) is None  # nobody keeps anything about it
    for decided in (GRANTED, ENDED, REVOKED_GRANT, DENIED_REQUEST, TIMED_OUT, WITHDRAWN):
        assert deletion(decided, ["slack"]) is None  # its messages already show how it ended, without buttons
    assert DELETED not in EVENTS
    with pytest.raises(ValueError, match="unknown events"):
        Route("slack", events=frozenset({DELETED}))  # no route can ask for it
