"""AccessPolicy: who may request which roles and resources, who reviews, and how many approvals it takes."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from gatepass.core.durations import format_duration
from gatepass.core.resources import MAX_BOUNDS
from gatepass.core.types import DEFAULT_DURATION, DEFAULT_MAX_START_DELAY

from .base import (
    ApiModel,
    atomic_list,
    CustomResource,
    PrinterColumn,
    ResourceInfo,
    age_column,
    cel,
    listed,
    map_list,
    set_list,
    validations,
)
from .common import (
    DNS_LABEL_PATTERN,
    Decision,
    Duration,
    GroupName,
    NamespaceName,
    Reason,
    RoleName,
    Subjects,
    UserName,
)

# The rules on a requestable role, shared by the CRD (CEL) and the model (Python).
ONE_ROLE_KIND = "exactly one of clusterRole or role must be set"
ROLE_NEEDS_NAMESPACES = "a namespaced role needs namespaces to be bound in"
CLUSTER_WIDE_NEEDS_CLUSTER_ROLE = "clusterWide is only possible with a clusterRole"
CLUSTER_ROLE_NEEDS_SCOPE = "a clusterRole needs namespaces or clusterWide: true"

# Bounds keep the API server's cost estimate for the CEL rules small.
MAX_ROLES = 128
MAX_THRESHOLDS = 16
MAX_NAMESPACES = 1024
MAX_RULES = 32
MAX_ROUTES = 32
MAX_CHAT_USERS = 1024
MAX_EXPRESSION_LENGTH = 4096

ROLES_OR_RESOURCES = "a policy offers at least one role (roles) or one resource bound (resources)"
BOUND_NEEDS_SCOPE = "a resource bound needs namespaces or clusterWide: true"

_HAS_NAMESPACES = "has(self.namespaces) && size(self.namespaces) > 0"
_IS_CLUSTER_WIDE = "has(self.clusterWide) && self.clusterWide"


class RequestableRole(ApiModel):
    """A role that may be requested under the policy, and where it may be bound."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.clusterRole) != has(self.role)", ONE_ROLE_KIND),
            cel(f"!has(self.role) || ({_HAS_NAMESPACES})", ROLE_NEEDS_NAMESPACES, field_path=".namespaces"),
            cel(
                f"!({_IS_CLUSTER_WIDE}) || has(self.clusterRole)",
                CLUSTER_WIDE_NEEDS_CLUSTER_ROLE,
                field_path=".clusterWide",
            ),
            cel(
                f"!has(self.clusterRole) || ({_IS_CLUSTER_WIDE}) || ({_HAS_NAMESPACES})",
                CLUSTER_ROLE_NEEDS_SCOPE,
            ),
        )
    )

    name: RoleName = Field(description="The name an AccessRequest uses for this role in spec.roles.")
    cluster_role: RoleName | None = Field(
        None,
        description="Name of the ClusterRole granted. Exactly one of clusterRole and role is set. "
        "A policy naming a ClusterRole that does not exist is accepted with a warning (GitOps tools may "
        "apply it together with the policy, or after it); the role cannot be granted until it exists.",
    )
    role: RoleName | None = Field(
        None,
        description="Name of a namespaced Role granted; a Role of this name must exist in each "
        "of the namespaces. Exactly one of clusterRole and role is set. Where it does not exist yet, the "
        "policy is accepted with a warning and the role cannot be granted there until it does.",
    )
    namespaces: list[NamespaceName] = listed(
        "Namespaces the role may be bound in, one RoleBinding per requested namespace. "
        "Required for a role; for a clusterRole, required unless clusterWide is true. A namespace that does "
        "not exist yet is accepted with a warning; nothing can be granted in it until it is created.",
        set_list(), max_length=MAX_NAMESPACES,
    )
    cluster_wide: bool = Field(
        False,
        description="Whether the clusterRole may be bound cluster-wide with a ClusterRoleBinding "
        "(a request without namespaces). Only for clusterRole.",
    )

    @model_validator(mode="after")
    def _check_kind_and_scope(self) -> Self:
        if (self.cluster_role is None) == (self.role is None):
            raise ValueError(ONE_ROLE_KIND)
        if self.role is not None and not self.namespaces:
            raise ValueError(ROLE_NEEDS_NAMESPACES)
        if self.cluster_wide and self.cluster_role is None:
            raise ValueError(CLUSTER_WIDE_NEEDS_CLUSTER_ROLE)
        if self.cluster_role is not None and not self.cluster_wide and not self.namespaces:
            raise ValueError(CLUSTER_ROLE_NEEDS_SCOPE)
        return self


