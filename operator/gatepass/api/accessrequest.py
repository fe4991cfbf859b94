"""AccessRequest: a user asks for roles, or for rules on resources, for a while, for a reason."""

from __future__ import annotations

from enum import StrEnum

from typing import Annotated, Self

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints, model_validator

from gatepass.core import conditions
from gatepass.core.durations import format_duration
from gatepass.core.lifecycle import State
from gatepass.core.reconcile import HISTORY_LIMIT, HISTORY_MESSAGE_LIMIT, LISTING_LIMIT
from gatepass.core.resources import MAX_ASK_NAMES, MAX_ASK_VERBS, MAX_ASKS
from gatepass.core.types import DEFAULT_DURATION, Via

from .base import (
    ApiModel,
    CustomResource,
    PrinterColumn,
    ResourceInfo,
    age_column,
    atomic_list,
    cel,
    listed,
    map_list,
    set_list,
    unchanged,
    validations,
)
from .common import (
    MAX_GROUPS,
    Condition,
    Decision,
    Duration,
    GroupName,
    NamespaceName,
    ObjectName,
    Reason,
    RoleKind,
    RoleName,
    UserInfo,
    UserName,
)

REQUESTER_IMMUTABLE = "requester is set when the request is created and cannot be changed"
SUBMITTER_IMMUTABLE = "submitter is set when the request is created and cannot be changed"
ON_BEHALF_OF_IMMUTABLE = "onBehalfOf cannot be changed once the request exists"
GRANT_IMMUTABLE = (
    "roles, resources, namespaces, duration, startTime and reason cannot be changed once the request exists; "
    "create a new AccessRequest instead"
)
#: The spec fields that say what is granted; reviews apply to them, so they may not change.
GRANT_FIELDS = ("roles", "resources", "namespaces", "duration", "startTime", "reason")
# The rules on what is requested, shared by the CRD (CEL) and the model (Python).
ROLES_OR_RESOURCES = "request at least one role (roles) or one resource rule (resources)"
NO_PATH_IN_RESOURCE = ("resource is a resource's plural name, without '/': name a subresource in subresource; "
                       "non-resource URLs cannot be requested")
NO_PATH_IN_SUBRESOURCE = "subresource is one name, without '/'"
NO_WILDCARD_NAME = "names are object names ('*' is not one); leave names out for any name"
Verb = Annotated[str, StringConstraints(min_length=1, max_length=63)]
_HAS_ROLES = "has(self.roles) && size(self.roles) > 0"
_HAS_RESOURCES = "has(self.resources) && size(self.resources) > 0"


#: Where a request is in its lifecycle: the core's states (gatepass.core.lifecycle), not a copy of them.
RequestState = State


class ConditionType(StrEnum):
    """The condition types an AccessRequest reports (gatepass.core.conditions)."""

    APPROVED = conditions.APPROVED
    DENIED = conditions.DENIED
    GRANTED = conditions.GRANTED
    EXPIRED = conditions.EXPIRED
    REVOKED = conditions.REVOKED
    DECIDED = conditions.DECIDED
    READY = conditions.READY
    RECONCILING = conditions.RECONCILING
    STALLED = conditions.STALLED


#: How a review reached the operator: the core's (gatepass.core.types.Via).
ReviewSource = Via


class BindingKind(StrEnum):
    """The kind of a binding the operator created."""

    ROLE_BINDING = "RoleBinding"
    CLUSTER_ROLE_BINDING = "ClusterRoleBinding"


class OnBehalfOf(ApiModel):
    """The user a trusted submitter files a request for, as the submitter vouches for them."""

    username: UserName = Field(description="The requester's username, as the API server authenticates them.")
    groups: list[GroupName] = listed(
        "The requester's groups, which AccessPolicy requesters and thresholds are matched against.",
        atomic_list(), max_length=MAX_GROUPS,
    )


