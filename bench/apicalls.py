"""API calls per grant, from the API server's own counters.

``apiserver_request_total`` (read from the API server's /metrics as admin before and after a
phase) counts every request by verb, resource and subresource, from every client; the
benchmark counts its own calls (api.Api.calls) and they are taken off, so what remains is
the operator's (plus the controller manager's little background traffic). Admission
webhook calls are not API requests; ``apiserver_admission_webhook_admission_duration_seconds_count``
counts them by webhook and operation.
"""

from __future__ import annotations

import re
from collections import Counter

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
REQUESTS = "apiserver_request_total"
WEBHOOKS = "apiserver_admission_webhook_admission_duration_seconds_count"


def samples(text: str, name: str) -> list[tuple[dict, float]]:
    found = []
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = SAMPLE.match(line)
        if match and match["name"] == name:
            found.append((dict(LABEL.findall(match["labels"] or "")), float(match["value"])))
    return found


def request_counts(text: str) -> Counter:
    """(verb, resource[/subresource]) -> requests, summed over codes, groups and scopes."""
    counts: Counter = Counter()
    for labels, value in samples(text, REQUESTS):
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[(labels.get("verb", ""), resource)] += value
    return counts


def webhook_counts(text: str) -> Counter:
    """(webhook, operation) -> admission calls to it."""
    counts: Counter = Counter()
    for labels, value in samples(text, WEBHOOKS):
        counts[(labels.get("name", ""), labels.get("operation", ""))] += value
    return counts


def difference(after: Counter, before: Counter, minus: Counter | None = None) -> Counter:
    result = Counter()
    for key in set(after) | set(before):
        value = after.get(key, 0) - before.get(key, 0) - (minus or {}).get(key, 0)
        if value > 0:
            result[key] = value
    return result


def per_grant(counts: Counter, grants: int) -> list[dict]:
    """Rows, most first: ``{"verb", "resource", "total", "per_grant"}``."""
    return [{"verb": verb, "resource": resource, "total": int(total), "per_grant": total / max(grants, 1)}
            for (verb, resource), total in sorted(counts.items(), key=lambda kv: -kv[1])]


def bench_key(method: str, path: str) -> tuple[str, str]:
    """The (verb, resource) the API server counts one of the benchmark's own calls under."""
    route = path.split("?", 1)[0].strip("/").split("/")
    # /api/v1/... or /apis/group/version/...; then [namespaces/ns/]resource[/name[/subresource]]
    rest = route[2:] if route[:1] == ["api"] else route[3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    resource = rest[0] if rest else ""
    if len(rest) >= 3:
        resource += "/" + rest[2]
    named = len(rest) >= 2
    watch = "watch=1" in path or "watch=true" in path
    verb = {"POST": "POST", "PATCH": "PATCH", "PUT": "PUT", "DELETE": "DELETE"}.get(method.upper())  # its verb label
    if verb is None:
        verb = "WATCH" if watch else ("GET" if named else "LIST")
    return verb, resource