class ResourceBound(ApiModel):
    """What resource requests may ask for: at most the rules of a ClusterRole, in some namespaces or
    cluster-wide (Teleport's search_as_roles). The ClusterRole is never bound itself; a request's rules
    must each be within it, and the operator grants exactly those. The operator must hold the
    ClusterRole's permissions itself to grant them (the chart binds it to the ClusterRoles listed in its
    resourceBounds value; see docs/resources.md)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(f"({_IS_CLUSTER_WIDE}) || ({_HAS_NAMESPACES})", BOUND_NEEDS_SCOPE),
        )
    )

    cluster_role: RoleName = Field(
        description="Name of the ClusterRole whose rules bound what may be requested. One that does not exist "
        "is accepted with a warning; nothing can be requested under it until it exists.",
    )
    namespaces: list[NamespaceName] = listed(
        "Namespaces in which resources may be requested within the ClusterRole's rules.",
        set_list(), max_length=MAX_NAMESPACES,
    )
    cluster_wide: bool = Field(
        False,
        description="Whether requests may be made in every namespace, and for cluster-scoped resources "
        "(granted with a ClusterRole and a ClusterRoleBinding), within the ClusterRole's rules.",
    )

    @model_validator(mode="after")
    def _check_scope(self) -> Self:
        if not self.cluster_wide and not self.namespaces:
            raise ValueError(BOUND_NEEDS_SCOPE)
        return self


class Threshold(ApiModel):
    """A number of approvals that must be reached, optionally counting only some reviewers."""

    name: str = Field(
        min_length=1,
        max_length=63,
        description="Name of the threshold, unique within the policy (e.g. leads).",
    )
    approvals: int = Field(
        ge=1,
        description="How many approvals from distinct reviewers this threshold needs. A policy is refused "
        "when fewer reviewers can ever count than this (nobody reviews their own request), as far as users "
        "listed by name tell (a group's "
        "members are not known, so a group is never taken to be too small); with an Approve rule, which "
        "can still approve, it is accepted with a warning.",
    )
    from_: Subjects | None = Field(
        None,
        alias="from",
        description="Only approvals from these users and groups count toward this threshold; "
        "they must also be reviewers (a policy whose from names nobody who is a reviewer is refused). "
        "Absent: approvals from any reviewer count.",
    )


class NotificationEvent(StrEnum):
    """Something that happened to a request, as notifications name it."""

    CREATED = "Created"
    REVIEWED = "Reviewed"
    APPROVED = "Approved"
    DENIED = "Denied"
    EXPIRING = "Expiring"
    EXPIRED = "Expired"
    REVOKED = "Revoked"


class NotificationRoute(ApiModel):
    """Send notifications about requests under this policy to one receiver."""

    receiver: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Name of a receiver in the operator's notifications configuration "
        "(a Slack workspace, a webhook or a PagerDuty service). Secrets and URLs live there, not here.",
    )
    roles: list[RoleName] = listed(
        "Only requests for at least one of these roles (names from spec.roles). Empty: every request.",
        set_list(), max_length=MAX_ROLES,
    )
    events: list[NotificationEvent] = listed(
        "Which events to send: Created, Reviewed, Approved, Denied, Expiring, Expired, Revoked. "
        "Empty: all of them.",
        set_list(), max_length=16,
    )
    channel: str | None = Field(
        None,
        max_length=255,
        description="Slack receivers: the channel (ID or #name) to post to, instead of the receiver's default.",
    )
    notify_reviewers: bool = Field(
        True,
        description="Slack receivers: also send a direct message to the request's suggested reviewers "
        "who appear in slackUsers.",
    )


class SlackUser(ApiModel):
    """One Slack user who may review requests under this policy from Slack, and who they are in Kubernetes."""

    slack_user: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Z0-9]+$",
        description="The Slack user ID (e.g. U024BE7LH), as Slack signs it into every button click.",
    )
    username: UserName = Field(description="The Kubernetes username the click reviews as.")
    groups: list[GroupName] = listed(
        "The Kubernetes groups recorded for the reviewer (thresholds with from.groups count them).",
        atomic_list(), max_length=64,
    )


class RuleDecision(StrEnum):
    """What an automatic rule decides when its expression is true."""

    APPROVE = Decision.APPROVE.value
    DENY = Decision.DENY.value


class ReviewRule(ApiModel):
    """A CEL expression that reviews requests automatically: when it is true, the operator records a
    review with this decision by the system reviewer gatepass:rules."""

    name: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN,
        description="Name of the rule, unique within the policy; recorded with the review.",
    )
    decision: RuleDecision = Field(description="Approve or Deny. Deny rules are evaluated first.")
    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION_LENGTH,
        description="A CEL expression over `request` (name, roles, namespaces, resources, duration as a CEL "
        "duration, reason, labels, reviewers) and `user` (username, groups), e.g. "
        "request.duration <= duration('1h') && 'oncall' in user.groups. Each of request.resources is a map "
        "of apiGroup, resource, subresource, namespace, names and verbs (\"\" or [] when absent), e.g. "
        "request.resources.all(r, r.namespace == 'payments' && !('delete' in r.verbs)). It must evaluate to a bool.",
    )
    reason: Reason = Field("", description="The review's reason, shown to the requester and in the audit trail.")


class AccessPolicySpec(ApiModel):
    """Desired state of an AccessPolicy."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("(has(self.roles) && size(self.roles) > 0) || (has(self.resources) && size(self.resources) > 0)",
                ROLES_OR_RESOURCES),
        )
    )

    requesters: Subjects = Field(description="Users and groups who may create requests under this policy.")
    roles: list[RequestableRole] = listed(
        "The roles that may be requested under this policy, keyed by name. A policy offers at least one role "
        "or one resource bound.",
        map_list("name"), max_length=MAX_ROLES,
    )
    resources: list[ResourceBound] = listed(
        "What may be requested as rules on resources rather than whole roles: each entry's ClusterRole bounds "
        "the rules a request may ask for in its namespaces (or anywhere, with clusterWide). Keyed by "
        "clusterRole.",
        map_list("clusterRole"), max_length=MAX_BOUNDS,
    )
    reviewers: Subjects = Field(
        description="Users and groups whose approvals and denials count. Nobody may review their own request."
    )
    thresholds: list[Threshold] = listed(
        "Approval thresholds, all of which must be met for a request to be approved. "
        "Empty or absent: one approval from any reviewer.",
        map_list("name"), max_length=MAX_THRESHOLDS,
    )
    denials: int = Field(
        1,
        ge=1,
        description="How many denials from distinct reviewers deny a request. Refused when more than the "
        "reviewers listed by name (with no groups) could give; with a Deny rule, accepted with a warning.",
    )
    max_duration: Duration = Field(
        format_duration(DEFAULT_DURATION),
        description='The longest access a request may ask for, as a Go duration ("30m", "8h"; no day unit).',
    )
    request_ttl: Duration = Field(
        format_duration(DEFAULT_DURATION),
        alias="requestTTL",
        description="How long a request may wait for its reviews before it expires, as a Go duration.",
    )
    max_start_delay: Duration = Field(
        format_duration(DEFAULT_MAX_START_DELAY),
        description="How far ahead a request's spec.startTime may be, counted from when the request is made, "
        f"as a Go duration (default {format_duration(DEFAULT_MAX_START_DELAY)}, a week). A request asking to "
        "start later is refused when it is created, and denied if it is still Pending under a policy that "
        "no longer allows it.",
    )
    require_reason: bool = Field(True, description="Whether a request must give a reason.")
    trusted_submitters: Subjects | None = Field(
        None,
        description="Users and groups (typically a GitOps pipeline's ServiceAccount, "
        "system:serviceaccount:NAMESPACE:NAME) who may file requests under this policy on behalf of a "
        "requester with spec.onBehalfOf. They vouch for the requester's username and groups; the request "
        "must still be one the requester may make. Absent: nobody files for anybody else.",
    )
    rules: list[ReviewRule] = listed(
        "Automatic reviews as CEL expressions, evaluated by the operator when a request is Pending. "
        "The first Deny rule that holds denies the request; otherwise the first Approve rule that holds "
        "approves it outright (the policy's own decision, not one approval of many). While a Deny rule "
        "cannot be evaluated (an error, or no bool), no Approve rule is applied: the request waits for its reviewers.",
        map_list("name"), max_length=MAX_RULES,
    )
    notify: list[NotificationRoute] = listed(
        "Where notifications about requests under this policy are sent.",
        atomic_list(), max_length=MAX_ROUTES,
    )
    slack_users: list[SlackUser] = listed(
        "Slack users whose Approve/Deny button clicks review requests under this policy, mapped to "
        "Kubernetes identities. Only these clicks are accepted, and the mapped user must still be a reviewer. "
        "Empty: Slack buttons review nothing.",
        map_list("slackUser"), max_length=MAX_CHAT_USERS,
    )

    @model_validator(mode="after")
    def _roles_or_resources(self) -> Self:
        if not self.roles and not self.resources:
            raise ValueError(ROLES_OR_RESOURCES)
        return self


