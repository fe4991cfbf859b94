"""What the request list, a request's page and the active grants show: plain values for the templates.

Pure functions over the API's objects (plain dicts), the readable policies, the signed-in user and an
explicit ``now``: no clock, no I/O. Domain answers come from ``gatepass.core`` and the plugin
(``commands.reviewable``, ``output.state``, the tally); this module only arranges them for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from gatepass.core import ledger
from gatepass.core.conditions import DENIED, EXPIRED, GRANTED, REVOKED, get_condition, is_true
from gatepass.core.lifecycle import TERMINAL, State
from gatepass.core.tally import tally
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.types import Identity, Policy, Review, Via

from .. import output
from ..commands import by_creation, governing_policy, requester_of, reviewable

#: The list's tabs, in the order they are shown, with their labels.
TABS: tuple[tuple[str, str], ...] = (("mine", "Mine"), ("review", "Needs my review"), ("all", "All"))
TAB_NAMES = tuple(name for name, _ in TABS)
STATES: tuple[str, ...] = tuple(state.value for state in State)
#: Rows on one page of the list (newest first; "Newer" and "Older" lead to the others).
PAGE_SIZE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- times -----------------------------------------------------------------------------------------


def remaining_text(deadline: datetime, now: datetime) -> str:
    """'in 1h 02m', 'in 42s'; 'passed' once ``deadline`` is not after ``now``."""
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return "passed"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"in {hours}h {minutes:02d}m"
    if minutes:
        return f"in {minutes}m {seconds:02d}s"
    return f"in {seconds}s"


@dataclass(frozen=True)
class Countdown:
    """A moment people wait for: shown as a UTC time, and (while ahead) counted down by app.js."""

    label: str
    deadline: str  # RFC 3339, for the data-deadline attribute
    at: str  # '2026-11-24 10:30:00 UTC'
    remaining: str  # as of the page's ``now``; app.js keeps it current
    ahead: bool


def countdown(label: str, value: object, now: datetime) -> Countdown | None:
    moment = parse_optional_time(value)
    if moment is None:
        return None
    return Countdown(label, str(value), output.utc_z(moment), remaining_text(moment, now), moment > now)


# -- the list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The list's filters, as the GET form sends them; empty means any."""

    state: str = ""
    role: str = ""
    namespace: str = ""
    requester: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        state = (query.get("state") or "").strip()
        return cls(state=state if state in STATES else "", role=(query.get("role") or "").strip(),
                   namespace=(query.get("namespace") or "").strip(),
                   requester=(query.get("requester") or "").strip())

    def matches(self, obj: Mapping) -> bool:
        spec = obj.get("spec") or {}
        return ((not self.state or output.state(obj).value == self.state)
                and (not self.role or self.role in (spec.get("roles") or ()))
                and (not self.namespace or self.namespace in namespaces_of(obj))
                and (not self.requester or requester_of(obj) == self.requester))

    def query(self) -> dict[str, str]:
        return {key: value for key, value in (("state", self.state), ("role", self.role),
                                               ("namespace", self.namespace), ("requester", self.requester))
                if value}


def namespaces_of(obj: Mapping) -> tuple[str, ...]:
    """Every namespace a request names: its roles' and its resource rules'."""
    spec = obj.get("spec") or {}
    return tuple(dict.fromkeys([*(spec.get("namespaces") or ()),
                                *(ask.namespace for ask in output.asks(obj) if ask.namespace)]))


@dataclass(frozen=True)
class Row:
    name: str
    requester: str
    roles: str
    namespaces: str
    state: str
    created: str
    expires: Countdown | None
    reviewable: bool


@dataclass(frozen=True)
class Paging:
    """Which page of a tab's matching requests is shown: ``page`` of ``pages`` (1-based), rows ``first`` to
    ``last`` of ``total`` (1-based; 0 and 0 when none match)."""

    page: int
    pages: int
    total: int
    first: int
    last: int

    @property
    def newer(self) -> int | None:
        """The page of newer requests, if any."""
        return self.page - 1 if self.page > 1 else None

    @property
    def older(self) -> int | None:
        """The page of older requests, if any."""
        return self.page + 1 if self.page < self.pages else None


