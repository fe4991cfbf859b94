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
from gatepass.core.rbac import Rule
from gatepass.core.resources import Ask
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.types import Identity, Policy

from .. import asks, output, search
from ..commands import governing_policy, request_body
from ..errors import CliError

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
class ResourceOffer:
    """A kind one of the user's policies lets them ask for, where, with which verbs (its bound's pattern)."""

    resource: str  # 'pods/log', 'deployments.apps'
    where: str  # 'payments', '(cluster-wide)'
    names: str  # "(any name)", or the names the bound's rule allows
    verbs: str
    policy: str


def resource_offers(policies: Sequence[Policy], me: Identity,
                    rules: Mapping[str, Sequence[Rule] | None]) -> tuple[ResourceOffer, ...]:
    """What the bounds of ``me``'s policies allow (the ClusterRoles' ``rules`` as ``me`` read them), as
    ``request search`` finds it, without listing any object."""
    return tuple(
        ResourceOffer(search.resource_text(t.ask), t.ask.namespace or search.CLUSTER,
                      ", ".join(t.ask.names) or search.ANY, ",".join(t.ask.verbs), t.policy)
        for t in search.targets(policies, me, rules))


@dataclass(frozen=True)
class ResourceLine:
    """One line of the form's resources: TYPE[.GROUP][/NAME], the verbs, the namespace."""

    resource: str = ""
    verbs: str = ""
    namespace: str = ""

    @property
    def blank(self) -> bool:
        return not (self.resource or self.verbs or self.namespace)

    def asked(self) -> list[Ask]:
        """The asks of this line, as `request create --resource --verbs -n` reads them; CliError otherwise."""
        verbs = [v for v in re.split(r"[\s,]+", self.verbs) if v]
        if not self.resource:
            raise CliError("a resource line needs its resource, e.g. pods/db-1 (or leave the whole line empty)")
        return asks.from_flags([self.resource], verbs, self.namespace)


#: How many resource lines the form offers (blank ones are left out of the request).
RESOURCE_LINES = 3


@dataclass(frozen=True)
class Draft:
    """What the user filled in (or is about to): the form's values, kept across a preview or a refusal."""

    roles: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    duration: str = ""
    start: str = ""
    reason: str = ""
    reviewers: str = ""
    resources: tuple[ResourceLine, ...] = ()

    @classmethod
    def of(cls, form: Mapping, getall) -> Draft:
        """From a submitted form; ``getall(name)`` gives every value of a repeated field."""
        def column(name: str) -> list[str]:
            return [str(v).strip() for v in getall(name)]

        kinds, verbs, namespaces = column("resource"), column("verbs"), column("resource_namespace")
        width = max(len(kinds), len(verbs), len(namespaces))
        lines = tuple(line for line in (ResourceLine(*(c[i] if i < len(c) else "" for c in (kinds, verbs, namespaces)))
                                        for i in range(min(width, RESOURCE_LINES * 4))) if not line.blank)
        return cls(roles=tuple(v for v in getall("roles") if v), namespaces=tuple(v for v in getall("namespaces") if v),
                   duration=str(form.get("duration") or "").strip(), start=str(form.get("start") or "").strip(),
                   reason=str(form.get("reason") or "").strip(), reviewers=str(form.get("reviewers") or ""),
                   resources=lines)

    @property
    def lines(self) -> tuple[ResourceLine, ...]:
        """The resource lines to show: those filled in, then blank ones up to RESOURCE_LINES."""
        return self.resources + (ResourceLine(),) * max(RESOURCE_LINES - len(self.resources), 1)

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
        resources = [ask for line in self.resources for ask in line.asked()]
        return request_body(roles=self.roles, resources=resources, namespaces=self.namespaces,
                            reason=self.reason or None,
                            duration=self.duration or None, reviewers=self.reviewer_names,
                            start=self.start_time or None, requester=me.username)


@dataclass(frozen=True)
class NewScreen:
    """The form: the offers, the values to show, and the defaults the offers suggest."""

    offers: tuple[RoleOffer, ...]
    resource_offers: tuple[ResourceOffer, ...]
    roles: tuple[str, ...]
    namespaces: tuple[str, ...]
    draft: Draft
    max_duration: str
    reason_required: bool
    preview: Preview | None = None
    error: str = ""


def new_screen(policies: Sequence[Policy], me: Identity, draft: Draft | None = None, *,
               preview: Preview | None = None, error: str = "",
               bound_rules: Mapping[str, Sequence[Rule] | None] | None = None) -> NewScreen:
    """The form; ``bound_rules`` are the rules of the ClusterRoles bounding resource requests, as the user
    read them (None where they could not)."""
    offered = offers(policies, me)
    bounded = resource_offers(policies, me, bound_rules or {})
    mine = [p for p in policies if p.requesters.contains(me)]
    reviewers = [r for o in offered for r in o.reviewers] + \
        [r for p in sorted(mine, key=lambda p: p.name) if p.resources for r in sorted(p.reviewers.users)]
    draft = draft or Draft(reviewers=", ".join(dict.fromkeys(reviewers)))
    longest = max((p.max_duration for p in mine), default=None)
    requiring = [o.reason_required for o in offered] + [p.require_reason for p in mine if p.resources]
    return NewScreen(
        offers=offered,
        resource_offers=bounded,
        roles=tuple(dict.fromkeys(o.role for o in offered)),
        namespaces=tuple(sorted({ns for o in offered for ns in o.namespaces})),
        draft=draft,
        max_duration=format_duration(longest) if longest is not None else "",
        # Required in the form only when every policy that could take the request requires one.
        reason_required=bool(requiring) and all(requiring),
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
    policy = governing_policy(answer, policies)
    summary = f"{output.asked_text(answer)} for {output.duration_text(answer)}"
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
