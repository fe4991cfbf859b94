"""ReviewRequest: what a reviewer function sees of an AccessRequest (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from gatepass.api import values


@dataclass(frozen=True)
class ReviewRequest:
    """An AccessRequest as a reviewer sees it.

    ``user`` and ``groups`` are the requester as the API server authenticated
    them (written by the admission webhook, never by the requester), so a
    reviewer may trust them. ``reason`` and ``labels`` are the requester's own
    words: check them against something the requester cannot write. ``uid``
    tells this request from an earlier or later one of the same name; the
    review the function's answer becomes is tied to it.
    """

    name: str
    user: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    namespaces: tuple[str, ...]  # empty: cluster-wide
    reason: str
    duration: timedelta
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    suggested_reviewers: tuple[str, ...] = ()
    created: datetime | None = None
    policy: str | None = None  # the governing AccessPolicy, as the operator found it
    submitter: str | None = None  # who filed it for the user (a trusted submitter), if not the user
    start_time: datetime | None = None
    uid: str = ""

    @classmethod
    def from_body(cls, body: Mapping) -> ReviewRequest:
        """Read an AccessRequest object as the API returns it (gatepass.api.values); ValueError if it
        cannot be read or is not ready to review (no name, uid or requester yet)."""
        request = values.request(body)
        if not request.name:
            raise ValueError("AccessRequest without a name")
        if not request.uid:
            raise ValueError(f"AccessRequest {request.name} has no uid")
        if not request.requester.username:
            raise ValueError(f"AccessRequest {request.name} has no requester yet")
        return cls(
            name=request.name,
            user=request.requester.username,
            groups=tuple(sorted(request.requester.groups)),
            roles=request.roles,
            namespaces=request.namespaces,
            reason=request.reason,
            duration=request.duration,
            labels=MappingProxyType(dict(request.labels)),
            suggested_reviewers=request.suggested_reviewers,
            created=request.created,
            policy=values.policy_name(body),
            submitter=request.submitter.username if request.submitter is not None else None,
            start_time=request.start_time,
            uid=request.uid,
        )

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces

    def in_group(self, *groups: str) -> bool:
        """Whether the requester is in any of ``groups``."""
        return any(group in self.groups for group in groups)