class ResourceRule(ApiModel):
    """Verbs on resources of one kind, by name or any name, in one namespace or (cluster-scoped) cluster-wide:
    one rule of the per-grant Role (or ClusterRole) the operator creates when the request is granted."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("!self.resource.contains('/')", NO_PATH_IN_RESOURCE, field_path=".resource"),
            cel("!has(self.subresource) || !self.subresource.contains('/')", NO_PATH_IN_SUBRESOURCE,
                field_path=".subresource"),
            cel("!has(self.names) || !self.names.exists(n, n == '*')", NO_WILDCARD_NAME, field_path=".names"),
        )
    )

    api_group: str = Field(
        "", max_length=253,
        description='The API group of the resource: "" (the core group, the default) for pods, "apps" for '
        'deployments; "*" only where the policy\'s bound has it.',
    )
    resource: str = Field(
        min_length=1, max_length=253,
        description='The resource\'s plural name, as RBAC names it (pods, deployments, nodes); "*" only where '
        "the policy's bound has it.",
    )
    subresource: str | None = Field(
        None, max_length=253,
        description='A subresource of it (log, exec, status; "*" for every one, where the bound allows it). '
        "Absent: the resource itself.",
    )
    namespace: NamespaceName | None = Field(
        None,
        description="The namespace of the objects. Absent: a cluster-scoped resource (nodes, namespaces), "
        "granted with a ClusterRole and a ClusterRoleBinding, which only a policy's clusterWide bound allows.",
    )
    names: list[RoleName] = listed(
        "The names of the objects. Absent or empty: any name, which only a bound whose rule names none allows.",
        set_list(), max_length=MAX_ASK_NAMES,
    )
    verbs: list[Verb] = Field(
        min_length=1, max_length=MAX_ASK_VERBS,
        description='The verbs (get, list, watch, create, update, patch, delete; "*" only where the bound has '
        "it). At least one.",
        json_schema_extra=set_list(),
    )

    @model_validator(mode="after")
    def _check_names(self) -> Self:
        if "/" in self.resource:
            raise ValueError(NO_PATH_IN_RESOURCE)
        if self.subresource and "/" in self.subresource:
            raise ValueError(NO_PATH_IN_SUBRESOURCE)
        if "*" in self.names:
            raise ValueError(NO_WILDCARD_NAME)
        return self


class AccessRequestSpec(ApiModel):
    """What is requested. The requester is filled in by the admission webhook."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(oldSelf.requester) || (has(self.requester) && self.requester == oldSelf.requester)",
                REQUESTER_IMMUTABLE,
                field_path=".requester",
            ),
            cel(" && ".join(unchanged(f) for f in GRANT_FIELDS), GRANT_IMMUTABLE),
            cel(
                "!has(oldSelf.submitter) || (has(self.submitter) && self.submitter == oldSelf.submitter)",
                SUBMITTER_IMMUTABLE,
                field_path=".submitter",
            ),
            cel(unchanged("onBehalfOf"), ON_BEHALF_OF_IMMUTABLE, field_path=".onBehalfOf"),
            cel(f"({_HAS_ROLES}) || ({_HAS_RESOURCES})", ROLES_OR_RESOURCES),
        )
    )

    roles: list[RoleName] = listed(
        "Names of the roles requested, as an AccessPolicy lists them in spec.roles[].name. "
        "At least one role or one resource rule is requested.",
        set_list(), max_length=64,
    )
    resources: list[ResourceRule] = listed(
        "Rules on resources requested instead of (or beside) whole roles, e.g. get on pods/log named db-1 in "
        "payments. Each must be within the rules of the ClusterRole a governing AccessPolicy bounds resource "
        "requests with (its spec.resources) in that namespace; when granted, the operator creates a Role per "
        "namespace (a ClusterRole for cluster-scoped ones) holding exactly these rules, and binds it.",
        atomic_list(), max_length=MAX_ASKS,
    )
    namespaces: list[NamespaceName] = listed(
        "Namespaces to bind the roles in, one RoleBinding each. "
        "Empty or absent: cluster-wide, which only roles with clusterWide: true allow. "
        "Resource rules say their own namespace.",
        set_list(), max_length=256,
    )
    duration: Duration = Field(
        format_duration(DEFAULT_DURATION),
        description='How long the access lasts once granted, as a Go duration ("90m", "1h30m", "8h"). '
        "At most the policy's maxDuration.",
    )
    reason: Reason = Field(
        "", description="Why the access is needed (e.g. a ticket number). Up to 4096 characters."
    )
    reviewers: list[UserName] = listed(
        "Usernames of suggested reviewers. Informational: who may review is set by the policy.",
        set_list(), max_length=64,
    )
    start_time: AwareDatetime | None = Field(
        None,
        description="Access starts no earlier than this time (RFC 3339). Absent: as soon as it is approved.",
    )
    requester: UserInfo | None = Field(
        None,
        description="Who made the request. Set by the admission webhook from the API server's authentication "
        "when the request is created (or from onBehalfOf, when a trusted submitter filed it); any value a "
        "client writes is replaced, and it cannot change afterwards.",
    )
    on_behalf_of: OnBehalfOf | None = Field(
        None,
        description="File the request for this user rather than for yourself. Only a trustedSubmitter of the "
        "governing AccessPolicy (e.g. a GitOps pipeline) may; the user becomes the requester and the "
        "submitter is recorded in spec.submitter and in the audit trail.",
    )
    submitter: UserInfo | None = Field(
        None,
        description="Who filed the request on the requester's behalf (absent when the requester filed it). "
        "Set by the admission webhook from the API server's authentication; it cannot change afterwards.",
    )

    @model_validator(mode="after")
    def _roles_or_resources(self) -> Self:
        if not self.roles and not self.resources:
            raise ValueError(ROLES_OR_RESOURCES)
        return self


