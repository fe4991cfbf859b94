"""decide(): from everything already read about a request to everything that should be.

It is called with the request, the governing policy (or None), every review
collected, an optional revocation, the current status, the bindings that
exist for the request, and `now`. It returns a Plan: the new state and full
status, the bindings to delete and to apply, when to look again, and the
audit events for what changed. It reads nothing and writes nothing.

It reconciles from state, not from the event that woke it: calling it again
with the status and bindings it asked for gives no new events and no binding
changes, and an operator that was down for a while catches up in one call
(a request whose expiresAt has passed goes straight to Expired).

Rules beyond the lifecycle table:
  * Reviews, approvals and denials are recorded while Pending; after a
    decision they are frozen in status.
  * The bindings of a grant are fixed at approval and recorded in
    status.bindings; later edits to the request or the policy do not widen or
    move a live grant. status.bindings is emptied when the access ends.
  * Bindings exist only while grantedAt <= now < expiresAt. A missing one is
    recreated and a hand-edited one re-applied while the grant is live;
    anything else labelled for the request is deleted.
  * A revocation made before the deadline that was running wins over it.
  * A grant is bound whole or not at all. `blocked` says which of its
    bindings the operator found it cannot make (a namespace or role missing,
    or no `bind` on the role); while any is, nothing of the grant is bound,
    the reviews and decision are still recorded, and Granted is False with
    the block's reason. The audit event is emitted once per change of reason.
  * An approved grant lives only under the policy it was approved under
    (status.policy): when that is deleted, or no longer allows the access
    (policy.withdrawal), a grant that has not started never starts and a
    live one ends. Either way the request is Revoked by gatepass:policy, with
    conditions Revoked=True and Granted=False, reason PolicyWithdrawn, and
    its bindings go. A revocation by a person, and an end already reached,
    come first.
  * status.conditions also carries Decided, Ready, Reconciling and Stalled,
    derived from the state (conditions.summary), so that `kubectl wait`,
    kstatus, Flux and Argo CD can tell an outcome without knowing Gatepass.
  * status.history records what happened, when and by whom: the request's
    creation, then every audit event of the plan, as its Events say it. It is
    bounded (HISTORY_LIMIT entries): past that, the first entry and the latest
    are kept and status.historyOmitted counts what was left out between them.
  * status.roles, status.resources and status.namespaces say the spec's lists
    as one line, for kubectl's columns (a JSONPath cannot join a list).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import audit, resources
from .audit import AuditEvent
from .conditions import (APPROVED, DENIED, EXPIRED, GRANTED, REVOKED, get_condition, is_true, set_condition,
                         summary)
from .grants import (GRANT_KINDS, Binding, BindBlock, BindingRef, GrantRole, binding_from_record,
                     binding_record, desired_bindings, drift, first_block, grant_roles, is_grant_role, manifest_ref,
                     render_binding, render_grant_role, role_drift)
from .lifecycle import TERMINAL, Event, State, transition
from .policy import POLICY_WITHDRAWAL, request_errors, request_expires_at, withdrawal
from .tally import Outcome, Tally, tally
from .timestamps import ceil_second, floor_second, format_time, later, parse_optional_time, require_aware
from .types import Policy, Request, Review, Revocation

STATUS_KEYS = (
    "state", "policy", "roles", "resources", "namespaces", "conditions", "reviews", "approvals", "denials",
    "requestExpiresAt", "grantedAt", "expiresAt", "bindings", "revokedBy", "revokeReason", "history",
    "historyOmitted", "observedGeneration",
    "notifications",  # kept by the notifier; decide() carries it over untouched
)

#: At most this many entries in status.history: the first (the request's creation) and the latest.
HISTORY_LIMIT = 32
#: A history entry's message is cut to this many characters (as the Event's is).
HISTORY_MESSAGE_LIMIT = 1024
#: status.roles and status.namespaces are cut near this many characters, saying how many were left out.
LISTING_LIMIT = 120
#: status.namespaces of a cluster-wide request (no namespace name has parentheses).
CLUSTER_WIDE = "(cluster-wide)"


@dataclass(frozen=True)
class Plan:
    """What to do for one request. Execute in this order: delete
    `bindings_to_delete` (a 404 counts as done), then create-or-replace
    `bindings_to_apply`, then write `status` (merge patch), then publish
    `events`, then look again at `wake_at` (None: nothing is scheduled).

    A binding whose roleRef was changed is in both lists, because roleRef
    cannot be changed in place.
    """

    state: State
    status: dict[str, Any]
    bindings_to_apply: tuple[dict[str, Any], ...] = ()
    bindings_to_delete: tuple[BindingRef, ...] = ()
    wake_at: datetime | None = None
    events: tuple[AuditEvent, ...] = ()
    transitions: tuple[Event, ...] = field(default=())  # lifecycle events fired, in order
    # While the grant's bindings cannot be made (see `blocked`): one Warning per cause, to publish as a
    # counted Event at every try (`events` has the audit event once, when the cause changes). While not
    # empty, look again sooner than `wake_at`, with a backoff.
    blocked: tuple[AuditEvent, ...] = ()

    @property
    def conditions(self) -> list[dict[str, Any]]:
        return self.status["conditions"]


def review_record(review: Review) -> dict[str, Any]:
    """The status.reviews entry for `review`."""
    record: dict[str, Any] = {
        "reviewer": review.reviewer.username,
        "groups": sorted(review.reviewer.groups),
        "decision": review.decision,
        "reason": review.reason,
        "time": format_time(review.time),
        "via": review.via,
    }
    if review.review:
        record["review"] = review.review
    if review.submitter:
        record["submitter"] = review.submitter
    return record


def listing(names: Sequence[str], limit: int = LISTING_LIMIT) -> str:
    """'dba', 'dba,view', or 'a,b,+3 more' when the whole list would be longer than `limit` characters."""
    joined = ",".join(names)
    if len(joined) <= limit:
        return joined
    shown: list[str] = []
    for index, name in enumerate(names):
        rest = f",+{len(names) - index} more"
        if len(",".join([*shown, name])) + len(rest) > limit and shown:
            return ",".join(shown) + rest
        if len(",".join([*shown, name])) + len(rest) > limit:
            return f"{name[:limit - len(rest) - 1]}…{rest}"
        shown.append(name)
    return ",".join(shown)  # not reached: the whole list was longer than the limit


def history_entry(event: AuditEvent, time: datetime) -> dict[str, Any]:
    """The status.history entry for `event`, which happened at `time`."""
    message = event.message
    if len(message) > HISTORY_MESSAGE_LIMIT:
        message = message[:HISTORY_MESSAGE_LIMIT - 1] + "…"
    entry: dict[str, Any] = {"time": format_time(time), "type": event.type, "reason": event.reason,
                             "message": message}
    if event.by:
        entry["by"] = event.by
    return entry


def bounded(history: Sequence[Mapping[str, Any]], omitted: int,
            limit: int = HISTORY_LIMIT) -> tuple[list[dict[str, Any]], int]:
    """`history` cut to `limit` entries, keeping the first and the latest, and how many are left out in all
    (`omitted` were already)."""
    entries = [dict(entry) for entry in history]
    if len(entries) <= limit:
        return entries, omitted
    cut = len(entries) - limit
    return [entries[0], *entries[cut + 1:]], omitted + cut


def where(request: Request) -> str:
    """status.namespaces: where the roles are bound ('(cluster-wide)' for none), then the namespaces of the
    resource rules (cluster-wide for a cluster-scoped one), without repeats."""
    places: list[str] = []
    if request.roles:
        places.extend(request.namespaces or (CLUSTER_WIDE,))
    places.extend(namespace or CLUSTER_WIDE for namespace in resources.scopes(request.resources))
    return listing(list(dict.fromkeys(places)))


def grant_deadline(granted_at: datetime, expires_at: datetime, now: datetime) -> datetime:
    """When an approved grant is looked at again, at `now`: its start while that is ahead, else its end (a
    grant whose end has come is ended by the same look). The one rule for it: decide() wakes by it, and a
    starting operator arms every grant's deadline by it from the listed statuses (gatepass.core.startup)."""
    return granted_at if now < granted_at else expires_at