def page_of(value: str | None) -> int:
    """The page a query asks for: a positive integer, else 1."""
    try:
        page = int((value or "").strip())
    except ValueError:
        return 1
    return page if page > 0 else 1


def paging(total: int, page: int, size: int = PAGE_SIZE) -> Paging:
    """Page ``page`` of ``total`` rows, ``size`` to a page; a page beyond the last is the last."""
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    first = (page - 1) * size
    last = min(first + size, total)
    return Paging(page=page, pages=pages, total=total, first=first + 1 if total else 0, last=last)


@dataclass(frozen=True)
class ListScreen:
    tab: str
    filters: Filters
    rows: tuple[Row, ...]
    paging: Paging
    #: How many requests each tab holds before the filters, by tab name.
    counts: Mapping[str, int]
    roles: tuple[str, ...]  # every role named by a request the user sees, for the filter's suggestions
    namespaces: tuple[str, ...]
    requesters: tuple[str, ...]

    @property
    def empty_text(self) -> str:
        if self.tab == "review":
            return "Nothing needs your review."
        return "No access requests match." if self.filters.query() else "No access requests found."


def tab_of(value: str | None) -> str:
    return value if value in TAB_NAMES else "mine"


def in_tab(tab: str, obj: Mapping, me: Identity, may_review: bool) -> bool:
    """Whether ``obj`` is listed under ``tab`` for ``me`` (``may_review``: commands.reviewable's answer)."""
    if tab == "mine":
        return requester_of(obj) == me.username
    if tab == "review":
        return may_review
    return True


def row(obj: Mapping, may_review: bool, now: datetime) -> Row:
    status = obj.get("status") or {}
    current = output.state(obj)
    roles, namespaces = output.access_cells(obj, ", ")
    return Row(
        name=obj["metadata"]["name"],
        requester=requester_of(obj),
        roles=roles,
        namespaces=namespaces,
        state=current.value,
        created=output.utc_z(parse_optional_time(obj["metadata"].get("creationTimestamp"))),
        expires=(countdown("Request expires", status.get("requestExpiresAt"), now) if current is State.Pending
                 else countdown("Access expires", status.get("expiresAt"), now) if current is State.Approved
                 else None),
        reviewable=may_review,
    )


def list_screen(objs: Iterable[Mapping], me: Identity, policies: Sequence[Policy], tab: str,
                filters: Filters, now: datetime, *, page: int = 1, size: int = PAGE_SIZE) -> ListScreen:
    """Page ``page`` (``size`` rows) of the requests of ``tab`` that pass ``filters``, newest first; the
    tab counts and the filters' suggestions are over every request."""
    marked = [(obj, reviewable(obj, me, policies)) for obj in by_creation(objs)]
    objs = [obj for obj, _ in marked]
    counts = {name: sum(1 for obj, may in marked if in_tab(name, obj, me, may)) for name in TAB_NAMES}
    chosen = [(obj, may) for obj, may in reversed(marked) if in_tab(tab, obj, me, may) and filters.matches(obj)]
    shown = paging(len(chosen), page, size)
    specs = [obj.get("spec") or {} for obj in objs]
    return ListScreen(
        tab=tab, filters=filters, counts=counts, paging=shown,
        rows=tuple(row(obj, may, now) for obj, may in chosen[max(shown.first - 1, 0):shown.last]),
        roles=tuple(sorted({role for spec in specs for role in spec.get("roles") or ()})),
        namespaces=tuple(sorted({ns for obj in objs for ns in namespaces_of(obj)})),
        requesters=tuple(sorted({requester_of(obj) for obj in objs} - {""})),
    )


# -- one request -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """One threshold: 'dba-leads: 1 of 2 — alice'."""

    name: str
    approvals: int
    required: int
    approvers: tuple[str, ...]
    met: bool

    @property
    def text(self) -> str:
        who = f" — {', '.join(self.approvers)}" if self.approvers else ""
        return f"{self.name}: {self.approvals} of {self.required}{who}"


@dataclass(frozen=True)
class Event:
    """One line of the timeline: the request and its reason, each review, the revocation."""

    time: str  # '2026-11-24 09:30:00 UTC'
    who: str
    what: str  # 'requested', 'approved', 'denied', 'revoked'
    reason: str  # user-written: rendered as text, inside hx-disable


