"""Objects as the API returns them, and a stand-in for the CLI's Kube, for the CLI's unit tests."""

from __future__ import annotations

import argparse
import copy
import io
from collections.abc import Iterator

from gatepass.cli.kube import Expired
from gatepass.core.types import Identity

DEMO_POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1",
    "kind": "AccessPolicy",
    "metadata": {"name": "demo-dba"},
    "spec": {
        "requesters": {"groups": ["developers"]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
        "reviewers": {"users": ["alice", "ivan"]},
        "thresholds": [{"name": "two-leads", "approvals": 2}],
        "maxDuration": "8h",
        "requireReason": True,
    },
}


#: A policy that lets developers ask for single resources within ClusterRole pod-reader, in payments.
RESOURCE_POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1",
    "kind": "AccessPolicy",
    "metadata": {"name": "pod-logs"},
    "spec": {
        "requesters": {"groups": ["developers"]},
        "resources": [{"clusterRole": "pod-reader", "namespaces": ["payments"]}],
        "reviewers": {"users": ["alice", "ivan"]},
        "maxDuration": "8h",
        "requireReason": True,
    },
}


def request_obj(name: str = "bob-dba-x7k2q", state: str | None = "Pending", *, requester: str = "bob",
                reviews=(), policy: str | None = "demo-dba", granted: bool | None = None,
                namespaces=("payments",), version: str = "1", **status) -> dict:
    obj = {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": "AccessRequest",
        "metadata": {"name": name, "creationTimestamp": "2026-11-24T09:30:00Z", "resourceVersion": version,
                     "managedFields": [{"manager": "kubectl-access"}]},
        "spec": {"roles": ["dba"], "duration": "1h", "reason": "ticket #123", "reviewers": ["alice", "ivan"],
                 "requester": {"username": requester, "groups": ["developers", "system:authenticated"]}},
        "status": {},
    }
    if namespaces:
        obj["spec"]["namespaces"] = list(namespaces)
    if state:
        obj["status"]["state"] = state
    if policy:
        obj["status"]["policy"] = policy
    if reviews:
        obj["status"]["reviews"] = [review(*r) if isinstance(r, tuple) else r for r in reviews]
        obj["status"]["approvals"] = sum(1 for r in obj["status"]["reviews"] if r["decision"] == "Approve")
        obj["status"]["denials"] = sum(1 for r in obj["status"]["reviews"] if r["decision"] == "Deny")
    if granted is not None:
        obj["status"]["conditions"] = [{"type": "Granted", "status": "True" if granted else "False",
                                        "reason": "Granted", "message": "",
                                        "lastTransitionTime": "2026-11-24T09:31:00Z"}]
    obj["status"].update(status)
    return obj


def review(reviewer: str, decision: str = "Approve", reason: str = "ok", time: str = "2026-11-24T09:31:00Z",
           groups=("dba-leads",)) -> dict:
    return {"reviewer": reviewer, "groups": list(groups), "decision": decision, "reason": reason,
            "time": time, "via": "AccessReview"}


