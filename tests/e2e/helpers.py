"""Small helpers for the end-to-end tests: waiting, manifests, reading objects."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def request_manifest(name: str, roles=("dba",), namespaces=("payments",), duration: str = "1h",
                     reason: str = "ticket #123", **spec) -> str:
    body = {"roles": list(roles), "duration": duration, "reason": reason, "reviewers": ["alice", "ivan"], **spec}
    if namespaces:
        body["namespaces"] = list(namespaces)
    return json.dumps({"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
                       "metadata": {"name": name}, "spec": body})


def review_manifest(name: str, request: str, decision: str = "Approve", reason: str = "ok", **spec) -> str:
    return json.dumps({"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
                       "metadata": {"name": name},
                       "spec": {"request": request, "decision": decision, "reason": reason, **spec}})


def get(gatepass, kind: str, name: str) -> dict:
    return json.loads(gatepass.kubectl("get", kind, name, "-o", "json").stdout)


def state(gatepass, name: str) -> str | None:
    return (get(gatepass, "accessrequest", name).get("status") or {}).get("state")


def wait_state(gatepass, name: str, wanted: str, timeout: float = 20.0) -> dict:
    """The request once its state is ``wanted``; on timeout the error shows the status last seen."""
    seen: dict = {}

    def reached():
        seen.update(body=get(gatepass, "accessrequest", name))
        return seen["body"].get("status", {}).get("state") == wanted and seen["body"]

    try:
        return wait_for(reached, timeout=timeout, what=f"{name} to be {wanted}")
    except AssertionError as error:
        status = seen.get("body", {}).get("status")
        raise AssertionError(f"{error}; status last seen: {json.dumps(status)}") from None


def can_i(gatepass, user: str, verb: str = "get", resource: str = "secrets", namespace: str = "payments") -> str:
    return gatepass.kubectl("auth", "can-i", verb, resource, "-n", namespace, "--as", user,
                            check=False).stdout.strip()


def create_request(gatepass, name: str, user: str = "bob", **kwargs) -> None:
    gatepass.kubectl("apply", "-f", "-", user=user, input=request_manifest(name, **kwargs))
    wait_state(gatepass, name, "Pending")


def approve(gatepass, name: str, *users: str) -> None:
    for user in users or ("alice", "ivan"):
        gatepass.kubectl("annotate", "accessrequest", name, f"gatepass.dev/approve=approved by {user}", user=user)


def refused(result) -> str:
    """The one-line reason kubectl printed for a refused write."""
    assert result.returncode != 0, f"expected a refusal, got: {result.stdout}"
    return result.stderr.strip()


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def bindings_of(gatepass, name: str) -> list[dict]:
    out = json.loads(gatepass.kubectl("get", "rolebindings", "-A", "-l", "gatepass.dev/managed=true",
                                      "-o", "json").stdout)
    return [b for b in out["items"]
            if any(o.get("name") == name for o in b["metadata"].get("ownerReferences") or ())]


def policy_body(name: str, role: str = "dba", namespaces=("payments",), **spec) -> dict:
    """An AccessPolicy offering ``role`` (bound to the ClusterRole dba) in ``namespaces`` to developers,
    reviewed by alice and ivan, for an hour at most; ``spec`` adds or replaces fields."""
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": name},
            "spec": {"requesters": {"groups": ["developers"]},
                     "roles": [{"name": role, "clusterRole": "dba", "namespaces": list(namespaces)}],
                     "reviewers": {"users": ["alice", "ivan"]},
                     "maxDuration": "1h", **spec}}
