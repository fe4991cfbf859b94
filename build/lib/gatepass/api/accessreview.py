"""AccessReview: a reviewer's approval or denial of one AccessRequest, as an object of its own."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from .base import ApiModel, CustomResource, PrinterColumn, ResourceInfo, age_column, cel, validations
from .common import Decision, ObjectName, Reason, UserInfo

SPEC_IMMUTABLE = "an AccessReview cannot be changed; delete it and create another"


class AccessReviewSpec(ApiModel):
    """The review. The reviewer is filled in by the admission webhook."""

    model_config = ConfigDict(json_schema_extra=validations(cel("self == oldSelf", SPEC_IMMUTABLE)))

    request: ObjectName = Field(description="Name of the AccessRequest reviewed.")
    decision: Decision = Field(description="Approve or Deny.")
    reason: Reason = Field("", description="Why the reviewer decided so. Up to 4096 characters.")
    reviewer: UserInfo | None = Field(
        None,
        description="Who reviewed. Set by the admission webhook from the API server's authentication "
        "when the review is created; any value a client writes is replaced, and it cannot change afterwards. "
        "For a Slack click it is the user the governing policy maps the Slack user to; for a rule, "
        "the system reviewer gatepass:rules.",
    )
    rule: str | None = Field(
        None,
        max_length=63,
        description="The AccessPolicy rule that made this review. Only the Gatepass operator may set it.",
    )
    slack_user: str | None = Field(
        None,
        max_length=64,
        description="The Slack user whose button click made this review. Only the Gatepass operator may set it, "
        "and only for a Slack user the governing policy lists in slackUsers.",
    )
    submitter: UserInfo | None = Field(
        None,
        description="Who created the review for the reviewer (the operator, for Slack clicks and rules). "
        "Set by the admission webhook; absent when the reviewer created it.",
    )


class AccessReviewStatus(ApiModel):
    """What the operator made of the review."""

    recorded: bool | None = Field(
        None, description="Whether the review was recorded on the AccessRequest's status."
    )
    message: str | None = Field(
        None,
        max_length=4096,
        description="Why the review was not recorded, or a note about how it was counted.",
    )


class AccessReview(CustomResource):
    """AccessReview approves or denies an AccessRequest. It is an alternative to the
    gatepass.dev/approve and gatepass.dev/deny annotations, and cannot be changed once created."""

    resource = ResourceInfo(
        kind="AccessReview",
        short_names=("arev",),
        printer_columns=(
            PrinterColumn("REQUEST", ".spec.request", description="The AccessRequest reviewed."),
            PrinterColumn("DECISION", ".spec.decision", description="Approve or Deny."),
            PrinterColumn("REVIEWER", ".spec.reviewer.username", description="Who reviewed."),
            age_column(),
        ),
        selectable_fields=(".spec.request", ".spec.decision", ".spec.reviewer.username"),
    )

    spec: AccessReviewSpec = Field(description="The decision and the request it applies to.")
    status: AccessReviewStatus = Field(
        default_factory=AccessReviewStatus, description="Observed state, written by the operator."
    )
