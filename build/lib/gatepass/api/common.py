"""Types used by more than one kind: subjects, identities, conditions, durations, names."""

from __future__ import annotations

import functools
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, StringConstraints, model_validator

from gatepass.core.durations import checked_duration
from gatepass.core.types import MAX_REASON_LENGTH

from .base import ApiModel, atomic_list, cel, listed, set_list, validations

# --- strings ----------------------------------------------------------------------------------

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

#: metav1.Condition's type: an optional DNS-subdomain prefix and a name.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)

MAX_USERNAME_LENGTH = 1024
MAX_GROUPS = 1024


@functools.lru_cache(maxsize=1024)
def duration_value(text: str) -> timedelta:
    """A Duration's timedelta (checked_duration), remembered: the same few strings are read over and over."""
    return checked_duration(text)


def _check_duration(value: str) -> str:
    duration_value(value)
    return value


# The CRD declares no pattern for a duration: the API server would answer a bad one with
# the regular expression. The validating webhook (which fails closed) checks each one with
# gatepass.core.durations instead, and says what is wrong as kubectl access does
# ('invalid duration "1d": unknown unit "d" (there is no day unit, write 24h)').
_DURATION_CHECK = AfterValidator(_check_duration)
Duration = Annotated[str, Field(max_length=32), _DURATION_CHECK]
"""A Go-style duration string such as "90m", "1h30m" or "8h" (units ns, us, µs, ms, s, m, h; no days),
longer than zero."""


def duration_fields(model: type[ApiModel]) -> tuple[str, ...]:
    """The fields of ``model`` that are Durations, as the API spells them: what admission checks."""
    return tuple(info.alias or name for name, info in model.model_fields.items()
                 if any(item is _DURATION_CHECK for item in info.metadata))

NamespaceName = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]
ObjectName = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
UserName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USERNAME_LENGTH)]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USERNAME_LENGTH)]
Reason = Annotated[str, StringConstraints(max_length=MAX_REASON_LENGTH)]


# --- enums ------------------------------------------------------------------------------------


class Decision(StrEnum):
    """What a reviewer decided."""

    APPROVE = "Approve"
    DENY = "Deny"


class RoleKind(StrEnum):
    """The kind of RBAC role a binding refers to."""

    CLUSTER_ROLE = "ClusterRole"
    ROLE = "Role"


class ConditionStatus(StrEnum):
    """Status of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# --- objects ----------------------------------------------------------------------------------


SUBJECTS_EMPTY = "name at least one user or group"


class Subjects(ApiModel):
    """A set of users and groups. A subject matches if its username is listed or it is in a listed group."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.users) && size(self.users) > 0) || (has(self.groups) && size(self.groups) > 0)",
                SUBJECTS_EMPTY,
            )
        )
    )

    users: list[UserName] = listed(
        "Usernames, exactly as the API server authenticates them "
        "(e.g. alice, alice@example.com, system:serviceaccount:ns:name).",
        set_list(), max_length=MAX_GROUPS,
    )
    groups: list[GroupName] = listed(
        "Group names, exactly as the API server authenticates them (e.g. dba-leads).",
        set_list(), max_length=MAX_GROUPS,
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.users and not self.groups:
            raise ValueError(SUBJECTS_EMPTY)
        return self


class UserInfo(ApiModel):
    """An authenticated identity, as the API server's admission request reports it."""

    username: UserName = Field(description="The authenticated username.")
    uid: str = Field(
        "",
        max_length=MAX_USERNAME_LENGTH,
        description="The authenticated user's UID, if the authenticator reports one.",
    )
    groups: list[GroupName] = listed(
        "The groups the user belonged to when the object was created.",
        atomic_list(), max_length=MAX_GROUPS,
    )


class Condition(ApiModel):
    """One aspect of the object's current state, following the Kubernetes condition conventions."""

    type: str = Field(
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
        description="Type of the condition in CamelCase (Approved, Denied, Granted, Expired, Revoked).",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="A CamelCase word giving the reason for the last transition, for machines.",
    )
    message: str = Field(max_length=32768, description="A human-readable account of the last transition.")
    last_transition_time: AwareDatetime = Field(
        description="When the condition last changed from one status to another."
    )
    observed_generation: int | None = Field(
        None,
        ge=0,
        description="The metadata.generation the condition was set for; "
        "older than the object's generation means it may be out of date.",
    )
