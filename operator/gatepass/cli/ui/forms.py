"""The new-request form: what the user's policies offer them, what they filled in, and what admission said.

Pure functions over the readable policies, the signed-in user, the submitted form and the API server's
dry-run answer, with an explicit ``now``: no clock, no I/O. The request itself is built by the plugin's
``commands.request_body``, exactly as ``kubectl access request create`` builds it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gatepass.core.durations import format_duration
from gatepass.core.policy import request_expires_at
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.types import Identity, Policy

from .. import output
from ..commands import governing_policy, request_body

#: What <input type="datetime-local"> sends: a wall-clock time without a zone, read here as UTC.
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


@dataclass(frozen=True)
class RoleOffer:
    """A role one of the user's policies offers them, and on what terms."""

    role: str
    policy: str
    namespaces: tuple[str, ...]
    cluster_wide: bool
    max_duration: str
    reason_required: bool
    reviewers: tuple[str, ...]

    @property
    def where(self) -> str:
        places = list(self.namespaces) + (["(cluster-wide)"] if self.cluster_wide else [])
        return ", ".join(places) or "nowhere"


def offers(policies: Sequence[Policy], me: Identity) -> tuple[RoleOffer, ...]:
    """Every role offered to ``me`` (a requester of the policy), by policy name then the policy's order."""
    return tuple(
        RoleOffer(role.name, policy.name, role.namespaces, role.bindable_cluster_wide,
                  format_duration(policy.max_duration), policy.require_reason,
                  tuple(sorted(policy.reviewers.users)))
        for policy in sorted(policies, key=lambda p: p.name) if policy.requesters.contains(me)
        for role in policy.roles)


@dataclass(frozen=True)
class Draft:
    """What the user filled in (or is about to): the form's values, kept across a preview or a refusal."""

    roles: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    duration: str = ""
    start: str = ""
    reason: str = ""
    reviewers: str = ""

    @classmethod
    def of(cls, form: Mapping, getall) -> Draft:
        """From a submitted form; ``getall(name)`` gives every value of a repeated field."""
        return cls(roles=tuple(v for v in getall("roles") if v), namespaces=tuple(v for v in getall("namespaces") if v),
                   duration=str(form.get("duration") or "").strip(), start=str(form.get("start") or "").strip(),
                   reason=str(form.get("reason") or "").strip(), reviewers=str(form.get("reviewers") or ""))

    @property
    def reviewer_names(self) -> list[str]:
        return [name for name in re.split(r"[\s,]+", self.reviewers) if name]

    @property
    def start_time(self) -> str:
        """The start as RFC 3339: a datetime-local value is UTC; anything else goes to the plugin as written."""
        return f"{self.start}{':00' if len(self.start) == 16 else ''}Z" if _LOCAL_TIME.match(self.start) \
            else self.start

    def body(self, me: Identity) -> dict:
        """The AccessRequest to create; CliError (one line) for what the plugin refuses before sending."""
        return request_body(roles=self.roles, namespaces=self.namespaces, reason=self.reason or None,
                            duration=self.duration or None, reviewers=self.reviewer_names,
                            start=self.start_time or None, requester=me.username)


@dataclass(frozen=True)
class NewScreen:
    """The form: the offers, the values to show, and the defaults the offers suggest."""

    offers: tuple[RoleOffer, ...]
    roles: tuple[str, ...]
    namespaces: tuple[str, ...]
    draft: Draft
    max_duration: str
    reason_required: bool
    preview: Preview | None = None
    error: str = ""


def new_screen(policies: Sequence[Policy], me: Identity, draft: Draft | None = None, *,
               preview: Preview | None = None, error: str = "") -> NewScreen:
    offered = offers(policies, me)
    draft = draft or Draft(reviewers=", ".join(dict.fromkeys(r for o in offered for r in o.reviewers)))
    longest = max((p.max_duration for p in policies if p.requesters.contains(me)), default=None)
    return NewScreen(
        offers=offered,
        roles=tuple(dict.fromkeys(o.role for o in offered)),
        namespaces=tuple(sorted({ns for o in offered for ns in o.namespaces})),
        draft=draft,
        max_duration=format_duration(longest) if longest is not None else "",
        # Required in the form only when every policy that could take the request requires one.
        reason_required=bool(offered) and all(o.reason_required for o in offered),
        preview=preview, error=error)


@dataclass(frozen=True)
class Step:
    name: str
    approvals: int
    from_: str  # 'alice, ivan or groups [dba-leads]', '' for any reviewer


@dataclass(frozen=True)
class Preview:
    """What admission said of a dry-run create, and what it means: who, under which policy, by when."""

    requester: str
    summary: str  # 'dba in payments for 1h'
    policy: str  # '' when the user cannot read the policy that allows it
    thresholds: tuple[Step, ...] = ()
    denials: int = 0
    request_ttl: str = ""
    waits_until: str = ""  # when the request expires if not decided by then
    reviewers: str = ""


def _from(subjects) -> str:
    if subjects is None:
        return ""
    people = sorted(subjects.users) + [f"group {g}" for g in sorted(subjects.groups)]
    return ", ".join(people)


def preview(answer: Mapping, policies: Sequence[Policy], now: datetime) -> Preview:
    """The dry-run answer (the request as admission stamped it) read against the policies it is decided by."""
    spec = answer.get("spec") or {}
    policy = governing_policy(answer, policies)
    summary = (f"{', '.join(spec.get('roles') or ())} in {output.namespaces_text(spec.get('namespaces') or ())} "
               f"for {output.duration_text(answer)}")
    requester = output.requester(answer)
    if policy is None:
        return Preview(requester, summary, "")
    made = parse_optional_time((answer.get("metadata") or {}).get("creationTimestamp")) or now
    return Preview(
        requester=requester, summary=summary, policy=policy.name,
        thresholds=tuple(Step(t.name, t.approvals, _from(t.from_)) for t in policy.effective_thresholds),
        denials=policy.denials, request_ttl=format_duration(policy.request_ttl),
        waits_until=output.utc_z(request_expires_at(policy, made)),
        reviewers=_from(policy.reviewers))