def decide(
    request: Request,
    policy: Policy | None,
    reviews: Iterable[Review],
    revocation: Revocation | None,
    current_status: Mapping[str, Any] | None,
    existing_bindings: Sequence[Mapping[str, Any]],
    now: datetime,
    blocked: Mapping[BindingRef, BindBlock] | None = None,
) -> Plan:
    """The Plan for `request` at `now`.

    `existing_bindings` are the binding manifests found for the request, as the
    API server returns them (camelCase JSON). `blocked`: the bindings the
    operator found it cannot make now, and why.
    """
    return _Decision(request, policy, tuple(reviews), revocation, current_status or {},
                     existing_bindings, require_aware(now, "now"), blocked or {}).run()


def _read_state(value: object) -> State:
    try:
        return State(value)
    except ValueError:
        return State.Pending  # no or unreadable state: start over, which grants nothing by itself


class _Decision:
    def __init__(self, request: Request, policy: Policy | None, reviews: tuple[Review, ...],
                 revocation: Revocation | None, old: Mapping[str, Any],
                 existing: Sequence[Mapping[str, Any]], now: datetime,
                 blocked: Mapping[BindingRef, BindBlock]) -> None:
        self.request = request
        self.policy = policy
        self.reviews = reviews
        self.revocation = revocation
        self.old = old
        self.existing = existing
        self.now = now
        self.user = request.requester.username
        self.status: dict[str, Any] = {k: copy.deepcopy(old[k]) for k in STATUS_KEYS if k in old}
        self.conditions: list[dict[str, Any]] = [dict(c) for c in old.get("conditions") or ()]
        self.state = _read_state(old.get("state"))
        self.was_granted = is_true(self.conditions, GRANTED)
        self.fired: list[Event] = []
        self.events: list[AuditEvent] = []
        self.live = False
        self.desired: list[Binding] = []
        self.wake_at: datetime | None = None
        self.closing: Callable[[list[BindingRef]], AuditEvent] | None = None
        self.blocked = blocked
        self.blocks: tuple[BindBlock, ...] = ()  # what keeps this grant out, when its time has come
        self.causes: tuple[AuditEvent, ...] = ()

    # -- steps ---------------------------------------------------------------

    def fire(self, event: Event) -> None:
        self.state = transition(self.state, event)
        self.fired.append(event)

    def condition(self, type_: str, status: bool, reason: str, message: str) -> None:
        self.conditions = set_condition(self.conditions, type_, status, reason, message,
                                        self.now, self.request.generation)

    # -- the states --------------------------------------------------------

    def run(self) -> Plan:
        if self.state is State.Pending:
            self.pending()
        if self.state is State.Approved:
            self.approved()
        to_apply, to_delete = self.bindings()
        return Plan(
            state=self.state,
            status=self.final_status(),
            bindings_to_apply=tuple(to_apply),
            bindings_to_delete=tuple(to_delete),
            wake_at=self.wake_at,
            events=tuple(self.events),
            transitions=tuple(self.fired),
            blocked=self.causes,
        )

    def pending(self) -> None:
        request, policy, now = self.request, self.policy, self.now
        if policy is not None:
            deadline: datetime | None = request_expires_at(policy, request.created)
            self.status["policy"] = policy.name
        else:
            deadline = parse_optional_time(self.old.get("requestExpiresAt"))
        if deadline is not None:
            self.status["requestExpiresAt"] = format_time(deadline)

        revocation = self.revocation
        if revocation is not None and (deadline is None or revocation.time < deadline or now < deadline):
            return self.revoke()
        if policy is None:
            return self.deny_without_policy([])
        errors = request_errors(request, policy)
        if errors:
            return self.deny_without_policy(errors)

        counted = tally(policy, request.requester, self.reviews, deadline=deadline, submitter=request.submitter)
        self.record_reviews(counted)
        if counted.outcome is Outcome.Denied:
            self.fire(Event.Deny)
            self.events.append(audit.denied_by_reviewers(request, counted))
            self.condition(DENIED, True, "Denied", f"Denied by {', '.join(counted.deniers)}")
            self.condition(APPROVED, False, "Denied", counted.approvals_summary())
        elif counted.outcome is Outcome.Approved:
            self.approve(policy, counted)
        elif deadline is not None and now >= deadline:
            self.fire(Event.TimeOut)
            self.events.append(audit.request_timed_out(request, deadline))
            self.condition(EXPIRED, True, "RequestTimedOut", f"No decision before {format_time(deadline)}")
            self.condition(APPROVED, False, "RequestTimedOut", counted.approvals_summary())
        else:
            self.condition(APPROVED, False, "AwaitingReview", counted.approvals_summary())
            self.condition(DENIED, False, "AwaitingReview", counted.denials_summary())
            self.wake_at = deadline

    def record_reviews(self, counted: Tally) -> None:
        before = self.old.get("reviews") or []
        records = [review_record(review) for review in counted.counted]
        for review, record in zip(counted.counted, records):
            if record not in before:
                self.fire(Event.Review)
                self.events.append(audit.reviewed(self.request, review))
        self.status["reviews"] = records
        self.status["approvals"] = counted.approvals
        self.status["denials"] = counted.denials

    def deny_without_policy(self, errors: list[str]) -> None:
        self.fire(Event.Deny)
        self.events.append(audit.denied_without_policy(self.request, errors))
        why = f": {'; '.join(errors)}" if errors else ""
        self.condition(DENIED, True, "NoPolicy", f"No AccessPolicy allows this request any more{why}")
        self.condition(APPROVED, False, "NoPolicy", "No AccessPolicy allows this request")

    def approve(self, policy: Policy, counted: Tally) -> None:
        self.fire(Event.Approve)
        self.events.append(audit.approved(self.request, counted))
        self.schedule(policy)
        bindings = desired_bindings(self.request, policy)
        self.status["bindings"] = [binding_record(b) for b in bindings]
        self.condition(APPROVED, True, "Approved", f"Approved by {', '.join(counted.approvers)}")
        self.condition(DENIED, False, "Approved", f"Approved with {counted.denials_summary()}")

    def schedule(self, policy: Policy | None) -> None:
        """Set grantedAt and expiresAt for an approval made at `now`."""
        request = self.request
        start = request.start_time
        # Access starts no earlier than asked: a start time with a fraction of a
        # second is rounded up.
        granted_at = self.now if start is None else max(self.now, ceil_second(start))
        duration = request.duration if policy is None else min(request.duration, policy.max_duration)
        # Access never lives longer than asked: the deadline is cut DOWN to the
        # whole second (never rounded up), and that second-precision value is
        # both what status shows and the deadline used, so it is the same
        # after a restart.
        expires_at = floor_second(later(granted_at, duration))  # a start at the end of time ends there
        self.status["grantedAt"] = format_time(granted_at)
        self.status["expiresAt"] = format_time(expires_at)

    def approved(self) -> None:
        now = self.now
        granted_at = parse_optional_time(self.status.get("grantedAt"))
        expires_at = parse_optional_time(self.status.get("expiresAt"))
        if granted_at is None or expires_at is None:
            self.schedule(self.policy)  # the times were lost: count from now, as at approval
            granted_at = parse_optional_time(self.status["grantedAt"])
            expires_at = parse_optional_time(self.status["expiresAt"])
        assert granted_at is not None and expires_at is not None
        self.desired = self.granted_bindings()

        revocation = self.revocation
        if revocation is not None and (revocation.time < expires_at or now < expires_at):
            return self.revoke()
        if now >= expires_at:
            self.fire(Event.End)
            ended = f"Access ended at {format_time(expires_at)}"
            self.condition(GRANTED, False, "Expired", ended)
            self.condition(EXPIRED, True, "AccessEnded", ended)
            self.closing = lambda deleted: audit.access_expired(self.request, expires_at, deleted)
            return
        approved_under = self.status.get("policy") or (self.policy.name if self.policy is not None else "")
        why = withdrawal(self.request, self.policy, approved_under)
        if why is not None:
            return self.withdraw(why)
        if not self.desired:
            self.condition(GRANTED, False, "NoBindings", "No bindings are recorded for this grant")
            self.wake_at = expires_at
            return
        if now >= granted_at:
            blocks = tuple(self.blocked[b.ref] for b in self.desired if b.ref in self.blocked)
            if blocks:
                self.wake_at = grant_deadline(granted_at, expires_at, now)
                return self.hold(blocks, expires_at)
            self.live = True
            if not self.was_granted:
                self.fire(Event.Start)
                self.events.append(audit.granted(self.request, expires_at))
            self.condition(GRANTED, True, "Granted",
                           f"Bound {audit.access(self.request)} to {self.user} "
                           f"until {format_time(expires_at)}")
        else:
            self.condition(GRANTED, False, "WaitingForStart", f"Access starts at {format_time(granted_at)}")
        self.wake_at = grant_deadline(granted_at, expires_at, now)

    def hold(self, blocks: tuple[BindBlock, ...], expires_at: datetime) -> None:
        """The grant's time has come, but some of its bindings cannot be made: none is (strays go)."""
        self.blocks, self.causes = blocks, audit.not_granted(self.request, blocks)
        first = first_block(blocks)
        assert first is not None
        before = get_condition(self.conditions, GRANTED)
        if before is None or before.get("status") != "False" or before.get("reason") != first.reason:
            self.events.append(self.causes[0])  # the audit trail says when a cause begins, not every try
        why = "; ".join(dict.fromkeys(block.message for block in sorted(blocks, key=lambda b: b != first)))
        self.condition(GRANTED, False, first.reason,
                       f"Not bound: {why}. Retrying until it can be, or until {format_time(expires_at)}")

    def withdraw(self, why: str) -> None:
        """The grant's policy no longer allows it (`why`): it ends now, or never starts."""
        live = self.was_granted
        self.fire(Event.Revoke)
        self.status["revokedBy"] = POLICY_WITHDRAWAL
        self.status["revokeReason"] = why
        self.condition(REVOKED, True, "PolicyWithdrawn", f"Withdrawn: {why}")
        self.condition(GRANTED, False, "PolicyWithdrawn",
                       "Access ended: its policy withdrew it" if live else "Access will not start: its policy "
                                                                           "withdrew it")
        self.closing = lambda deleted: audit.withdrawn(self.request, why, live, deleted)

    def granted_bindings(self) -> list[Binding]:
        """The bindings fixed at approval; derived again only if status lost them."""
        records = [r for r in self.status.get("bindings") or () if isinstance(r, Mapping)]
        recorded = [b for b in (binding_from_record(r, self.user) for r in records) if b is not None]
        if recorded:
            return recorded
        policy = self.policy
        if policy is None or not all(policy.role(name) for name in self.request.roles):
            return []
        bindings = desired_bindings(self.request, policy)
        self.status["bindings"] = [binding_record(b) for b in bindings]
        return bindings

    def granted_roles(self) -> list[GrantRole]:
        """The per-grant Roles of the grant's bindings (their rules are the request's, which cannot change)."""
        bound = {binding.ref for binding in self.desired if is_grant_role(self.request, binding)}
        return [role for role in grant_roles(self.request) if role.binding_ref in bound]

    def revoke(self) -> None:
        revocation = self.revocation
        assert revocation is not None
        was_approved = self.state is State.Approved
        self.fire(Event.Revoke)
        self.status["revokedBy"] = revocation.by
        self.status["revokeReason"] = revocation.reason
        said = f": {revocation.reason}" if revocation.reason else ""
        self.condition(REVOKED, True, "Revoked", f"Revoked by {revocation.by}{said}")
        if was_approved:
            self.condition(GRANTED, False, "Revoked", f"Revoked by {revocation.by}")
            self.closing = lambda deleted: audit.revoked(self.request, revocation, True, deleted)
        else:
            self.condition(APPROVED, False, "Revoked", f"Revoked by {revocation.by}")
            self.events.append(audit.revoked(self.request, revocation, False, []))

    # -- bindings ------------------------------------------------------------

    def bindings(self) -> tuple[list[dict[str, Any]], list[BindingRef]]:
        existing: dict[BindingRef, Mapping[str, Any]] = {}
        for manifest in self.existing:
            ref = manifest_ref(manifest)
            if ref.kind in GRANT_KINDS:
                existing[ref] = manifest

        to_apply: list[dict[str, Any]] = []
        to_delete: list[BindingRef] = []
        wanted: set[BindingRef] = set()
        if self.live:
            for role in self.granted_roles():  # before the bindings that bind them
                wanted.add(role.ref)
                manifest = render_grant_role(role, self.request.name, self.request.uid)
                current = existing.get(role.ref)
                changes = ["rules"] if current is None else role_drift(manifest, current)
                if changes:
                    to_apply.append(manifest)
                    if current is not None or self.was_granted:
                        self.events.append(audit.restored(role.ref, self.user, [] if current is None else changes))
            for binding in self.desired:
                wanted.add(binding.ref)
                manifest = render_binding(binding, self.request.name, self.request.uid)
                current = existing.get(binding.ref)
                if current is None:
                    to_apply.append(manifest)
                    if self.was_granted:  # it was in place before: someone deleted it
                        self.events.append(audit.restored(binding.ref, self.user, []))
                    continue
                changes = drift(manifest, current)
                if changes:
                    if "roleRef" in changes:  # roleRef cannot change in place
                        to_delete.append(binding.ref)
                    to_apply.append(manifest)
                    self.events.append(audit.restored(binding.ref, self.user, changes))

        strays = [ref for ref in existing if ref not in wanted]
        to_delete.extend(strays)
        if self.state in TERMINAL:
            # Also delete what status recorded, in case a binding lost its labels
            # and was not found by them. Emptying the record keeps this one-off.
            for record in self.old.get("bindings") or ():
                binding = binding_from_record(record, self.user) if isinstance(record, Mapping) else None
                if binding is None:
                    continue
                refs = [binding.ref]
                if is_grant_role(self.request, binding):
                    refs.append(BindingRef(binding.role_kind, binding.namespace, binding.role_name))
                to_delete.extend(ref for ref in refs if ref not in existing and ref not in to_delete)
            self.status["bindings"] = []

        if self.closing is not None:
            self.events.append(self.closing(strays))
        else:
            why = self.why_not_bound()
            self.events.extend(audit.removed(ref, why) for ref in strays)
        return to_apply, to_delete

    def why_not_bound(self) -> str:
        if self.live:
            return "it is not part of the grant"
        if self.blocks:
            first = first_block(self.blocks)
            return f"the grant cannot be bound whole ({first.message if first else 'blocked'})"
        if self.state is State.Approved:
            return f"access starts at {self.status.get('grantedAt')}"
        return f"request {self.request.name} is {self.state.value}"

    # -- status --------------------------------------------------------------

    def record_history(self) -> None:
        """Appends the plan's events to status.history, after the request's creation, within the bound."""
        old = self.old.get("history")
        history = [dict(entry) for entry in old if isinstance(entry, Mapping)] if isinstance(old, list) else []
        omitted = self.old.get("historyOmitted")
        omitted = omitted if isinstance(omitted, int) and omitted > 0 else 0
        if not history:
            history.append(history_entry(audit.requested(self.request), self.request.created))
        history += [history_entry(event, self.now) for event in self.events]
        history, omitted = bounded(history, omitted)
        self.status["history"] = history
        if omitted:
            self.status["historyOmitted"] = omitted

    def final_status(self) -> dict[str, Any]:
        status = self.status
        status["state"] = self.state.value
        status["conditions"] = self.conditions
        status.setdefault("reviews", [])
        status.setdefault("approvals", 0)
        status.setdefault("denials", 0)
        status.setdefault("bindings", [])
        status["roles"] = listing(self.request.roles)
        if self.request.resources:
            status["resources"] = resources.summary(self.request.resources, LISTING_LIMIT)
        status["namespaces"] = where(self.request)
        status["conditions"] = summary(self.state, self.conditions, self.now, self.request.generation)
        self.record_history()
        status["observedGeneration"] = self.request.generation
        return {key: status[key] for key in STATUS_KEYS if key in status}