class ReviewRecord(ApiModel):
    """A review the operator has read, whether or not it counted."""

    reviewer: UserName = Field(description="Username of the reviewer, as authenticated by the API server.")
    groups: list[GroupName] = listed(
        "The reviewer's groups when the review was made.",
        atomic_list(),
    )
    decision: Decision = Field(description="Approve or Deny.")
    reason: Reason = Field("", description="The reviewer's reason.")
    time: AwareDatetime = Field(description="When the review was made.")
    via: ReviewSource = Field(
        description="How the review was given: an annotation, an AccessReview object, a Slack button "
        "(recorded as an AccessReview) or a policy rule."
    )
    review: ObjectName | None = Field(None, description="Name of the AccessReview, unless via is annotation.")
    submitter: UserName | None = Field(
        None, description="Who submitted the review for the reviewer (the operator, for Slack and rules)."
    )


class RoleRef(ApiModel):
    """The role a binding grants."""

    kind: RoleKind = Field(description="ClusterRole or Role.")
    name: RoleName = Field(description="Name of the ClusterRole or Role.")


class BindingRef(ApiModel):
    """A RoleBinding or ClusterRoleBinding the operator created for the request."""

    kind: BindingKind = Field(description="RoleBinding or ClusterRoleBinding.")
    namespace: NamespaceName | None = Field(
        None, description="Namespace of a RoleBinding; absent for a ClusterRoleBinding."
    )
    name: ObjectName = Field(description="Name of the binding.")
    role: RoleRef = Field(description="The role the binding grants.")


class SlackMessage(ApiModel):
    """A Slack message about the request, kept so that it is updated in place."""

    receiver: str = Field(max_length=63, description="The notifications receiver that posted it.")
    channel: str = Field(max_length=255, description="The Slack channel or direct-message ID.")
    ts: str = Field(max_length=64, description="The message's Slack timestamp (its ID in the channel).")


class NotificationStatus(ApiModel):
    """What the operator has already told receivers about the request, so that nothing is sent twice."""

    sent: list[str] = listed(
        "Keys of the notifications already sent (e.g. Created, Reviewed/alice, Approved).",
        atomic_list(), max_length=256,
    )
    slack: list[SlackMessage] = listed(
        "Slack messages about the request, updated as its state changes.",
        atomic_list(), max_length=64,
    )


class EventType(StrEnum):
    """The type of an audit event, as its Kubernetes Event has it."""

    NORMAL = "Normal"
    WARNING = "Warning"


class HistoryEntry(ApiModel):
    """One thing that happened to the request: its creation, or an audit event (as its Event says it)."""

    time: AwareDatetime = Field(description="When it happened (for the creation: the request's creation time).")
    type: EventType = Field(description="Normal, or Warning for what needs attention.")
    reason: str = Field(
        max_length=128,
        description="What happened, in one word: Requested, Reviewed, Approved, Denied, Granted, Expired, "
        "Revoked, Restored, Removed, or why an approved grant is not bound (NamespaceNotFound, RoleNotFound, "
        "BindForbidden).",
    )
    message: str = Field(max_length=HISTORY_MESSAGE_LIMIT, description="What happened, naming who and what.")
    by: UserName | None = Field(
        None,
        description="Who did it, when a person or the policy did: the requester (or the submitter), a "
        "reviewer, whoever revoked. Absent: the operator, as the outcome of what the message says.",
    )