@dataclass(frozen=True)
class Offer:
    """What the Approve and Deny buttons decide, restated beside them."""

    roles: str
    namespaces: str
    duration: str
    resources: tuple[str, ...] = ()  # each resource rule: 'get pods/log db-1 in payments'


@dataclass(frozen=True)
class RequestScreen:
    name: str
    state: str
    summary: str  # 'bob requests dba in payments for 1h, starting once approved'
    final: bool
    policy: str
    countdowns: tuple[Countdown, ...]
    progress: tuple[Progress, ...]
    denials: str  # '0 of 1 denials', '' without a policy
    timeline: tuple[Event, ...]
    outcome: str  # why it was denied, revoked, expired or is not granted; '' otherwise
    granted_at: str
    expires_at: str
    bindings: tuple[str, ...]
    review: Offer | None
    droppable: bool
    suggested_reviewers: str = ""
    resources: tuple[str, ...] = ()  # each resource rule asked for: exactly which verbs on which objects


def _reviews(obj: Mapping) -> list[Review]:
    """Every review the user can see: those the operator counted (status.reviews), then the ledger's that it
    has not recorded yet."""
    found = []
    for record in (obj.get("status") or {}).get("reviews") or ():
        moment = parse_optional_time(record.get("time"))
        if moment is None:
            continue
        try:
            found.append(Review(reviewer=Identity(str(record.get("reviewer") or ""),
                                                  frozenset(record.get("groups") or ())),
                                decision=record.get("decision"), reason=str(record.get("reason") or ""),
                                time=moment, via=record.get("via") or Via.ANNOTATION,
                                review=str(record.get("review") or "")))
        except (ValueError, TypeError):
            continue
    recorded = {(r.reviewer.username, r.decision) for r in found}
    found += [r for r in ledger.reviews((obj.get("metadata") or {}).get("annotations"))
              if (r.reviewer.username, r.decision) not in recorded]
    return sorted(found, key=lambda r: (r.time, r.reviewer.username))


def _who(review: Review) -> str:
    via = review.via
    return f"{review.reviewer.username} (via {via})" if via in (Via.SLACK, Via.RULE) else review.reviewer.username


def timeline(obj: Mapping) -> tuple[Event, ...]:
    """The request (with its reason), then each review and the revocation, in time order."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    created = parse_optional_time(meta.get("creationTimestamp"))
    events: list[tuple[datetime | None, Event]] = [
        (created, Event(output.utc_z(created), requester_of(obj), "requested", str(spec.get("reason") or "")))]
    for review in _reviews(obj):
        verb = "approved" if review.decision == "Approve" else "denied"
        events.append((review.time, Event(output.utc_z(review.time), _who(review), verb, review.reason)))
    if status.get("revokedBy"):
        when = parse_optional_time((get_condition(status.get("conditions"), REVOKED) or {})
                                   .get("lastTransitionTime"))
        events.append((when, Event(output.utc_z(when), str(status["revokedBy"]), "revoked",
                                   str(status.get("revokeReason") or ""))))
    rest = sorted(events[1:], key=lambda pair: (pair[0] is None, pair[0] or _EPOCH))
    return tuple(event for _, event in events[:1] + rest)


def progress(obj: Mapping, policy: Policy) -> tuple[tuple[Progress, ...], str]:
    """Each threshold's counted approvals and approvers, and the denials, as the operator's tally counts."""
    status = obj.get("status") or {}
    requester = Identity(requester_of(obj),
                         frozenset(((obj.get("spec") or {}).get("requester") or {}).get("groups") or ()))
    counted = tally(policy, requester, _reviews(obj), deadline=parse_optional_time(status.get("requestExpiresAt")))
    steps = tuple(Progress(count.name, count.approvals, count.required, count.approvers, count.met)
                  for count in counted.thresholds)
    return steps, counted.denials_summary()


def summary(obj: Mapping) -> str:
    """'bob requests dba in payments for 1h, starting once approved'."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    start = parse_optional_time(spec.get("startTime")) or parse_optional_time(status.get("grantedAt"))
    starting = f"starting {output.utc_z(start)}" if start else "starting once approved"
    return (f"{requester_of(obj) or 'someone'} requests {output.asked_text(obj)} "
            f"for {output.duration_text(obj)}, {starting}")