class AccessPolicyStatus(ApiModel):
    """Observed state of an AccessPolicy, kept by the operator."""

    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation the operator last read."
    )
    roles: str | None = Field(None, description="Summary of the requestable role names, for kubectl get.")
    approvals: str | None = Field(
        None, description='Summary of the approval thresholds (e.g. "leads:2, any:1"), for kubectl get.'
    )

    @classmethod
    def summarize(cls, spec: AccessPolicySpec, generation: int | None = None) -> AccessPolicyStatus:
        """The status the operator writes for ``spec``."""
        roles = ", ".join([*(role.name for role in spec.roles),
                           *(f"resources within {bound.cluster_role}" for bound in spec.resources)])
        if spec.thresholds:
            approvals = ", ".join(f"{t.name}:{t.approvals}" for t in spec.thresholds)
        else:
            approvals = "any:1"
        return cls(observed_generation=generation, roles=roles, approvals=approvals)


class AccessPolicy(CustomResource):
    """AccessPolicy says who may request which roles, who may review those requests,
    and how many approvals and denials decide them."""

    resource = ResourceInfo(
        kind="AccessPolicy",
        short_names=("apol",),
        printer_columns=(
            PrinterColumn("REQUESTERS", ".spec.requesters.groups", description="Groups who may request."),
            PrinterColumn("ROLES", ".status.roles", description="Requestable roles."),
            PrinterColumn("APPROVALS", ".status.approvals", description="Approval thresholds."),
            PrinterColumn("MAX-DURATION", ".spec.maxDuration", description="Longest access one may ask for."),
            age_column(),
        ),
    )

    spec: AccessPolicySpec = Field(description="Who may request what, and who reviews it.")
    status: AccessPolicyStatus = Field(
        default_factory=AccessPolicyStatus, description="Observed state, written by the operator."
    )
