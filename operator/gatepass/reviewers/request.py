"""ReviewRequest: what a reviewer function sees of an AccessRequest (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from gatepass.core.durations import parse_duration
from gatepass.core.timestamps import parse_optional_time


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
        """Read an AccessRequest object as the API returns it; ValueError if it cannot be read."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        name = metadata.get("name")
        if not name:
            raise ValueError("AccessRequest without a name")
        if not metadata.get("uid"):
            raise ValueError(f"AccessRequest {name} has no uid")
        requester = spec.get("requester") or {}
        if not requester.get("username"):
            raise ValueError(f"AccessRequest {name} has no requester yet")
        return cls(
            name=name,
            user=requester["username"],
            groups=tuple(requester.get("groups") or ()),
            roles=tuple(spec.get("roles") or ()),
            namespaces=tuple(spec.get("namespaces") or ()),
            reason=spec.get("reason") or "",
            duration=parse_duration(spec.get("duration") or "1h"),
            labels=MappingProxyType(dict(metadata.get("labels") or {})),
            suggested_reviewers=tuple(spec.get("reviewers") or ()),
            created=parse_optional_time(metadata.get("creationTimestamp")),
            policy=status.get("policy"),
            submitter=(spec.get("submitter") or {}).get("username"),
            start_time=parse_optional_time(spec.get("startTime")),
            uid=metadata["uid"],
        )

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces

    def in_group(self, *groups: str) -> bool:
        """Whether the requester is in any of ``groups``."""
        return any(group in self.groups for group in groups)
