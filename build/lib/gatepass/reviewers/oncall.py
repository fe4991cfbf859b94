"""On-call approval: approve a request when its requester is on call for a service right now.

``OnCallLookup`` is the question (is this Kubernetes user on call for this
service now?); ``PagerDutyOnCall`` answers it from PagerDuty's REST API
(``GET /oncalls``); ``oncall_reviewer`` turns an answer into a review. A
reviewer built here never denies: a requester who is not on call, a role it
does not cover or a longer duration is left to the other reviewers. Any
failure to ask PagerDuty raises, so the runner logs it and abstains.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from gatepass.core.durations import format_duration, parse_duration

from .request import ReviewRequest
from .results import Abstain, Approve, Result, Reviewer

PAGERDUTY_API = "https://api.pagerduty.com"
#: Entries per page PagerDuty is asked for (its maximum is 100).
PAGE = 100
#: Pages read at most, so a misbehaving server cannot keep the reviewer busy.
MAX_PAGES = 50


class OnCallLookup(Protocol):
    """Whether a Kubernetes user is on call for a named service right now."""

    def is_on_call(self, user: str, service: str) -> bool: ...


class OnCallError(Exception):
    """The on-call source could not answer."""


@dataclass(frozen=True)
class PagerDutyService:
    """Where PagerDuty says who is on call for one service: escalation policies and/or schedules.

    ``levels``: the escalation levels that count as on call (default: only the first, the people
    paged first); None counts every level.
    """

    escalation_policy_ids: tuple[str, ...] = ()
    schedule_ids: tuple[str, ...] = ()
    levels: frozenset[int] | None = frozenset({1})

    def __post_init__(self) -> None:
        if not self.escalation_policy_ids and not self.schedule_ids:
            raise ValueError("a PagerDuty service needs escalation_policy_ids or schedule_ids")


Fetch = Callable[[str, Mapping[str, str]], bytes]


def _urlopen(timeout: float) -> Fetch:
    def fetch(url: str, headers: Mapping[str, str]) -> bytes:
        request = urllib.request.Request(url, headers=dict(headers), method="GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https or a test URL
                return response.read()
        except urllib.error.HTTPError as error:
            raise OnCallError(f"PagerDuty answered {error.code} {error.reason} for GET {url.split('?')[0]}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise OnCallError(f"cannot reach PagerDuty at {url.split('?')[0]}: {reason}") from None

    return fetch


class PagerDutyOnCall:
    """``OnCallLookup`` from PagerDuty's REST API v2 (an API token with read access is enough).

    ``services`` names each service and where its on-call people are. A PagerDuty user stands for
    the Kubernetes user ``users[email]`` when ``users`` maps their email (case-insensitive). An
    email ``users`` does not map stands for the Kubernetes user named exactly like it (as with
    OIDC email usernames) only when ``emails_are_usernames`` says so; by default, only when no
    ``users`` mapping is given (None). With a mapping, an unmapped email stands for nobody.
    ``api_url`` is PagerDuty's (``https://api.pagerduty.com``; ``https://api.eu.pagerduty.com`` in
    the EU) or a local fake's.
    """

    def __init__(self, token: str, services: Mapping[str, PagerDutyService], *,
                 users: Mapping[str, str] | None = None, emails_are_usernames: bool | None = None,
                 api_url: str = PAGERDUTY_API, timeout: float = 10.0, fetch: Fetch | None = None) -> None:
        if not token:
            raise ValueError("a PagerDuty API token is needed")
        self.services = dict(services)
        self.users = {email.lower(): username for email, username in (users or {}).items()}
        self.emails_are_usernames = users is None if emails_are_usernames is None else emails_are_usernames
        self.api_url = api_url.rstrip("/")
        self._headers = {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
        self._fetch = fetch or _urlopen(timeout)

    def username(self, email: str) -> str | None:
        """The Kubernetes user a PagerDuty email stands for, or None for nobody."""
        mapped = self.users.get(email.lower())
        if mapped is not None:
            return mapped
        return email if self.emails_are_usernames else None

    def on_call(self, service: str) -> set[str]:
        """The Kubernetes users on call for ``service`` now."""
        where = self.services.get(service)
        if where is None:
            raise OnCallError(f"no PagerDuty escalation policy or schedule configured for service {service!r}")
        emails: set[str] = set()
        # Filters of different kinds narrow each other in PagerDuty's API, so ask once per kind.
        for key, ids in (("escalation_policy_ids[]", where.escalation_policy_ids),
                         ("schedule_ids[]", where.schedule_ids)):
            if ids:
                emails |= on_call_emails(self._entries(key, ids), where.levels)
        return {username for username in map(self.username, emails) if username}

    def is_on_call(self, user: str, service: str) -> bool:
        return user in self.on_call(service)

    def _entries(self, key: str, ids: Iterable[str]) -> list[dict]:
        entries: list[dict] = []
        offset = 0
        for _ in range(MAX_PAGES):
            query = [(key, i) for i in ids] + [("include[]", "users"), ("limit", str(PAGE)), ("offset", str(offset))]
            url = f"{self.api_url}/oncalls?{urllib.parse.urlencode(query)}"
            try:
                page = json.loads(self._fetch(url, self._headers))
            except ValueError:
                raise OnCallError(f"PagerDuty's answer to GET {self.api_url}/oncalls is not JSON") from None
            if not isinstance(page, dict) or not isinstance(page.get("oncalls"), list):
                raise OnCallError(f"PagerDuty's answer to GET {self.api_url}/oncalls has no oncalls list")
            entries.extend(entry for entry in page["oncalls"] if isinstance(entry, dict))
            if not page.get("more"):
                return entries
            offset += len(page["oncalls"]) or PAGE
        raise OnCallError(f"PagerDuty returned more than {MAX_PAGES} pages of on-calls")


def on_call_emails(entries: Iterable[Mapping], levels: Collection[int] | None) -> set[str]:
    """The emails of the users in PagerDuty on-call entries (with ``include[]=users``) at ``levels``."""
    emails = set()
    for entry in entries:
        if levels is not None and entry.get("escalation_level") not in levels:
            continue
        email = (entry.get("user") or {}).get("email")
        if isinstance(email, str) and email:
            emails.add(email)
    return emails


def oncall_reviewer(lookup: OnCallLookup, *, service: str, roles: Iterable[str],
                    max_duration: timedelta | str | None = None) -> Reviewer:
    """A reviewer that approves a request for ``roles`` (all of them within these) lasting at most
    ``max_duration`` when ``lookup`` says the requester is on call for ``service``, and abstains
    otherwise."""
    allowed = frozenset(roles)
    if not allowed:
        raise ValueError("oncall_reviewer needs the roles it may approve")
    limit = parse_duration(max_duration) if isinstance(max_duration, str) else max_duration

    def review(request: ReviewRequest) -> Result:
        others = sorted(set(request.roles) - allowed)
        if others:
            return Abstain(f"on-call approval does not cover {', '.join(others)}")
        if limit is not None and request.duration > limit:
            return Abstain(f"{format_duration(request.duration)} is longer than on-call approval allows "
                           f"({format_duration(limit)})")
        if lookup.is_on_call(request.user, service):
            return Approve(f"{request.user} is on call for {service}")
        return Abstain(f"{request.user} is not on call for {service}")

    review.__name__ = review.__qualname__ = f"oncall_reviewer[{service}]"
    return review
