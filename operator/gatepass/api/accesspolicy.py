"""AccessPolicy: who may request which roles, who reviews, and how many approvals it takes."""

from __future__ import annotations

from typing import Self

from pydantic import ConfigDict, Field, model_validator

from .base import (
    ApiModel,
    CustomResource,
    PrinterColumn,
    ResourceInfo,
    age_column,
    cel,
    map_list,
    set_list,
    validations,
)
from .common import Duration, NamespaceName, RoleName, Subjects

# The rules on a requestable role, shared by the CRD (CEL) and the model (Python).
ONE_ROLE_KIND = "exactly one of clusterRole or role must be set"
ROLE_NEEDS_NAMESPACES = "a namespaced role needs namespaces to be bound in"
CLUSTER_WIDE_NEEDS_CLUSTER_ROLE = "clusterWide is only possible with a clusterRole"
CLUSTER_ROLE_NEEDS_SCOPE = "a clusterRole needs namespaces or clusterWide: true"

# Bounds keep the API server's cost estimate for the CEL rules small.
MAX_ROLES = 128
MAX_THRESHOLDS = 16
MAX_NAMESPACES = 1024

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
        None, description="Name of the ClusterRole granted. Exactly one of clusterRole and role is set."
    )
    role: RoleName | None = Field(
        None,
        description="Name of a namespaced Role granted; a Role of this name must exist in each "
        "of the namespaces. Exactly one of clusterRole and role is set.",
    )
    namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=MAX_NAMESPACES,
        description="Namespaces the role may be bound in, one RoleBinding per requested namespace. "
        "Required for a role; for a clusterRole, required unless clusterWide is true.",
        json_schema_extra=set_list(),
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


class Threshold(ApiModel):
    """A number of approvals that must be reached, optionally counting only some reviewers."""

    name: str = Field(
        min_length=1,
        max_length=63,
        description="Name of the threshold, unique within the policy (e.g. leads).",
    )
    approvals: int = Field(
        ge=1, description="How many approvals from distinct reviewers this threshold needs."
    )
    from_: Subjects | None = Field(
        None,
        alias="from",
        description="Only approvals from these users and groups count toward this threshold; "
        "they must also be reviewers. Absent: approvals from any reviewer count.",
    )


class AccessPolicySpec(ApiModel):
    """Desired state of an AccessPolicy."""

    requesters: Subjects = Field(description="Users and groups who may create requests under this policy.")
    roles: list[RequestableRole] = Field(
        min_length=1,
        max_length=MAX_ROLES,
        description="The roles that may be requested under this policy (at least one), keyed by name.",
        json_schema_extra=map_list("name"),
    )
    reviewers: Subjects = Field(
        description="Users and groups whose approvals and denials count. Nobody may review their own request."
    )
    thresholds: list[Threshold] = Field(
        default_factory=list,
        max_length=MAX_THRESHOLDS,
        description="Approval thresholds, all of which must be met for a request to be approved. "
        "Empty or absent: one approval from any reviewer.",
        json_schema_extra=map_list("name"),
    )
    denials: int = Field(1, ge=1, description="How many denials from distinct reviewers deny a request.")
    max_duration: Duration = Field(
        "1h", description='The longest access a request may ask for, as a Go duration ("30m", "8h").'
    )
    request_ttl: Duration = Field(
        "1h",
        alias="requestTTL",
        description="How long a request may wait for its reviews before it expires, as a Go duration.",
    )
    require_reason: bool = Field(True, description="Whether a request must give a reason.")
    trusted_submitters: Subjects | None = Field(
        None,
        description="Users and groups (typically a GitOps pipeline's ServiceAccount, "
        "system:serviceaccount:NAMESPACE:NAME) who may file requests under this policy on behalf of a "
        "requester with spec.onBehalfOf. They vouch for the requester's username and groups; the request "
        "must still be one the requester may make. Absent: nobody files for anybody else.",
    )


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
        roles = ", ".join(role.name for role in spec.roles)
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
        plural="accesspolicies",
        singular="accesspolicy",
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
