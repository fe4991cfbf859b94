"""The people and programs of the local cluster, each with its own client certificate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    about: str


ADMIN = User("admin", ("system:masters",), "cluster administrator")
USERS: tuple[User, ...] = (
    ADMIN,
    User("alice", ("dba-leads",), "reviewer"),
    User("ivan", ("dba-leads",), "reviewer"),
    User("bob", ("developers",), "requester"),
    User("carol", ("contractors",), "contractor"),
    User("dave", ("developers", "oncall"), "on-call engineer"),
    User("review-bot", ("gatepass-reviewers",), "automated reviewer"),
)

# The operator's identity is a ServiceAccount token, so that it holds exactly
# the RBAC that ships in manifests/ (see devcluster.operator_identity).
OPERATOR_CONTEXT = "operator"
OPERATOR_NAMESPACE = "gatepass-system"
OPERATOR_SERVICE_ACCOUNT = "gatepass-operator"
