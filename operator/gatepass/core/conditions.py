"""Status conditions the Kubernetes way, without a clock: `now` is a parameter.

Setting a condition keeps its lastTransitionTime when its status does not
change. Approved, Denied and Decided are final: once True, they never change
again (a later set is ignored), so nothing can un-approve or un-deny a request.

Besides the conditions of the lifecycle (Approved, Denied, Granted, Expired,
Revoked), a request carries four that tools read without knowing Gatepass,
derived from its state by `summary` (see docs/concepts.md):

* Decided: True once the request has its outcome (approved, denied, timed out
  or revoked before a decision); what `kubectl wait` waits on.
* Ready: True while the access is granted (the bindings are in place): the
  kstatus "Current" of a request.
* Reconciling: True while something is still to come (reviews, the start
  time, a binding that cannot be made yet): kstatus "InProgress".
* Stalled: True once the request is over without access now (Denied,
  Expired, Revoked): kstatus "Failed", Argo CD's Degraded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from .lifecycle import TERMINAL, State
from .timestamps import format_time

APPROVED = "Approved"
DENIED = "Denied"
GRANTED = "Granted"
EXPIRED = "Expired"
REVOKED = "Revoked"
#: The decisions: once True, never changed.
FINAL_WHEN_TRUE = frozenset({APPROVED, DENIED})

DECIDED = "Decided"
READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
#: The conditions `summary` derives from the state, in the order they are listed.
SUMMARY = (DECIDED, READY, RECONCILING, STALLED)
#: What never changes once True: the decisions, and that the request was decided.
STAYS_TRUE = FINAL_WHEN_TRUE | {DECIDED}

# Why an Approved request's access is not there although its time has come: the Granted condition's reason
# (False) while a binding cannot be made. The operator keeps trying until the cause is fixed or the grant ends.
NAMESPACE_NOT_FOUND = "NamespaceNotFound"  # a RoleBinding's namespace does not exist
ROLE_NOT_FOUND = "RoleNotFound"  # the ClusterRole or Role to bind does not exist
BIND_FORBIDDEN = "BindForbidden"  # the operator may not `bind` that role there (see gatepass-operator-bind)
#: In the order they are looked for: the first that applies is the Granted condition's reason.
BLOCKED_REASONS = (NAMESPACE_NOT_FOUND, ROLE_NOT_FOUND, BIND_FORBIDDEN)
STATUSES = ("True", "False", "Unknown")


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> bool:
    condition = get_condition(conditions, type_)
    return condition is not None and condition.get("status") == "True"


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    type_: str,
    status: str | bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """A new list with condition `type_` set; the input is not modified.

    The condition keeps its place in the list (a new one goes last) and its
    lastTransitionTime unless `status` differs from the current one.
    """
    if isinstance(status, bool):
        status = "True" if status else "False"
    if status not in STATUSES:
        raise ValueError(f"condition status must be one of {', '.join(STATUSES)}, not {status!r}")
    result = [dict(c) for c in conditions or ()]
    index = next((i for i, c in enumerate(result) if c.get("type") == type_), None)
    current = result[index] if index is not None else None
    if current is not None and type_ in STAYS_TRUE and current.get("status") == "True":
        return result
    changed = current is None or current.get("status") != status
    updated = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": (format_time(now) if changed
                               else current.get("lastTransitionTime") or format_time(now)),
        "observedGeneration": generation,
    }
    if index is None:
        result.append(updated)
    else:
        result[index] = updated
    return result


#: For each final state, the lifecycle condition whose reason and message say how it ended.
_ENDING = {State.Denied: DENIED, State.Expired: EXPIRED, State.Revoked: REVOKED}


def summary(
    state: State,
    conditions: Sequence[Mapping[str, Any]] | None,
    now: datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """`conditions` with Decided, Ready, Reconciling and Stalled set from `state` and the lifecycle conditions.

    Each takes the reason and message of the condition that explains it (Approved, Granted, or the one that
    ended the request), so the four say nothing the others do not. A request that ended before these
    conditions existed gets them too, from its state.
    """
    def explained(type_: str, default_reason: str, default_message: str) -> tuple[str, str]:
        condition = get_condition(conditions, type_) or {}
        return (str(condition.get("reason") or default_reason), str(condition.get("message") or default_message))

    if is_true(conditions, APPROVED):
        decided: tuple[bool, str, str] = (True, *explained(APPROVED, "Approved", "Approved"))
    elif state is State.Pending:
        decided = (False, *explained(APPROVED, "AwaitingReview", "Waiting for reviews"))
    else:
        decided = (True, *explained(_ENDING.get(state, APPROVED), state.value, state.value))

    if state in TERMINAL:
        ended = explained(_ENDING[state], state.value, state.value)
        ready, reconciling, stalled = (False, *ended), (False, *ended), (True, *ended)
    elif state is State.Approved and is_true(conditions, GRANTED):
        granted = explained(GRANTED, "Granted", "Granted")
        ready, reconciling, stalled = (True, *granted), (False, *granted), (False, *granted)
    else:
        # Pending: what the reviews still need; Approved: why the bindings are not in place yet.
        waiting = decided[1:] if state is State.Pending else explained(GRANTED, "WaitingForStart", "Not bound yet")
        ready, reconciling, stalled = (False, *waiting), (True, *waiting), (False, *waiting)

    result = [dict(c) for c in conditions or ()]
    for type_, (status, reason, message) in zip(SUMMARY, (decided, ready, reconciling, stalled)):
        result = set_condition(result, type_, status, reason, message, now, generation)
    return result
