"""What a reviewer function answers: approve, deny (with a reason), or abstain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

from gatepass.core.types import MAX_REASON_LENGTH

from .request import ReviewRequest

#: The longest reason an AccessReview accepts (spec.reason): the core's one limit.
MAX_REASON = MAX_REASON_LENGTH


@dataclass(frozen=True)
class Approve:
    """Approve the request; the reason is shown with the review."""

    reason: str = ""
    decision: ClassVar[Literal["Approve"]] = "Approve"


@dataclass(frozen=True)
class Deny:
    """Deny the request. A denial always says why."""

    reason: str
    decision: ClassVar[Literal["Deny"]] = "Deny"

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValueError("Deny needs a reason: the requester is told why")


@dataclass(frozen=True)
class Abstain:
    """Say nothing: no review is recorded, and the request is left to the other reviewers."""

    reason: str = ""  # only logged
    decision: ClassVar[None] = None


Result: TypeAlias = Approve | Deny | Abstain
Reviewer: TypeAlias = Callable[[ReviewRequest], Result]
RESULTS = (Approve, Deny, Abstain)


def is_result(value: object) -> bool:
    return isinstance(value, RESULTS)