class FakeKube:
    """Answers from fixed data; records what would have been written."""

    def __init__(self, *, me: Identity = Identity("bob", frozenset({"developers"})), requests=(),
                 policies=(DEMO_POLICY,), rules=None, watches=(), allowed=True, names=None) -> None:
        self.me = me
        self.requests = {r["metadata"]["name"]: copy.deepcopy(r) for r in requests}
        self.policies = list(policies)
        self.rules = dict(rules or {})
        self.watches = list(watches)  # one list of (type, object) per watch call, or Expired
        self.is_allowed = allowed
        self.created: list[dict] = []
        self.reviews: list[dict] = []
        self.annotated: list[tuple[str, dict]] = []
        self.watched_from: list[str] = []
        self.names = dict(names or {})  # (group, resource, namespace) -> Names; missing: no such kind there
        self.listed: list[tuple[str, str, str]] = []

    def whoami(self) -> Identity:
        return self.me

    def allowed(self, access) -> bool:
        return self.is_allowed

    def get_request(self, name: str) -> dict:
        from gatepass.cli.errors import CliError
        if name not in self.requests:
            raise CliError(f'AccessRequest "{name}" not found')
        return copy.deepcopy(self.requests[name])

    def list_requests(self) -> list[dict]:
        return [copy.deepcopy(r) for r in self.requests.values()]

    def create_request(self, body: dict) -> dict:
        self.created.append(body)
        obj = copy.deepcopy(body)
        obj["metadata"].setdefault("name", obj["metadata"].get("generateName", "r-") + "abcde")
        obj["spec"]["requester"] = {"username": self.me.username, "groups": sorted(self.me.groups)}
        obj["metadata"]["resourceVersion"] = "1"
        self.requests[obj["metadata"]["name"]] = obj
        return obj

    def annotate_request(self, name: str, annotations: dict) -> dict:
        self.get_request(name)
        self.annotated.append((name, annotations))
        return self.requests[name]

    def create_review(self, body: dict) -> dict:
        self.reviews.append(body)
        obj = copy.deepcopy(body)
        obj["metadata"]["name"] = obj["metadata"]["generateName"] + "abcde"
        obj["spec"]["reviewer"] = {"username": self.me.username}
        return obj

    def list_policies(self) -> list[dict]:
        return list(self.policies)

    def get_policy(self, name: str) -> dict | None:
        return next((p for p in self.policies if p["metadata"]["name"] == name), None)

    def role_rules(self, key):
        return self.rules.get(key)

    def list_names(self, api_group: str, resource: str, namespace: str = "", limit: int = 500):
        from gatepass.cli.kube import Names
        self.listed.append((api_group, resource, namespace))
        return self.names.get((api_group, resource, namespace), Names(exists=False))

    def watch_request(self, name: str, resource_version: str) -> Iterator[tuple[str, dict]]:
        self.watched_from.append(resource_version)
        if not self.watches:
            raise AssertionError("watched more often than the test expected")
        events = self.watches.pop(0)
        if events is Expired:
            raise Expired()
        for kind, obj in events:
            if kind != "DELETED":
                self.requests[name] = obj
            yield kind, copy.deepcopy(obj)


def args(**values) -> argparse.Namespace:
    values.setdefault("kubeconfig", None)
    values.setdefault("context", None)
    return argparse.Namespace(**values)


class Streams:
    """stdout and stderr of one command, as text."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()


class FakeCsrKube(FakeKube):
    """FakeKube with CertificateSigningRequests and Secrets: ``sign(body)`` says what the cluster does with
    a filed CSR (the events its watch sees), ``secrets`` holds (namespace, name) -> Secret."""

    def __init__(self, *, sign=None, secrets=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sign = sign or (lambda body: [])
        self.secrets = dict(secrets or {})
        self.csrs: dict[str, dict] = {}
        self.csr_events: dict[str, list] = {}
        self.filed: list[dict] = []

    def create_csr(self, body: dict) -> dict:
        self.filed.append(copy.deepcopy(body))
        obj = copy.deepcopy(body)
        name = obj["metadata"]["generateName"] + f"{len(self.filed):05d}"
        obj["metadata"].update(name=name, resourceVersion="1")
        obj["spec"]["username"] = self.me.username
        self.csrs[name] = obj
        self.csr_events[name] = list(self.sign(obj))
        return copy.deepcopy(obj)

    def get_csr(self, name: str) -> dict:
        return copy.deepcopy(self.csrs[name])

    def watch_csr(self, name: str, resource_version: str, timeout: int) -> Iterator[tuple[str, dict]]:
        events = self.csr_events[name]
        self.csr_events[name] = []
        for kind, obj in events:
            self.csrs[name] = obj
            yield kind, copy.deepcopy(obj)

    def get_secret(self, namespace: str, name: str) -> dict:
        from gatepass.cli.errors import CliError
        if (namespace, name) not in self.secrets:
            raise CliError(f'Secret "{name}" not found in namespace "{namespace}"')
        return copy.deepcopy(self.secrets[(namespace, name)])
