"""Reading what the API server refused from a command's error output.

The API server words every RBAC refusal the same way, and kubectl passes it
on unchanged::

    Error from server (Forbidden): secrets is forbidden: User "bob" cannot list resource
    "secrets" in API group "" in the namespace "payments"

``parse`` finds every such sentence (resource or non-resource URL, namespaced
or cluster-wide, with or without an object name) and returns what was refused.
Pure text in, values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gatepass.core.rbac import Access

_RESOURCE = re.compile(
    r'(?:(?P<qualified>[\w.\-/]+)(?: "(?P<name>[^"]*)")? is forbidden: )?'
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w\-]+) resource "(?P<resource>[^"]*)"'
    r' in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)'
)
_PATH = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w\-]+) path "(?P<path>[^"]*)"')


@dataclass(frozen=True)
class Denial:
    """One refused request, and who the API server said made it."""

    user: str
    access: Access


def parse(text: str) -> list[Denial]:
    """Every refusal in ``text``, in order, without repeats."""
    found: dict[Denial, int] = {}
    for match in _RESOURCE.finditer(text):
        access = Access(
            verb=match["verb"],
            resource=match["resource"],
            api_group=match["group"],
            namespace=match["namespace"] or "",
            name=match["name"] or "",
        )
        found.setdefault(Denial(match["user"], access), match.start())
    for match in _PATH.finditer(text):
        found.setdefault(Denial(match["user"], Access(verb=match["verb"], path=match["path"])), match.start())
    return sorted(found, key=found.__getitem__)
