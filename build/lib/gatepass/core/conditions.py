"""Status conditions the Kubernetes way, without a clock: `now` is a parameter.

Setting a condition keeps its lastTransitionTime when its status does not
change. Approved and Denied are final: once True, they never change again
(a later set is ignored), so nothing can un-approve or un-deny a request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from .timestamps import format_time

APPROVED = "Approved"
DENIED = "Denied"
GRANTED = "Granted"
EXPIRED = "Expired"
REVOKED = "Revoked"
FINAL_WHEN_TRUE = frozenset({APPROVED, DENIED})

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
    if current is not None and type_ in FINAL_WHEN_TRUE and current.get("status") == "True":
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