def outcome(obj: Mapping) -> str:
    """Why the request ended without access, or why its access is not there; '' otherwise."""
    status = obj.get("status") or {}
    conditions = status.get("conditions")
    current = output.state(obj)
    ending = {State.Denied: DENIED, State.Expired: EXPIRED, State.Revoked: REVOKED}.get(current)
    if ending:
        message = str((get_condition(conditions, ending) or {}).get("message") or "")
        return message or f"{current.value}."
    if current is State.Approved and not is_true(conditions, GRANTED):
        return str((get_condition(conditions, GRANTED) or {}).get("message") or "")
    return ""


def binding_text(record: Mapping) -> str:
    """'RoleBinding payments/gp-x7k2q-dba → ClusterRole dba'."""
    role = record.get("role") or {}
    where = f"{record['namespace']}/" if record.get("namespace") else ""
    return f"{record.get('kind', '')} {where}{record.get('name', '')} → {role.get('kind', '')} {role.get('name', '')}"


def droppable(obj: Mapping, me: Identity) -> bool:
    """Whether to offer Drop: the user's own request that has not ended (admission has the last word)."""
    return requester_of(obj) == me.username and output.state(obj) not in TERMINAL


def request_screen(obj: Mapping, me: Identity, policies: Sequence[Policy], now: datetime) -> RequestScreen:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    current = output.state(obj)
    policy = governing_policy(obj, policies)
    steps, denials = progress(obj, policy) if policy is not None else ((), "")
    countdowns = [countdown("Request expires", status.get("requestExpiresAt"), now)] if current is State.Pending \
        else []
    if current is State.Approved:
        live = is_true(status.get("conditions"), GRANTED)
        if not live:
            countdowns.append(countdown("Access starts", status.get("grantedAt"), now))
        countdowns.append(countdown("Access expires", status.get("expiresAt"), now))
    namespaces = output.namespaces_text(spec.get("namespaces") or ())
    resources = tuple(ask.describe() for ask in output.asks(obj))
    offer = (Offer(", ".join(spec.get("roles") or ()), namespaces, output.duration_text(obj), resources)
             if reviewable(obj, me, policies) else None)
    return RequestScreen(
        name=obj["metadata"]["name"],
        state=current.value,
        summary=summary(obj),
        final=current in TERMINAL,
        policy=str(status.get("policy") or (policy.name if policy else "")),
        countdowns=tuple(c for c in countdowns if c is not None),
        progress=steps,
        denials=denials,
        timeline=timeline(obj),
        outcome=outcome(obj),
        granted_at=output.utc_z(parse_optional_time(status.get("grantedAt"))),
        expires_at=output.utc_z(parse_optional_time(status.get("expiresAt"))),
        bindings=tuple(binding_text(b) for b in status.get("bindings") or () if isinstance(b, Mapping)),
        review=offer,
        droppable=droppable(obj, me),
        suggested_reviewers=", ".join(spec.get("reviewers") or ()),
        resources=resources,
    )


# -- active grants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    name: str
    roles: str
    namespaces: str
    live: bool  # the bindings are in place (Granted), not waiting for the start time
    starts: Countdown | None
    expires: Countdown | None


def grants(objs: Iterable[Mapping], me: Identity, now: datetime) -> tuple[Grant, ...]:
    """The user's approved requests, the soonest to expire first."""
    found = []
    for obj in objs:
        if requester_of(obj) != me.username or output.state(obj) is not State.Approved:
            continue
        status = obj.get("status") or {}
        live = is_true(status.get("conditions"), GRANTED)
        roles, namespaces = output.access_cells(obj, ", ")
        found.append(Grant(
            name=obj["metadata"]["name"], roles=roles, namespaces=namespaces, live=live,
            starts=None if live else countdown("Starts", status.get("grantedAt"), now),
            expires=countdown("Expires", status.get("expiresAt"), now)))
    return tuple(sorted(found, key=lambda g: (g.expires.deadline if g.expires else "~", g.name)))