class AccessRequestStatus(ApiModel):
    """Observed state of an AccessRequest, kept by the operator."""

    state: RequestState | None = Field(
        None, description="Lifecycle state: Pending, Approved, Denied, Expired or Revoked."
    )
    policy: ObjectName | None = Field(None, description="Name of the AccessPolicy that governs the request.")
    roles: str | None = Field(
        None, max_length=LISTING_LIMIT,
        description='The requested roles on one line (e.g. "dba,view"), for kubectl get.',
    )
    resources: str | None = Field(
        None, max_length=LISTING_LIMIT,
        description='The requested resource rules on one line (e.g. "get pods/log db-1 in payments; +1 more"), '
        "for kubectl get.",
    )
    namespaces: str | None = Field(
        None,
        max_length=LISTING_LIMIT,
        description='The namespaces on one line (e.g. "payments,billing"; "(cluster-wide)" for none), '
        "for kubectl get.",
    )
    conditions: list[Condition] = listed(
        "Conditions Approved, Denied (final once True), Granted (bindings in place), Expired and Revoked; "
        "and, for tools: Decided (True once the request has its outcome, never changed after), Ready (True "
        "while access is granted), Reconciling (True while reviews, the start or a binding are awaited) and "
        "Stalled (True once it ended: Denied, Expired or Revoked).",
        map_list("type"),
    )
    reviews: list[ReviewRecord] = listed(
        "Every review read for the request, in the order they were made.",
        atomic_list(),
    )
    approvals: int | None = Field(None, ge=0, description="Number of approvals that count.")
    denials: int | None = Field(None, ge=0, description="Number of denials that count.")
    request_expires_at: AwareDatetime | None = Field(
        None,
        description="When the request expires if it is still Pending "
        "(creation time plus the policy's requestTTL).",
    )
    granted_at: AwareDatetime | None = Field(None, description="When access starts or started.")
    expires_at: AwareDatetime | None = Field(None, description="When access ends or ended.")
    bindings: list[BindingRef] = listed(
        "The bindings that grant the access while it lasts.",
        atomic_list(),
    )
    revoked_by: str | None = Field(None, description="Username of whoever revoked the access.")
    revoke_reason: Reason | None = Field(None, description="Why the access was revoked.")
    history: list[HistoryEntry] = listed(
        "What happened to the request, oldest first: its creation, then every audit event (the same as its "
        f"Events say). At most {HISTORY_LIMIT} entries: past that, the first and the latest are kept.",
        atomic_list(), max_length=HISTORY_LIMIT,
    )
    history_omitted: int | None = Field(
        None, ge=0, description="How many history entries were left out between the first and the latest."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation the operator last acted on."
    )
    notifications: NotificationStatus | None = Field(
        None, description="Notifications already sent about the request (kept by the operator's notifier)."
    )


class AccessRequest(CustomResource):
    """AccessRequest asks for roles, or rules on resources, for a limited time. Reviewers approve or deny it; once an
    AccessPolicy's thresholds are met the operator binds the roles until the time runs out."""

    resource = ResourceInfo(
        kind="AccessRequest",
        short_names=("areq",),
        printer_columns=(
            PrinterColumn("USER", ".spec.requester.username", description="Who asked."),
            PrinterColumn("ROLES", ".status.roles", description="Roles requested."),
            PrinterColumn("STATUS", ".status.state", description="Lifecycle state."),
            PrinterColumn("APPROVALS", ".status.approvals", "integer", "Approvals that count."),
            PrinterColumn("DENIALS", ".status.denials", "integer", "Denials that count."),
            # A string, not a date: kubectl shows a date column as the time since, and a future one as <invalid>.
            PrinterColumn("EXPIRES", ".status.expiresAt", description="When access ends (UTC)."),
            age_column(),
            PrinterColumn("NAMESPACES", ".status.namespaces", description="Where the roles are bound.", priority=1),
            PrinterColumn("POLICY", ".status.policy", description="Governing AccessPolicy.", priority=1),
            PrinterColumn("REASON", ".spec.reason", description="Why access is needed.", priority=1),
            PrinterColumn("SUBMITTER", ".spec.submitter.username",
                          description="Who filed it on the requester's behalf.", priority=1),
            PrinterColumn("RESOURCES", ".status.resources", description="Resource rules requested.", priority=1),
        ),
        selectable_fields=(".spec.requester.username", ".status.state", ".status.policy"),
    )

    spec: AccessRequestSpec = Field(description="What is requested, for how long and why.")
    status: AccessRequestStatus = Field(
        default_factory=AccessRequestStatus, description="Observed state, written by the operator."
    )
