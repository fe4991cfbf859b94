"""The plain values the core works on: who, what may be asked, what was asked, what was said.

All are frozen dataclasses built by the API layer from Kubernetes objects.
Times are timezone-aware datetimes; durations are timedeltas.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable, Literal

if TYPE_CHECKING:
    from .resources import Ask, Bound

RoleKind = Literal["ClusterRole", "Role"]
Decision = Literal["Approve", "Deny"]
DECISIONS: tuple[Decision, ...] = ("Approve", "Deny")

#: The longest reason a review, a rule review or a revocation records (the schema's limit on every reason
#: field; gatepass.api's models, the ledger, rules and reviewer bots all use this one).
MAX_REASON_LENGTH = 4096

#: The system reviewer that policy rules review as (AccessReviews with spec.rule, created by the operator).
RULES_REVIEWER = "gatepass:rules"
ROLE_KINDS: tuple[RoleKind, ...] = ("ClusterRole", "Role")


class Via(enum.StrEnum):
    """How a review reached the operator (status.reviews[].via)."""

    ANNOTATION = "annotation"  # the gatepass.dev/approve or /deny annotation, kept in the ledger
    ACCESS_REVIEW = "AccessReview"
    SLACK = "Slack"  # an AccessReview the operator made for a Slack button
    RULE = "Rule"  # an AccessReview the operator made for a policy rule


@dataclass(frozen=True)
class Identity:
    """An authenticated user, as the API server's admission request names them."""

    username: str
    groups: frozenset[str] = frozenset()
    uid: str = ""


@dataclass(frozen=True)
class Subjects:
    """A set of users and groups; an identity belongs if its name or any group is listed."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, users: Iterable[str] = (), groups: Iterable[str] = ()) -> Subjects:
        return cls(frozenset(users), frozenset(groups))

    def contains(self, identity: Identity) -> bool:
        return identity.username in self.users or not self.groups.isdisjoint(identity.groups)


@dataclass(frozen=True)
class RequestableRole:
    """A role a policy offers: `name` is what requests use, `role_name` what gets bound."""

    name: str
    kind: RoleKind
    role_name: str
    namespaces: tuple[str, ...] = ()
    cluster_wide: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ROLE_KINDS:
            raise ValueError(f"role {self.name!r}: kind must be ClusterRole or Role, not {self.kind!r}")

    @property
    def bindable_cluster_wide(self) -> bool:
        """Only a ClusterRole marked clusterWide may get a ClusterRoleBinding."""
        return self.cluster_wide and self.kind == "ClusterRole"


@dataclass(frozen=True)
class Threshold:
    """`approvals` approvals are needed from reviewers (only those in `from_` when set)."""

    name: str
    approvals: int
    from_: Subjects | None = None

    def __post_init__(self) -> None:
        # A threshold of zero would approve with nobody looking: refuse it.
        if self.approvals < 1:
            raise ValueError(f"threshold {self.name!r}: approvals must be at least 1")

    def counts(self, reviewer: Identity) -> bool:
        return self.from_ is None or self.from_.contains(reviewer)


DEFAULT_THRESHOLD = Threshold(name="default", approvals=1)

#: How far after a request is made its startTime may be, unless the policy's maxStartDelay says otherwise.
DEFAULT_MAX_START_DELAY = timedelta(hours=168)
#: How long a request without spec.duration lasts, and a policy's maxDuration and requestTTL when unset
#: (the models' defaults, which the CRDs declare, are this one).
DEFAULT_DURATION = timedelta(hours=1)


@dataclass(frozen=True)
class Rule:
    """A policy rule: when its CEL `expression` holds for a Pending request, the system reviewer
    gatepass:rules reviews the request with `decision`, and that review decides it outright."""

    name: str
    decision: Decision
    expression: str
    reason: str = ""

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"rule {self.name!r}: decision must be Approve or Deny, not {self.decision!r}")


@dataclass(frozen=True)
class Policy:
    """An AccessPolicy: who may request which roles, who reviews, and the limits."""

    name: str
    requesters: Subjects
    roles: tuple[RequestableRole, ...]
    reviewers: Subjects
    thresholds: tuple[Threshold, ...] = ()
    denials: int = 1
    max_duration: timedelta = DEFAULT_DURATION
    request_ttl: timedelta = DEFAULT_DURATION
    # How far after a request is made its startTime may be.
    max_start_delay: timedelta = DEFAULT_MAX_START_DELAY
    require_reason: bool = True
    # Who may file requests on behalf of a requester (e.g. a GitOps pipeline's ServiceAccount).
    trusted_submitters: Subjects = Subjects()
    # Automatic reviews by gatepass:rules, in the policy's order (Deny rules are applied first).
    rules: tuple[Rule, ...] = ()
    # What resource requests may ask for (gatepass.core.resources): ClusterRoles' rules, by namespace.
    resources: tuple[Bound, ...] = ()

    def __post_init__(self) -> None:
        if self.denials < 1:
            raise ValueError(f"policy {self.name!r}: denials must be at least 1")

    def role(self, name: str) -> RequestableRole | None:
        return next((role for role in self.roles if role.name == name), None)

    @property
    def effective_thresholds(self) -> tuple[Threshold, ...]:
        """The thresholds to meet; none declared means one approval from any reviewer."""
        return self.thresholds or (DEFAULT_THRESHOLD,)


@dataclass(frozen=True)
class Review:
    """One reviewer's decision on a request, from an annotation or an AccessReview."""

    reviewer: Identity
    decision: Decision
    reason: str
    time: datetime
    via: Via = Via.ANNOTATION
    review: str = ""  # the AccessReview's name, unless via annotation
    submitter: str = ""  # who created the review for the reviewer (the operator, for Slack and rules)

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be Approve or Deny, not {self.decision!r}")
        object.__setattr__(self, "via", Via(self.via))  # raises ValueError for a source that is none


@dataclass(frozen=True, kw_only=True)
class Request:
    """An AccessRequest: who asks for which roles (in `namespaces`) and which resources (each ask says
    where), for how long and why.

    Keyword-only: `name`, `requester` and `created` are required, and at least one of `roles` and
    `resources` is not empty (the schema says so).
    """

    name: str
    uid: str = ""
    requester: Identity
    roles: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    duration: timedelta = DEFAULT_DURATION
    reason: str = ""
    suggested_reviewers: tuple[str, ...] = ()
    start_time: datetime | None = None
    created: datetime
    generation: int = 1
    # Who filed it, when not the requester: a trusted submitter acting on the requester's behalf.
    submitter: Identity | None = None
    # metadata.labels, sorted by key: policy rules may read them.
    labels: tuple[tuple[str, str], ...] = ()
    # The rules asked for beside (or instead of) roles (gatepass.core.resources.Ask).
    resources: tuple[Ask, ...] = ()

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces


@dataclass(frozen=True)
class Revocation:
    """Someone withdrew the access (or the pending request)."""

    by: str
    reason: str
    time: datetime
